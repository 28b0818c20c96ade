// scaled_softmax.h - the fused attention-scores tail (fused_epilogue.h, FusedSoftmax): Softmax
// over the last axis of (X / c or X * c) [+ M], one row at a time. Implemented in reduce.cc,
// beside the Softmax kernel whose row arithmetic it shares. Internal to converter/exec/kernels.
#pragma once

#include "converter/exec/fused_epilogue.h"
#include "converter/exec/tensor.h"

namespace npuconv {
class ThreadPool;
namespace nn {

/// y = Softmax(x / f.c [+ mask]) (x * f.c with f.multiply) over x's last axis, bit-identical to
/// the Div/Mul, Add and Softmax kernels run one after another. False (y untouched) when it does
/// not apply: x, mask or the constant not float32, the Softmax axis not x's last, or a mask that
/// does not broadcast to exactly x's dims.
bool scaledSoftmaxF32(ThreadPool& pool, const Tensor& x, const FusedSoftmax& f, const Tensor* mask, Tensor& y);

}  // namespace nn
}  // namespace npuconv
