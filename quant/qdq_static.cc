// qdq_static.cc - placeholder: INT8 static quantization (QDQ) (issue 9).
#include "quant/quantize.h"

namespace npuconv {

std::vector<std::string> tensorsToCalibrate(const Model&, const QuantizeOptions&) { return {}; }
Status quantizeStatic(Model&, const QuantRanges&, const QuantizeOptions&, QuantizeReport&) {
  return Status::unsupported("int8 quantization: not implemented yet");
}

}  // namespace npuconv
