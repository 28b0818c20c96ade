// quantize.cc - placeholder until the quantizers land (issue 9, sections 4 and 5).
#include "quant/quantize.h"

namespace npuconv {

Expected<Precision> parsePrecision(std::string_view name) {
  if (name == "fp32") return Precision::Fp32;
  if (name == "fp16") return Precision::Fp16;
  if (name == "int8") return Precision::Int8;
  if (name == "int8-weights") return Precision::Int8Weights;
  if (name == "int8-dynamic") return Precision::Int8Dynamic;
  return Status::invalidArgument("unknown precision \"{}\" (fp32, fp16, int8, int8-weights, int8-dynamic)", name);
}
const char* precisionName(Precision p) {
  switch (p) {
    case Precision::Fp32: return "fp32";
    case Precision::Fp16: return "fp16";
    case Precision::Int8: return "int8";
    case Precision::Int8Weights: return "int8-weights";
    case Precision::Int8Dynamic: return "int8-dynamic";
  }
  return "?";
}
std::vector<std::string> tensorsToCalibrate(const Model&, const QuantizeOptions&) { return {}; }
Status quantizeStatic(Model&, const QuantRanges&, const QuantizeOptions&, QuantizeReport&) {
  return Status::unsupported("int8 quantization: not implemented yet");
}
Status quantizeWeightsOnly(Model&, const QuantizeOptions&, QuantizeReport&) {
  return Status::unsupported("int8-weights quantization: not implemented yet");
}
Status quantizeDynamic(Model&, const QuantizeOptions&, QuantizeReport&) {
  return Status::unsupported("int8-dynamic quantization: not implemented yet");
}
Status convertToFp16(Model&, const QuantizeOptions&, QuantizeReport&) {
  return Status::unsupported("fp16 conversion: not implemented yet");
}
Status correctBias(Model&, const Model&, SampleStream&, int, QuantizeReport&) {
  return Status::unsupported("bias correction: not implemented yet");
}

}  // namespace npuconv
