// nn_conv.cc - Conv and ConvTranspose (1-D, 2-D, 3-D; groups, dilations, strides, pads,
// auto_pad, bias). Conv runs as one GEMM per (image, group) over the im2col matrix: for float32
// the GEMM packs its B panels straight from the input (the im2col matrix is never stored), other
// types build it first; 1x1 stride-1 unpadded convolutions use the input itself, depthwise
// convolutions a direct loop (float32 2-D: an AVX2 kernel). For float32 the bias and what the
// executor fused into the Conv (a residual Add, an activation) are applied in the GEMM /
// depthwise epilogue. ConvTranspose is GEMM + col2im. Work is split across the executor's pool.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

#include "converter/exec/fused_epilogue.h"
#include "converter/exec/kernel.h"
#include "converter/exec/kernels/conv_c1_f32.h"
#include "converter/exec/kernels/conv_direct_f32.h"
#include "converter/exec/kernels/conv_stem_f32.h"
#include "converter/exec/kernels/depthwise_f32.h"
#include "converter/exec/kernels/gemm_f32.h"
#include "converter/exec/kernels/im2col_f32.h"
#include "converter/exec/kernels/maxpool2x2_f32.h"
#include "converter/exec/kernels/nn_common.h"

namespace npuconv::nn {
namespace {

/// Range [lo, hi) of output positions o whose input position o*s - p + t lies in [0, n).
inline void validRange(int64_t n, int64_t outN, int64_t s, int64_t p, int64_t t, int64_t& lo, int64_t& hi) {
  // o*s >= p - t  and  o*s < n + p - t
  int64_t a = p - t, b = n + p - t;
  lo = a <= 0 ? 0 : (a + s - 1) / s;
  hi = b <= 0 ? 0 : (b + s - 1) / s;
  lo = std::min(lo, outN);
  hi = std::clamp(hi, lo, outN);
}

/// Columns [j0, j1) of row `row` of the im2col matrix of one (image, group) into dst[0, j1 - j0):
/// row = (c, kd, kh, kw), columns = output positions.
template <typename T>
void im2colSegment(const T* x, const Geo3& g, int64_t row, int64_t j0, int64_t j1, T* dst) {
  if (j1 <= j0) return;
  const int64_t kk = g.kSize(), OW = g.out[2];
  const int64_t IW = g.in[2], IHW = g.in[1] * g.in[2];
  int64_t c = row / kk, t = row % kk;
  int64_t ta = t / (g.k[1] * g.k[2]), tb = (t / g.k[2]) % g.k[1], te = t % g.k[2];
  const T* xc = x + c * g.inSize();
  int64_t wlo, whi;
  validRange(IW, OW, g.s[2], g.pb[2], te * g.d[2], wlo, whi);
  const int64_t base = -g.pb[2] + te * g.d[2];
  // Output lines (od, oh) that the segment touches; each gets columns [a, b) of its OW.
  for (int64_t line = j0 / OW; line * OW < j1; ++line) {
    const int64_t od = line / g.out[1], oh = line % g.out[1];
    const int64_t a = std::max<int64_t>(j0 - line * OW, 0), b = std::min<int64_t>(j1 - line * OW, OW);
    T* drow = dst + (line * OW - j0);  // drow[ow] for ow in [a, b)
    int64_t id = od * g.s[0] - g.pb[0] + ta * g.d[0];
    int64_t ih = oh * g.s[1] - g.pb[1] + tb * g.d[1];
    if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1]) {
      std::fill(drow + a, drow + b, T(0));
      continue;
    }
    const T* srow = xc + id * IHW + ih * IW;
    const int64_t lo = std::clamp(wlo, a, b), hi = std::clamp(whi, lo, b);
    std::fill(drow + a, drow + lo, T(0));
    if (g.s[2] == 1) {
      if (hi > lo) std::memcpy(drow + lo, srow + lo + base, size_t(hi - lo) * sizeof(T));
    } else {
      int64_t ow = lo;
      if constexpr (std::is_same_v<T, float>) {
        if (g.s[2] == 2) {
          // Every other element: two loads, one shuffle, one lane permute per 8 outputs. The
          // last element read, 2 * (ow + 7) + base + 1, must stay inside the row.
          for (; ow + 8 <= hi && 2 * (ow + 7) + base + 1 < IW; ow += 8) {
            const float* p = srow + 2 * ow + base;
            __m256 e = _mm256_shuffle_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8), 0x88);
            _mm256_storeu_ps(drow + ow, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8)));
          }
        }
      }
      for (; ow < hi; ++ow) drow[ow] = srow[ow * g.s[2] + base];
    }
    std::fill(drow + hi, drow + b, T(0));
  }
}

/// Rows [r0, r1) of the im2col matrix of one (image, group), all columns.
template <typename T>
void im2colRows(const T* x, const Geo3& g, int64_t r0, int64_t r1, T* col) {
  for (int64_t row = r0; row < r1; ++row) im2colSegment(x, g, row, 0, g.outSize(), col + row * g.outSize());
}

/// Direct depthwise convolution of one input channel into one output channel (accumulates).
template <typename T>
void depthwiseChannel(const T* x, const T* w, const Geo3& g, T bias, T* y) {
  const int64_t OW = g.out[2], OHW = g.out[1] * g.out[2], IW = g.in[2], IHW = g.in[1] * g.in[2];
  std::fill(y, y + g.outSize(), bias);
  for (int64_t ta = 0; ta < g.k[0]; ++ta)
    for (int64_t tb = 0; tb < g.k[1]; ++tb)
      for (int64_t te = 0; te < g.k[2]; ++te) {
        T wv = w[(ta * g.k[1] + tb) * g.k[2] + te];
        int64_t wlo, whi;
        validRange(IW, OW, g.s[2], g.pb[2], te * g.d[2], wlo, whi);
        int64_t base = -g.pb[2] + te * g.d[2];
        for (int64_t od = 0; od < g.out[0]; ++od) {
          int64_t id = od * g.s[0] - g.pb[0] + ta * g.d[0];
          if (id < 0 || id >= g.in[0]) continue;
          for (int64_t oh = 0; oh < g.out[1]; ++oh) {
            int64_t ih = oh * g.s[1] - g.pb[1] + tb * g.d[1];
            if (ih < 0 || ih >= g.in[1]) continue;
            const T* srow = x + id * IHW + ih * IW;
            T* drow = y + od * OHW + oh * OW;
            if (g.s[2] == 1) {
              for (int64_t ow = wlo; ow < whi; ++ow) drow[ow] += wv * srow[ow + base];
            } else {
              int64_t s = g.s[2];
              for (int64_t ow = wlo; ow < whi; ++ow) drow[ow] += wv * srow[ow * s + base];
            }
          }
        }
      }
}

/// Whether a Conv with one input channel per group and Mg filters per group (a depthwise Conv
/// with channel multiplier Mg; with one group, a Conv of a single-channel signal such as an STFT
/// front end: 257 filters of 512 taps) runs as a GEMM [Mg x taps] * im2col rather than as Mg
/// direct loops: the direct loop re-reads the input once per filter and vectorizes poorly on
/// long strided kernels, the GEMM needs enough rows and depth to fill its tiles.
bool multiplierGemm(int64_t Mg, const Geo3& g) { return Mg >= 8 && g.kSize() >= 8; }

/// A constant float32 Conv weight packed for the GEMM once per executor, one matrix per group.
struct PrepackedWeights {
  const void* source = nullptr;  // the weight data it was packed from
  gemm::Isa isa = gemm::Isa::Avx2;
  std::vector<gemm::PackedA> groups;
  std::shared_ptr<const DirectConvWeights> direct;  // instead of groups when the direct kernel runs it
  /// A pointwise Conv on a map the GEMM's column tiles fill poorly (7x7, 14x14): the weights also packed
  /// for gemm::sgemmPixelTiles.
  std::optional<gemm::PackedB> pixel;
};

/// Whether g is a pointwise Conv's geometry: 1x1, stride 1, no padding (the GEMM reads X as B).
bool pointwiseGeometry(const Geo3& g) {
  return g.kSize() == 1 && g.s[0] == 1 && g.s[1] == 1 && g.s[2] == 1 && g.pb[0] == 0 && g.pb[1] == 0 &&
         g.pb[2] == 0 && g.in[0] == g.out[0] && g.in[1] == g.out[1] && g.in[2] == g.out[2];
}

