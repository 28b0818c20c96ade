// depthwise_f32.cc - see depthwise_f32.h.
//
// The input plane is first copied into a zero-padded plane (for stride 2 each row is split into
// its even and odd columns) so the inner loops are branch-free. Output is computed in blocks of
// RB rows x V vectors of 8 columns, all RB * V accumulators in registers (8 independent FMA
// chains): each tap is one broadcast weight and RB * V loads. The epilogue (residual, activation)
// runs on the registers before the single (masked at the row end) store. Blocks at the bottom and
// right edges are moved back to fit, recomputing a few outputs rather than running a narrower
// kernel: same inputs, same results.
#include "converter/exec/kernels/depthwise_f32.h"

#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "converter/exec/kernels/activation_avx512.h"
#include "converter/exec/kernels/activation_simd.h"
#include "converter/exec/kernels/transpose_simd.h"

namespace npuconv::nn {
namespace {

/// Lane mask of the first n (0..8) lanes.
inline __m256i firstLanes(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/// The activation on n vectors with one dispatch: actDyn8 per vector evaluated its switch for
/// every 8 outputs, about as many instructions as a 3x3 block's FMAs.
template <int N>
inline void actAll(__m256* v, const gemm::Epilogue& e) {
  using gemm::Act;
  switch (e.act) {
    case Act::None: return;
    case Act::Relu: for (int i = 0; i < N; ++i) v[i] = gemm::act8<Act::Relu>(v[i], e); return;
    case Act::Clip: for (int i = 0; i < N; ++i) v[i] = gemm::act8<Act::Clip>(v[i], e); return;
    case Act::HardSwish: for (int i = 0; i < N; ++i) v[i] = gemm::act8<Act::HardSwish>(v[i], e); return;
    default: for (int i = 0; i < N; ++i) v[i] = gemm::actDyn8(v[i], e); return;
  }
}

struct PaddedPlane {
  const float* p;
  int64_t rowLen;  // floats per padded row
  int64_t half;    // stride 2: offset of the odd columns within a row
};

template <int RB, int V, int SW>
void block(const PaddedPlane& pl, const float* w, int64_t KH, int64_t KW, int64_t sh, float bias, int64_t oh0,
           int64_t ow0, const gemm::Epilogue& ep, const float* res, float* y, int64_t OW) {
  __m256 acc[RB][V];
  for (int r = 0; r < RB; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = _mm256_set1_ps(bias);
  for (int64_t kh = 0; kh < KH; ++kh) {
    const float* rows[RB];
    for (int r = 0; r < RB; ++r) rows[r] = pl.p + ((oh0 + r) * sh + kh) * pl.rowLen;
    for (int64_t kw = 0; kw < KW; ++kw) {
      const __m256 wv = _mm256_set1_ps(w[kh * KW + kw]);
      const int64_t off = SW == 1 ? ow0 + kw : ((kw & 1) ? pl.half : 0) + ow0 + (kw >> 1);
      for (int r = 0; r < RB; ++r)
        for (int v = 0; v < V; ++v) acc[r][v] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(rows[r] + off + 8 * v), acc[r][v]);
    }
  }
  if (res)
    for (int r = 0; r < RB; ++r)
      for (int v = 0; v < V; ++v) {
        const int64_t col = ow0 + 8 * v, n = std::min<int64_t>(8, OW - col);
        if (n <= 0) continue;
        const float* rp = res + (oh0 + r) * OW + col;
        acc[r][v] = _mm256_add_ps(acc[r][v], n == 8 ? _mm256_loadu_ps(rp) : _mm256_maskload_ps(rp, firstLanes(n)));
      }
  actAll<RB * V>(&acc[0][0], ep);
  for (int r = 0; r < RB; ++r)
    for (int v = 0; v < V; ++v) {
      const int64_t col = ow0 + 8 * v, n = std::min<int64_t>(8, OW - col);
      if (n <= 0) continue;
      float* yp = y + (oh0 + r) * OW + col;
      if (n == 8)
        _mm256_storeu_ps(yp, acc[r][v]);
      else
        _mm256_maskstore_ps(yp, firstLanes(n), acc[r][v]);
    }
}

using BlockFn = void (*)(const PaddedPlane&, const float*, int64_t, int64_t, int64_t, float, int64_t, int64_t,
                         const gemm::Epilogue&, const float*, float*, int64_t);

template <int SW>
BlockFn blockFor(int rb, int v) {
  switch (v * 16 + rb) {
    case 16 + 8: return block<8, 1, SW>;
    case 16 + 4: return block<4, 1, SW>;
    case 16 + 2: return block<2, 1, SW>;
    case 32 + 4: return block<4, 2, SW>;
    case 32 + 2: return block<2, 2, SW>;
    case 32 + 1: return block<1, 2, SW>;
    case 64 + 2: return block<2, 4, SW>;
    case 64 + 1: return block<1, 4, SW>;
    default: return block<1, 1, SW>;
  }
}



/// block() with 16-lane vectors (AVX-512, chosen at run time where the CPU has it): RB rows x V
/// vectors of 16 columns, the same sums per output in the same order.
template <int RB, int V, int SW>
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))) void block16(
    const PaddedPlane& pl, const float* w, int64_t KH, int64_t KW, int64_t sh, float bias, int64_t oh0, int64_t ow0,
    const gemm::Epilogue& ep, const float* res, float* y, int64_t OW) {
  __m512 acc[RB][V];
  for (int r = 0; r < RB; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_set1_ps(bias);
  for (int64_t kh = 0; kh < KH; ++kh) {
    const float* rows[RB];
    for (int r = 0; r < RB; ++r) rows[r] = pl.p + ((oh0 + r) * sh + kh) * pl.rowLen;
    for (int64_t kw = 0; kw < KW; ++kw) {
      const __m512 wv = _mm512_set1_ps(w[kh * KW + kw]);
      const int64_t off = SW == 1 ? ow0 + kw : ((kw & 1) ? pl.half : 0) + ow0 + (kw >> 1);
      for (int r = 0; r < RB; ++r)
        for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(rows[r] + off + 16 * v), acc[r][v]);
    }
  }
  for (int r = 0; r < RB; ++r)
    for (int v = 0; v < V; ++v) {
      const int64_t col = ow0 + 16 * v, n = std::min<int64_t>(16, OW - col);
      if (n <= 0) continue;
      const __mmask16 m = __mmask16(n >= 16 ? 0xFFFF : (1u << n) - 1);
      __m512 a = acc[r][v];
      if (res) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(m, res + (oh0 + r) * OW + col));
      _mm512_mask_storeu_ps(y + (oh0 + r) * OW + col, m, gemm::act16(a, ep));
    }
}

