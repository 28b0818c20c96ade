// ew_util.h - helpers shared by the elementwise and reduce kernels: dtype dispatch,
// float16/bfloat16 <-> float32 tensor conversion and a vectorizable exp.
#pragma once

#include <immintrin.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "converter/exec/kernel.h"
#include "converter/exec/tensor.h"

namespace npuconv::ew {

// Type classes a kernel accepts (bit set).
inline constexpr unsigned kF32 = 1, kF64 = 2, kHalf = 4 /* f16 + bf16 */, kSigned = 8, kUnsigned = 16,
                          kBool = 32, kI32I64 = 64 /* only int32/int64 */;
inline constexpr unsigned kFloats = kF32 | kF64 | kHalf;
inline constexpr unsigned kInts = kSigned | kUnsigned;
inline constexpr unsigned kNumeric = kFloats | kInts;

inline bool isHalf(DType t) { return t == DType::F16 || t == DType::BF16; }

/// Calls f.template operator()<T>() with the C++ type of `t` when `t` is in `allowed`
/// (`Allowed` is a compile-time set; float16/bfloat16 are not dispatched: convert them to float first). Returns false when not.
template <unsigned Allowed, typename F>
bool visitType(DType t, F&& f) {
#define NPU_VISIT_CASE(DT, MASK, CT)                        \
  case DType::DT:                                           \
    if constexpr ((Allowed & (MASK)) != 0) {                \
      f.template operator()<CT>();                          \
      return true;                                          \
    }                                                       \
    break;
  switch (t) {
    NPU_VISIT_CASE(F32, kF32, float)
    NPU_VISIT_CASE(F64, kF64, double)
    NPU_VISIT_CASE(I8, kSigned, int8_t)
    NPU_VISIT_CASE(I16, kSigned, int16_t)
    NPU_VISIT_CASE(I32, kSigned | kI32I64, int32_t)
    NPU_VISIT_CASE(I64, kSigned | kI32I64, int64_t)
    NPU_VISIT_CASE(U8, kUnsigned, uint8_t)
    NPU_VISIT_CASE(U16, kUnsigned, uint16_t)
    NPU_VISIT_CASE(U32, kUnsigned, uint32_t)
    NPU_VISIT_CASE(U64, kUnsigned, uint64_t)
    NPU_VISIT_CASE(Bool, kBool, bool)
    default: break;
  }
#undef NPU_VISIT_CASE
  return false;
}

inline bool accepts(DType t, unsigned allowed) {
  switch (t) {
    case DType::F16: case DType::BF16: return allowed & kHalf;
    case DType::F32: return allowed & kF32;
    case DType::F64: return allowed & kF64;
    case DType::I8: case DType::I16: return allowed & kSigned;
    case DType::I32: case DType::I64: return allowed & (kSigned | kI32I64);
    case DType::U8: case DType::U16: case DType::U32: case DType::U64: return allowed & kUnsigned;
    case DType::Bool: return allowed & kBool;
    default: return false;
  }
}

/// Converts n half/bfloat16 values to float and back.
inline void halfToFloats(DType t, const uint16_t* in, float* out, int64_t n) {
  if (t == DType::F16)
    for (int64_t i = 0; i < n; ++i) out[i] = halfToFloat(in[i]);
  else
    for (int64_t i = 0; i < n; ++i) out[i] = bf16ToFloat(in[i]);
}
inline void floatsToHalf(DType t, const float* in, uint16_t* out, int64_t n) {
  if (t == DType::F16)
    for (int64_t i = 0; i < n; ++i) out[i] = floatToHalf(in[i]);
  else
    for (int64_t i = 0; i < n; ++i) out[i] = floatToBf16(in[i]);
}

/// A float32 copy of a float16/bfloat16 tensor (other dtypes are returned as they are).
inline Tensor toF32(ThreadPool& pool, const Tensor& t) {
  if (!isHalf(t.dtype())) return t;
  Tensor out(DType::F32, t.dims());
  const uint16_t* in = t.data<uint16_t>();
  float* o = out.mutableData<float>();
  pool.parallelFor(t.numElements(), 16384, [&](int64_t b, int64_t e) { halfToFloats(t.dtype(), in + b, o + b, e - b); });
  return out;
}
/// A float16/bfloat16 (`to`) copy of a float32 tensor.
inline Tensor fromF32(ThreadPool& pool, const Tensor& t, DType to) {
  Tensor out(to, t.dims());
  const float* in = t.data<float>();
  uint16_t* o = out.mutableData<uint16_t>();
  pool.parallelFor(t.numElements(), 16384, [&](int64_t b, int64_t e) { floatsToHalf(to, in + b, o + b, e - b); });
  return out;
}

/// exp(x) for float within ~2 ulp, branch-free so loops over it vectorize (Cephes' expf
/// polynomial). exp of anything below -87.3 is 0, above 88.7 is +inf; NaN stays NaN.
inline float fastExp(float x) {
  float xc = x < -87.33654475f ? -87.33654475f : x;
  xc = xc > 88.72283905f ? 88.72283905f : xc;
  // floor() by truncation (std::floor is a libm call here and would stop vectorization).
  const float t = xc * 1.44269504088896341f + 0.5f;
  float fx = static_cast<float>(static_cast<int32_t>(t));
  fx = fx > t ? fx - 1.0f : fx;
  float r = xc - fx * 0.693359375f;
  r = r + fx * 2.12194440e-4f;
  const float z = r * r;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * z + r + 1.0f;
  // 2^fx with fx in [-126, 128]: split in two factors so 2^128 does not overflow the exponent.
  const int32_t e = static_cast<int32_t>(fx);
  const int32_t e1 = e >> 1, e2 = e - e1;
  const float p1 = std::bit_cast<float>((e1 + 127) << 23);
  const float p2 = std::bit_cast<float>((e2 + 127) << 23);
  float res = y * p1 * p2;
  res = x < -87.33654475f ? 0.0f : res;
  res = x > 88.72283905f ? INFINITY : res;
  return x != x ? x : res;
}

/// fastExp of 8 floats at once (AVX2 + FMA, which the x86-64-v3 baseline guarantees).
inline __m256 fastExp8(__m256 v) {
  const __m256 lo = _mm256_set1_ps(-87.33654475f), hi = _mm256_set1_ps(88.72283905f);
  const __m256 zero = _mm256_setzero_ps(), inf = _mm256_set1_ps(INFINITY);
  __m256 c = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
  __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(c, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), c);
  r = _mm256_fmadd_ps(fx, _mm256_set1_ps(2.12194440e-4f), r);
  __m256 z = _mm256_mul_ps(r, r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_add_ps(_mm256_fmadd_ps(p, z, r), _mm256_set1_ps(1.0f));
  __m256i e = _mm256_cvttps_epi32(fx);
  __m256i e1 = _mm256_srai_epi32(e, 1), e2 = _mm256_sub_epi32(e, e1);
  const __m256i bias = _mm256_set1_epi32(127);
  __m256 p1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(e1, bias), 23));
  __m256 p2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(e2, bias), 23));
  __m256 res = _mm256_mul_ps(_mm256_mul_ps(p, p1), p2);
  res = _mm256_blendv_ps(res, zero, _mm256_cmp_ps(v, lo, _CMP_LT_OQ));
  res = _mm256_blendv_ps(res, inf, _mm256_cmp_ps(v, hi, _CMP_GT_OQ));
  return _mm256_blendv_ps(res, v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

/// erf of 8 floats: Taylor series to x^15 below |x| = 0.5 (relative error ~1e-9), Abramowitz &
/// Stegun 7.1.26 above (absolute error <= 1.5e-7, a few ulp of erf >= 0.52). NaN stays NaN,
/// +-inf gives +-1.
inline __m256 fastErf8(__m256 x) {
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-1.0f / 75600.0f);
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.0f / 9360.0f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-1.0f / 1320.0f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.0f / 216.0f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-1.0f / 42.0f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.0f / 10.0f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-1.0f / 3.0f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.0f));
  const __m256 small = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(1.12837916709551257f), x), p);
  const __m256 signBit = _mm256_set1_ps(-0.0f);
  const __m256 ax = _mm256_andnot_ps(signBit, x);
  const __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), ax, _mm256_set1_ps(1.0f)));
  __m256 q = _mm256_set1_ps(1.061405429f);
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-1.453152027f));
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.421413741f));
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-0.284496736f));
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(0.254829592f));
  q = _mm256_mul_ps(q, t);
  __m256 big = _mm256_fnmadd_ps(q, fastExp8(_mm256_sub_ps(_mm256_setzero_ps(), z)), _mm256_set1_ps(1.0f));
  big = _mm256_or_ps(big, _mm256_and_ps(x, signBit));  // big >= 0: copy the sign of x
  // ax < 0.5 is false for NaN: big is NaN there (t is NaN).
  return _mm256_blendv_ps(big, small, _mm256_cmp_ps(ax, _mm256_set1_ps(0.5f), _CMP_LT_OQ));
}

