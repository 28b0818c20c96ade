// conv_direct_f32.h - a direct float32 convolution for dense (group = 1) 2-D Convs where
// im2col + GEMM wastes its time packing: the input is copied once into a zero-padded
// channels-last image, the weights into panels of 32 (AVX-512; AVX2: 16) output channels, and a
// register tile of 12 (AVX2: 6) output positions x one panel accumulates over (tap, input channel)
// with one broadcast of an input value per position and one vector load of weights per step. No
// im2col panel is ever built, output positions need not be consecutive (a tile runs across output
// rows and small maps waste no lanes), and strides and dilations cost nothing extra.
// Internal to converter/exec/kernels; not a public API.
#pragma once

#include <cstdint>
#include <memory>

#include "converter/exec/kernels/gemm_f32.h"
#include "converter/exec/kernels/nn_common.h"

namespace npuconv {
class ThreadPool;
namespace nn {

/// Whether convDirectF32 handles this Conv at all: 2-D (or 1-D), group 1, sizes that fit.
bool directConvSupported(const Geo3& g, int64_t N, int64_t C, int64_t M);

/// Whether the Conv should run on convDirectF32 rather than im2col + GEMM (the rule measured by
/// tests/exec/conv_direct_test.cc's DISABLED_Timing on the suite's shapes; see the .cc): only
/// with the AVX-512 microkernel (the AVX2 one is correct but measured slower than the GEMM).
/// NPUCONV_DIRECT_CONV=0 never, =1 always (when supported): for measurements.
bool preferDirectConv(const Geo3& g, int64_t N, int64_t C, int64_t M);

/// W [M, C, taps] packed for convDirectF32 with the microkernel of gemm::activeIsa(): panels of
/// NR output channels, [panel][tap][c][NR], zero padded. Built once per constant weight.
struct DirectConvWeights {
  gemm::Isa isa = gemm::Isa::Avx2;
  int64_t M = 0, C = 0, taps = 0;
  gemm::AlignedFloats data;
  static std::shared_ptr<const DirectConvWeights> pack(const float* W, int64_t M, int64_t C, int64_t taps);
};

/// A band of output rows for convDirectF32: rows [oh0, oh1) of each output plane, written to
/// planes ldy floats apart (at least (oh1 - oh0) * OW).
struct DirectConvRows {
  int64_t oh0 = 0, oh1 = 0, ldy = 0;
};

/// Y[N, M, OH, OW] = epilogue(conv(X[N, C, IH, IW], W[M, C, KH, KW]) + B): group 1, any stride,
/// dilation and padding (in g). B may be null. ep.act is the fused activation, ep.residual (null:
/// none) a tensor shaped like Y added before the activation; ep.bias is ignored. Per output:
/// sum over (kh, kw, c) in that order in one FMA chain, then + bias, + residual, activation, each
/// rounded as the unfused steps: the result depends neither on the thread count nor on the split.
/// `packed` (null: W is packed on this call) must be W packed for the ISA in use. `band`
/// (non-null, with no residual): only those output rows, each value computed as in the whole
/// call (the same bits).
void convDirectF32(ThreadPool& pool, const float* X, const float* W, const float* B, float* Y, int64_t N, int64_t C,
                   int64_t M, const Geo3& g, const gemm::Epilogue& ep, const DirectConvWeights* packed = nullptr,
                   const DirectConvRows* band = nullptr);

}  // namespace nn
}  // namespace npuconv