template <int SW>
BlockFn block16For(int v) {
  switch (v) {
    case 4: return block16<2, 4, SW>;
    case 2: return block16<4, 2, SW>;
    default: return block16<4, 1, SW>;
  }
}

/// Lanes l of a 16-lane load at input column c + l that lie inside [0, n).
inline __mmask16 inRow16(int64_t c, int64_t n) {
  const int64_t lo = std::clamp<int64_t>(-c, 0, 16), hi = std::clamp<int64_t>(n - c, 0, 16);
  return hi <= lo ? __mmask16(0) : __mmask16(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/// The start of rowsDirect3x3 / rowsDirect3x3s2: the nine weights broadcast into registers and
/// each of the RB x V accumulators set to the bias (the padded kernel's sums start from it).
template <int RB, int V>
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"), always_inline)) inline void startDirectRows(
    const float* w, float bias, __m512 (&wk)[9], __m512 (&acc)[RB][V]) {
#pragma GCC unroll 32
  for (int t = 0; t < 9; ++t) wk[t] = _mm512_set1_ps(w[t]);
#pragma GCC unroll 32
  for (int r = 0; r < RB; ++r)
#pragma GCC unroll 32
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_set1_ps(bias);
}

/// The end of rowsDirect3x3 / rowsDirect3x3s2: each of the RB x V accumulators (bias and taps
/// summed) + the residual, then the activation, stored to output row oh0 + r at column ow0 + 16 v,
/// masked past OW.
template <int RB, int V>
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"), always_inline)) inline void storeDirectRows(
    const __m512 (&acc)[RB][V], int64_t oh0, int64_t ow0, const gemm::Epilogue& ep, const float* res, float* y, int64_t OW) {
#pragma GCC unroll 32
  for (int r = 0; r < RB; ++r)
#pragma GCC unroll 32
    for (int v = 0; v < V; ++v) {
      const int64_t c = ow0 + 16 * v, n = std::min<int64_t>(16, OW - c);
      if (n <= 0) continue;
      const __mmask16 m = __mmask16(n >= 16 ? 0xFFFF : (1u << n) - 1);
      __m512 a = acc[r][v];
      if (res) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(m, res + (oh0 + r) * OW + c));
      _mm512_mask_storeu_ps(y + (oh0 + r) * OW + c, m, gemm::act16(a, ep));
    }
}

