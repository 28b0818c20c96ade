// gemm_f32.cc - packed float32 GEMM (see gemm_f32.h).
//
// Loop nest (BLIS): for each NC block of columns, for each KC block of K: pack op(B)[KC x NC]
// into NR-wide panels; for each MC block of rows: pack alpha * op(A)[MC x KC] into MR-tall
// panels; then run the MR x NR microkernel over the block. The B micro-panel (KC x NR) stays in
// L1 across the MC/MR microkernel calls, the A block in L2. The epilogue runs on each C tile
// right after its last K block.
//
// Only the AVX-512 microkernel carries a target attribute: the rest of this file is compiled for
// the x86-64-v3 baseline, so nothing AVX-512 can leak into shared inline code.
#include "converter/exec/kernels/gemm_f32.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <new>
#include <vector>

#include "converter/exec/kernels/activation_simd.h"
#include "converter/exec/thread_pool.h"
#include "converter/support/status.h"

namespace npuconv::gemm {
namespace {

/// How a microkernel stores its tile: C = acc, C += acc, or C = acc + beta * C.
enum Store : int { kOverwrite = 0, kAccumulate = 1, kScale = 2 };

/// The epilogue of one full tile, applied by the microkernel to its registers before the store
/// (the tile's last K block): the same arithmetic as epilogueRow after the store.
struct TileEpilogue {
  const Epilogue* ep;
  const float* rowBias;  // bias of the tile's first row (per-row bias), else null
  const float* colBias;  // bias of the tile's first column (per-column bias), else null
  const float* res;      // residual at the tile's first element, else null
  int64_t ldr;
};

/// A microkernel: C tile (+)= A panel * B panel over kc steps, then the tile epilogue when `te`
/// is not null. `lda` 0: `a` is a packed MR-tall panel; otherwise `a` points into row-major A
/// (row stride lda), read in place. `b` holds NR values of each k, ldb apart: NR in a packed
/// panel, B's row stride when a row-major B is read in place (the same loads, the same sums).
using MicroFn = void (*)(int64_t kc, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
                         int mode, float beta, const TileEpilogue* te);

/// v + bias (+ residual), then the activation: 8 lanes of row i, columns 8 * h.. of the tile.
template <Act A>
inline __m256 tileEpi8(__m256 v, const TileEpilogue& te, int i, int h) {
  v = _mm256_add_ps(v, te.colBias ? _mm256_loadu_ps(te.colBias + 8 * h) : _mm256_set1_ps(te.rowBias ? te.rowBias[i] : 0.0f));
  if (te.res) v = _mm256_add_ps(v, _mm256_loadu_ps(te.res + i * te.ldr + 8 * h));
  return act8<A>(v, *te.ep);
}

/// AVX2 + FMA: 6 x 16 tile in 12 ymm accumulators.
template <bool Packed, Act A>
void micro6x16T(int64_t kc, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int mode,
                float beta, const TileEpilogue* te) {
  const int64_t rs = Packed ? 1 : lda, step = Packed ? 6 : 1;
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t k = 0; k < kc; ++k) {
    __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    __m256 a0 = _mm256_broadcast_ss(a + 0 * rs), a1 = _mm256_broadcast_ss(a + 1 * rs);
    c00 = _mm256_fmadd_ps(a0, b0, c00);
    c01 = _mm256_fmadd_ps(a0, b1, c01);
    c10 = _mm256_fmadd_ps(a1, b0, c10);
    c11 = _mm256_fmadd_ps(a1, b1, c11);
    a0 = _mm256_broadcast_ss(a + 2 * rs);
    a1 = _mm256_broadcast_ss(a + 3 * rs);
    c20 = _mm256_fmadd_ps(a0, b0, c20);
    c21 = _mm256_fmadd_ps(a0, b1, c21);
    c30 = _mm256_fmadd_ps(a1, b0, c30);
    c31 = _mm256_fmadd_ps(a1, b1, c31);
    a0 = _mm256_broadcast_ss(a + 4 * rs);
    a1 = _mm256_broadcast_ss(a + 5 * rs);
    c40 = _mm256_fmadd_ps(a0, b0, c40);
    c41 = _mm256_fmadd_ps(a0, b1, c41);
    c50 = _mm256_fmadd_ps(a1, b0, c50);
    c51 = _mm256_fmadd_ps(a1, b1, c51);
    a += step;
    b += ldb;
  }
  __m256 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  const __m256 vb = _mm256_set1_ps(beta);
  for (int i = 0; i < 6; ++i) {
    float* r = c + i * ldc;
    for (int h = 0; h < 2; ++h) {
      __m256 v = acc[i][h];
      if (mode == kAccumulate)
        v = _mm256_add_ps(v, _mm256_loadu_ps(r + 8 * h));
      else if (mode == kScale)
        v = _mm256_fmadd_ps(vb, _mm256_loadu_ps(r + 8 * h), v);
      if (te) v = tileEpi8<A>(v, *te, i, h);
      _mm256_storeu_ps(r + 8 * h, v);
    }
  }
}

/// act8 on 16 lanes (AVX-512): the same operations lane by lane (min/max return their second
/// operand on NaN, blends become masked moves), Sigmoid on the two 8-lane halves. The _mask_
/// forms of min/max avoid GCC 12's false maybe-uninitialized warning on _mm512_max_ps.
template <Act A>
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))) inline __m512 act16(__m512 v, const Epilogue& e) {
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
  if constexpr (A == Act::Relu) {
    return _mm512_mask_max_ps(v, 0xFFFF, v, zero);
  } else if constexpr (A == Act::Clip) {
    const __m512 lo = _mm512_set1_ps(e.p0), hi = _mm512_set1_ps(e.p1);
    v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, lo, _CMP_LT_OQ), lo);
    return _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, hi, _CMP_GT_OQ), hi);
  } else if constexpr (A == Act::LeakyRelu) {
    return _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), _mm512_mul_ps(_mm512_set1_ps(e.p0), v));
  } else if constexpr (A == Act::HardSigmoid) {
    const __m512 h = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(e.p0), v), _mm512_set1_ps(e.p1));
    return _mm512_mask_max_ps(h, 0xFFFF, _mm512_mask_min_ps(h, 0xFFFF, h, one), zero);  // max(min(h, 1), 0)
  } else if constexpr (A == Act::HardSwish) {
    const __m512 h = e.p0 == 0.0f ? _mm512_add_ps(_mm512_div_ps(v, _mm512_set1_ps(6.0f)), _mm512_set1_ps(0.5f))
                                  : _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(e.p0), v), _mm512_set1_ps(e.p1));
    return _mm512_mul_ps(v, _mm512_mask_max_ps(h, 0xFFFF, _mm512_mask_min_ps(h, 0xFFFF, h, one), zero));
  } else if constexpr (A == Act::ClipHardSwish) {
    const __m512 six = _mm512_set1_ps(6.0f);
    __m512 h = _mm512_add_ps(v, _mm512_set1_ps(3.0f));
    h = _mm512_mask_mov_ps(h, _mm512_cmp_ps_mask(h, zero, _CMP_LT_OQ), zero);
    h = _mm512_mask_mov_ps(h, _mm512_cmp_ps_mask(h, six, _CMP_GT_OQ), six);
    return _mm512_div_ps(_mm512_mul_ps(v, h), six);
  } else if constexpr (A == Act::Sigmoid) {
    const __m256 a = act8<A>(_mm512_extractf32x8_ps(v, 0), e), b = act8<A>(_mm512_extractf32x8_ps(v, 1), e);
    return _mm512_insertf32x8(_mm512_insertf32x8(v, a, 0), b, 1);
  } else {
    return v;
  }
}

