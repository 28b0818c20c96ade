// bias_correction.cc - placeholder: fast bias correction (issue 9).
#include "quant/quantize.h"

namespace npuconv {

Status correctBias(Model&, const Model&, SampleStream&, int, QuantizeReport&) {
  return Status::unsupported("bias correction: not implemented yet");
}

}  // namespace npuconv