/// Whether g is a 1x1 Conv with a stride and no padding (resnet50's downsample Convs): the GEMM
/// runs it as a pointwise Conv on the input's kept positions, gathered into a dense [C, OH * OW]
/// matrix first (a few hundred KB, a copy: the sums are the same as through im2col, whose
/// 1x1 columns are those values). That matrix is read in place or by the pixel tiles (7x7,
/// 14x14 outputs) as a pointwise Conv's input is. Measured 2026-12-07 (1 thread, in resnet50,
/// run --profile): layer4.0's 14x14 -> 7x7 1024->2048 1.29 -> 1.04 ms, layer3.0's 28x28 -> 14x14
/// 512->1024 1.04 -> 0.94 ms (pixel tiles), layer2.0's 56x56 -> 28x28 about even (1.0 ms).
bool stridedPointwiseGeometry(const Geo3& g) {
  return g.kSize() == 1 && g.pb[0] == 0 && g.pb[1] == 0 && g.pb[2] == 0 && g.pe[0] == 0 && g.pe[1] == 0 &&
         g.pe[2] == 0 && g.d[0] == 1 && g.in[0] == 1 && g.out[0] == 1 && !pointwiseGeometry(g) &&
         (g.out[1] - 1) * g.s[1] < g.in[1] && (g.out[2] - 1) * g.s[2] < g.in[2];
}

/// X[c][oh * s_h][ow * s_w] of C channel planes (a stridedPointwiseGeometry Conv's input) into
/// dst[c][oh][ow], channels split across the pool.
void gatherStridedPointwise(ThreadPool& pool, const float* X, int64_t C, const Geo3& g, float* dst) {
  const int64_t IW = g.in[2], OH = g.out[1], OW = g.out[2], sh = g.s[1], sw = g.s[2], inSp = g.inSize();
  pool.parallelFor(C, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, OH * OW)), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t oh = 0; oh < OH; ++oh) {
        const float* src = X + c * inSp + oh * sh * IW;
        float* d = dst + (c * OH + oh) * OW;
        int64_t ow = 0;
        if (sw == 2)  // the even ones of 16 consecutive values: 8 outputs per step (AVX2)
          for (; ow + 8 <= OW && 2 * ow + 16 <= IW; ow += 8) {
            const __m256 a = _mm256_loadu_ps(src + 2 * ow), b = _mm256_loadu_ps(src + 2 * ow + 8);
            const __m256 e = _mm256_shuffle_ps(a, b, 0x88);  // a0 a2 b0 b2 | a4 a6 b4 b6
            _mm256_storeu_ps(d + ow, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8)));
          }
        for (; ow < OW; ++ow) d[ow] = src[ow * sw];
      }
  });
}

/// preferDirectConv, except for a pointwise Conv of one image that sgemmPixelTiles runs (14x14 and
/// 7x7 maps): there the GEMM is faster. mobilenet_v2's 14x14 project Convs (192->64, 384->64,
/// 384->96, 576->96, K >= 192 and at most 128 filters: the direct kernel's rule) took 1.10-1.14x
/// the time in the direct kernel, min of 4 alternating profiled runs each (2026-12-07). (Since
/// preferDirectConv sends no 1x1 Conv to the direct kernel any more, this exception is kept only
/// as a guard for NPUCONV_DIRECT_CONV=1.)
bool useDirectConv(const Geo3& g, int64_t N, int64_t C, int64_t M) {
  if (N == 1 && (pointwiseGeometry(g) || stridedPointwiseGeometry(g)) && gemm::pixelTilesPay(M, g.outSize()))
    return false;
  return preferDirectConv(g, N, C, M);
}

/// The prepacked weights of this node's constant W, packing them on the first call (and again if
/// the microkernel changed); null when W is not a constant or the GEMM would not use them (a
/// depthwise or a matrix-vector Conv). The direct kernel uses them on any map (an SE block's 1x1).
/// (prepackedInCache: for a Conv of N images whose node cache is `cache`; a fused project Conv
/// packs its weights into its own step's cache, the very matrices its unfused run uses.)
const PrepackedWeights* prepackedInCache(std::shared_ptr<void>* cache, const Tensor& w, int64_t N, const Geo3& g,
                                         int64_t group) {
  const int64_t M = w.dim(0), Cg = w.dim(1), Mg = M / group, K = Cg * g.kSize();
  if (!cache || w.dtype() != DType::F32) return nullptr;
  const bool direct = group == 1 && useDirectConv(g, N, Cg, M);
  if (!direct && ((Cg == 1 && !multiplierGemm(Mg, g)) || Mg < 4 || g.outSize() < 8)) return nullptr;
  std::shared_ptr<void>& slot = *cache;
  auto* cur = static_cast<PrepackedWeights*>(slot.get());
  if (cur && cur->source == w.raw() && cur->isa == gemm::activeIsa() && (cur->direct != nullptr) == direct) return cur;
  auto p = std::make_shared<PrepackedWeights>();
  p->source = w.raw();
  p->isa = gemm::activeIsa();
  if (direct)
    p->direct = DirectConvWeights::pack(w.data<float>(), M, Cg, g.kSize());
  else
    for (int64_t gi = 0; gi < group; ++gi) p->groups.push_back(gemm::PackedA::pack(w.data<float>() + gi * Mg * K, Mg, K, K));
  if (!direct && group == 1 && N == 1 && (pointwiseGeometry(g) || stridedPointwiseGeometry(g)) &&
      gemm::pixelTilesPay(M, g.outSize()))
    p->pixel = gemm::PackedB::packTransposed(w.data<float>(), K, M, K);
  slot = p;
  return p.get();
}

const PrepackedWeights* prepackedWeights(const KernelContext& ctx, const Tensor& w, const Geo3& g, int64_t group) {
  if (!ctx.inputIsConstant(1)) return nullptr;
  return prepackedInCache(ctx.nodeCache(), w, ctx.input(0)->dim(0), g, group);
}

/// Whether a batch of images runs as one GEMM whose columns are (image, output position): for
/// small outputs (a CNN over 41 spectrogram patches with 9x4 maps in its last layers) one GEMM
/// per image has too few columns to fill the microkernel's tiles and the threads.
bool batchedGemm(int64_t N, int64_t group, const Geo3& g) { return N > 1 && group == 1 && g.outSize() < 1024; }

/// The float32 Conv of a whole batch (one group) as one GEMM into a [M, N * outSp] buffer, then
/// scattered into Y's [N, M, outSp]; a fused residual (laid out like Y) and the activation after
/// it are applied during the scatter, in the epilogue's order (bias, residual, activation).
void convBatchedF32(ThreadPool& pool, const float* X, const float* W, const float* B, float* Y, int64_t N, int64_t M,
                    int64_t C, const Geo3& g, const gemm::Epilogue& act, const PrepackedWeights* packed) {
  const int64_t outSp = g.outSize(), cols = N * outSp, K = C * g.kSize();
  thread_local std::vector<float> tmpStore;
  if (tmpStore.size() < size_t(M * cols)) tmpStore.resize(size_t(M * cols));
  float* tmp = tmpStore.data();
  gemm::Epilogue ep;
  ep.bias = B;
  ep.biasPerRow = true;
  if (!act.residual) {
    ep.act = act.act;
    ep.p0 = act.p0;
    ep.p1 = act.p1;
  }
  Im2colF32 im2col(pool, X, C, g, N);
  const gemm::BPacker bp = im2col.packer();
  if (packed)
    gemm::sgemmPrepacked(&pool, packed->groups[0], cols, nullptr, cols, &bp, tmp, cols, ep);
  else
    gemm::sgemmPackedB(&pool, M, cols, K, W, K, bp, tmp, cols, ep);
  pool.parallelFor(N * M, std::max<int64_t>(1, 16384 / outSp), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / M, m = r % M;
      float* y = Y + r * outSp;
      std::memcpy(y, tmp + m * cols + n * outSp, size_t(outSp) * sizeof(float));
      if (act.residual) gemm::applyEpilogue(y, outSp, 0.0f, act, act.residual + r * outSp);
    }
  });
}