/// AVX-512: 12 x 32 tile in 24 zmm accumulators. Compiled for AVX-512 on this function only;
/// the activation runs on the two 8-lane halves of each register (the AVX2 code of act8).
template <bool Packed, Act A>
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))) void micro12x32T(
    int64_t kc, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int mode, float beta,
    const TileEpilogue* te) {
  const int64_t rs = Packed ? 1 : lda, step = Packed ? 12 : 1;
  __m512 acc[12][2];
#pragma GCC unroll 12
  for (int i = 0; i < 12; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) {
      __m512 av = _mm512_set1_ps(a[i * rs]);
      acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
    }
    a += step;
    b += ldb;
  }
  const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
  for (int i = 0; i < 12; ++i) {
    float* r = c + i * ldc;
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      __m512 v = acc[i][h];
      if (mode == kAccumulate)
        v = _mm512_add_ps(v, _mm512_loadu_ps(r + 16 * h));
      else if (mode == kScale)
        v = _mm512_fmadd_ps(vb, _mm512_loadu_ps(r + 16 * h), v);
      if (te) {
        // On the 16 lanes at once, the same operations as tileEpi8 and act8.
        v = _mm512_add_ps(v, te->colBias ? _mm512_loadu_ps(te->colBias + 16 * h)
                                         : _mm512_set1_ps(te->rowBias ? te->rowBias[i] : 0.0f));
        if (te->res) v = _mm512_add_ps(v, _mm512_loadu_ps(te->res + i * te->ldr + 16 * h));
        v = act16<A>(v, *te->ep);
      }
      _mm512_storeu_ps(r + 16 * h, v);
    }
  }
}

/// A microkernel for the first mr rows and nr columns of a tile: the full tile's arithmetic
/// (A's and B's panels are zero padded) with masked loads and stores of C, bias and residual.
using MaskedMicroFn = void (*)(int64_t kc, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                               int64_t ldc, int mode, const TileEpilogue* te, int mr, int nr);

/// AVX-512: micro12x32T for the first mr (<= R) rows and nr (<= 16 * H) columns, stores
/// kOverwrite and kAccumulate. Only R rows are computed (a filter count of 16 or 64 leaves 4
/// rows in its last tile of 12: computing all 12 there cost the stem of mobilenet_v3_small a
/// third of its GEMM) and only H vectors of 16 columns (a 14x14 map's 196 columns leave 4 in
/// the last tile, a 28x28 map's 784 leave 16: one vector per row, half the tile's FMAs); each
/// value's sums are the same whatever R and H are.
template <bool Packed, Act A, int R, int H>
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))) void microRows32M(
    int64_t kc, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int mode,
    const TileEpilogue* te, int mr, int nr) {
  const int64_t rs = Packed ? 1 : lda, step = Packed ? 12 : 1;
  const __mmask16 mk[2] = {__mmask16(nr >= 16 ? 0xFFFF : (1u << nr) - 1),
                           __mmask16(nr >= 32 ? 0xFFFF : nr > 16 ? (1u << (nr - 16)) - 1 : 0)};
  __m512 acc[R][H];
#pragma GCC unroll 12
  for (int i = 0; i < R; ++i)
    for (int h = 0; h < H; ++h) acc[i][h] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[H];
    for (int h = 0; h < H; ++h) bv[h] = _mm512_loadu_ps(b + 16 * h);
#pragma GCC unroll 12
    for (int i = 0; i < R; ++i) {
      __m512 av = _mm512_set1_ps(a[i * rs]);
      for (int h = 0; h < H; ++h) acc[i][h] = _mm512_fmadd_ps(av, bv[h], acc[i][h]);
    }
    a += step;
    b += ldb;
  }
  for (int i = 0; i < mr; ++i) {
    float* r = c + i * ldc;
    for (int h = 0; h < H; ++h) {
      if (!mk[h]) continue;
      __m512 v = acc[i][h];
      if (mode == kAccumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk[h], r + 16 * h));
      if (te) {
        v = _mm512_add_ps(v, te->colBias ? _mm512_maskz_loadu_ps(mk[h], te->colBias + 16 * h)
                                         : _mm512_set1_ps(te->rowBias ? te->rowBias[i] : 0.0f));
        if (te->res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk[h], te->res + i * te->ldr + 16 * h));
        v = act16<A>(v, *te->ep);
      }
      _mm512_mask_storeu_ps(r + 16 * h, mk[h], v);
    }
  }
}

template <bool Packed, Act A>
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))) void micro12x32M(
    int64_t kc, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int mode,
    const TileEpilogue* te, int mr, int nr) {
  if (nr <= 16) {
    if (mr <= 4) microRows32M<Packed, A, 4, 1>(kc, a, lda, b, ldb, c, ldc, mode, te, mr, nr);
    else if (mr <= 8) microRows32M<Packed, A, 8, 1>(kc, a, lda, b, ldb, c, ldc, mode, te, mr, nr);
    else microRows32M<Packed, A, 12, 1>(kc, a, lda, b, ldb, c, ldc, mode, te, mr, nr);
  } else if (mr <= 4) {
    microRows32M<Packed, A, 4, 2>(kc, a, lda, b, ldb, c, ldc, mode, te, mr, nr);
  } else if (mr <= 8) {
    microRows32M<Packed, A, 8, 2>(kc, a, lda, b, ldb, c, ldc, mode, te, mr, nr);
  } else {
    microRows32M<Packed, A, 12, 2>(kc, a, lda, b, ldb, c, ldc, mode, te, mr, nr);
  }
}

/// The masked microkernel for (packed A?, activation).
MaskedMicroFn pickMasked512(bool packed, Act act) {
  switch (act) {
    case Act::None: return packed ? micro12x32M<true, Act::None> : micro12x32M<false, Act::None>;
    case Act::Relu: return packed ? micro12x32M<true, Act::Relu> : micro12x32M<false, Act::Relu>;
    case Act::Clip: return packed ? micro12x32M<true, Act::Clip> : micro12x32M<false, Act::Clip>;
    case Act::LeakyRelu: return packed ? micro12x32M<true, Act::LeakyRelu> : micro12x32M<false, Act::LeakyRelu>;
    case Act::HardSigmoid: return packed ? micro12x32M<true, Act::HardSigmoid> : micro12x32M<false, Act::HardSigmoid>;
    case Act::HardSwish: return packed ? micro12x32M<true, Act::HardSwish> : micro12x32M<false, Act::HardSwish>;
    case Act::Sigmoid: return packed ? micro12x32M<true, Act::Sigmoid> : micro12x32M<false, Act::Sigmoid>;
    case Act::ClipHardSwish:
      return packed ? micro12x32M<true, Act::ClipHardSwish> : micro12x32M<false, Act::ClipHardSwish>;
  }
  return nullptr;
}
MaskedMicroFn pickNoMasked(bool, Act) { return nullptr; }

/// The microkernel for (packed A?, activation) of one ISA.
template <template <bool, Act> class K>
MicroFn pickMicro(bool packed, Act act) {
  switch (act) {
    case Act::None: return packed ? K<true, Act::None>::fn : K<false, Act::None>::fn;
    case Act::Relu: return packed ? K<true, Act::Relu>::fn : K<false, Act::Relu>::fn;
    case Act::Clip: return packed ? K<true, Act::Clip>::fn : K<false, Act::Clip>::fn;
    case Act::LeakyRelu: return packed ? K<true, Act::LeakyRelu>::fn : K<false, Act::LeakyRelu>::fn;
    case Act::HardSigmoid: return packed ? K<true, Act::HardSigmoid>::fn : K<false, Act::HardSigmoid>::fn;
    case Act::HardSwish: return packed ? K<true, Act::HardSwish>::fn : K<false, Act::HardSwish>::fn;
    case Act::Sigmoid: return packed ? K<true, Act::Sigmoid>::fn : K<false, Act::Sigmoid>::fn;
    case Act::ClipHardSwish: return packed ? K<true, Act::ClipHardSwish>::fn : K<false, Act::ClipHardSwish>::fn;
  }
  return nullptr;
}
template <bool P, Act A>
struct Avx2Micro {
  static constexpr MicroFn fn = micro6x16T<P, A>;
};
template <bool P, Act A>
struct Avx512Micro {
  static constexpr MicroFn fn = micro12x32T<P, A>;
};

