// conv_c1_f32.cc - see conv_c1_f32.h.
//
// Work unit: (image, pair of output rows). The input is read in place: masked loads zero the
// padding columns, rows outside the input are zero vectors (no padded copy: its stores, read
// back at once by unaligned loads, stalled store forwarding). Per block of 32 output columns
// the (KH + 1) x KW x 2 input vectors (3x3: 24 registers) are loaded once; per filter m the
// 2 x 2 accumulators take one broadcast weight per tap. Then + bias, the activation, and either
// the pool (max of the two rows, then of even and odd columns, in maxPoolPlaneF32's operand
// order) or masked stores.
#include "converter/exec/kernels/conv_c1_f32.h"

#include <immintrin.h>

#include <algorithm>
#include <limits>

#include "converter/exec/kernels/activation_simd.h"
#include "converter/exec/kernels/maxpool2x2_f32.h"
#include "converter/exec/thread_pool.h"

namespace npuconv::nn {
namespace {

#define NPU_C1_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))

/// max_ps(a, b) (b where either is NaN): the _mask_ form avoids GCC 12's false
/// maybe-uninitialized warning on _mm512_max_ps.
NPU_C1_TARGET inline __m512 c1Max(__m512 a, __m512 b) { return _mm512_mask_max_ps(a, 0xFFFF, a, b); }

struct C1Geometry {
  int64_t IH, IW, OH, OW, KH, KW, ph, pw;
  int64_t cols;      // output columns computed per row: OW, or 2 * pooled OW
  int64_t blocks;    // 32-column blocks
  int64_t pairs;     // row pairs per image
  int64_t outRowW;   // Y's row length (OW or pooled OW)
  int64_t outPlane;  // Y's plane size
  bool pooled;
};

/// act(v) for activations other than None and Relu: through the AVX2 form (act8), exactly the
/// elementwise kernels' arithmetic.
NPU_C1_TARGET inline __m512 c1ActSlow(__m512 v, const gemm::Epilogue& ep) {
  alignas(64) float t[16];
  _mm512_store_ps(t, v);
  _mm256_store_ps(t, gemm::actDyn8(_mm256_load_ps(t), ep));
  _mm256_store_ps(t + 8, gemm::actDyn8(_mm256_load_ps(t + 8), ep));
  return _mm512_load_ps(t);
}

/// Input row ih, columns [col, col + 16) of one image, lanes outside k zero; a row outside the
/// input is zeros. Masked-off lanes are never read, so the address may lie before or after the
/// row (it is formed as an integer).
NPU_C1_TARGET inline __m512 c1Load(const C1Geometry& ga, const float* Xn, int64_t ih, int64_t col, __mmask16 k) {
  if (ih < 0 || ih >= ga.IH) return _mm512_setzero_ps();
  const intptr_t at = reinterpret_cast<intptr_t>(Xn) + intptr_t((ih * ga.IW + col) * 4);
  return _mm512_maskz_loadu_ps(k, reinterpret_cast<const float*>(at));
}

/// One unit: conv rows 2 * rp and 2 * rp + 1 of image n. KH, KW > 0: compile-time kernel (the
/// input vectors stay in registers); 0: run-time (ga.KH, ga.KW).
template <int KH_, int KW_>
NPU_C1_TARGET void c1Unit(const C1Geometry& ga, const float* Xn, const float* W, const float* B, float* Yn, int64_t M,
                          int64_t rp, const gemm::Epilogue& ep) {
  const int64_t KH = KH_ > 0 ? KH_ : ga.KH, KW = KW_ > 0 ? KW_ : ga.KW, taps = KH * KW;
  const __m512 zero = _mm512_setzero_ps(), low = _mm512_set1_ps(std::numeric_limits<float>::lowest());
  const bool relu = ep.act == gemm::Act::Relu, slowAct = ep.act != gemm::Act::None && !relu;
  alignas(64) int32_t ie[16], io[16];
  for (int i = 0; i < 16; ++i) {
    ie[i] = 2 * i;
    io[i] = 2 * i + 1;
  }
  const __m512i vie = _mm512_load_si512(ie), vio = _mm512_load_si512(io);
  const int64_t oh0 = 2 * rp;
  const bool second = oh0 + 1 < ga.OH;  // unpooled, odd OH: the last pair has one row
  for (int64_t cb = 0; cb < ga.blocks; ++cb) {
    const int64_t c0 = cb * 32;
    // Input vector (row r of the unit, tap column kw, half v): input row 2 rp - ph + r, columns
    // from c0 + 16 v + kw - pw, the lanes outside the input masked to zero (the padding).
    __mmask16 km[7][2];
    for (int64_t kw = 0; kw < KW; ++kw)
      for (int v = 0; v < 2; ++v) {
        const int64_t start = c0 + 16 * v + kw - ga.pw;
        const int64_t lo = std::clamp<int64_t>(-start, 0, 16), hi = std::clamp<int64_t>(ga.IW - start, 0, 16);
        km[kw][v] = hi <= lo ? __mmask16(0) : __mmask16(((1u << hi) - 1) & ~((1u << lo) - 1));
      }
    // Stores: unpooled, columns [c0, c0 + 32) of the rows (masks per vector); pooled, 16.
    const int64_t nc = std::min<int64_t>(32, ga.cols - c0);
    const __mmask16 m0 = __mmask16(nc >= 16 ? 0xFFFFu : (1u << nc) - 1);
    const __mmask16 m1 = __mmask16(nc <= 16 ? 0u : nc >= 32 ? 0xFFFFu : (1u << (nc - 16)) - 1);
    const int64_t np = std::min<int64_t>(16, ga.outRowW - c0 / 2);
    const __mmask16 mp = __mmask16(np >= 16 ? 0xFFFFu : np <= 0 ? 0u : (1u << np) - 1);
    constexpr bool fixed = KH_ > 0 && KW_ > 0;
    __m512 xin[fixed ? (KH_ + 1) * KW_ * 2 : 1];
    if constexpr (fixed) {
#pragma GCC unroll 64
      for (int r = 0; r < KH_ + 1; ++r)
        for (int kw = 0; kw < KW_; ++kw)
          for (int v = 0; v < 2; ++v) xin[(r * KW_ + kw) * 2 + v] = c1Load(ga, Xn, oh0 - ga.ph + (r), c0 + 16 * (v) + (kw) - ga.pw, km[kw][v]);
    }
    for (int64_t m = 0; m < M; ++m) {
      const float* wm = W + m * taps;
      __m512 a00 = zero, a01 = zero, a10 = zero, a11 = zero;  // [row][vector]
      if constexpr (fixed) {
#pragma GCC unroll 64
        for (int kh = 0; kh < KH_; ++kh)
          for (int kw = 0; kw < KW_; ++kw) {
            const __m512 w = _mm512_set1_ps(wm[kh * KW_ + kw]);
            a00 = _mm512_fmadd_ps(xin[(kh * KW_ + kw) * 2], w, a00);
            a01 = _mm512_fmadd_ps(xin[(kh * KW_ + kw) * 2 + 1], w, a01);
            a10 = _mm512_fmadd_ps(xin[((kh + 1) * KW_ + kw) * 2], w, a10);
            a11 = _mm512_fmadd_ps(xin[((kh + 1) * KW_ + kw) * 2 + 1], w, a11);
          }
      } else {
        for (int64_t kh = 0; kh < KH; ++kh)
          for (int64_t kw = 0; kw < KW; ++kw) {
            const __m512 w = _mm512_set1_ps(wm[kh * KW + kw]);
            a00 = _mm512_fmadd_ps(c1Load(ga, Xn, oh0 - ga.ph + (kh), c0 + 16 * (0) + (kw) - ga.pw, km[kw][0]), w, a00);
            a01 = _mm512_fmadd_ps(c1Load(ga, Xn, oh0 - ga.ph + (kh), c0 + 16 * (1) + (kw) - ga.pw, km[kw][1]), w, a01);
            a10 = _mm512_fmadd_ps(c1Load(ga, Xn, oh0 - ga.ph + (kh + 1), c0 + 16 * (0) + (kw) - ga.pw, km[kw][0]), w, a10);
            a11 = _mm512_fmadd_ps(c1Load(ga, Xn, oh0 - ga.ph + (kh + 1), c0 + 16 * (1) + (kw) - ga.pw, km[kw][1]), w, a11);
          }
      }
      const __m512 b = _mm512_set1_ps(B ? B[m] : 0.0f);
      a00 = _mm512_add_ps(a00, b);
      a01 = _mm512_add_ps(a01, b);
      a10 = _mm512_add_ps(a10, b);
      a11 = _mm512_add_ps(a11, b);
      if (relu) {
        a00 = c1Max(a00, zero);
        a01 = c1Max(a01, zero);
        a10 = c1Max(a10, zero);
        a11 = c1Max(a11, zero);
      } else if (slowAct) {
        a00 = c1ActSlow(a00, ep);
        a01 = c1ActSlow(a01, ep);
        a10 = c1ActSlow(a10, ep);
        a11 = c1ActSlow(a11, ep);
      }
      float* ym = Yn + m * ga.outPlane;
      if (ga.pooled) {
        const __m512 v0 = c1Max(a10, c1Max(a00, low));
        const __m512 v1 = c1Max(a11, c1Max(a01, low));
        const __m512 r = c1Max(_mm512_permutex2var_ps(v0, vio, v1),
                                       c1Max(_mm512_permutex2var_ps(v0, vie, v1), low));
        _mm512_mask_storeu_ps(ym + rp * ga.outRowW + c0 / 2, mp, r);
      } else {
        float* y0 = ym + oh0 * ga.outRowW + c0;
        _mm512_mask_storeu_ps(y0, m0, a00);
        _mm512_mask_storeu_ps(y0 + 16, m1, a01);
        if (second) {
          _mm512_mask_storeu_ps(y0 + ga.outRowW, m0, a10);
          _mm512_mask_storeu_ps(y0 + ga.outRowW + 16, m1, a11);
        }
      }
    }
  }
}

#undef NPU_C1_TARGET


}  // namespace

bool singleChannelConvApplies(const Geo3& g, int64_t C, const gemm::Epilogue& ep, const Geo3* pooled) {
  if (gemm::activeIsa() != gemm::Isa::Avx512 || C != 1 || ep.residual) return false;
  if (g.in[0] != 1 || g.out[0] != 1 || g.k[0] != 1 || g.pb[0] != 0) return false;
  if (g.s[1] != 1 || g.s[2] != 1 || g.d[1] != 1 || g.d[2] != 1) return false;
  if (g.k[1] < 1 || g.k[1] > 7 || g.k[2] < 1 || g.k[2] > 7 || g.out[1] < 1 || g.out[2] < 1) return false;
  if (g.pb[1] < 0 || g.pb[2] < 0) return false;
  if (pooled && (!maxPool2x2Applies(*pooled) || pooled->in[1] != g.out[1] || pooled->in[2] != g.out[2])) return false;
  return true;
}

void convSingleChannelF32(ThreadPool& pool, const float* X, const float* W, const float* B, float* Y, int64_t N,
                          int64_t M, const Geo3& g, const gemm::Epilogue& ep, const Geo3* pooled) {
  C1Geometry ga{};
  ga.IH = g.in[1];
  ga.IW = g.in[2];
  ga.OH = g.out[1];
  ga.OW = g.out[2];
  ga.KH = g.k[1];
  ga.KW = g.k[2];
  ga.ph = g.pb[1];
  ga.pw = g.pb[2];
  ga.pooled = pooled != nullptr;
  ga.cols = pooled ? 2 * pooled->out[2] : ga.OW;
  ga.blocks = (ga.cols + 31) / 32;
  ga.pairs = pooled ? pooled->out[1] : (ga.OH + 1) / 2;
  ga.outRowW = pooled ? pooled->out[2] : ga.OW;
  ga.outPlane = pooled ? pooled->out[1] * pooled->out[2] : ga.OH * ga.OW;
  const int64_t inSp = ga.IH * ga.IW, units = N * ga.pairs;
  const int64_t work = std::max<int64_t>(1, M * ga.blocks * 64 * ga.KH * ga.KW);
  const auto unit = (ga.KH == 3 && ga.KW == 3) ? c1Unit<3, 3> : c1Unit<0, 0>;
  pool.parallelFor(units, std::max<int64_t>(1, 65536 / work), [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t n = u / ga.pairs, rp = u % ga.pairs;
      unit(ga, X + n * inSp, W, B, Y + n * M * ga.outPlane, M, rp, ep);
    }
  });
}

}  // namespace npuconv::nn