/// The float32 depthwise Conv (one input channel and one filter per group) of N images of M
/// channels: the 8-channel interleaved kernel on narrow maps, the per-plane kernel where it
/// applies, else the direct loop and the epilogue as a pass. Also the second half of a fused
/// expand -> depthwise pair (convExpandDepthwiseF32).
void depthwiseConvF32(ThreadPool& pool, const float* X, const float* W, const float* B, float* Y, int64_t N, int64_t M,
                      const Geo3& g, const gemm::Epilogue& act) {
  const int64_t inSp = g.inSize(), outSp = g.outSize(), kk = g.kSize();
  if (blockedDepthwise(g) && !directDepthwise(g)) {
    // Small planes: 8 channels per vector.
    const int64_t blocks = (M + 7) / 8;
    int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, 8 * outSp * kk));
    pool.parallelFor(N * blocks, grain, [&](int64_t c0, int64_t c1) {
      for (int64_t i = c0; i < c1; ++i) {
        const int64_t n = i / blocks, m0 = (i % blocks) * 8, count = std::min<int64_t>(8, M - m0);
        const int64_t at = (n * M + m0) * outSp;
        depthwiseF32Blocked(X + (n * M + m0) * inSp, W + m0 * kk, B ? B + m0 : nullptr, count, g, act,
                            act.residual ? act.residual + at : nullptr, Y + at);
      }
    });
    return;
  }
  if (fastDepthwise(g)) {
    int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, outSp * kk));
    pool.parallelFor(N * M, grain, [&](int64_t c0, int64_t c1) {
      for (int64_t i = c0; i < c1; ++i)
        depthwiseF32(X + i * inSp, W + (i % M) * kk, g, B ? B[i % M] : 0.0f, act,
                     act.residual ? act.residual + i * outSp : nullptr, Y + i * outSp);
    });
    return;
  }
  pool.parallelFor(N * M, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t i = c0; i < c1; ++i) {
      depthwiseChannel<float>(X + i * inSp, W + (i % M) * kk, g, B ? B[i % M] : 0.0f, Y + i * outSp);
      if (act.act != gemm::Act::None || act.residual)
        gemm::applyEpilogue(Y + i * outSp, outSp, 0.0f, act, act.residual ? act.residual + i * outSp : nullptr);
    }
  });
}

/// Y = Conv of images [n0, n0 + nCount) of X (nCount < 0: all of them); Y holds only those.
template <typename T>
void convTyped(ThreadPool& pool, const Tensor& xt, const Tensor& wt, const Tensor* bt, Tensor& yt, const Geo3& g,
               int64_t group, const gemm::Epilogue& act = {}, const PrepackedWeights* packed = nullptr,
               int64_t n0 = 0, int64_t nCount = -1) {
  const int64_t N = nCount < 0 ? xt.dim(0) : nCount, C = xt.dim(1), M = wt.dim(0);
  const int64_t Cg = C / group, Mg = M / group;
  const int64_t inSp = g.inSize(), outSp = g.outSize(), kk = g.kSize();
  const T* X = xt.data<T>() + n0 * C * inSp;
  const T* W = wt.data<T>();
  const T* B = bt ? bt->data<T>() : nullptr;
  T* Y = yt.mutableData<T>();
  if (N == 0 || M == 0 || outSp == 0) return;

  if constexpr (std::is_same_v<T, float>) {
    if (Cg == 1 && Mg == 1) {
      depthwiseConvF32(pool, X, W, B, Y, N, M, g, act);
      return;
    }
    if (Cg == 1 && !multiplierGemm(Mg, g) && fastDepthwise(g)) {
      int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, outSp * kk));
      pool.parallelFor(N * M, grain, [&](int64_t c0, int64_t c1) {
        for (int64_t i = c0; i < c1; ++i) {
          int64_t n = i / M, m = i % M, gi = m / Mg;
          depthwiseF32(X + (n * C + gi) * inSp, W + m * kk, g, B ? B[m] : 0.0f, act,
                       act.residual ? act.residual + i * outSp : nullptr, Y + i * outSp);
        }
      });
      return;
    }
  }
  if (Cg == 1 && !multiplierGemm(Mg, g)) {
    // Depthwise (with channel multiplier Mg): one direct loop per output channel.
    pool.parallelFor(N * M, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t i = c0; i < c1; ++i) {
        int64_t n = i / M, m = i % M, gi = m / Mg;
        depthwiseChannel<T>(X + (n * C + gi) * inSp, W + m * kk, g, B ? B[m] : T(0), Y + i * outSp);
        if constexpr (std::is_same_v<T, float>)
          if (act.act != gemm::Act::None || act.residual)
            gemm::applyEpilogue(Y + i * outSp, outSp, 0.0f, act, act.residual ? act.residual + i * outSp : nullptr);
      }
    });
    return;
  }

  if constexpr (std::is_same_v<T, float>) {
    if (group == 1 && C == 1 && M >= 8 && singleChannelConvApplies(g, C, act, nullptr)) {  // a CNN's first layer
      convSingleChannelF32(pool, X, W, B, Y, N, M, g, act, nullptr);
      return;
    }
    if (group == 1 && stemConvApplies(g, C, act)) {  // an RGB stem: K < 64, im2col's packing costs as much
      convStemF32(pool, X, W, B, Y, N, C, M, g, act);
      return;
    }
    if (group == 1 && useDirectConv(g, N, C, M)) {  // small K or small maps: no im2col panels
      convDirectF32(pool, X, W, B, Y, N, C, M, g, act, packed ? packed->direct.get() : nullptr);
      return;
    }
  }
  if (packed && packed->groups.empty()) packed = nullptr;  // packed for the direct kernel only

  // A strided 1x1 Conv of float32 runs as a pointwise one on its gathered input (see
  // stridedPointwiseGeometry).
  bool gathered = false;
  if constexpr (std::is_same_v<T, float>) gathered = stridedPointwiseGeometry(g) && !batchedGemm(N, group, g);
  const bool pointwise = pointwiseGeometry(g) || gathered;
  const int64_t K = Cg * kk;
  // float32: one GEMM per (image, group) with bias, residual and activation in its epilogue; B is
  // the input itself (pointwise) or its im2col matrix, packed straight from the input (unless the
  // image is too large for 32-bit gather offsets: then as other types, below).
  bool direct = false;
  if constexpr (std::is_same_v<T, float>) direct = pointwise || Im2colF32::fits(Cg, g);
  if constexpr (std::is_same_v<T, float>) if (direct && batchedGemm(N, group, g) && Im2colF32::fits(Cg, g, N)) {
    convBatchedF32(pool, X, W, B, Y, N, M, Cg, g, act, packed);
    return;
  }
  if constexpr (std::is_same_v<T, float>) if (direct) {
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t gi = 0; gi < group; ++gi) {
        const float* xg = X + (n * C + gi * Cg) * inSp;
        float* yg = Y + (n * M + gi * Mg) * outSp;
        // 64-byte aligned, as the executor's tensors: the GEMM reads aligned rows in place.
        thread_local gemm::AlignedFloats gatherStore;
        thread_local size_t gatherCap = 0;
        if (gathered) {
          if (gatherCap < size_t(Cg * outSp)) {
            gatherStore = gemm::allocateFloats(size_t(Cg * outSp));
            gatherCap = size_t(Cg * outSp);
          }
          gatherStridedPointwise(pool, xg, Cg, g, gatherStore.get());
          xg = gatherStore.get();
        }
        gemm::Epilogue ep = act;
        ep.bias = B ? B + gi * Mg : nullptr;
        ep.biasPerRow = true;
        if (act.residual) {  // a fused residual Add: same layout as Y
          ep.residual = act.residual + (n * M + gi * Mg) * outSp;
          ep.ldr = outSp;
        }
        std::optional<Im2colF32> im2col;
        if (!pointwise) im2col.emplace(pool, xg, Cg, g);
        const gemm::BPacker bp = im2col ? im2col->packer() : gemm::BPacker{};
        if (packed && pointwise && packed->pixel && group == 1 && gemm::pixelTilesPay(Mg, outSp))
          gemm::sgemmPixelTiles(&pool, *packed->pixel, outSp, xg, outSp, yg, outSp, ep);
        else if (packed)
          gemm::sgemmPrepacked(&pool, packed->groups[size_t(gi)], outSp, xg, outSp, pointwise ? nullptr : &bp, yg, outSp,
                               ep);
        else if (pointwise)
          gemm::sgemm(&pool, false, false, Mg, outSp, K, 1.0f, W + gi * Mg * K, K, xg, outSp, 0.0f, yg, outSp, ep);
        else
          gemm::sgemmPackedB(&pool, Mg, outSp, K, W + gi * Mg * K, K, bp, yg, outSp, ep);
      }
    }
    return;
  }
  // The column buffer is kept per thread across calls: a fresh multi-megabyte allocation per
  // Conv is a fresh mmap whose page faults and zeroing cost more than the im2col itself.
  thread_local std::unique_ptr<std::byte[]> colStore;
  thread_local size_t colBytes = 0;
  T* colPtr = nullptr;
  if (!pointwise) {
    size_t need = size_t(K * outSp) * sizeof(T);
    if (need > colBytes) {
      colStore.reset(new std::byte[need]);
      colBytes = need;
    }
    colPtr = reinterpret_cast<T*>(colStore.get());
  }
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t gi = 0; gi < group; ++gi) {
      const T* xg = X + (n * C + gi * Cg) * inSp;
      const T* col = xg;
      if (!pointwise) {
        T* cb = colPtr;
        int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(outSp, 1));
        pool.parallelFor(K, grain, [&](int64_t r0, int64_t r1) { im2colRows<T>(xg, g, r0, r1, cb); });
        col = cb;
      }
      T* yg = Y + (n * M + gi * Mg) * outSp;
      parallelGemm<T>(pool, false, false, Mg, outSp, K, T(1), W + gi * Mg * K, K, col, outSp, T(0), yg, outSp);
    }
  }
  if (B) {
    pool.parallelFor(N * M, 16, [&](int64_t c0, int64_t c1) {
      for (int64_t i = c0; i < c1; ++i) {
        T b = B[i % M];
        T* y = Y + i * outSp;
        for (int64_t j = 0; j < outSp; ++j) y[j] += b;
      }
    });
  }
  if constexpr (std::is_same_v<T, float>) {
    if (act.act != gemm::Act::None || act.residual)  // what the executor fused into this Conv
      pool.parallelFor(N * M, 16, [&](int64_t c0, int64_t c1) {
        for (int64_t i = c0; i < c1; ++i)
          gemm::applyEpilogue(Y + i * outSp, outSp, 0.0f, act, act.residual ? act.residual + i * outSp : nullptr);
      });
  }
}