/// y[i] = erf(x[i]) for i < n (fastErf8; the tail through an 8-float buffer).
inline void erfF32(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, fastErf8(_mm256_loadu_ps(x + i)));
  if (i < n) {
    alignas(32) float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t j = 0; j < n - i; ++j) buf[j] = x[i + j];
    _mm256_store_ps(buf, fastErf8(_mm256_load_ps(buf)));
    for (int64_t j = 0; j < n - i; ++j) y[i + j] = buf[j];
  }
}

/// (v0 + v4) + (v2 + v6) + ((v1 + v5) + (v3 + v7)): the lanes of v summed in a fixed order.
inline float hsum8(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

/// y[i] = exp(x[i] - shift) for i < n, and returns the sum of the y[i]: the softmax inner loop
/// (AVX2 + FMA, which the x86-64-v3 baseline guarantees; same polynomial as fastExp). It may
/// continue a sum: `acc` holds the 8 partial sums of the first `done` elements (a multiple of 8).
inline float expShiftSum(const float* x, float shift, float* y, int64_t n, __m256 acc = _mm256_setzero_ps(),
                         int64_t done = 0) {
  const __m256 vs = _mm256_set1_ps(shift);
  int64_t i = done;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_sub_ps(_mm256_loadu_ps(x + i), vs);
    __m256 res = fastExp8(v);
    _mm256_storeu_ps(y + i, res);
    acc = _mm256_add_ps(acc, res);
  }
  float sum = hsum8(acc);
  for (; i < n; ++i) sum += (y[i] = fastExp(x[i] - shift));
  return sum;
}

}  // namespace npuconv::ew
