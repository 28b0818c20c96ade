// erf_gelu_f32.h - the decomposed erf Gelu run as one pass (fused_epilogue.h, FusedErfGelu).
// Internal to converter/exec/kernels; not a public API.
#pragma once

#include "converter/exec/fused_epilogue.h"
#include "converter/exec/tensor.h"

namespace npuconv {
class ThreadPool;
namespace nn {

/// y = the Gelu chain of `f` on x, bit-identical to its Div/Mul, Erf, Add and Mul kernels run one
/// after another. False (y untouched) unless x is float32.
bool erfGeluF32(ThreadPool& pool, const Tensor& x, const FusedErfGelu& f, Tensor& y);

}  // namespace nn
}  // namespace npuconv
