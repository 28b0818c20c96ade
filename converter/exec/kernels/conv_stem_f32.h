// conv_stem_f32.h - a float32 Conv with few input channels (a CNN's RGB stem: mobilenet_v2's
// 3x3 stride-2 Conv 3 -> 32 on 224x224), AVX-512. K = C * KH * KW is too small for the direct
// kernel (K >= 64) and im2col + GEMM pays a packing of B per output about as costly as its 27
// products; here 16 output columns of one row are one vector, loaded (at stride 2: two loads
// split into their even lanes) once per tap and reused for 8 filters at a time, whose weights
// are broadcast; the results go to Y's planes from registers.
// Internal to converter/exec/kernels; not a public API.
#pragma once

#include <cstdint>

#include "converter/exec/kernels/gemm_f32.h"
#include "converter/exec/kernels/nn_common.h"

namespace npuconv {
class ThreadPool;
namespace nn {

/// Whether convStemF32 handles this Conv: group 1, 1 <= C <= 4 and C * KH * KW < 64, 2-D,
/// horizontal stride 1 or 2, dilation 1, kernel at most 7x7, output rows of at least 16 columns,
/// no fused residual, the AVX-512 ISA active.
bool stemConvApplies(const Geo3& g, int64_t C, const gemm::Epilogue& ep);

/// Y = act(conv(X[N, C, IH, IW], W[M, C, KH, KW]) + B) (B may be null). Per output one FMA
/// chain from zero over the taps in (c, kh, kw) order, then + bias (+0 without one), then the
/// activation; independent of the thread count.
void convStemF32(ThreadPool& pool, const float* X, const float* W, const float* B, float* Y, int64_t N, int64_t C,
                 int64_t M, const Geo3& g, const gemm::Epilogue& ep);

}  // namespace nn
}  // namespace npuconv
