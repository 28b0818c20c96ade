// calib_data.cc - placeholder until the calibration data readers land (issue 9, section 2).
#include "formats/calib/calib_data.h"

namespace npuconv {

Expected<std::unique_ptr<SampleStream>> openCalibData(const CalibDataOptions&, const std::vector<ModelInputSpec>&) {
  return Status::unsupported("calibration data: not implemented yet");
}
Expected<std::string> calibDataKey(const CalibDataOptions&) {
  return Status::unsupported("calibration data: not implemented yet");
}

}  // namespace npuconv