/// The 3x3 stride-1 per-plane kernel (MobileNet's) without the padded copy (AVX-512): RB output
/// rows x V vectors of 16 columns, read straight from the input plane x (IH x IW). The padding is
/// zero lanes: a row outside the input is a zero vector, the columns outside it masked-off lanes
/// of a masked load (which never fault). The block walks its RB + 2 input rows in order, each
/// loaded vector feeding every output row whose window holds it, so each output still gets
/// bias, then the taps row by row: the padded kernel's sums in its order, bit for bit. Unrolled
/// at compile time: the nine weights stay in registers and the (input row, tap) -> output row
/// pattern needs no run-time checks. The general block16 loop (run-time taps, row pointers and
/// offsets per tap) after the copy ran mobilenet_v2's 112x112 Conv at ~1.5x this time.
template <int RB, int V>
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))) void rowsDirect3x3(
    const float* x, int64_t IH, int64_t IW, const float* w, int64_t ph, int64_t pw, float bias, int64_t oh0, int64_t ow0, const gemm::Epilogue& ep, const float* res, float* y, int64_t OW) {
  __m512 wk[9];
  __m512 acc[RB][V];
  startDirectRows<RB, V>(w, bias, wk, acc);
  __mmask16 mk[3][V];
#pragma GCC unroll 32
  for (int kw = 0; kw < 3; ++kw)
#pragma GCC unroll 32
    for (int v = 0; v < V; ++v) mk[kw][v] = inRow16(ow0 + 16 * v + kw - pw, IW);
  const float* col = x + ow0 - pw;
#pragma GCC unroll 32
  for (int j = 0; j < RB + 2; ++j) {
    const int64_t ih = oh0 - ph + j;
    const bool inside = ih >= 0 && ih < IH;
    const float* src = col + (inside ? ih : 0) * IW;
#pragma GCC unroll 32
    for (int kw = 0; kw < 3; ++kw) {
      __m512 xv[V];
#pragma GCC unroll 32
      for (int v = 0; v < V; ++v)
        xv[v] = inside ? _mm512_maskz_loadu_ps(mk[kw][v], src + 16 * v + kw) : _mm512_setzero_ps();
#pragma GCC unroll 32
      for (int r = 0; r < RB; ++r) {
        const int kh = j - r;
        if (kh < 0 || kh >= 3) continue;
#pragma GCC unroll 32
        for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(wk[kh * 3 + kw], xv[v], acc[r][v]);
      }
    }
  }
  storeDirectRows<RB, V>(acc, oh0, ow0, ep, res, y, OW);
}

/// rowsDirect3x3 at stride 2: per input row and vector the 33 input columns under 16 outputs are
/// two masked loads split by permutes into the even (tap 0) and odd (tap 1) columns, and tap 2
/// is tap 0 moved one lane with the 33rd column (a one-lane masked load) permuted in: three
/// shuffles per row and vector where the padded copy spent eight shuffles and four stores
/// before the block's loads. The block walks its 2 RB + 1 input rows in order: the padded
/// kernel's sums in its order, bit for bit.
template <int RB, int V>
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))) void rowsDirect3x3s2(
    const float* x, int64_t IH, int64_t IW, const float* w, int64_t ph, int64_t pw, float bias, int64_t oh0,
    int64_t ow0, const gemm::Epilogue& ep, const float* res, float* y, int64_t OW) {
  __m512 wk[9];
  __m512 acc[RB][V];
  startDirectRows<RB, V>(w, bias, wk, acc);
  __mmask16 m0[V], m1[V], mt[V];
#pragma GCC unroll 32
  for (int v = 0; v < V; ++v) {
    const int64_t c = 2 * (ow0 + 16 * v) - pw;
    m0[v] = inRow16(c, IW);
    m1[v] = inRow16(c + 16, IW);
    mt[v] = __mmask16(inRow16(c + 32, IW) & 1);
  }
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odds = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512i next = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
  const float* col = x + 2 * ow0 - pw;
#pragma GCC unroll 32
  for (int j = 0; j < 2 * RB + 1; ++j) {
    const int64_t ih = 2 * oh0 - ph + j;
    const bool inside = ih >= 0 && ih < IH;
    const float* src = col + (inside ? ih : 0) * IW;
    __m512 t0[V], t1[V], t2[V];
#pragma GCC unroll 32
    for (int v = 0; v < V; ++v) {
      if (!inside) {
        t0[v] = t1[v] = t2[v] = _mm512_setzero_ps();
        continue;
      }
      const __m512 a = _mm512_maskz_loadu_ps(m0[v], src + 32 * v), b = _mm512_maskz_loadu_ps(m1[v], src + 32 * v + 16);
      t0[v] = _mm512_permutex2var_ps(a, evens, b);
      t1[v] = _mm512_permutex2var_ps(a, odds, b);
      const __m512 tail = _mm512_maskz_loadu_ps(mt[v], src + 32 * v + 32);
      t2[v] = _mm512_permutex2var_ps(t0[v], next, tail);
    }
#pragma GCC unroll 32
    for (int r = 0; r < RB; ++r) {
      const int kh = j - 2 * r;
      if (kh < 0 || kh >= 3) continue;
#pragma GCC unroll 32
      for (int v = 0; v < V; ++v) {
        acc[r][v] = _mm512_fmadd_ps(wk[kh * 3], t0[v], acc[r][v]);
        acc[r][v] = _mm512_fmadd_ps(wk[kh * 3 + 1], t1[v], acc[r][v]);
        acc[r][v] = _mm512_fmadd_ps(wk[kh * 3 + 2], t2[v], acc[r][v]);
      }
    }
  }
  storeDirectRows<RB, V>(acc, oh0, ow0, ep, res, y, OW);
}