/// The pooled geometry of a MaxPool fused behind a Conv with output dims `convDims`, if
/// maxPoolPlaneF32 handles it (a 2-D Conv, a window inside the padded map).
std::optional<Geo3> fusedPoolGeometry(const FusedMaxPool& p, const std::vector<int64_t>& convDims) {
  if (convDims.size() != 4) return std::nullopt;
  Geo3 g{};
  g.in[0] = g.out[0] = g.k[0] = g.s[0] = g.d[0] = 1;
  g.pb[0] = g.pe[0] = 0;
  for (int a = 0; a < 2; ++a) {
    g.in[a + 1] = convDims[size_t(a) + 2];
    g.k[a + 1] = p.kernel[a];
    g.s[a + 1] = p.stride[a];
    g.d[a + 1] = 1;
    g.pb[a + 1] = p.padBegin[a];
    g.pe[a + 1] = p.padEnd[a];
    const int64_t span = g.in[a + 1] + p.padBegin[a] + p.padEnd[a] - p.kernel[a];
    if (p.kernel[a] < 1 || p.stride[a] < 1 || span < 0) return std::nullopt;
    g.out[a + 1] = span / p.stride[a] + 1;  // floor mode
  }
  if (!fastMaxPool(g)) return std::nullopt;
  return g;
}

/// A float32 Conv with a fused MaxPool (geometry pg) into the pooled Y: the Conv of a few
/// images at a time into a scratch map small enough to stay in cache (L2), then each of their
/// planes pooled into Y. The Conv output is never written to memory whole and read back (an
/// NHWC CNN's first layer: 12.7 MB). Each image's Conv is computed as in the unfused call (the
/// kernels' sums do not depend on the batch split) and max is exact: same bits as Conv, MaxPool.
void convPooledF32(ThreadPool& pool, const Tensor& x, const Tensor& w, const Tensor* b, Tensor& y, const Geo3& g,
                   int64_t group, const gemm::Epilogue& act, const Geo3& pg, const PrepackedWeights* packed) {
  const int64_t N = x.dim(0), M = w.dim(0), outSp = g.outSize(), pooledSp = pg.outSize();
  if (group == 1 && M >= 8 && singleChannelConvApplies(g, x.dim(1), act, &pg)) {  // pooled in registers
    convSingleChannelF32(pool, x.data<float>(), w.data<float>(), b ? b->data<float>() : nullptr, y.mutableData<float>(),
                         N, M, g, act, &pg);
    return;
  }
  constexpr int64_t kScratchBytes = 256 << 10;
  constexpr int64_t kBandBytes = 512 << 10;  // a band of Conv rows (half the L2; 256 KB - 2 MB measured alike)
  const int64_t perImage = std::max<int64_t>(1, M * outSp * int64_t(sizeof(float)));
  const int64_t chunk = std::clamp<int64_t>(kScratchBytes / perImage, 1, N);
  float* Y = y.mutableData<float>();
  const bool pool2x2 = maxPool2x2Applies(pg);
  auto poolPlanes = [&](const float* s, float* yp, int64_t planes) {
    if (pool2x2) {  // 2x2/2: all planes as one sequence of rows
      maxPool2x2PlanesF32(s, yp, planes, pg);
      return;
    }
    for (int64_t p = 0; p < planes; ++p) maxPoolPlaneF32(s + p * outSp, yp + p * pooledSp, pg);
  };
  // The direct kernel with chunks enough for every thread: each thread convolves whole chunks
  // (single-threaded, inline) into its own scratch and pools them, one parallelFor for the layer
  // instead of three per chunk (an NHWC CNN's 38x16 layer: 41 chunks of one image). The direct
  // kernel's sums do not depend on the split, so the bits are the same as below.
  const int64_t C = x.dim(1), chunks = (N + chunk - 1) / chunk;
  if (group == 1 && pool.size() > 1 && chunks >= 4 * int64_t(pool.size()) && preferDirectConv(g, chunk, C, M) &&
      preferDirectConv(g, N - (chunks - 1) * chunk, C, M)) {
    const float* X = x.data<float>();
    const float* W = w.data<float>();
    const float* B = b ? b->data<float>() : nullptr;
    const int64_t inSp = g.inSize();
    pool.parallelFor(chunks, 1, [&](int64_t k0, int64_t k1) {
      thread_local std::vector<float> own;
      if (own.size() < size_t(chunk * M * outSp)) own.resize(size_t(chunk * M * outSp));
      for (int64_t k = k0; k < k1; ++k) {
        const int64_t n0 = k * chunk, nc = std::min(chunk, N - n0);
        convDirectF32(pool, X + n0 * C * inSp, W, B, own.data(), nc, C, M, g, act,
                      packed ? packed->direct.get() : nullptr);
        poolPlanes(own.data(), Y + n0 * M * pooledSp, nc * M);
      }
    });
    return;
  }
  // One large image on the direct kernel (resnet50's stem: 64 x 112 x 112, 3.2 MB): bands of
  // pooled rows, each from a band of Conv rows computed into a scratch that stays in L2 and
  // pooled right away, instead of the whole map written out and read back. A Conv row shared
  // by two bands (a 3x3/2 window overlaps the next by one row) is kept, not recomputed. Each
  // value is the whole call's (convDirectF32's bands) and max is exact: the same bits.
  if (N == 1 && group == 1 && !act.residual && perImage > kScratchBytes && pg.s[1] >= 1 && pg.k[1] >= pg.s[1] &&
      useDirectConv(g, 1, C, M)) {
    const int64_t OH = g.out[1], OW = g.out[2], PH = pg.out[1], ps = pg.s[1], pk = pg.k[1], pb = pg.pb[1];
    const int64_t rowBytes = M * OW * int64_t(sizeof(float));
    const int64_t bandP = std::clamp<int64_t>((kBandBytes / rowBytes - (pk - ps)) / ps, 1, PH);
    const int64_t maxRows = (bandP - 1) * ps + pk, ldy = maxRows * OW;
    thread_local gemm::AlignedFloats bandStore;
    thread_local size_t bandCap = 0;
    if (bandCap < size_t(M * ldy)) {
      bandStore = gemm::allocateFloats(size_t(M * ldy));
      bandCap = size_t(M * ldy);
    }
    float* S = bandStore.get();
    const float* X = x.data<float>();
    const float* B = b ? b->data<float>() : nullptr;
    int64_t have0 = 0, have1 = 0;  // Conv rows in S
    for (int64_t p0 = 0; p0 < PH; p0 += bandP) {
      const int64_t p1 = std::min(PH, p0 + bandP);
      const int64_t start = p0 * ps - pb, end = (p1 - 1) * ps - pb + pk;
      const int64_t c0 = std::clamp<int64_t>(start, 0, OH), c1 = std::clamp<int64_t>(end, c0, OH);
      // Rows [c0, have1) are in S already (at have0's offset): moved to the front of each plane.
      const int64_t kept = have1 > c0 ? have1 - c0 : 0;
      if (kept > 0 && c0 > have0)
        pool.parallelFor(M, 8, [&](int64_t m0, int64_t m1) {
          for (int64_t m = m0; m < m1; ++m)
            std::memmove(S + m * ldy, S + m * ldy + (c0 - have0) * OW, size_t(kept * OW) * sizeof(float));
        });
      if (c0 + kept < c1) {
        const DirectConvRows rows{c0 + kept, c1, ldy};
        convDirectF32(pool, X, w.data<float>(), B, S + kept * OW, 1, C, M, g, act, packed ? packed->direct.get() : nullptr,
                      &rows);
      }
      have0 = c0;
      have1 = c1;
      Geo3 bg = pg;  // the band's pooling: its Conv rows, the pads the band's edges have
      bg.in[1] = c1 - c0;
      bg.out[1] = p1 - p0;
      bg.pb[1] = c0 - start;
      bg.pe[1] = end - c1;
      pool.parallelFor(M, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, (p1 - p0) * pg.out[2] * pg.kSize())),
                       [&](int64_t m0, int64_t m1) {
                         for (int64_t m = m0; m < m1; ++m)
                           maxPoolPlaneF32(S + m * ldy, Y + m * pooledSp + p0 * pg.out[2], bg);
                       });
    }
    return;
  }
  Tensor scratch = Tensor::uninitialized(DType::F32, {chunk, M, g.out[1], g.out[2]});
  const float* S = scratch.data<float>();
  const int64_t kk = pg.kSize();
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    const int64_t nc = std::min(chunk, N - n0);
    convTyped<float>(pool, x, w, b, scratch, g, group, act, packed, n0, nc);
    pool.parallelFor(nc * M, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, pooledSp * kk)),
                     [&](int64_t p0, int64_t p1) { poolPlanes(S + p0 * outSp, Y + (n0 * M + p0) * pooledSp, p1 - p0); });
  }
}