struct Kernel {
  int mr, nr;
  int64_t mc, kc, nc;  // cache blocking
  MicroFn (*pick)(bool packed, Act act);
  MaskedMicroFn (*pickMasked)(bool packed, Act act);
};

constexpr Kernel kAvx2{6, 16, 144, 256, 3072, pickMicro<Avx2Micro>, pickNoMasked};
constexpr Kernel kAvx512{12, 32, 144, 192, 3072, pickMicro<Avx512Micro>, pickMasked512};

/// A is read in place (not packed) when it is not transposed, alpha is 1 and a packed panel
/// would be reused by at most this many columns of C: packing would cost about what it saves.
constexpr int64_t kDirectAMaxCols = 128;

std::atomic<int> gIsaOverride{static_cast<int>(Isa::Auto)};
std::atomic<bool> gNoBInPlace{false};

bool envNoAvx512() {
  static const bool v = [] {
    const char* s = std::getenv("NPUCONV_NO_AVX512");
    return s != nullptr && *s != 0 && std::strcmp(s, "0") != 0;
  }();
  return v;
}

const Kernel& activeKernel() { return activeIsa() == Isa::Avx512 ? kAvx512 : kAvx2; }

/// Per-thread packing buffers, 64-byte aligned, grown on demand.
struct PackBuf {
  float* p = nullptr;
  size_t cap = 0;
  ~PackBuf() { std::free(p); }
  float* get(size_t n) {
    if (n > cap) {
      std::free(p);
      size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
      p = static_cast<float*>(std::aligned_alloc(64, bytes));
      cap = p ? n : 0;
    }
    return p;
  }
};
thread_local PackBuf tlsA, tlsB;

/// alpha * op(A)[i0:i0+mc, p0:p0+kc] into MR-tall panels (k-major inside a panel), zero-padded.
void packA(bool tA, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float alpha,
           int MR, float* dst) {
  for (int64_t ir = 0; ir < mc; ir += MR) {
    int64_t mr = std::min<int64_t>(MR, mc - ir);
    float* d = dst + ir * kc;
    if (!tA) {
      // Groups of 4 rows: 4x8 register transposes (8 k values per step); remaining rows and k
      // values one by one.
      const float* rows[32];
      for (int64_t i = 0; i < mr; ++i) rows[i] = A + (i0 + ir + i) * lda + p0;
      const __m256 va = _mm256_set1_ps(alpha);
      const int64_t k8 = kc / 8 * 8, i4 = mr / 4 * 4;
      for (int64_t i = 0; i < i4; i += 4) {
        for (int64_t k = 0; k < k8; k += 8) {
          __m256 r0 = _mm256_mul_ps(va, _mm256_loadu_ps(rows[i] + k));
          __m256 r1 = _mm256_mul_ps(va, _mm256_loadu_ps(rows[i + 1] + k));
          __m256 r2 = _mm256_mul_ps(va, _mm256_loadu_ps(rows[i + 2] + k));
          __m256 r3 = _mm256_mul_ps(va, _mm256_loadu_ps(rows[i + 3] + k));
          __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
          __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
          __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
          __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
          float* o = d + k * MR + i;
          _mm_storeu_ps(o + 0 * MR, _mm256_castps256_ps128(u0));
          _mm_storeu_ps(o + 1 * MR, _mm256_castps256_ps128(u1));
          _mm_storeu_ps(o + 2 * MR, _mm256_castps256_ps128(u2));
          _mm_storeu_ps(o + 3 * MR, _mm256_castps256_ps128(u3));
          _mm_storeu_ps(o + 4 * MR, _mm256_extractf128_ps(u0, 1));
          _mm_storeu_ps(o + 5 * MR, _mm256_extractf128_ps(u1, 1));
          _mm_storeu_ps(o + 6 * MR, _mm256_extractf128_ps(u2, 1));
          _mm_storeu_ps(o + 7 * MR, _mm256_extractf128_ps(u3, 1));
        }
        for (int64_t k = k8; k < kc; ++k)
          for (int64_t q = i; q < i + 4; ++q) d[k * MR + q] = alpha * rows[q][k];
      }
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t q = i4; q < mr; ++q) d[k * MR + q] = alpha * rows[q][k];
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = A + (p0 + k) * lda + i0 + ir;
        for (int64_t i = 0; i < mr; ++i) d[k * MR + i] = alpha * src[i];
      }
    }
    if (mr < MR)
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t i = mr; i < MR; ++i) d[k * MR + i] = 0.0f;
  }
}

/// op(B)[p0:p0+kc, j0:j0+nc] into NR-wide panels (k-major inside a panel), zero-padded.
void packB(bool tB, const float* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int NR, float* dst) {
  int64_t jFull = 0;
  if (!tB) {
    // Full panels row by row: each row of B is read sequentially (prefetch-friendly; B is
    // usually a weight matrix streamed from memory), and written to every panel.
    jFull = nc / NR * NR;
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = B + (p0 + k) * ldb + j0;
      for (int64_t jr = 0; jr < jFull; jr += NR) {
        float* d = dst + jr * kc + k * NR;
        for (int j = 0; j < NR; j += 8) _mm256_store_ps(d + j, _mm256_loadu_ps(src + jr + j));
      }
    }
  }
  for (int64_t jr = jFull; jr < nc; jr += NR) {
    int64_t nr = std::min<int64_t>(NR, nc - jr);
    float* d = dst + jr * kc;
    if (!tB) {
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = B + (p0 + k) * ldb + j0 + jr;
        std::memcpy(d + k * NR, src, size_t(nr) * sizeof(float));
        for (int64_t j = nr; j < NR; ++j) d[k * NR + j] = 0.0f;
      }
    } else {
      for (int64_t j = 0; j < nr; ++j) {
        const float* src = B + (j0 + jr + j) * ldb + p0;
        for (int64_t k = 0; k < kc; ++k) d[k * NR + j] = src[k];
      }
      if (nr < NR)
        for (int64_t k = 0; k < kc; ++k)
          for (int64_t j = nr; j < NR; ++j) d[k * NR + j] = 0.0f;
    }
  }
}

template <Act A>
void epilogueRowT(float* x, int64_t n, float rowBias, const float* colBias, const float* res, const Epilogue& e) {
  const __m256 rb = _mm256_set1_ps(rowBias);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 v = _mm256_loadu_ps(x + j);
    v = colBias ? _mm256_add_ps(v, _mm256_loadu_ps(colBias + j)) : _mm256_add_ps(v, rb);
    if (res) v = _mm256_add_ps(v, _mm256_loadu_ps(res + j));
    _mm256_storeu_ps(x + j, act8<A>(v, e));
  }
  if (j < n) {
    alignas(32) float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t q = j; q < n; ++q) {
      buf[q - j] = x[q] + (colBias ? colBias[q] : rowBias);
      if (res) buf[q - j] += res[q];
    }
    _mm256_store_ps(buf, act8<A>(_mm256_load_ps(buf), e));
    for (int64_t q = j; q < n; ++q) x[q] = buf[q - j];
  }
}