using DirectFn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, int64_t, float, int64_t, int64_t,
                          const gemm::Epilogue&, const float*, float*, int64_t);

template <int RB>
DirectFn direct3x3For(int64_t v) {
  switch (v) {
    case 1: return rowsDirect3x3<RB, 1>;
    case 2: return rowsDirect3x3<RB, 2>;
    case 3: return rowsDirect3x3<RB, 3>;
    default: return rowsDirect3x3<RB, 4>;
  }
}

/// depthwiseF32 through rowsDirect3x3 (stride 1) or rowsDirect3x3s2 (stride 2): blocks of 4
/// output rows (8 where a row is one vector; the last block moved back to fit; 2 or 1 on maps
/// that have fewer rows) by up to 4 (stride 2: 2) vectors, the row's last block taking the
/// vectors that remain (masked stores past OW).
void depthwiseDirect3x3(const float* x, const float* w, const Geo3& g, float bias, const gemm::Epilogue& ep,
                        const float* res, float* y) {
  const int64_t IH = g.in[1], IW = g.in[2], OH = g.out[1], OW = g.out[2], ph = g.pb[1], pw = g.pb[2], s = g.s[1];
  const int64_t vecs = (OW + 15) / 16;
  // One vector per row (8-15 columns): 8 rows per block, 8 independent FMA chains.
  const int64_t RB = vecs == 1 && OH >= 8 ? 8 : OH >= 4 ? 4 : OH >= 2 ? 2 : 1;
  const int64_t maxV = s == 1 ? 4 : 2;  // stride 2: three tap vectors per vector in registers
  for (int64_t oh = 0; oh < OH; oh += RB) {
    const int64_t oh0 = std::min(oh, OH - RB);
    // The rows the next block reads into L1 while this one computes (a 112x112 plane comes from
    // L3, read as RB + 2 interleaved row streams).
    if (oh + RB < OH) {  // (only the rows this block does not read)
      const int64_t next = std::min(oh + RB, OH - RB);
      const int64_t r0 = std::max<int64_t>({0, next * s - ph, (oh0 + RB - 1) * s - ph + 3});
      const int64_t r1 = std::min(IH, (next + RB - 1) * s - ph + 3);
      for (int64_t r = r0; r < r1; ++r) {
        const char* p = reinterpret_cast<const char*>(x + r * IW);
        for (int64_t b = 0; b < IW * int64_t(sizeof(float)); b += 64) _mm_prefetch(p + b, _MM_HINT_T0);
      }
    }
    for (int64_t v0 = 0; v0 < vecs; v0 += maxV) {
      const int64_t nv = std::min<int64_t>(maxV, vecs - v0);
      DirectFn fn;
      if (s == 2)
        fn = RB == 8   ? rowsDirect3x3s2<8, 1>
             : RB == 4 ? (nv == 2 ? rowsDirect3x3s2<4, 2> : rowsDirect3x3s2<4, 1>)
             : RB == 2 ? (nv == 2 ? rowsDirect3x3s2<2, 2> : rowsDirect3x3s2<2, 1>)
                       : (nv == 2 ? rowsDirect3x3s2<1, 2> : rowsDirect3x3s2<1, 1>);
      else
        fn = RB == 8   ? rowsDirect3x3<8, 1>
             : RB == 4 ? direct3x3For<4>(nv)
             : RB == 2 ? direct3x3For<2>(nv)
                       : direct3x3For<1>(nv);
      fn(x, IH, IW, w, ph, pw, bias, oh0, 16 * v0, ep, res, y, OW);
    }
  }
}

