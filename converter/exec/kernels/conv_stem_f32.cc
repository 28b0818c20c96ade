// conv_stem_f32.cc - see conv_stem_f32.h.
//
// Work unit: one output row of one image, all M filters. The row's taps are first gathered
// into a small per-thread matrix T (K rows of the row's columns, zero in the padding; at stride
// 2 the deinterleave is done here once, not once per 8 filters: with masks and permutes in the
// FMA loop this kernel ran at 1.5x the im2col + GEMM time). Then per block of V vectors (16
// columns each) and 8 filters, the 8 x V accumulators stay in registers across the K taps: a tap
// is V loads from T and 8 broadcast weights for 8 V FMAs.
#include "converter/exec/kernels/conv_stem_f32.h"

#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "converter/exec/kernels/activation_avx512.h"
#include "converter/exec/thread_pool.h"

namespace npuconv::nn {
namespace {

#define NPU_STEM_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))

constexpr int64_t kStemMaxK = 7;  // widest kernel

/// Lanes l of a 16-lane load at input column c + l that lie inside [0, n).
inline __mmask16 stemInRow(int64_t c, int64_t n) {
  const int64_t lo = std::clamp<int64_t>(-c, 0, 16), hi = std::clamp<int64_t>(n - c, 0, 16);
  return hi <= lo ? __mmask16(0) : __mmask16(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/// The taps of output row oh of one image (x: its C planes) as rows of T: T[t][16 * vecs] for
/// tap t = (c, kh, kw), lane l of vector v the input under output column 16 v + l (zero in the
/// padding and past the row's end). At stride 2 two masked loads split into their even lanes.
template <int SW>
NPU_STEM_TARGET void stemTaps(const float* x, const Geo3& g, int64_t C, int64_t oh, int64_t vecs, float* T) {
  const int64_t IH = g.in[1], IW = g.in[2], KH = g.k[1], KW = g.k[2], inSp = IH * IW, ld = 16 * vecs;
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  // The input rows two output rows ahead into L1: this loop waited on its loads (the input comes
  // from memory; the hardware prefetcher does not cover C * KH interleaved row streams).
  for (int64_t c = 0; c < C; ++c)
    for (int64_t kh = 0; kh < KH; ++kh) {
      const int64_t ih = (oh + 2) * g.s[1] - g.pb[1] + kh;
      if (ih < 0 || ih >= IH) continue;
      const char* p = reinterpret_cast<const char*>(x + c * inSp + ih * IW);
      for (int64_t b = 0; b < IW * int64_t(sizeof(float)); b += 64) _mm_prefetch(p + b, _MM_HINT_T0);
    }
  if (SW == 2 && KW == 3) {
    // Three taps from one pair of loads: tap 0 the even columns, tap 1 the odd ones, tap 2 tap 0
    // moved one lane with the 33rd column permuted in (the same values as the general loop below;
    // the stem ran in ~0.16 instead of ~0.20 ms on mobilenet_v2).
    const __m512i odds = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i next = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t kh = 0; kh < KH; ++kh) {
        const int64_t ih = oh * g.s[1] - g.pb[1] + kh;
        float* t = T + (c * KH + kh) * 3 * ld;
        if (ih < 0 || ih >= IH) {
          std::fill(t, t + 3 * ld, 0.0f);
          continue;
        }
        const float* src = x + c * inSp + ih * IW;
        for (int64_t v = 0; v < vecs; ++v) {
          const int64_t c0 = 32 * v - g.pb[2];
          __m512 lo, hi, tail;
          if (c0 >= 0 && c0 + 33 <= IW) {
            lo = _mm512_loadu_ps(src + c0);
            hi = _mm512_loadu_ps(src + c0 + 16);
            tail = _mm512_castps128_ps512(_mm_load_ss(src + c0 + 32));
          } else {
            lo = _mm512_maskz_loadu_ps(stemInRow(c0, IW), src + c0);
            hi = _mm512_maskz_loadu_ps(stemInRow(c0 + 16, IW), src + c0 + 16);
            tail = _mm512_maskz_loadu_ps(__mmask16(stemInRow(c0 + 32, IW) & 1), src + c0 + 32);
          }
          const __m512 e = _mm512_permutex2var_ps(lo, evens, hi);
          _mm512_storeu_ps(t + 16 * v, e);
          _mm512_storeu_ps(t + ld + 16 * v, _mm512_permutex2var_ps(lo, odds, hi));
          _mm512_storeu_ps(t + 2 * ld + 16 * v, _mm512_permutex2var_ps(e, next, tail));
        }
      }
    return;
  }
  for (int64_t c = 0; c < C; ++c)
    for (int64_t kh = 0; kh < KH; ++kh) {
      const int64_t ih = oh * g.s[1] - g.pb[1] + kh;
      const bool inside = ih >= 0 && ih < IH;
      const float* src = x + c * inSp + (inside ? ih : 0) * IW;
      for (int64_t kw = 0; kw < KW; ++kw) {
        float* t = T + ((c * KH + kh) * KW + kw) * ld;
        for (int64_t v = 0; v < vecs; ++v) {
          __m512 xv = _mm512_setzero_ps();
          const int64_t c0 = 16 * v * SW + kw - g.pb[2];
          if (inside && SW == 1) {
            xv = _mm512_maskz_loadu_ps(stemInRow(c0, IW), src + c0);
          } else if (inside) {
            const __m512 lo = _mm512_maskz_loadu_ps(stemInRow(c0, IW), src + c0);
            const __m512 hi = _mm512_maskz_loadu_ps(stemInRow(c0 + 16, IW), src + c0 + 16);
            xv = _mm512_permutex2var_ps(lo, evens, hi);
          }
          _mm512_storeu_ps(t + 16 * v, xv);
        }
      }
    }
}

/// Filters [m0, m0 + mc) (mc <= 8) of output row oh, columns [16 v0, 16 (v0 + V)) (stores
/// masked at OW) of one image's planes y, from the row's taps T (K rows of ld floats).
template <int V>
NPU_STEM_TARGET void stemBlock(const float* T, int64_t ld, int64_t K, const float* W, const float* B, float* y,
                               int64_t outSp, int64_t OW, int64_t m0, int64_t mc, int64_t oh, int64_t v0,
                               const gemm::Epilogue& ep) {
  __m512 acc[8][V];
#pragma GCC unroll 32
  for (int f = 0; f < 8; ++f)
#pragma GCC unroll 32
    for (int v = 0; v < V; ++v) acc[f][v] = _mm512_setzero_ps();
  // Filters past mc read filter m0's weights (their sums are not stored).
  const float* wf[8];
#pragma GCC unroll 32
  for (int f = 0; f < 8; ++f) wf[f] = W + (m0 + (f < mc ? f : 0)) * K;
  const float* tp = T + 16 * v0;
  for (int64_t t = 0; t < K; ++t, tp += ld) {
    __m512 xv[V];
#pragma GCC unroll 32
    for (int v = 0; v < V; ++v) xv[v] = _mm512_loadu_ps(tp + 16 * v);
#pragma GCC unroll 32
    for (int f = 0; f < 8; ++f) {
      const __m512 wv = _mm512_set1_ps(wf[f][t]);
#pragma GCC unroll 32
      for (int v = 0; v < V; ++v) acc[f][v] = _mm512_fmadd_ps(wv, xv[v], acc[f][v]);
    }
  }
#pragma GCC unroll 32
  for (int f = 0; f < 8; ++f) {
    if (f >= mc) break;
    const __m512 bv = _mm512_set1_ps(B ? B[m0 + f] : 0.0f);
    float* yr = y + (m0 + f) * outSp + oh * OW;
#pragma GCC unroll 32
    for (int v = 0; v < V; ++v) {
      const int64_t col = 16 * (v0 + v), n = std::min<int64_t>(16, OW - col);
      if (n <= 0) continue;
      const __mmask16 m = __mmask16(n >= 16 ? 0xFFFF : (1u << n) - 1);
      _mm512_mask_storeu_ps(yr + col, m, gemm::act16(_mm512_add_ps(acc[f][v], bv), ep));
    }
  }
}

using StemFn = void (*)(const float*, int64_t, int64_t, const float*, const float*, float*, int64_t, int64_t, int64_t,
                        int64_t, int64_t, int64_t, const gemm::Epilogue&);

StemFn stemFor(int64_t v) { return v >= 3 ? stemBlock<3> : v == 2 ? stemBlock<2> : stemBlock<1>; }

/// Per-thread scratch: one output row's taps.
thread_local std::vector<float> tlsStemTaps;

#undef NPU_STEM_TARGET

}  // namespace

bool stemConvApplies(const Geo3& g, int64_t C, const gemm::Epilogue& ep) {
  if (gemm::activeIsa() != gemm::Isa::Avx512 || ep.residual || C < 1 || C > 4) return false;
  if (g.in[0] != 1 || g.out[0] != 1 || g.k[0] != 1 || g.pb[0] != 0) return false;
  if ((g.s[2] != 1 && g.s[2] != 2) || g.s[1] < 1 || g.d[1] != 1 || g.d[2] != 1) return false;
  if (g.k[1] < 1 || g.k[1] > kStemMaxK || g.k[2] < 1 || g.k[2] > kStemMaxK || C * g.k[1] * g.k[2] >= 64) return false;
  if (g.pb[1] < 0 || g.pb[2] < 0) return false;
  return g.out[1] >= 1 && g.out[2] >= 16;
}

void convStemF32(ThreadPool& pool, const float* X, const float* W, const float* B, float* Y, int64_t N, int64_t C,
                 int64_t M, const Geo3& g, const gemm::Epilogue& ep) {
  const int64_t OH = g.out[1], OW = g.out[2], inSp = g.inSize(), outSp = g.outSize();
  const int64_t vecs = (OW + 15) / 16;
  // Rows per chunk: about 64K FMAs' worth, so two threads split one image's rows evenly.
  const int64_t perRow = std::max<int64_t>(1, ((M + 7) / 8) * vecs * C * g.k[1] * g.k[2] * 8);
  const int64_t grain = std::max<int64_t>(1, 65536 / perRow);
  const int64_t K = C * g.k[1] * g.k[2], ld = 16 * vecs;
  pool.parallelFor(N * OH, grain, [&](int64_t r0, int64_t r1) {
    std::vector<float>& taps = tlsStemTaps;
    if (taps.size() < size_t(K * ld)) taps.resize(size_t(K * ld));
    float* T = taps.data();
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / OH, oh = r % OH;
      if (g.s[2] == 1)
        stemTaps<1>(X + n * C * inSp, g, C, oh, vecs, T);
      else
        stemTaps<2>(X + n * C * inSp, g, C, oh, vecs, T);
      float* y = Y + n * M * outSp;
      for (int64_t m0 = 0; m0 < M; m0 += 8)
        for (int64_t v0 = 0; v0 < vecs; v0 += 3)
          stemFor(vecs - v0)(T, ld, K, W, B, y, outSp, OW, m0, std::min<int64_t>(8, M - m0), oh, v0, ep);
    }
  });
}

}  // namespace npuconv::nn