/// The depthwise geometry of a depthwise Conv fused behind a pointwise Conv with output dims
/// `convDims`, if it is a 2-D window that yields at least one output row and column.
std::optional<Geo3> fusedDepthwiseGeometry(const FusedDepthwise& d, const std::vector<int64_t>& convDims) {
  if (convDims.size() != 4 || convDims[1] != d.channels) return std::nullopt;
  Geo3 g{};
  g.in[0] = g.out[0] = g.k[0] = g.s[0] = g.d[0] = 1;
  g.pb[0] = g.pe[0] = 0;
  for (int a = 0; a < 2; ++a) {
    g.in[a + 1] = convDims[size_t(a) + 2];
    g.k[a + 1] = d.kernel[a];
    g.s[a + 1] = d.stride[a];
    g.d[a + 1] = 1;
    g.pb[a + 1] = d.padBegin[a];
    g.pe[a + 1] = d.padEnd[a];
    const int64_t span = g.in[a + 1] + d.padBegin[a] + d.padEnd[a] - d.kernel[a];
    if (span < 0) return std::nullopt;
    g.out[a + 1] = span / d.stride[a] + 1;
  }
  return g;
}

/// Bytes of expanded map one band holds: with the band's depthwise input and output planes it
/// stays in L2 (1-2 MB per core on current x86).
constexpr int64_t kExpandBandBytes = 384 << 10;

/// How the banded MobileNet-block kernels split the output rows: each image's OH rows into
/// `slices` equal parts (one per thread when there are fewer images than threads), each slice
/// into bands of at most R rows, as even as the slice allows. Whole bands per thread left one
/// thread with 3 of 5 bands (78 of 112 rows) of mobilenet_v2's first block at 2 threads; slices
/// of rows give each thread the same number of rows. Results do not depend on the split (every
/// output is computed with the same sums whatever its band).
struct BandPlan {
  int64_t OH = 0, R = 1, slices = 1;
  BandPlan(ThreadPool& pool, int64_t N, int64_t oh, int64_t r) : OH(oh), R(std::max<int64_t>(1, r)) {
    const int64_t threads = pool.size();
    if (N < threads) slices = std::clamp<int64_t>((threads + N - 1) / N, 1, OH);
  }
  int64_t tasks(int64_t N) const { return N * slices; }
  /// Calls band(n, o0, o1) for the bands of task t in order.
  template <typename F>
  void forBands(int64_t t, F&& band) const {
    const int64_t n = t / slices, s = t % slices;
    const int64_t a = OH * s / slices, b = OH * (s + 1) / slices;
    if (b <= a) return;
    const int64_t nb = (b - a + R - 1) / R, rows = (b - a + nb - 1) / nb;
    for (int64_t o0 = a; o0 < b; o0 += rows) band(n, o0, std::min(b, o0 + rows));
  }
};

/// The geometry of a project Conv (1x1, stride 1, no padding) on the depthwise output dg.out.
Geo3 projectGeometry(const Geo3& dg) {
  Geo3 g{};
  for (int a = 0; a < 3; ++a) {
    g.in[a] = g.out[a] = dg.out[a];
    g.k[a] = g.s[a] = g.d[a] = 1;
    g.pb[a] = g.pe[a] = 0;
  }
  return g;
}

