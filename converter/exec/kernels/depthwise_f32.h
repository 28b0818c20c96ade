// depthwise_f32.h - the float32 depthwise Conv kernel (AVX2): one (image, channel) plane at a
// time, for 2-D (or 1-D) convolutions without dilation and a horizontal stride of 1 or 2.
// Internal to converter/exec/kernels; not a public API.
#pragma once

#include "converter/exec/kernels/gemm_f32.h"
#include "converter/exec/kernels/nn_common.h"

namespace npuconv::nn {

/// Whether depthwiseF32 handles this geometry.
bool fastDepthwise(const Geo3& g);

/// Whether depthwiseF32 reads this plane in place (AVX-512, 3x3, stride 1 or 2, no dilation,
/// rows of at least 8 columns) with the padding as zero lanes, no padded copy: on mobilenet_v2
/// its 112x112 block ran in 0.21-0.24 instead of 0.31-0.34 ms (2026-12-07). Preferred over
/// depthwiseF32Blocked where both apply (8-15 columns: one vector per row, 8 rows per block; on
/// mobilenet_v2's 14x14 maps the interleaved kernel's transposes in and out cost more than its
/// FMAs: 0.118-0.120 vs 0.128-0.131 ms per 384-channel block).
bool directDepthwise(const Geo3& g);

/// y (one output plane, OH x OW) = act(conv(x, w) + bias + res): x one input plane, w its
/// KH x KW filter, res a plane shaped like y or null, act ep.act (ep's bias and residual are
/// ignored). Summation order: bias, then the taps row by row.
void depthwiseF32(const float* x, const float* w, const Geo3& g, float bias, const gemm::Epilogue& ep,
                  const float* res, float* y);

/// Whether depthwiseF32Blocked handles this geometry: 2-D (or 1-D) with output rows narrower
/// than 16 (where a row of one channel fills vectors poorly), any stride and dilation.
bool blockedDepthwise(const Geo3& g);

/// Channels [0, count) (count <= 8) of one image, one filter each (channel multiplier 1): x, y
/// and res (null: none) point at the first channel's plane, w at its filter, b at its bias (null:
/// 0). The channels are interleaved (8 per vector, zero padded) so each tap is one FMA for 8
/// channels; the results, with the epilogue (residual, activation), go back to planar y. Same
/// summation order as depthwiseF32: bias, then the taps row by row.
void depthwiseF32Blocked(const float* x, const float* w, const float* b, int64_t count, const Geo3& g,
                         const gemm::Epilogue& ep, const float* res, float* y);

}  // namespace npuconv::nn
