// fp16.cc - placeholder: fp16 conversion (issue 9).
#include "quant/quantize.h"

namespace npuconv {

Status convertToFp16(Model&, const QuantizeOptions&, QuantizeReport&) {
  return Status::unsupported("fp16 conversion: not implemented yet");
}

}  // namespace npuconv
