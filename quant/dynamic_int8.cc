// dynamic_int8.cc - placeholder: int8-dynamic quantization (issue 9).
#include "quant/quantize.h"

namespace npuconv {

Status quantizeDynamic(Model&, const QuantizeOptions&, QuantizeReport&) {
  return Status::unsupported("int8-dynamic quantization: not implemented yet");
}

}  // namespace npuconv