/// The epilogue on one row segment: x[j] = act(x[j] + rowBias + colBias[j] + res[j]) (AVX2;
/// colBias and res may be null).
void epilogueRow(float* x, int64_t n, float rowBias, const float* colBias, const float* res, const Epilogue& e) {
  switch (e.act) {
    case Act::None: epilogueRowT<Act::None>(x, n, rowBias, colBias, res, e); break;
    case Act::Relu: epilogueRowT<Act::Relu>(x, n, rowBias, colBias, res, e); break;
    case Act::Clip: epilogueRowT<Act::Clip>(x, n, rowBias, colBias, res, e); break;
    case Act::LeakyRelu: epilogueRowT<Act::LeakyRelu>(x, n, rowBias, colBias, res, e); break;
    case Act::HardSigmoid: epilogueRowT<Act::HardSigmoid>(x, n, rowBias, colBias, res, e); break;
    case Act::HardSwish: epilogueRowT<Act::HardSwish>(x, n, rowBias, colBias, res, e); break;
    case Act::Sigmoid: epilogueRowT<Act::Sigmoid>(x, n, rowBias, colBias, res, e); break;
    case Act::ClipHardSwish: epilogueRowT<Act::ClipHardSwish>(x, n, rowBias, colBias, res, e); break;
  }
}

/// The residual row of C's row i, columns from j (null without a residual).
inline const float* residualAt(const Epilogue& e, int64_t i, int64_t j) {
  return e.residual ? e.residual + i * e.ldr + j : nullptr;
}

inline float hsum(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

/// dot(a, b) over n floats (AVX2, four accumulators).
float dot(const float* a, const float* b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t k = 0;
  for (; k + 32 <= n; k += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), _mm256_loadu_ps(b + k + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 16), _mm256_loadu_ps(b + k + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 24), _mm256_loadu_ps(b + k + 24), s3);
  }
  for (; k + 8 <= n; k += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
  float r = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; k < n; ++k) r += a[k] * b[k];
  return r;
}

constexpr int64_t kSmallM = 4;  // below this many rows, no packing (GEMV-like shapes)

/// Columns [j0, j1) of a GEMM with few rows (M < kSmallM) without packing: dot products
/// against rows of B when B is transposed, row-of-B updates otherwise.
void smallMColumns(bool tA, bool tB, int64_t M, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                   int64_t ldb, float beta, float* C, int64_t ldc, const Epilogue& ep, int64_t j0, int64_t j1) {
  std::vector<float> arow;
  for (int64_t i = 0; i < M; ++i) {
    const float* a = A + i * lda;
    if (tA) {
      arow.resize(size_t(K));
      for (int64_t k = 0; k < K; ++k) arow[size_t(k)] = A[k * lda + i];
      a = arow.data();
    }
    float* c = C + i * ldc;
    constexpr int64_t kBlock = 64;
    alignas(32) float acc[kBlock];
    for (int64_t jb = j0; jb < j1; jb += kBlock) {
      int64_t nb = std::min(kBlock, j1 - jb);
      if (tB) {
        for (int64_t j = 0; j < nb; ++j) acc[j] = dot(a, B + (jb + j) * ldb, K);
      } else {
        std::fill(acc, acc + kBlock, 0.0f);
        for (int64_t k = 0; k < K; ++k) {
          const float* br = B + k * ldb + jb;
          const __m256 av = _mm256_set1_ps(a[k]);
          int64_t j = 0;
          for (; j + 8 <= nb; j += 8)
            _mm256_store_ps(acc + j, _mm256_fmadd_ps(av, _mm256_loadu_ps(br + j), _mm256_load_ps(acc + j)));
          for (; j < nb; ++j) acc[j] += a[k] * br[j];
        }
      }
      float* cb = c + jb;
      for (int64_t j = 0; j < nb; ++j) cb[j] = beta == 0.0f ? alpha * acc[j] : alpha * acc[j] + beta * cb[j];
      if (!ep.trivial())
        epilogueRow(cb, nb, ep.bias && ep.biasPerRow ? ep.bias[i] : 0.0f, ep.bias && !ep.biasPerRow ? ep.bias + jb : nullptr,
                    residualAt(ep, i, jb), ep);
    }
  }
}

/// Where gemmBlock takes op(B) from: a stored matrix, or a packer (col0: the sub-problem's first
/// column in the packer's B).
struct BSource {
  bool tB = false;
  const float* B = nullptr;
  int64_t ldb = 0;
  const BPacker* packer = nullptr;
  int64_t col0 = 0;
  const PackedB* prepacked = nullptr;  // when set, blocks are read where they are
  /// The packed block for (pc, jc): `scratch` after packing into it, or the prepacked panels.
  const float* packed(int64_t pc, int64_t kc, int64_t jc, int64_t nc, int NR, float* scratch) const {
    if (prepacked) return prepacked->block(col0 + jc, pc);
    pack(pc, kc, jc, nc, NR, scratch);
    return scratch;
  }
  void pack(int64_t p0, int64_t kc, int64_t j0, int64_t nc, int NR, float* dst) const {
    if (packer)
      packer->pack(packer->self, p0, kc, col0 + j0, nc, NR, dst);
    else
      packB(tB, B, ldb, p0, kc, j0, nc, NR, dst);
  }
  /// This source from column s on.
  BSource fromColumn(int64_t s) const {
    BSource r = *this;
    if (packer || prepacked)
      r.col0 += s;
    else
      r.B = tB ? B + s * ldb : B + s;
    return r;
  }
};

/// A stored B is read in place by at most this many rows of A: each MR-row panel reads the B
/// panel again, and unaligned rows H*W apart cost more per read than a packed panel, which
/// more rows amortize (mobilenet_v2, 1 thread: off / 48 / 96 / 144 / 288 / all rows gave
/// 1.15 / 1.10 / 1.08 / 1.09 / 1.11 / 1.12 s for 200 runs on AVX-512; on AVX2 96 and 192 tied).
constexpr int64_t kBInPlaceMaxRows = 96;
/// ... and by up to this many when B's rows are whole cache lines (64-byte aligned, a multiple
/// of 16 floats long: 56x56 and 28x28 maps) and K >= 64 (the packing pass then costs as much as
/// the GEMM saves): resnet50's pointwise Convs (gemm_pointwise_timing_test, 1 thread, weights
/// cold, 2026-12-07) 56x56 256->128 1.14 -> 0.88 ms, 28x28 512->128 0.49 -> 0.435 ms,
/// 56x56 64->256 0.52-0.58 -> 0.47-0.51 ms (with a fused residual too).
constexpr int64_t kBInPlaceMaxRowsAligned = 256;

/// Whether gemmBlock reads B's full panels in place (see there). The aligned case only with the
/// AVX-512 kernel (measured there only).
bool bInPlaceOk(const Kernel& kn, const BSource& b, bool prepackedA, int64_t M, int64_t K) {
  if (!prepackedA || b.prepacked || b.packer || b.tB || b.B == nullptr || gNoBInPlace.load(std::memory_order_relaxed))
    return false;
  const bool aligned = &kn == &kAvx512 && b.ldb % 16 == 0 && reinterpret_cast<uintptr_t>(b.B) % 64 == 0;
  return M <= kBInPlaceMaxRows || (aligned && K >= 64 && M <= kBInPlaceMaxRowsAligned);
}