/// A float32 pointwise (1x1, stride 1, one group) Conv [-> activation] followed by a depthwise
/// Conv [-> activation] (geometry dg, weights fd) and, if `fp`, a project Conv (1x1, weights
/// fp->weights, prepacked `pp`) [+ residual] [-> activation] into Y: [N, M, dg.out], or with a
/// project Conv [N, P, dg.out]. Where the expanded map is larger than a band, the pointwise Conv
/// is computed a band of rows at a time (all M channels, the rows the band's depthwise outputs
/// read, halo rows computed again by the next band) into a per-thread scratch and the depthwise
/// Conv runs on the band from there (into a second scratch that the project Conv reads, if
/// any): neither the expanded nor the depthwise map is written to memory whole and read back.
/// Each value is computed as by the unfused calls (the GEMM's sums do not depend on the column
/// range, the depthwise kernel's on the rows around the band), so the result is bit-identical;
/// maps that do not take the banded path run the calls one after the other.
void convExpandDepthwiseF32(ThreadPool& pool, const Tensor& x, const Tensor& w, const Tensor* b, Tensor& y,
                            const Geo3& g, const gemm::Epilogue& act, const FusedDepthwise& fd, const Geo3& dg,
                            const PrepackedWeights* packed, const FusedProject* fp = nullptr,
                            const float* residual = nullptr, const PrepackedWeights* pp = nullptr) {
  const int64_t N = x.dim(0), C = x.dim(1), M = w.dim(0), H = g.in[1], W = g.in[2], HW = H * W;
  const int64_t OH = dg.out[1], OW = dg.out[2], OHW = OH * OW, kk = dg.kSize();
  const int64_t P = fp ? fp->weights.dim(0) : 0;
  const float* X = x.data<float>();
  const float* B = b ? b->data<float>() : nullptr;
  float* Y = y.mutableData<float>();
  if (N == 0 || M == 0 || OHW == 0 || (fp && P == 0)) return;
  const Geo3 pg = projectGeometry(dg);
  // The project Conv's epilogue as its unfused kernel call gets it (residual laid out like Y).
  gemm::Epilogue pact;
  if (fp) {
    pact = fp->act;
    pact.residual = residual;
    pact.ldr = 0;
  }
  // The banded path runs the same kernels as the unfused calls would: the per-image GEMM with
  // prepacked weights, the per-plane depthwise kernel, and the project Conv's per-image GEMM.
  // A project Conv the direct kernel would run (deep K, few filters) runs after the bands, whole.
  const bool banded = packed && !packed->groups.empty() && !batchedGemm(N, 1, g) && !useDirectConv(g, N, C, M) &&
                      fastDepthwise(dg) && !blockedDepthwise(dg) && M * HW * int64_t(sizeof(float)) > 2 * kExpandBandBytes;
  if (banded && fp && !(pp && !pp->groups.empty() && !batchedGemm(N, 1, pg) && !useDirectConv(pg, N, M, P))) {
    Tensor dw = Tensor::uninitialized(DType::F32, {N, M, OH, OW});
    convExpandDepthwiseF32(pool, x, w, b, dw, g, act, fd, dg, packed);
    convTyped<float>(pool, dw, fp->weights, fp->bias.defined() ? &fp->bias : nullptr, y, pg, 1, pact, pp);
    return;
  }
  if (!banded) {
    Tensor mid = Tensor::uninitialized(DType::F32, {N, M, H, W});
    convTyped<float>(pool, x, w, b, mid, g, 1, act, packed);
    if (!fp) {
      depthwiseConvF32(pool, mid.data<float>(), fd.weights, fd.bias, Y, N, M, dg, fd.act);
      return;
    }
    Tensor dw = Tensor::uninitialized(DType::F32, {N, M, OH, OW});
    depthwiseConvF32(pool, mid.data<float>(), fd.weights, fd.bias, dw.mutableData<float>(), N, M, dg, fd.act);
    mid = Tensor();
    convTyped<float>(pool, dw, fp->weights, fp->bias.defined() ? &fp->bias : nullptr, y, pg, 1, pact, pp);
    return;
  }
  const int64_t KH = dg.k[1], sh = dg.s[1], ph = dg.pb[1];
  const int64_t rowBytes = M * W * int64_t(sizeof(float));
  const int64_t inRows = std::max(KH, kExpandBandBytes / rowBytes);
  const int64_t R = std::clamp<int64_t>((inRows - KH) / sh + 1, 1, OH);  // output rows per band
  const BandPlan plan(pool, N, OH, R);
  gemm::Epilogue ep = act;
  ep.bias = B;
  ep.biasPerRow = true;
  ep.residual = nullptr;
  gemm::Epilogue pep = pact;  // as convTyped's per-image GEMM: bias per row, residual rows of OHW
  if (fp) {
    pep.bias = fp->bias.defined() ? fp->bias.data<float>() : nullptr;
    pep.biasPerRow = true;
    pep.ldr = OHW;
  }
  pool.parallelFor(plan.tasks(N), 1, [&](int64_t t0, int64_t t1) {
    // Rolling bands: consecutive bands of one image share the rows their windows overlap on
    // (KH - stride rows); the second band copies them from the first one's scratch (the two
    // alternate) instead of computing them again: same values, a copy instead of a GEMM.
    thread_local std::vector<float> scratch[2], dwScratch;
    const size_t most = size_t(std::max<int64_t>(1, M * std::min(H, (R - 1) * sh + KH) * W));
    for (std::vector<float>& v : scratch)
      if (v.size() < most) v.resize(most);
    int64_t prevN = -1, prevI0 = 0, prevI1 = 0, parity = 0;
    for (int64_t t = t0; t < t1; ++t) plan.forBands(t, [&](int64_t n, int64_t o0, int64_t o1) {
      const int64_t top = o0 * sh - ph, bottom = (o1 - 1) * sh - ph + KH;  // input rows read: [top, bottom)
      const int64_t i0 = std::clamp<int64_t>(top, 0, H), i1 = std::clamp<int64_t>(bottom, i0, H);
      const int64_t cols = (i1 - i0) * W, outCols = (o1 - o0) * OW;
      float* S = scratch[parity].data();
      int64_t kept = 0;  // rows [i0, i0 + kept) copied from the previous band
      if (prevN == n && i0 >= prevI0 && i0 < prevI1) {
        kept = std::min(prevI1, i1) - i0;
        const float* prev = scratch[parity ^ 1].data();
        const int64_t prevCols = (prevI1 - prevI0) * W;
        for (int64_t m = 0; m < M; ++m)
          std::memcpy(S + m * cols, prev + m * prevCols + (i0 - prevI0) * W, size_t(kept * W) * sizeof(float));
      }
      prevN = n, prevI0 = i0, prevI1 = i1, parity ^= 1;
      if (cols > kept * W)
        gemm::sgemmPrepacked(nullptr, packed->groups[0], cols - kept * W, X + n * C * HW + (i0 + kept) * W, HW, nullptr,
                             S + kept * W, cols, ep);
      Geo3 bg = dg;  // the band: its input rows, its output rows, the padding above it
      bg.in[1] = i1 - i0;
      bg.out[1] = o1 - o0;
      bg.pb[1] = i0 - top;
      bg.pe[1] = bottom - i1;
      if (!fp) {
        for (int64_t m = 0; m < M; ++m)
          depthwiseF32(S + m * cols, fd.weights + m * kk, bg, fd.bias ? fd.bias[m] : 0.0f, fd.act, nullptr,
                       Y + (n * M + m) * OHW + o0 * OW);
        return;
      }
      if (dwScratch.size() < size_t(M * outCols)) dwScratch.resize(size_t(M * outCols));
      float* D = dwScratch.data();
      for (int64_t m = 0; m < M; ++m)
        depthwiseF32(S + m * cols, fd.weights + m * kk, bg, fd.bias ? fd.bias[m] : 0.0f, fd.act, nullptr,
                     D + m * outCols);
      gemm::Epilogue e = pep;
      if (e.residual) e.residual += n * P * OHW + o0 * OW;
      gemm::sgemmPrepacked(nullptr, pp->groups[0], outCols, D, outCols, nullptr, Y + n * P * OHW + o0 * OW, OHW, e);
    });
  });
}

/// A float32 depthwise Conv (weights w [M, 1, KH, KW], geometry dg) [-> activation] followed by
/// a project Conv (1x1, weights fp.weights, prepacked `pp`) [+ residual] [-> activation] into Y
/// [N, P, dg.out]: an inverted-residual block without an expand Conv. Where the depthwise output
/// is larger than a band and the project Conv runs on the per-image GEMM, the depthwise Conv
/// runs a band of output rows at a time (reading its input rows in place) into a per-thread
/// scratch and the project GEMM reads the band from there; else the two calls one after the
/// other. Same kernels and sums as the unfused calls: bit-identical.
void convDepthwiseProjectF32(ThreadPool& pool, const Tensor& x, const Tensor& w, const Tensor* b, Tensor& y,
                             const Geo3& dg, const gemm::Epilogue& act, const FusedProject& fp, const float* residual,
                             const PrepackedWeights* pp) {
  const int64_t N = x.dim(0), M = x.dim(1), H = dg.in[1], W = dg.in[2], HW = H * W;
  const int64_t OH = dg.out[1], OW = dg.out[2], OHW = OH * OW, kk = dg.kSize(), P = fp.weights.dim(0);
  const float* X = x.data<float>();
  const float* Wd = w.data<float>();
  const float* Bd = b ? b->data<float>() : nullptr;
  float* Y = y.mutableData<float>();
  if (N == 0 || M == 0 || OHW == 0 || P == 0) return;
  const Geo3 pg = projectGeometry(dg);
  gemm::Epilogue pact = fp.act;  // as the project Conv's unfused kernel call gets it
  pact.residual = residual;
  pact.ldr = 0;
  const bool projectGemm = pp && !pp->groups.empty() && !batchedGemm(N, 1, pg) && !useDirectConv(pg, N, M, P);
  const bool banded = projectGemm && dg.in[0] == 1 && dg.k[0] == 1 && fastDepthwise(dg) && !blockedDepthwise(dg) &&
                      M * OHW * int64_t(sizeof(float)) > 2 * kExpandBandBytes;
  if (!banded) {
    Tensor dw = Tensor::uninitialized(DType::F32, {N, M, OH, OW});
    depthwiseConvF32(pool, X, Wd, Bd, dw.mutableData<float>(), N, M, dg, act);
    convTyped<float>(pool, dw, fp.weights, fp.bias.defined() ? &fp.bias : nullptr, y, pg, 1, pact, pp);
    return;
  }
  const int64_t KH = dg.k[1], sh = dg.s[1], ph = dg.pb[1];
  const int64_t R = std::clamp<int64_t>(kExpandBandBytes / std::max<int64_t>(1, M * OW * int64_t(sizeof(float))), 1, OH);
  const BandPlan plan(pool, N, OH, R);
  gemm::Epilogue pep = pact;  // as convTyped's per-image GEMM: bias per row, residual rows of OHW
  pep.bias = fp.bias.defined() ? fp.bias.data<float>() : nullptr;
  pep.biasPerRow = true;
  pep.ldr = OHW;
  pool.parallelFor(plan.tasks(N), 1, [&](int64_t t0, int64_t t1) {
    thread_local std::vector<float> dwBand;
    for (int64_t t = t0; t < t1; ++t) plan.forBands(t, [&](int64_t n, int64_t o0, int64_t o1) {
      const int64_t top = o0 * sh - ph, bottom = (o1 - 1) * sh - ph + KH;  // input rows read: [top, bottom)
      const int64_t i0 = std::clamp<int64_t>(top, 0, H), i1 = std::clamp<int64_t>(bottom, i0, H);
      const int64_t outCols = (o1 - o0) * OW;
      Geo3 bg = dg;  // the band: its input rows, its output rows, the padding above and below it
      bg.in[1] = i1 - i0;
      bg.out[1] = o1 - o0;
      bg.pb[1] = i0 - top;
      bg.pe[1] = bottom - i1;
      if (dwBand.size() < size_t(M * outCols)) dwBand.resize(size_t(M * outCols));
      float* D = dwBand.data();
      for (int64_t m = 0; m < M; ++m)
        depthwiseF32(X + (n * M + m) * HW + i0 * W, Wd + m * kk, bg, Bd ? Bd[m] : 0.0f, act, nullptr, D + m * outCols);
      gemm::Epilogue e = pep;
      if (e.residual) e.residual += n * P * OHW + o0 * OW;
      gemm::sgemmPrepacked(nullptr, pp->groups[0], outCols, D, outCols, nullptr, Y + n * P * OHW + o0 * OW, OHW, e);
    });
  });
}