/// depthwiseF32Blocked's sums with 16-lane vectors (AVX-512, stride 1): a vector holds two
/// neighbouring output positions of the 8 interleaved channels (adjacent in the padded block at
/// stride 1), the filter tap duplicated into both halves. Two rows of V vectors (2V positions)
/// at a time; the last row pair and column group are moved back to fit, recomputing outputs
/// with the same sums. Same order per output as the AVX2 loop: bias, then the taps row by row.
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))) inline __m512 twice8(const float* p) {
  const __m256 x = _mm256_loadu_ps(p);
  return _mm512_insertf32x8(_mm512_castps256_ps512(x), x, 1);
}

template <int V>
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))) void blockedSums16(
    const float* P, const float* Wt, const float* bias8, int64_t KH, int64_t KW, int64_t Wp, int64_t sh, int64_t dh,
    int64_t dw, int64_t OH, int64_t OW, float* O) {
  const __m512 vb = twice8(bias8);
  constexpr int64_t step = 2 * V;
  const int64_t down = sh * Wp * 8;  // the next output row's input rows
  for (int64_t r = 0; r < OH; r += 2) {
    const int64_t oh = std::min(r, OH - 2);
    for (int64_t o = 0; o < OW; o += step) {
      const int64_t ow = std::min(o, OW - step);
      __m512 a[V], c[V];
      for (int v = 0; v < V; ++v) a[v] = c[v] = vb;
      for (int64_t kh = 0; kh < KH; ++kh) {
        const float* row = P + ((oh * sh + kh * dh) * Wp + ow) * 8;
        for (int64_t kw = 0; kw < KW; ++kw) {
          const __m512 wv = twice8(Wt + (kh * KW + kw) * 8);
          const float* p = row + kw * dw * 8;
          for (int v = 0; v < V; ++v) {
            a[v] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(p + 16 * v), a[v]);
            c[v] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(p + down + 16 * v), c[v]);
          }
        }
      }
      float* op = O + (oh * OW + ow) * 8;
      for (int v = 0; v < V; ++v) {
        _mm512_storeu_ps(op + 16 * v, a[v]);
        _mm512_storeu_ps(op + OW * 8 + 16 * v, c[v]);
      }
    }
  }
}

/// Per-thread scratch: the padded plane.
thread_local std::vector<float> tlsPlane;

}  // namespace

bool directDepthwise(const Geo3& g) {
  const bool s1 = g.s[1] == 1 && g.s[2] == 1, s2 = g.s[1] == 2 && g.s[2] == 2;
  return g.k[0] == 1 && g.in[0] == 1 && g.out[0] == 1 && g.pb[0] == 0 && g.k[1] == 3 && g.k[2] == 3 && (s1 || s2) &&
         g.d[1] == 1 && g.d[2] == 1 && g.out[2] >= 8 && gemm::activeIsa() == gemm::Isa::Avx512;
}

bool fastDepthwise(const Geo3& g) {
  return g.k[0] == 1 && g.in[0] == 1 && g.out[0] == 1 && g.pb[0] == 0 && g.d[1] == 1 && g.d[2] == 1 &&
         (g.s[2] == 1 || g.s[2] == 2);
}