/// One thread's GEMM over a sub-problem; rowBase/colBase locate it in the full C (for the bias;
/// ep.residual already points at the sub-problem's first element).
void gemmBlock(const Kernel& kn, bool tA, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const PackedA* pa, const BSource& bsrc, float beta, float* C, int64_t ldc, const Epilogue& ep,
               int64_t rowBase, int64_t colBase) {
  const int MR = kn.mr, NR = kn.nr;
  const int64_t MC = kn.mc, KC = kn.kc, NC = kn.nc;
  const bool epi = !ep.trivial();
  const int64_t ncMax = std::min(NC, (N + NR - 1) / NR * NR);
  const int64_t mcMax = std::min(MC, (M + MR - 1) / MR * MR);
  const int64_t kcMax = std::min(KC, K);
  // B read in place: a stored, not transposed B when A is prepacked (a Conv's weights: B is the
  // activation, its rows H*W contiguous values) and the packed copy would serve few A rows.
  const bool bInPlace = bInPlaceOk(kn, bsrc, pa != nullptr, M, K);
  float* bscratch = bsrc.prepacked ? nullptr : tlsB.get(size_t(kcMax * (bInPlace ? NR : ncMax)));
  float* ap = pa ? nullptr : tlsA.get(size_t(kcMax * mcMax));
  alignas(64) float tile[12 * 32];
  const MicroFn fnPacked = kn.pick(true, ep.act), fnDirect = kn.pick(false, ep.act);
  const MicroFn plainPacked = kn.pick(true, Act::None), plainDirect = kn.pick(false, Act::None);
  // Partial tiles (the last columns, the last rows): masked stores instead of the tile buffer,
  // whose element-by-element copy and separate epilogue pass cost more than the tile's FMAs on
  // maps whose width is not a multiple of NR (7x7, 14x14, 28x28) and filter counts that are not
  // a multiple of MR (16, 32, 160). Not for beta other than 0 and 1
  // (kScale's FMA with C would round differently from the buffer path's multiply and add).
  const bool maskable = beta == 0.0f || beta == 1.0f;
  const MaskedMicroFn maskPacked = maskable ? kn.pickMasked(true, ep.act) : nullptr;
  const MaskedMicroFn maskDirect = maskable ? kn.pickMasked(false, ep.act) : nullptr;
  for (int64_t jc = 0; jc < N; jc += NC) {
    int64_t nc = std::min(NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      int64_t kc = std::min(KC, K - pc);
      bool first = pc == 0, last = pc + kc == K;
      int mode = !first ? kAccumulate : beta == 0.0f ? kOverwrite : beta == 1.0f ? kAccumulate : kScale;
      // Full NR-column panels of a stored row-major B are read where they are; only the partial
      // last panel is packed (zero-padded).
      const int64_t bFull = bInPlace ? nc / NR * NR : 0;
      const float* bp = bscratch;
      if (!bInPlace)
        bp = bsrc.packed(pc, kc, jc, nc, NR, bscratch);
      else if (bFull < nc)
        bsrc.pack(pc, kc, jc + bFull, nc - bFull, NR, bscratch);
      const float* bRows = bInPlace ? bsrc.B + pc * bsrc.ldb + jc : nullptr;
      for (int64_t ic = 0; ic < M; ic += MC) {
        int64_t mc = std::min(MC, M - ic);
        // Full MR-row panels read A in place when that pays; the partial last panel is packed.
        // Prepacked A: nothing to do (its panels are read where they are).
        const bool direct = !pa && !tA && alpha == 1.0f && nc <= kDirectAMaxCols;
        const int64_t mcFull = direct ? mc / MR * MR : 0;
        if (!pa && mcFull < mc) packA(tA, A, lda, ic + mcFull, mc - mcFull, pc, kc, alpha, MR, ap + mcFull * kc);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          int64_t nr = std::min<int64_t>(NR, nc - jr);
          const bool bDirect = jr < bFull;
          const float* bpan = bDirect ? bRows + jr : bp + (jr - bFull) * kc;
          const int64_t bld = bDirect ? bsrc.ldb : NR;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            int64_t mr = std::min<int64_t>(MR, mc - ir);
            float* ct = C + (ic + ir) * ldc + jc + jr;
            const bool inPlace = ir < mcFull;
            const float* apan = pa ? pa->panel(rowBase + ic + ir, pc) : inPlace ? A + (ic + ir) * lda + pc : ap + ir * kc;
            const int64_t alda = inPlace ? lda : 0;
            const MaskedMicroFn masked = inPlace ? maskDirect : maskPacked;
            if ((mr == MR && nr == NR) || masked) {
              // Full tile: the microkernel applies the epilogue to its registers.
              const TileEpilogue* tp = nullptr;
              TileEpilogue te;
              if (last && epi) {
                te.ep = &ep;
                te.rowBias = ep.bias && ep.biasPerRow ? ep.bias + rowBase + ic + ir : nullptr;
                te.colBias = ep.bias && !ep.biasPerRow ? ep.bias + colBase + jc + jr : nullptr;
                te.res = residualAt(ep, ic + ir, jc + jr);
                te.ldr = ep.ldr;
                tp = &te;
              }
              if (mr == MR && nr == NR)
                (inPlace ? fnDirect : fnPacked)(kc, apan, alda, bpan, bld, ct, ldc, mode, beta, tp);
              else
                masked(kc, apan, alda, bpan, bld, ct, ldc, mode, tp, int(mr), int(nr));
              continue;
            }
            (inPlace ? plainDirect : plainPacked)(kc, apan, alda, bpan, bld, tile, NR, kOverwrite, 0.0f, nullptr);
            for (int64_t i = 0; i < mr; ++i) {
              float* cr = ct + i * ldc;
              const float* tr = tile + i * NR;
              if (mode == kOverwrite)
                for (int64_t j = 0; j < nr; ++j) cr[j] = tr[j];
              else if (mode == kAccumulate)
                for (int64_t j = 0; j < nr; ++j) cr[j] += tr[j];
              else
                for (int64_t j = 0; j < nr; ++j) cr[j] = tr[j] + beta * cr[j];
            }
            if (last && epi) {
              for (int64_t i = 0; i < mr; ++i) {
                int64_t row = rowBase + ic + ir + i;
                float rb = ep.bias && ep.biasPerRow ? ep.bias[row] : 0.0f;
                const float* cb = ep.bias && !ep.biasPerRow ? ep.bias + colBase + jc + jr : nullptr;
                epilogueRow(ct + i * ldc, nr, rb, cb, residualAt(ep, ic + ir + i, jc + jr), ep);
              }
            }
          }
        }
      }
    }
  }
}

/// The packed GEMM, split across the pool when it is big enough.
void blockedGemm(ThreadPool* pool, const Kernel& kn, bool transA, int64_t M, int64_t N, int64_t K, float alpha,
                 const float* A, int64_t lda, const PackedA* pa, const BSource& bsrc, float beta, float* C,
                 int64_t ldc, const Epilogue& ep) {
  const int threads = pool ? pool->size() : 1;
  const double flops = 2.0 * double(M) * double(N) * double(K);
  if (threads > 1 && flops >= 2.0e5 && !ThreadPool::inParallelRegion()) {
    // Chunks of N (each thread packs all of A) or of M (each packs all of B): split the side
    // whose duplicated packing costs less, as long as every chunk keeps a full tile. Whole
    // tiles are dealt out evenly, the partial last tile in the last chunk: equal chunks rounded
    // up to a tile gave one thread 4 of a 14x14 map's 7 column tiles and the other 2 and the
    // partial one.
    bool splitN = (M <= N && N >= 2 * kn.nr) || M < 2 * kn.mr;
    const int64_t total = splitN ? N : M, unit = splitN ? kn.nr : kn.mr;
    const int64_t tiles = (total + unit - 1) / unit;
    const int64_t tasks = std::min<int64_t>(threads, tiles);
    auto bound = [&](int64_t t) { return std::min(total, unit * (tiles * t / tasks)); };
    if (tasks > 1) {
      pool->parallelFor(tasks, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t s = bound(t), e = bound(t + 1);
          if (e <= s) continue;
          if (splitN)
            gemmBlock(kn, transA, M, e - s, K, alpha, A, lda, pa, bsrc.fromColumn(s), beta, C + s, ldc,
                      ep.shifted(0, s), 0, s);
          else
            gemmBlock(kn, transA, e - s, N, K, alpha, pa ? nullptr : transA ? A + s : A + s * lda, lda, pa, bsrc, beta,
                      C + s * ldc, ldc, ep.shifted(s, 0), s, 0);
        }
      });
      return;
    }
  }
  gemmBlock(kn, transA, M, N, K, alpha, A, lda, pa, bsrc, beta, C, ldc, ep, 0, 0);
}


