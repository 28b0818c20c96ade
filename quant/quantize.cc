// quantize.cc - precision names.
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
}  // namespace npuconv