void depthwiseF32(const float* x, const float* w, const Geo3& g, float bias, const gemm::Epilogue& ep,
                  const float* res, float* y) {
  const int64_t IH = g.in[1], IW = g.in[2], OH = g.out[1], OW = g.out[2], KH = g.k[1], KW = g.k[2];
  const int64_t sh = g.s[1], sw = g.s[2], ph = g.pb[1], pw = g.pb[2];
  if (OH <= 0 || OW <= 0) return;
  if (directDepthwise(g)) {
    depthwiseDirect3x3(x, w, g, bias, ep, res, y);
    return;
  }
  const int64_t OW8 = (OW + 7) / 8 * 8;
  const int64_t R = (OH - 1) * sh + KH;  // padded rows read
  // Stride 1: rows of width OW8 + KW - 1. Stride 2: the even then the odd columns, `half` each.
  const int64_t half = (OW8 + (KW + 1) / 2 + 7) / 8 * 8;
  const int64_t rowLen = sw == 1 ? OW8 + KW - 1 : 2 * half;
  std::vector<float>& plane = tlsPlane;
  if (plane.size() < size_t(R * rowLen + 8)) plane.resize(size_t(R * rowLen + 8));
  float* P = plane.data();
  for (int64_t r = 0; r < R; ++r) {
    float* d = P + r * rowLen;
    const int64_t ih = r - ph;
    if (ih < 0 || ih >= IH) {
      int64_t c = 0;
      for (; c + 8 <= rowLen; c += 8) _mm256_storeu_ps(d + c, _mm256_setzero_ps());
      for (; c < rowLen; ++c) d[c] = 0.0f;
      continue;
    }
    const float* src = x + ih * IW;
    // Whole vectors with lane masks (the padding lanes load nothing and store zero): the row
    // edges took scalar loops with bounds checks, a third of this function's time on 56-wide
    // maps. Masked-off lanes of a masked load never fault. The plane has 8 floats of slack after
    // its last row for the last vector's overhang (the next row overwrites it otherwise).
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    // Lanes l with lo <= c + l < hi.
    auto inside = [&](int64_t c, int64_t lo, int64_t hi) {
      const __m256i idx = _mm256_add_epi32(_mm256_set1_epi32(int(c)), lane);
      return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(int(lo)), idx),
                                 _mm256_cmpgt_epi32(_mm256_set1_epi32(int(hi)), idx));
    };
    if (sw == 1) {
      // d[c] = src[c - pw], zero outside the input.
      const float* s0 = src - pw;
      const int64_t lo = std::min(pw, rowLen), hi = std::clamp<int64_t>(IW + pw, lo, rowLen);
      for (int64_t c = 0; c < rowLen; c += 8) {
        if (c >= lo && c + 8 <= hi)
          _mm256_storeu_ps(d + c, _mm256_loadu_ps(s0 + c));
        else
          _mm256_storeu_ps(d + c, _mm256_maskload_ps(s0 + c, inside(c, lo, hi)));
      }
      continue;
    }
    // Stride 2: e[j] = src[2j - pw], o[j] = src[2j + 1 - pw] (zero outside the input): 8 of each
    // per 16 inputs.
    float* e = d;
    float* o = d + half;
    for (int64_t jj = 0; jj < half; jj += 8) {
      const int64_t c0 = 2 * jj - pw;
      const float* p = src + c0;
      __m256 a, b;
      if (c0 >= 0 && c0 + 16 <= IW) {
        a = _mm256_loadu_ps(p);
        b = _mm256_loadu_ps(p + 8);
      } else {
        a = _mm256_maskload_ps(p, inside(c0, 0, IW));
        b = _mm256_maskload_ps(p + 8, inside(c0 + 8, 0, IW));
      }
      const __m256 ev = _mm256_shuffle_ps(a, b, 0x88), od = _mm256_shuffle_ps(a, b, 0xDD);
      _mm256_storeu_ps(e + jj, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), 0xD8)));
      _mm256_storeu_ps(o + jj, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), 0xD8)));
    }
  }
  const PaddedPlane pl{P, rowLen, half};
  if (OW8 >= 16 && OH >= 4 && gemm::activeIsa() == gemm::Isa::Avx512) {
    // 16 columns per vector; blocks at the right edge move back (never past column 0) and
    // recompute a few outputs, as below.
    const int64_t vecs16 = OW8 / 16;
    const int V = vecs16 >= 4 ? 4 : vecs16 >= 2 ? 2 : 1;
    const int RB = V == 4 ? 2 : 4;
    const BlockFn fn = sw == 1 ? block16For<1>(V) : block16For<2>(V);
    for (int64_t oh = 0; oh < OH; oh += RB) {
      const int64_t oh0 = std::min(oh, OH - RB);
      for (int64_t ow = 0; ow < OW8; ow += 16 * V) {
        const int64_t ow0 = std::min(ow, OW8 - 16 * V);
        fn(pl, w, KH, KW, sh, bias, oh0, ow0, ep, res, y, OW);
      }
    }
    return;
  }
  const int64_t vecs = OW8 / 8;
  const int V = vecs >= 4 ? 4 : vecs >= 2 ? 2 : 1;
  int RB = 8 / V;
  while (RB > OH) RB /= 2;
  const BlockFn fn = sw == 1 ? blockFor<1>(RB, V) : blockFor<2>(RB, V);
  for (int64_t oh = 0; oh < OH; oh += RB) {
    const int64_t oh0 = std::min(oh, OH - RB);
    for (int64_t ow = 0; ow < OW8; ow += 8 * V) {
      const int64_t ow0 = std::min(ow, OW8 - 8 * V);
      fn(pl, w, KH, KW, sh, bias, oh0, ow0, ep, res, y, OW);
    }
  }
}