Status convKernel(KernelContext& ctx) {
  const Tensor* px = ctx.input(0);
  const Tensor* pw = ctx.input(1);
  const Tensor* pbias = ctx.input(2);
  if (!px || !pw) return ctx.fail("Conv needs X and W");
  if (px->rank() < 3 || px->rank() > 5) return ctx.unsupported("Conv on {} (only 1-D to 3-D)", px->describe());
  if (pw->rank() != px->rank()) return ctx.fail("W {} and X {} ranks differ", pw->describe(), px->describe());
  DType dt = px->dtype();
  if (pw->dtype() != dt || (pbias && pbias->dtype() != dt)) return ctx.fail("input dtypes differ");
  if (dt != DType::F32 && dt != DType::F64 && !isHalfLike(dt)) return ctx.unsupported("Conv on {}", dtypeName(dt));
  int64_t group = ctx.attrs().getInt("group", 1);
  int64_t C = px->dim(1), M = pw->dim(0);
  if (group < 1 || C % group != 0 || M % group != 0)
    return ctx.fail("group {} does not divide channels {} and filters {}", group, C, M);
  if (pw->dim(1) != C / group)
    return ctx.fail("W {} expects {} input channels per group, X {} has {}", pw->describe(), pw->dim(1),
                    px->describe(), C / group);
  if (pbias && (pbias->rank() != 1 || pbias->dim(0) != M)) return ctx.fail("bias {} does not match {} filters", pbias->describe(), M);
  std::vector<int64_t> inSp(px->dims().begin() + 2, px->dims().end());
  std::vector<int64_t> kSp(pw->dims().begin() + 2, pw->dims().end());
  NPU_ASSIGN_OR_RETURN(Window w, computeWindow(ctx, inSp, &kSp, false));
  if (w.kernel != kSp) return ctx.fail("kernel_shape does not match W {}", pw->describe());
  Geo3 g = toGeo3(w);
  std::vector<int64_t> outDims = {px->dim(0), M};
  outDims.insert(outDims.end(), w.out.begin(), w.out.end());
  // What the executor fused into this Conv (an activation; for float32 also a residual Add):
  // applied in the GEMM or depthwise epilogue for float32, as a pass over the result for float64.
  const gemm::Epilogue* fused = takeFusedEpilogue(dt, outDims);
  // A fused MaxPool (the executor fuses it only for float32 2-D Convs; anything else declines).
  std::optional<Geo3> pooled;
  if (const FusedMaxPool* mp = fused ? takenMaxPool() : nullptr) {
    pooled = fusedPoolGeometry(*mp, outDims);
    if (!pooled || dt != DType::F32 || fused->residual) {
      declineFusedEpilogue();
      fused = nullptr;
      pooled.reset();
    }
  }
  // A fused depthwise Conv: this Conv must be a float32 2-D pointwise one (the executor plans it
  // from the attributes; the input's shape is known only now).
  std::optional<Geo3> depthwise;
  const FusedProject* project = nullptr;
  const Tensor* projectResidual = nullptr;
  const FusedDepthwise* fdw = fused ? takenDepthwise() : nullptr;
  if (fdw) {
    const bool pointwise2d = px->rank() == 4 && group == 1 && g.kSize() == 1 && g.s[1] == 1 && g.s[2] == 1 &&
                             g.pb[1] == 0 && g.pb[2] == 0 && g.in[1] == g.out[1] && g.in[2] == g.out[2];
    depthwise = fusedDepthwiseGeometry(*fdw, outDims);
    bool fits = depthwise && pointwise2d && dt == DType::F32 && !fused->residual;
    // A fused project Conv: its weight must take the depthwise channels, its residual (checked
    // here, not by take: it has the project Conv's dims) must be float32 of its output's dims.
    project = fits ? takenProject(&projectResidual) : nullptr;
    if (project) {
      const std::vector<int64_t> pdims = {px->dim(0), project->weights.dim(0), depthwise->out[1], depthwise->out[2]};
      fits = project->weights.dim(1) == M &&
             (!projectResidual || (projectResidual->dtype() == DType::F32 && projectResidual->dims() == pdims));
    }
    if (!fits) {
      declineFusedEpilogue();
      fused = nullptr;
      depthwise.reset();
      project = nullptr;
    }
  }
  // A project Conv fused behind this Conv itself: it must be a float32 2-D depthwise Conv
  // (channel multiplier 1) whose output the project Conv takes.
  bool ownDepthwise = false;
  if (fused && !fdw && (project = takenProject(&projectResidual))) {
    const std::vector<int64_t> pdims = {px->dim(0), project->weights.dim(0), g.out[1], g.out[2]};
    ownDepthwise = px->rank() == 4 && dt == DType::F32 && group == C && M == C && pw->dim(1) == 1 &&
                   project->weights.dim(1) == M && !fused->residual &&
                   (!projectResidual || (projectResidual->dtype() == DType::F32 && projectResidual->dims() == pdims));
    if (!ownDepthwise) {
      declineFusedEpilogue();
      fused = nullptr;
      project = nullptr;
    }
  }
  Tensor x = widenToF32(*px), wt = widenToF32(*pw), b;
  if (pbias) b = widenToF32(*pbias);
  if (ownDepthwise) {
    Tensor y = Tensor::uninitialized(DType::F32, {px->dim(0), project->weights.dim(0), g.out[1], g.out[2]});
    const PrepackedWeights* pp = prepackedInCache(project->cache, project->weights, px->dim(0), projectGeometry(g), 1);
    convDepthwiseProjectF32(ctx.pool(), x, wt, pbias ? &b : nullptr, y, g, *fused, *project,
                            projectResidual ? projectResidual->data<float>() : nullptr, pp);
    ctx.setOutput(0, std::move(y));
    return Status::ok();
  }
  if (depthwise) {
    const int64_t channels = project ? project->weights.dim(0) : M;
    Tensor y = Tensor::uninitialized(DType::F32, {px->dim(0), channels, depthwise->out[1], depthwise->out[2]});
    const PrepackedWeights* pp =
        project ? prepackedInCache(project->cache, project->weights, px->dim(0), projectGeometry(*depthwise), 1) : nullptr;
    convExpandDepthwiseF32(ctx.pool(), x, wt, pbias ? &b : nullptr, y, g, *fused, *fdw, *depthwise,
                           prepackedWeights(ctx, wt, g, group), project,
                           projectResidual ? projectResidual->data<float>() : nullptr, pp);
    ctx.setOutput(0, std::move(y));
    return Status::ok();
  }
  if (pooled) {
    Tensor y = Tensor::uninitialized(DType::F32, {px->dim(0), M, pooled->out[1], pooled->out[2]});
    convPooledF32(ctx.pool(), x, wt, pbias ? &b : nullptr, y, g, group, *fused, *pooled,
                  prepackedWeights(ctx, wt, g, group));
    ctx.setOutput(0, std::move(y));
    return Status::ok();
  }
  Tensor y = Tensor::uninitialized(x.dtype(), outDims);  // every path writes every element
  if (x.dtype() == DType::F64) {
    convTyped<double>(ctx.pool(), x, wt, pbias ? &b : nullptr, y, g, group);
    if (fused) {
      double* p = y.mutableData<double>();
      for (int64_t i = 0, n = y.numElements(); i < n; ++i) p[i] = gemm::applyActivation(p[i], *fused);
    }
  } else {
    const PrepackedWeights* packed = dt == DType::F32 ? prepackedWeights(ctx, wt, g, group) : nullptr;
    convTyped<float>(ctx.pool(), x, wt, pbias ? &b : nullptr, y, g, group, fused ? *fused : gemm::Epilogue{}, packed);
  }
  ctx.setOutput(0, narrowFromF32(y, dt));
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// ConvTranspose

/// Adds rows of one output channel's column block (kk rows over input positions) into y.
template <typename T>
void col2imChannel(const T* col, const Geo3& g, T* y) {
  // Here g.in is the ConvTranspose input (the "columns"), g.out its output.
  const int64_t inSp = g.inSize(), IW = g.in[2], IHW = g.in[1] * g.in[2];
  const int64_t OW = g.out[2], OHW = g.out[1] * g.out[2];
  for (int64_t ta = 0; ta < g.k[0]; ++ta)
    for (int64_t tb = 0; tb < g.k[1]; ++tb)
      for (int64_t te = 0; te < g.k[2]; ++te) {
        const T* src = col + ((ta * g.k[1] + tb) * g.k[2] + te) * inSp;
        // Input iw maps to output ow = iw*s - p + te*d; the valid iw range:
        int64_t base = -g.pb[2] + te * g.d[2];
        int64_t lo = 0, hi = IW;
        while (lo < hi && lo * g.s[2] + base < 0) ++lo;
        while (hi > lo && (hi - 1) * g.s[2] + base >= OW) --hi;
        for (int64_t id = 0; id < g.in[0]; ++id) {
          int64_t od = id * g.s[0] - g.pb[0] + ta * g.d[0];
          if (od < 0 || od >= g.out[0]) continue;
          for (int64_t ih = 0; ih < g.in[1]; ++ih) {
            int64_t oh = ih * g.s[1] - g.pb[1] + tb * g.d[1];
            if (oh < 0 || oh >= g.out[1]) continue;
            const T* srow = src + id * IHW + ih * IW;
            T* drow = y + od * OHW + oh * OW;
            if (g.s[2] == 1) {
              for (int64_t iw = lo; iw < hi; ++iw) drow[iw + base] += srow[iw];
            } else {
              int64_t s = g.s[2];
              for (int64_t iw = lo; iw < hi; ++iw) drow[iw * s + base] += srow[iw];
            }
          }
        }
      }
}

template <typename T>
void convTransposeTyped(ThreadPool& pool, const Tensor& xt, const Tensor& wt, const Tensor* bt, Tensor& yt,
                        const Geo3& g, int64_t group) {
  const int64_t N = xt.dim(0), C = xt.dim(1), Mg = wt.dim(1), M = Mg * group, Cg = C / group;
  const int64_t inSp = g.inSize(), outSp = g.outSize(), kk = g.kSize();
  const T* X = xt.data<T>();
  const T* W = wt.data<T>();
  const T* B = bt ? bt->data<T>() : nullptr;
  T* Y = yt.mutableData<T>();
  if (N == 0 || M == 0 || outSp == 0) return;
  std::unique_ptr<T[]> col(new T[size_t(Mg * kk * inSp)]);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t gi = 0; gi < group; ++gi) {
      const T* xg = X + (n * C + gi * Cg) * inSp;
      const T* wg = W + gi * Cg * Mg * kk;
      // col[Mg*kk, inSp] = Wg^T * Xg, Wg stored [Cg, Mg*kk].
      parallelGemm<T>(pool, true, false, Mg * kk, inSp, Cg, T(1), wg, Mg * kk, xg, inSp, T(0), col.get(), inSp);
      T* yg = Y + (n * M + gi * Mg) * outSp;
      pool.parallelFor(Mg, 1, [&](int64_t m0, int64_t m1) {
        for (int64_t m = m0; m < m1; ++m) col2imChannel<T>(col.get() + m * kk * inSp, g, yg + m * outSp);
      });
    }
  if (B)
    for (int64_t i = 0; i < N * M; ++i) {
      T b = B[i % M];
      T* y = Y + i * outSp;
      for (int64_t j = 0; j < outSp; ++j) y[j] += b;
    }
}