/// In-register transpose of 16 rows of 16 floats: r[j] becomes column j. (The _mask_ forms with
/// a full mask avoid GCC 12's false uninitialized warning on the unmasked ones.)
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))) inline void transpose16x16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_mask_unpacklo_ps(r[2 * i], 0xFFFF, r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_mask_unpackhi_ps(r[2 * i], 0xFFFF, r[2 * i], r[2 * i + 1]);
  }
  // u[4g + j], 128-bit lane L: column 4L + j of rows 4g .. 4g + 3.
  __m512 u[16];
  for (int g = 0; g < 4; ++g) {
    const __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
    u[4 * g] = _mm512_castpd_ps(_mm512_mask_unpacklo_pd(a, 0xFF, a, c));
    u[4 * g + 1] = _mm512_castpd_ps(_mm512_mask_unpackhi_pd(a, 0xFF, a, c));
    u[4 * g + 2] = _mm512_castpd_ps(_mm512_mask_unpacklo_pd(b, 0xFF, b, d));
    u[4 * g + 3] = _mm512_castpd_ps(_mm512_mask_unpackhi_pd(b, 0xFF, b, d));
  }
  // Column 4L + j: lane L of u[j], u[4 + j], u[8 + j], u[12 + j].
  for (int j = 0; j < 4; ++j) {
    const __m512 v0 = _mm512_mask_shuffle_f32x4(u[j], 0xFFFF, u[j], u[4 + j], 0x44), v1 = _mm512_mask_shuffle_f32x4(u[j], 0xFFFF, u[j], u[4 + j], 0xEE);
    const __m512 v2 = _mm512_mask_shuffle_f32x4(u[8 + j], 0xFFFF, u[8 + j], u[12 + j], 0x44), v3 = _mm512_mask_shuffle_f32x4(u[8 + j], 0xFFFF, u[8 + j], u[12 + j], 0xEE);
    r[j] = _mm512_mask_shuffle_f32x4(v0, 0xFFFF, v0, v2, 0x88);
    r[4 + j] = _mm512_mask_shuffle_f32x4(v0, 0xFFFF, v0, v2, 0xDD);
    r[8 + j] = _mm512_mask_shuffle_f32x4(v1, 0xFFFF, v1, v3, 0x88);
    r[12 + j] = _mm512_mask_shuffle_f32x4(v1, 0xFFFF, v1, v3, 0xDD);
  }
}

/// One K block of one tile of sgemmPixelTiles: R positions (x[k * ks + i], i < R) x 16 * H
/// channels (w: the block's packed 32-channel panel), summed from zero, then stored into the
/// tile's total (the first block) or added to it (the others, as the column tiles' kAccumulate
/// store adds them to C).
template <int R, int H>
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))) void pixelTileSums(int64_t kc, const float* w,
                                                                                     const float* x, int64_t ks,
                                                                                     float* total, bool first,
                                                                                     const float* pf, int64_t pfLen) {
  __m512 acc[R][H];
#pragma GCC unroll 14
  for (int i = 0; i < R; ++i)
    for (int h = 0; h < H; ++h) acc[i][h] = _mm512_setzero_ps();
  // pf: the weights the next K block reads (pfLen floats), fetched into L2 while this block
  // runs: a block is 24 KB of a 32-channel panel, the next one 393 KB further on (K blocks are
  // the packed matrix's outer dimension), a jump the hardware prefetchers do not follow.
  const int64_t pfStep = pf ? (pfLen + kc - 1) / kc : 0;
  for (int64_t k = 0; k < kc; ++k) {
    if (pf) {
      const int64_t o = k * pfStep;
      for (int64_t q = 0; q < pfStep && o + q < pfLen; q += 16)
        _mm_prefetch(reinterpret_cast<const char*>(pf + o + q), _MM_HINT_T1);
    }
    __m512 bv[H];
    for (int h = 0; h < H; ++h) bv[h] = _mm512_loadu_ps(w + 16 * h);
#pragma GCC unroll 14
    for (int i = 0; i < R; ++i) {
      const __m512 av = _mm512_set1_ps(x[i]);
      for (int h = 0; h < H; ++h) acc[i][h] = _mm512_fmadd_ps(av, bv[h], acc[i][h]);
    }
    w += 32;
    x += ks;
  }
#pragma GCC unroll 14
  for (int i = 0; i < R; ++i)
    for (int h = 0; h < H; ++h)
      _mm512_store_ps(total + i * 32 + 16 * h,
                      first ? acc[i][h] : _mm512_add_ps(acc[i][h], _mm512_load_ps(total + i * 32 + 16 * h)));
}

/// The end of a tile of sgemmPixelTiles: its total (R <= 16 positions x 32 channels, position
/// major) transposed to channel rows, the epilogue on each, pv positions x mv channels stored
/// into C (c: the tile's first channel row and position; bias and res likewise).
template <Act A>
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))) void pixelTileStore(
    const float* total, int R, float* c, int64_t ldc, const Epilogue& ep, const float* bias, const float* res,
    int64_t ldr, int mv, int pv) {
  const bool epi = !ep.trivial();
  const __mmask16 pm = __mmask16((1u << pv) - 1);
  for (int h = 0; h * 16 < mv; ++h) {
    __m512 r[16];
    for (int i = 0; i < 16; ++i) r[i] = i < R ? _mm512_load_ps(total + i * 32 + 16 * h) : _mm512_setzero_ps();
    transpose16x16(r);
    const int n = std::min(16, mv - 16 * h);
    for (int j = 0; j < n; ++j) {
      const int64_t m = 16 * h + j;
      __m512 v = r[j];
      if (epi) {
        v = _mm512_add_ps(v, _mm512_set1_ps(bias ? bias[m] : 0.0f));
        if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(pm, res + m * ldr));
        v = act16<A>(v, ep);
      }
      _mm512_mask_storeu_ps(c + m * ldc, pm, v);
    }
  }
}

using PixelSumsFn = void (*)(int64_t, const float*, const float*, int64_t, float*, bool, const float*, int64_t);
using PixelStoreFn = void (*)(const float*, int, float*, int64_t, const Epilogue&, const float*, const float*, int64_t,
                              int, int);

PixelStoreFn pickPixelStore(Act act) {
  switch (act) {
    case Act::None: return pixelTileStore<Act::None>;
    case Act::Relu: return pixelTileStore<Act::Relu>;
    case Act::Clip: return pixelTileStore<Act::Clip>;
    case Act::LeakyRelu: return pixelTileStore<Act::LeakyRelu>;
    case Act::HardSigmoid: return pixelTileStore<Act::HardSigmoid>;
    case Act::HardSwish: return pixelTileStore<Act::HardSwish>;
    case Act::Sigmoid: return pixelTileStore<Act::Sigmoid>;
    case Act::ClipHardSwish: return pixelTileStore<Act::ClipHardSwish>;
  }
  return nullptr;
}



}  // namespace

