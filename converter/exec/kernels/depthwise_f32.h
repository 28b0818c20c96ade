// depthwise_f32.h - the float32 depthwise Conv kernel (AVX2): one (image, channel) plane at a
// time, for 2-D (or 1-D) convolutions without dilation and a horizontal stride of 1 or 2.
// Internal to converter/exec/kernels; not a public API.
#pragma once

#include "converter/exec/kernels/gemm_f32.h"
#include "converter/exec/kernels/nn_common.h"

namespace npuconv::nn {

/// Whether depthwiseF32 handles this geometry.
bool fastDepthwise(const Geo3& g);

/// y (one output plane, OH x OW) = act(conv(x, w) + bias + res): x one input plane, w its
/// KH x KW filter, res a plane shaped like y or null, act ep.act (ep's bias and residual are
/// ignored). Summation order: bias, then the taps row by row.
void depthwiseF32(const float* x, const float* w, const Geo3& g, float bias, const gemm::Epilogue& ep,
                  const float* res, float* y);

}  // namespace npuconv::nn
