// calibration.cc - placeholder until the calibration engine lands (issue 9, section 3).
#include "quant/calibration.h"

namespace npuconv {

Expected<CalibMethod> parseCalibMethod(std::string_view name) {
  if (name == "minmax") return CalibMethod::MinMax;
  if (name == "percentile") return CalibMethod::Percentile;
  if (name == "entropy") return CalibMethod::Entropy;
  if (name == "mse") return CalibMethod::Mse;
  return Status::invalidArgument("unknown calibration method \"{}\" (minmax, percentile, entropy, mse)", name);
}
const char* calibMethodName(CalibMethod m) {
  switch (m) {
    case CalibMethod::MinMax: return "minmax";
    case CalibMethod::Percentile: return "percentile";
    case CalibMethod::Entropy: return "entropy";
    case CalibMethod::Mse: return "mse";
  }
  return "?";
}
Status CalibrationStats::merge(const CalibrationStats&) { return Status::unsupported("calibration: not implemented yet"); }
nlohmann::ordered_json calibStatsToJson(const CalibrationStats&) { return {}; }
Expected<CalibrationStats> calibStatsFromJson(const nlohmann::json&) {
  return Status::unsupported("calibration: not implemented yet");
}
Expected<CalibrationStats> collectStats(const Model&, SampleStream&, const CalibrateOptions&) {
  return Status::unsupported("calibration: not implemented yet");
}
Expected<QuantRanges> computeRanges(const CalibrationStats&, const CalibrateOptions&) {
  return Status::unsupported("calibration: not implemented yet");
}
std::vector<CalibWarning> checkCalibrationHealth(const Model&, const CalibrationStats&, const QuantRanges&) { return {}; }

}  // namespace npuconv