bool blockedDepthwise(const Geo3& g) {
  return g.k[0] == 1 && g.in[0] == 1 && g.out[0] == 1 && g.pb[0] == 0 && g.out[2] < 16;
}

void depthwiseF32Blocked(const float* x, const float* w, const float* b, int64_t count, const Geo3& g,
                         const gemm::Epilogue& ep, const float* res, float* y) {
  const int64_t IH = g.in[1], IW = g.in[2], OH = g.out[1], OW = g.out[2], KH = g.k[1], KW = g.k[2];
  const int64_t Hp = IH + g.pb[1] + g.pe[1], Wp = IW + g.pb[2] + g.pe[2];
  const int64_t inSp = IH * IW, outSp = OH * OW, taps = KH * KW;
  thread_local std::vector<float> buf;
  const size_t need = size_t((Hp * Wp + taps + outSp + 8) * 8);  // + 8 positions: the last transpose reads past O
  if (buf.size() < need) buf.resize(need);
  float* P = buf.data();        // [Hp][Wp][8], zero padded
  float* Wt = P + Hp * Wp * 8;  // [KH][KW][8]
  float* O = Wt + taps * 8;     // [OH * OW][8]
  std::fill(Wt, Wt + taps * 8, 0.0f);
  alignas(32) float bias[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t c = 0; c < count; ++c) {
    for (int64_t t = 0; t < taps; ++t) Wt[t * 8 + c] = w[c * taps + t];
    if (b) bias[c] = b[c];
  }
  const int64_t pt = g.pb[1], pl = g.pb[2];
  if (count == 8) {
    // Eight full planes: 8x8 register transposes (the tail columns of a row through a masked
    // load into a block on the stack), zeros written only into the padding.
    std::fill(P, P + pt * Wp * 8, 0.0f);
    std::fill(P + (pt + IH) * Wp * 8, P + Hp * Wp * 8, 0.0f);
    alignas(32) float blk[64];
    for (int64_t ih = 0; ih < IH; ++ih) {
      float* row = P + (pt + ih) * Wp * 8;
      std::fill(row, row + pl * 8, 0.0f);
      std::fill(row + (pl + IW) * 8, row + Wp * 8, 0.0f);
      const float* src = x + ih * IW;
      int64_t iw = 0;
      for (; iw + 8 <= IW; iw += 8) transpose8x8(src + iw, inSp, row + (pl + iw) * 8, 8);
      if (iw < IW) {
        const int64_t n = IW - iw;
        const __m256i mask = firstLanes(n);
        for (int64_t c = 0; c < 8; ++c) _mm256_store_ps(blk + 8 * c, _mm256_maskload_ps(src + c * inSp + iw, mask));
        transpose8x8(blk, 8, blk, 8);
        for (int64_t j = 0; j < n; ++j) _mm256_storeu_ps(row + (pl + iw + j) * 8, _mm256_load_ps(blk + 8 * j));
      }
    }
  } else {
    std::fill(P, P + Hp * Wp * 8, 0.0f);
    for (int64_t c = 0; c < count; ++c) {
      const float* xc = x + c * inSp;
      for (int64_t ih = 0; ih < IH; ++ih)
        for (int64_t iw = 0; iw < IW; ++iw) P[((ih + pt) * Wp + iw + pl) * 8 + c] = xc[ih * IW + iw];
    }
  }
  const __m256 vb = _mm256_load_ps(bias);
  const int64_t sh = g.s[1], sw = g.s[2], dh = g.d[1], dw = g.d[2];
  // Two rows of four outputs at a time, 8 independent FMA chains (four left the FMA units waiting
  // on latency: 2 units x 4 cycles); the last row pair and column group are moved back to fit,
  // recomputing a few outputs with the same sums. One row when the map has one, one output at a
  // time when rows are narrower than four.
  const int64_t step = OW >= 4 ? 4 : 1;
  const int64_t rowsPer = step == 4 && OH >= 2 ? 2 : 1;
  const bool wide = sw == 1 && rowsPer == 2 && gemm::activeIsa() == gemm::Isa::Avx512;
  if (wide && OW >= 8)
    blockedSums16<4>(P, Wt, bias, KH, KW, Wp, sh, dh, dw, OH, OW, O);
  else if (wide)
    blockedSums16<2>(P, Wt, bias, KH, KW, Wp, sh, dh, dw, OH, OW, O);
  for (int64_t r = 0; r < (wide ? 0 : OH); r += rowsPer) {
    const int64_t oh = std::min(r, OH - rowsPer);
    for (int64_t o = 0; o < OW; o += step) {
      const int64_t ow = std::min(o, OW - step);
      if (rowsPer == 2) {
        __m256 a0 = vb, a1 = vb, a2 = vb, a3 = vb, c0 = vb, c1 = vb, c2 = vb, c3 = vb;
        const int64_t down = sh * Wp * 8;  // the next output row's input rows
        for (int64_t kh = 0; kh < KH; ++kh) {
          const float* row = P + ((oh * sh + kh * dh) * Wp + ow * sw) * 8;
          for (int64_t kw = 0; kw < KW; ++kw) {
            const __m256 wv = _mm256_loadu_ps(Wt + (kh * KW + kw) * 8);
            const float* p = row + kw * dw * 8;
            const float* q = p + down;
            a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p), a0);
            a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p + sw * 8), a1);
            a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p + 2 * sw * 8), a2);
            a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p + 3 * sw * 8), a3);
            c0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(q), c0);
            c1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(q + sw * 8), c1);
            c2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(q + 2 * sw * 8), c2);
            c3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(q + 3 * sw * 8), c3);
          }
        }
        float* op = O + (oh * OW + ow) * 8;
        _mm256_storeu_ps(op, a0);
        _mm256_storeu_ps(op + 8, a1);
        _mm256_storeu_ps(op + 16, a2);
        _mm256_storeu_ps(op + 24, a3);
        float* oq = op + OW * 8;
        _mm256_storeu_ps(oq, c0);
        _mm256_storeu_ps(oq + 8, c1);
        _mm256_storeu_ps(oq + 16, c2);
        _mm256_storeu_ps(oq + 24, c3);
      } else if (step == 4) {
        __m256 a0 = vb, a1 = vb, a2 = vb, a3 = vb;
        for (int64_t kh = 0; kh < KH; ++kh) {
          const float* row = P + ((oh * sh + kh * dh) * Wp + ow * sw) * 8;
          for (int64_t kw = 0; kw < KW; ++kw) {
            const __m256 wv = _mm256_loadu_ps(Wt + (kh * KW + kw) * 8);
            const float* p = row + kw * dw * 8;
            a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p), a0);
            a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p + sw * 8), a1);
            a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p + 2 * sw * 8), a2);
            a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p + 3 * sw * 8), a3);
          }
        }
        float* op = O + (oh * OW + ow) * 8;
        _mm256_storeu_ps(op, a0);
        _mm256_storeu_ps(op + 8, a1);
        _mm256_storeu_ps(op + 16, a2);
        _mm256_storeu_ps(op + 24, a3);
      } else {
        __m256 a0 = vb;
        for (int64_t kh = 0; kh < KH; ++kh)
          for (int64_t kw = 0; kw < KW; ++kw)
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(Wt + (kh * KW + kw) * 8),
                                 _mm256_loadu_ps(P + ((oh * sh + kh * dh) * Wp + ow * sw + kw * dw) * 8), a0);
        _mm256_storeu_ps(O + (oh * OW + ow) * 8, a0);
      }
    }
  }
  // Without a residual the activation runs on the interleaved sums, one pass over whole vectors
  // while they are in L1 (per plane, 49- and 196-position planes ended in a partial vector
  // each), with the same +0 bias and activation per value as the planar pass.
  const bool epi = ep.act != gemm::Act::None || res != nullptr;
  if (epi && !res) gemm::applyEpilogue(O, outSp * 8, 0.0f, ep, nullptr);
  if (count == 8) {
    // Back to eight planes by 8x8 transposes; the last positions (outSp % 8) through a block.
    int64_t p = 0;
    for (; p + 8 <= outSp; p += 8) transpose8x8(O + p * 8, 8, y + p, outSp);
    if (p < outSp) {
      alignas(32) float blk[64];
      transpose8x8(O + p * 8, 8, blk, 8);  // O has room for 8 positions past p: see `need`
      const __m256i mask = firstLanes(outSp - p);
      for (int64_t c = 0; c < 8; ++c) _mm256_maskstore_ps(y + c * outSp + p, mask, _mm256_load_ps(blk + 8 * c));
    }
  } else {
    for (int64_t c = 0; c < count; ++c)
      for (int64_t p = 0; p < outSp; ++p) y[c * outSp + p] = O[p * 8 + c];
  }
  if (epi && res)
    for (int64_t c = 0; c < count; ++c)
      gemm::applyEpilogue(y + c * outSp, outSp, 0.0f, ep, res ? res + c * outSp : nullptr);
}

}  // namespace npuconv::nn