double applyActivation(double v, const Epilogue& e) {
  switch (e.act) {
    case Act::None: return v;
    case Act::Relu: return v > 0 ? v : 0;
    case Act::Clip: return v < e.p0 ? double(e.p0) : (v > e.p1 ? double(e.p1) : v);
    case Act::LeakyRelu: return v < 0 ? double(e.p0) * v : v;
    case Act::HardSigmoid: {
      double h = double(e.p0) * v + double(e.p1);
      h = h < 1 ? h : 1;
      return h > 0 ? h : 0;
    }
    case Act::HardSwish: {
      double h = e.p0 == 0.0f ? v / 6 + 0.5 : double(e.p0) * v + double(e.p1);
      h = h < 1 ? h : 1;
      return v * (h > 0 ? h : 0);
    }
    case Act::Sigmoid: {
      double ex = std::exp(-std::fabs(v));
      return v >= 0 ? 1 / (1 + ex) : ex / (1 + ex);
    }
    case Act::ClipHardSwish: {
      double h = v + 3;
      h = h < 0 ? 0 : (h > 6 ? 6 : h);
      return v * h / 6;
    }
  }
  return v;
}

bool cpuHasAvx512() {
  static const bool v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  return v;
}

void setIsa(Isa isa) { gIsaOverride.store(static_cast<int>(isa)); }

void setBInPlace(bool on) { gNoBInPlace.store(!on); }

Isa activeIsa() {
  Isa o = static_cast<Isa>(gIsaOverride.load(std::memory_order_relaxed));
  if (o == Isa::Avx2) return Isa::Avx2;
  if (o == Isa::Avx512) return cpuHasAvx512() ? Isa::Avx512 : Isa::Avx2;
  return cpuHasAvx512() && !envNoAvx512() ? Isa::Avx512 : Isa::Avx2;
}

void applyEpilogue(float* x, int64_t n, float bias, const Epilogue& e, const float* residual) {
  epilogueRow(x, n, bias, nullptr, residual, e);
}

void sgemm(ThreadPool* pool, bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const Epilogue& ep) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    for (int64_t i = 0; i < M; ++i) {
      float* cr = C + i * ldc;
      if (beta == 0.0f)
        std::fill(cr, cr + N, 0.0f);
      else if (beta != 1.0f)
        for (int64_t j = 0; j < N; ++j) cr[j] *= beta;
      if (!ep.trivial())
        epilogueRow(cr, N, ep.bias && ep.biasPerRow ? ep.bias[i] : 0.0f, ep.bias && !ep.biasPerRow ? ep.bias : nullptr,
                    residualAt(ep, i, 0), ep);
    }
    return;
  }
  const Kernel& kn = activeKernel();
  int threads = pool ? pool->size() : 1;
  double flops = 2.0 * double(M) * double(N) * double(K);
  if (N == 1 && !transA) {
    // Matrix-vector (e.g. 1x1 Convs of squeeze-excite blocks on a 1x1 map): one dot product per
    // row of A against the contiguous column of op(B) (gathered first when B's stride is not 1).
    std::vector<float> bcol;
    const float* bv = B;
    if (!transB && ldb != 1) {
      bcol.resize(size_t(K));
      for (int64_t k = 0; k < K; ++k) bcol[size_t(k)] = B[k * ldb];
      bv = bcol.data();
    }
    auto rows = [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        float* c = C + i * ldc;
        float v = alpha * dot(A + i * lda, bv, K);
        *c = beta == 0.0f ? v : v + beta * *c;
        if (!ep.trivial()) epilogueRow(c, 1, ep.bias ? ep.bias[ep.biasPerRow ? i : 0] : 0.0f, nullptr, residualAt(ep, i, 0), ep);
      }
    };
    if (threads > 1 && flops >= 2.0e5 && pool)
      pool->parallelFor(M, 16, rows);
    else
      rows(0, M);
    return;
  }
  if (M < kSmallM) {
    auto cols = [&](int64_t j0, int64_t j1) {
      smallMColumns(transA, transB, M, K, alpha, A, lda, B, ldb, beta, C, ldc, ep, j0, j1);
    };
    if (threads > 1 && flops >= 2.0e5 && pool)
      pool->parallelFor(N, 64, cols);
    else
      cols(0, N);
    return;
  }
  blockedGemm(pool, kn, transA, M, N, K, alpha, A, lda, nullptr, BSource{transB, B, ldb, nullptr, 0}, beta, C, ldc,
              ep);
}

void sgemmPackedB(ThreadPool* pool, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const BPacker& b,
                  float* C, int64_t ldc, const Epilogue& ep) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    sgemm(pool, false, false, M, N, 0, 1.0f, A, lda, nullptr, N, 0.0f, C, ldc, ep);
    return;
  }
  BSource src;
  src.packer = &b;
  blockedGemm(pool, activeKernel(), false, M, N, K, 1.0f, A, lda, nullptr, src, 0.0f, C, ldc, ep);
}

void FreeAligned::operator()(float* p) const { std::free(p); }

AlignedFloats allocateFloats(size_t n) {
  AlignedFloats p(static_cast<float*>(std::aligned_alloc(64, (std::max<size_t>(n, 1) * sizeof(float) + 63) / 64 * 64)));
  if (!p) throw std::bad_alloc();
  return p;
}

PackedA PackedA::pack(const float* A, int64_t M, int64_t K, int64_t lda) {
  const Kernel& kn = activeKernel();
  PackedA r;
  r.m_ = M;
  r.k_ = K;
  r.mr_ = kn.mr;
  r.kcBlock_ = kn.kc;
  r.isa_ = activeIsa();
  r.mPad_ = (M + kn.mr - 1) / kn.mr * kn.mr;
  r.data_ = allocateFloats(size_t(r.mPad_ * K));
  // Block pc holds mPad x kc values: panels of MR rows, k-major (the layout packA makes).
  for (int64_t pc = 0; pc < K; pc += kn.kc) {
    const int64_t kc = std::min<int64_t>(kn.kc, K - pc);
    packA(false, A, lda, 0, M, pc, kc, 1.0f, kn.mr, r.data_.get() + r.mPad_ * pc);
  }
  return r;
}

const float* PackedA::panel(int64_t row, int64_t pc) const {
  const int64_t kc = std::min(kcBlock_, k_ - pc);
  return data_.get() + mPad_ * pc + row * kc;
}

PackedB PackedB::pack(const float* B, int64_t K, int64_t N, int64_t ldb) {
  const Kernel& kn = activeKernel();
  PackedB r;
  r.k_ = K;
  r.n_ = N;
  r.kcBlock_ = kn.kc;
  r.isa_ = activeIsa();
  r.nPad_ = (N + kn.nr - 1) / kn.nr * kn.nr;
  r.data_ = allocateFloats(size_t(r.nPad_ * K));
  // Block pc holds nPad x kc values: panels of NR columns, k-major (the layout packB makes).
  for (int64_t pc = 0; pc < K; pc += kn.kc) {
    const int64_t kc = std::min<int64_t>(kn.kc, K - pc);
    packB(false, B, ldb, pc, kc, 0, N, kn.nr, r.data_.get() + r.nPad_ * pc);
  }
  return r;
}

const float* PackedB::block(int64_t col, int64_t pc) const {
  const int64_t kc = std::min(kcBlock_, k_ - pc);
  return data_.get() + nPad_ * pc + col * kc;
}

void sgemmPrepackedB(ThreadPool* pool, int64_t M, const float* A, int64_t lda, const PackedB& B, float* C, int64_t ldc,
                     const Epilogue& ep) {
  const int64_t N = B.cols(), K = B.depth();
  if (M <= 0 || N <= 0) return;
  NPU_CHECK(B.isa() == activeIsa(), "sgemmPrepackedB: B was packed for another microkernel");
  if (K <= 0) {
    sgemm(pool, false, false, M, N, 0, 1.0f, A, lda, nullptr, N, 0.0f, C, ldc, ep);
    return;
  }
  BSource src;
  src.prepacked = &B;
  blockedGemm(pool, activeKernel(), false, M, N, K, 1.0f, A, lda, nullptr, src, 0.0f, C, ldc, ep);
}