Status convTransposeKernel(KernelContext& ctx) {
  const Tensor* px = ctx.input(0);
  const Tensor* pw = ctx.input(1);
  const Tensor* pbias = ctx.input(2);
  if (!px || !pw) return ctx.fail("ConvTranspose needs X and W");
  if (px->rank() < 3 || px->rank() > 5)
    return ctx.unsupported("ConvTranspose on {} (only 1-D to 3-D)", px->describe());
  if (pw->rank() != px->rank()) return ctx.fail("W {} and X {} ranks differ", pw->describe(), px->describe());
  DType dt = px->dtype();
  if (pw->dtype() != dt || (pbias && pbias->dtype() != dt)) return ctx.fail("input dtypes differ");
  if (dt != DType::F32 && dt != DType::F64 && !isHalfLike(dt))
    return ctx.unsupported("ConvTranspose on {}", dtypeName(dt));
  const AttrMap& a = ctx.attrs();
  int64_t group = a.getInt("group", 1);
  int64_t C = px->dim(1);
  if (group < 1 || C % group != 0) return ctx.fail("group {} does not divide {} channels", group, C);
  if (pw->dim(0) != C) return ctx.fail("W {} must have {} input channels", pw->describe(), C);
  int64_t M = pw->dim(1) * group;
  if (pbias && (pbias->rank() != 1 || pbias->dim(0) != M)) return ctx.fail("bias {} does not match {} outputs", pbias->describe(), M);
  size_t r = size_t(px->rank() - 2);
  std::vector<int64_t> inSp(px->dims().begin() + 2, px->dims().end());
  std::vector<int64_t> kernel = a.getInts("kernel_shape", std::vector<int64_t>(pw->dims().begin() + 2, pw->dims().end()));
  std::vector<int64_t> strides = a.getInts("strides", std::vector<int64_t>(r, 1));
  std::vector<int64_t> dil = a.getInts("dilations", std::vector<int64_t>(r, 1));
  std::vector<int64_t> outPad = a.getInts("output_padding", std::vector<int64_t>(r, 0));
  std::vector<int64_t> pads = a.getInts("pads", std::vector<int64_t>(2 * r, 0));
  std::vector<int64_t> outShape = a.getInts("output_shape");
  std::string autoPad = a.getString("auto_pad", "NOTSET");
  if (outShape.size() == r + 2) outShape.erase(outShape.begin(), outShape.begin() + 2);
  if (kernel.size() != r || strides.size() != r || dil.size() != r || outPad.size() != r || pads.size() != 2 * r ||
      (!outShape.empty() && outShape.size() != r))
    return ctx.fail("kernel_shape/strides/dilations/output_padding/pads/output_shape sizes do not match {} spatial dims", r);
  if (!std::equal(kernel.begin(), kernel.end(), pw->dims().begin() + 2))
    return ctx.fail("kernel_shape does not match W {}", pw->describe());
  Window w;
  w.in = inSp;
  w.kernel = kernel;
  w.stride = strides;
  w.dilation = dil;
  w.padBegin.assign(r, 0);
  w.padEnd.assign(r, 0);
  w.out.assign(r, 0);
  for (size_t i = 0; i < r; ++i) {
    if (strides[i] < 1 || dil[i] < 1 || kernel[i] < 1) return ctx.fail("kernel, strides and dilations must be positive");
    int64_t ek = (kernel[i] - 1) * dil[i] + 1;
    int64_t full = strides[i] * (inSp[i] - 1) + outPad[i] + ek;
    if (!outShape.empty() || autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
      int64_t out = !outShape.empty() ? outShape[i] : inSp[i] * strides[i];
      int64_t total = full - out;
      if (total < 0) total = 0;  // the output is larger: its tail stays bias-only
      if (autoPad == "SAME_UPPER") {
        w.padBegin[i] = total / 2;
      } else {
        w.padBegin[i] = total - total / 2;
      }
      w.padEnd[i] = total - w.padBegin[i];
      w.out[i] = out;
    } else if (autoPad == "VALID") {
      w.out[i] = full;
    } else if (autoPad == "NOTSET" || autoPad.empty()) {
      w.padBegin[i] = pads[i];
      w.padEnd[i] = pads[i + r];
      w.out[i] = full - pads[i] - pads[i + r];
    } else {
      return ctx.fail("unknown auto_pad \"{}\"", autoPad);
    }
    if (w.out[i] < 0) return ctx.fail("negative output size on spatial axis {}", i);
  }
  Geo3 g = toGeo3(w);
  std::vector<int64_t> outDims = {px->dim(0), M};
  outDims.insert(outDims.end(), w.out.begin(), w.out.end());
  Tensor x = widenToF32(*px), wt = widenToF32(*pw), b;
  if (pbias) b = widenToF32(*pbias);
  Tensor y(x.dtype(), outDims);
  if (x.dtype() == DType::F64)
    convTransposeTyped<double>(ctx.pool(), x, wt, pbias ? &b : nullptr, y, g, group);
  else
    convTransposeTyped<float>(ctx.pool(), x, wt, pbias ? &b : nullptr, y, g, group);
  ctx.setOutput(0, narrowFromF32(y, dt));
  return Status::ok();
}

}  // namespace

void registerConvKernels(KernelRegistry& r) {
  r.add("", "Conv", convKernel);
  r.add("", "ConvTranspose", convTransposeKernel);
}

}  // namespace npuconv::nn
