// conv_c1_f32.h - a float32 Conv of a single input channel (group 1, stride 1, no dilation:
// the first layer of a CNN over spectrogram patches, 1 -> 32 channels with a 3x3 kernel) with an
// optional fused 2x2/2 MaxPool, AVX-512. Neither im2col + GEMM (K = 9: the packing of B costs as
// much as the products) nor convDirectF32 (one broadcast per product, the per-tap set-up paid
// for one channel) suits it: here 16 output columns are one vector, two output rows x 32
// columns of input are loaded once per (row pair, column block) and reused for every filter,
// whose taps are broadcast. With the pool fused, the Conv's output (an NHWC CNN's first layer:
// 12.7 MB) is never stored: each filter's 2 x 32 outputs are pooled in registers.
// Internal to converter/exec/kernels; not a public API.
#pragma once

#include <cstdint>

#include "converter/exec/kernels/gemm_f32.h"
#include "converter/exec/kernels/nn_common.h"

namespace npuconv {
class ThreadPool;
namespace nn {

/// Whether convSingleChannelF32 handles this Conv: C = 1, 2-D, stride 1, dilation 1, kernel at
/// most 7x7, no fused residual, the AVX-512 ISA active; `pooled` (null: none) must satisfy
/// maxPool2x2Applies and take the Conv's output dims as its input.
bool singleChannelConvApplies(const Geo3& g, int64_t C, const gemm::Epilogue& ep, const Geo3* pooled);

/// Y = epilogue(conv(X[N, 1, IH, IW], W[M, 1, KH, KW]) + B) (B may be null), or MaxPool(that)
/// into Y shaped by `pooled`. Per output the sum over (kh, kw) in one FMA chain from zero, then
/// + bias (+0 without one), then the activation: bit for bit what convDirectF32 computes (and
/// then maxPool2x2PlanesF32 / maxPoolPlaneF32 with the pool); independent of the thread count.
void convSingleChannelF32(ThreadPool& pool, const float* X, const float* W, const float* B, float* Y, int64_t N,
                          int64_t M, const Geo3& g, const gemm::Epilogue& ep, const Geo3* pooled);

}  // namespace nn
}  // namespace npuconv