void sgemmPrepacked(ThreadPool* pool, const PackedA& A, int64_t N, const float* B, int64_t ldb, const BPacker* b,
                    float* C, int64_t ldc, const Epilogue& ep) {
  const int64_t M = A.rows(), K = A.depth();
  if (M <= 0 || N <= 0) return;
  const Kernel& kn = activeKernel();
  NPU_CHECK(A.isa() == activeIsa(), "sgemmPrepacked: A was packed for another microkernel");
  if (K <= 0) {
    sgemm(pool, false, false, M, N, 0, 1.0f, nullptr, K, nullptr, N, 0.0f, C, ldc, ep);
    return;
  }
  BSource src;
  if (b)
    src.packer = b;
  else
    src = BSource{false, B, ldb, nullptr, 0};
  blockedGemm(pool, kn, false, M, N, K, 1.0f, nullptr, 0, &A, src, 0.0f, C, ldc, ep);
}

PackedB PackedB::packTransposed(const float* Bt, int64_t K, int64_t N, int64_t ldbt) {
  const Kernel& kn = activeKernel();
  PackedB r;
  r.k_ = K;
  r.n_ = N;
  r.kcBlock_ = kn.kc;
  r.isa_ = activeIsa();
  r.nPad_ = (N + kn.nr - 1) / kn.nr * kn.nr;
  r.data_ = allocateFloats(size_t(r.nPad_ * K));
  for (int64_t pc = 0; pc < K; pc += kn.kc) {
    const int64_t kc = std::min<int64_t>(kn.kc, K - pc);
    packB(true, Bt, ldbt, pc, kc, 0, N, kn.nr, r.data_.get() + r.nPad_ * pc);
  }
  return r;
}

namespace {
/// 2 M N K: a GEMM's floating-point operations (below 2e5 it runs on one thread).
double flopsOf(int64_t M, int64_t N, int64_t K) { return 2.0 * double(M) * double(N) * double(K); }
}  // namespace

bool pixelTilesPay(int64_t M, int64_t N) {
  // The share of computed lanes that are kept, both ways: tiles of 14 (or 7) positions x 32 (or
  // 16) channels against 12 (or 8, 4) rows x 32 (or 16) columns. Measured at 1 thread (AVX-512,
  // 2026-12-07): 7x7 maps 1.28-1.36x faster on pixel tiles, 14x14 maps 1.06-1.12x where the
  // channels fill their vectors (0.92x with 40 channels: 40 of 48 lanes); 28x28 ties and larger
  // maps lose (0.82-0.97x: a tile's K loop re-reads its positions from B's rows, the column
  // tiles read them packed), hence the limit on N.
  if (activeIsa() != Isa::Avx512 || N > 256 || M <= 0 || N <= 0) return false;
  auto lanes = [](int64_t n, int64_t step, std::initializer_list<int64_t> tails) {
    const int64_t rem = n % step;
    int64_t t = 0;
    if (rem)
      for (int64_t v : tails)
        if (rem <= v) {
          t = v;
          break;
        }
    return n / step * step + t;
  };
  const double pixel = double(N) / double(lanes(N, 14, {7, 14})) * double(M) / double(lanes(M, 32, {16, 32}));
  const double column = double(N) / double(lanes(N, 32, {16, 32})) * double(M) / double(lanes(M, 12, {4, 8, 12}));
  return pixel > column;
}

void sgemmPixelTiles(ThreadPool* pool, const PackedB& Wt, int64_t N, const float* B, int64_t ldb, float* C,
                     int64_t ldc, const Epilogue& ep) {
  const int64_t M = Wt.cols(), K = Wt.depth();
  if (M <= 0 || N <= 0) return;
  NPU_CHECK(Wt.isa() == Isa::Avx512 && activeIsa() == Isa::Avx512, "sgemmPixelTiles: needs the AVX-512 kernel");
  NPU_CHECK(!ep.bias || ep.biasPerRow, "sgemmPixelTiles: bias per row only");
  if (K <= 0) {
    sgemm(pool, false, false, M, N, 0, 1.0f, nullptr, K, nullptr, N, 0.0f, C, ldc, ep);
    return;
  }
  // Tiles of 14 positions; the last one (N % 14) as a tile of 7 when it fits, read from a
  // zero-padded copy of its columns (a tile reads R positions of every row of B).
  constexpr int64_t kGroup = 4;  // at most this many tiles per work item: their K block of W stays in L1 across them
  const int64_t full = N / 14, rem = N % 14, tailR = rem == 0 ? 0 : rem <= 7 ? 7 : 14;
  const int64_t ptiles = full + (rem ? 1 : 0), panels = (M + 31) / 32;
  // Smaller groups when there are few work items per thread (160 channels of a 7x7 map: 5 panels
  // split 3 / 2 between two threads; groups of 2 tiles split them 126 / 119 positions).
  const int64_t threads = pool && flopsOf(M, N, K) >= 2.0e5 ? pool->size() : 1;
  int64_t group = kGroup;
  while (group > 1 && panels * ((ptiles + group - 1) / group) < 4 * threads) group /= 2;
  const int64_t groups = (ptiles + group - 1) / group;
  std::vector<float> tail(size_t(tailR * K));
  for (int64_t k = 0; k < K && rem; ++k)
    for (int64_t i = 0; i < rem; ++i) tail[size_t(k * tailR + i)] = B[k * ldb + full * 14 + i];
  const PixelSumsFn sums14[2] = {pixelTileSums<14, 1>, pixelTileSums<14, 2>};
  const PixelSumsFn sums7[2] = {pixelTileSums<7, 1>, pixelTileSums<7, 2>};
  const PixelStoreFn store = pickPixelStore(ep.act);
  const int64_t kcBlock = kAvx512.kc;
  auto run = [&](int64_t t0, int64_t t1) {
    alignas(64) float totals[kGroup][14 * 32];
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t q = t / groups, g0 = (t % groups) * group, g1 = std::min(ptiles, g0 + group), m0 = q * 32;
      const int mv = int(std::min<int64_t>(32, M - m0));
      for (int64_t pc = 0; pc < K; pc += kcBlock) {  // K blocks outside: W's block stays in L1
        const int64_t kc = std::min(kcBlock, K - pc);
        const float* w = Wt.block(m0, pc);
        // The block the next K step (or the next work item) reads, prefetched by the first tile.
        const float* pf = nullptr;
        int64_t pfLen = 0;
        if (pc + kc < K) {
          pf = Wt.block(m0, pc + kc);
          pfLen = std::min(kcBlock, K - pc - kc) * 32;
        } else if (t + 1 < t1) {
          pf = Wt.block((t + 1) / groups * 32, 0);
          pfLen = std::min(kcBlock, K) * 32;
        }
        for (int64_t pt = g0; pt < g1; ++pt) {
          const bool isTail = pt == full;
          const PixelSumsFn fn = (isTail && tailR == 7 ? sums7 : sums14)[mv > 16 ? 1 : 0];
          const int64_t ks = isTail ? tailR : ldb;
          const float* x = (isTail ? tail.data() : B + pt * 14) + pc * ks;
          fn(kc, w, x, ks, totals[pt - g0], pc == 0, pt == g0 ? pf : nullptr, pfLen);
        }
      }
      for (int64_t pt = g0; pt < g1; ++pt) {
        const bool isTail = pt == full;
        const int64_t p0 = pt * 14;
        store(totals[pt - g0], isTail ? int(tailR) : 14, C + m0 * ldc + p0, ldc, ep, ep.bias ? ep.bias + m0 : nullptr,
              ep.residual ? ep.residual + m0 * ep.ldr + p0 : nullptr, ep.ldr, mv, int(isTail ? rem : 14));
      }
    }
  };
  const int64_t tasks = panels * groups;
  if (threads > 1)
    pool->parallelFor(tasks, 1, run);
  else
    run(0, tasks);
}

}  // namespace npuconv::gemm
