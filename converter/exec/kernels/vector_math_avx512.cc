// vector_math_avx512.cc - see vector_math_avx512.h. Each function mirrors its AVX2 original in
// ew_util.h instruction for instruction (min/max, floor, FMA, division, blends as masks); the
// remainder below 16 goes through the AVX2 code itself, so it is the same code, not a copy.
// (expShiftBodyAvx512 leaves its remainder to the caller: the scalar fastExp of the tail, inlined
// under this file's target attribute, could be contracted into other FMAs than the baseline's.)
#include "converter/exec/kernels/vector_math_avx512.h"

#include <immintrin.h>

#include <cmath>
#include <limits>

#include "converter/exec/kernels/ew_util.h"
#include "converter/exec/kernels/gemm_f32.h"

#define NPU_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,fma")))

// GCC 12 flags the _mm512_undefined_ps() inside its own AVX-512 intrinsics (roundscale, cvtt,
// reduce) as (maybe-)uninitialized at -O3.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace npuconv::ew {
namespace {

NPU_AVX512 __m512 fastExp16(__m512 v) {
  const __m512 lo = _mm512_set1_ps(-87.33654475f), hi = _mm512_set1_ps(88.72283905f);
  __m512 c = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
  __m512 fx = _mm512_roundscale_ps(_mm512_fmadd_ps(c, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f)),
                                   _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), c);
  r = _mm512_fmadd_ps(fx, _mm512_set1_ps(2.12194440e-4f), r);
  __m512 z = _mm512_mul_ps(r, r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_add_ps(_mm512_fmadd_ps(p, z, r), _mm512_set1_ps(1.0f));
  // p * 2^fx in one scalef: fastExp8's p * 2^e1 * 2^e2 (e1 + e2 = fx, both >= -64) is exact in
  // its first product (p in [1, 2) times a normal power of two) and rounds once in the second,
  // so both are the correctly rounded p * 2^fx, in the subnormal and overflow ranges too.
  __m512 res = _mm512_scalef_ps(p, fx);
  res = _mm512_mask_mov_ps(res, _mm512_cmp_ps_mask(v, lo, _CMP_LT_OQ), _mm512_setzero_ps());
  res = _mm512_mask_mov_ps(res, _mm512_cmp_ps_mask(v, hi, _CMP_GT_OQ), _mm512_set1_ps(INFINITY));
  return _mm512_mask_mov_ps(res, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
}

NPU_AVX512 __m512 fastErf16(__m512 x) {
  const __m512 z = _mm512_mul_ps(x, x);
  __m512 p = _mm512_set1_ps(-1.0f / 75600.0f);
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.0f / 9360.0f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-1.0f / 1320.0f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.0f / 216.0f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-1.0f / 42.0f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.0f / 10.0f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-1.0f / 3.0f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.0f));
  const __m512 small = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(1.12837916709551257f), x), p);
  const __m512 signBit = _mm512_set1_ps(-0.0f);
  const __m512 ax = _mm512_andnot_ps(signBit, x);
  const __m512 t =
      _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), ax, _mm512_set1_ps(1.0f)));
  __m512 q = _mm512_set1_ps(1.061405429f);
  q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-1.453152027f));
  q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(1.421413741f));
  q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-0.284496736f));
  q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(0.254829592f));
  q = _mm512_mul_ps(q, t);
  __m512 big = _mm512_fnmadd_ps(q, fastExp16(_mm512_sub_ps(_mm512_setzero_ps(), z)), _mm512_set1_ps(1.0f));
  big = _mm512_or_ps(big, _mm512_and_ps(x, signBit));
  return _mm512_mask_mov_ps(big, _mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.5f), _CMP_LT_OQ), small);
}

}  // namespace

bool vectorMathAvx512() { return gemm::activeIsa() == gemm::Isa::Avx512; }

NPU_AVX512 float laneMaxAvx512(const float* x, int64_t n) {
  // _mm512_max_ps(a, b) is a > b ? a : b, NaN-free lanes of b kept: laneMax's comparison.
  __m512 acc = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) acc = _mm512_max_ps(_mm512_loadu_ps(x + i), acc);
  float m = _mm512_reduce_max_ps(acc);
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

NPU_AVX512 void erfAvx512(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, fastErf16(_mm512_loadu_ps(x + i)));
  erfF32(x + i, y + i, n - i);
}

NPU_AVX512 int64_t expShiftBodyAvx512(const float* x, float shift, float* y, int64_t n, __m256& accOut) {
  const __m512 vs = _mm512_set1_ps(shift);
  __m256 acc = accOut;  // in a register: y's stores could alias accOut
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 res = fastExp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), vs));
    _mm512_storeu_ps(y + i, res);
    acc = _mm256_add_ps(acc, _mm512_castps512_ps256(res));
    acc = _mm256_add_ps(acc, _mm512_extractf32x8_ps(res, 1));
  }
  accOut = acc;
  return i;
}

}  // namespace npuconv::ew
