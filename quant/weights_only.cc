// weights_only.cc - placeholder: int8-weights quantization (issue 9).
#include "quant/quantize.h"

namespace npuconv {

Status quantizeWeightsOnly(Model&, const QuantizeOptions&, QuantizeReport&) {
  return Status::unsupported("int8-weights quantization: not implemented yet");
}

}  // namespace npuconv
