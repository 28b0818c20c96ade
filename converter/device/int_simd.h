// int_simd.h - fixed_point.h's arithmetic on eight int32 lanes (AVX2) and on sixteen (AVX-512),
// lane for lane the same bits as the scalar functions: for the integer kernels' requantization
// (int_gemm.cc) and the elementwise integer ops (int_kernels.cc). Only for functions compiled with
// the matching target ("avx2", "avx512f,avx512bw,avx512vl") and called when the CPU has it.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "converter/device/fixed_point.h"

namespace npuconv::device::simd {

#define NPU_AVX2 __attribute__((target("avx2"), always_inline)) inline

/// saturatingAdd on each lane.
NPU_AVX2 __m256i satAdd(__m256i a, __m256i b) {
  const __m256i s = _mm256_add_epi32(a, b);
  const __m256i ovf = _mm256_and_si256(_mm256_xor_si256(a, s), _mm256_xor_si256(b, s));
  const __m256i sat = _mm256_xor_si256(_mm256_srai_epi32(a, 31), _mm256_set1_epi32(std::numeric_limits<int32_t>::max()));
  return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(s), _mm256_castsi256_ps(sat), _mm256_castsi256_ps(ovf)));
}

/// multiplyByQuantizedMultiplier(x, f) on each lane, f the same for all lanes.
struct QMul {
  int left = 0;
  bool single = false;
  __m256i vm, hiLim, loLim, nudge, mask, half, bias32;
  __m128i leftC, rightC, totalC;

  NPU_AVX2 explicit QMul(FixedMultiplier f) {
    left = f.shift > 0 ? f.shift : 0;
    const int right = f.shift > 0 ? 0 : std::min(-f.shift, 31);
    single = f.rounding == Rounding::Single;
    vm = _mm256_set1_epi32(f.multiplier);
    hiLim = _mm256_set1_epi32(std::numeric_limits<int32_t>::max() >> left);
    loLim = _mm256_set1_epi32(std::numeric_limits<int32_t>::min() >> left);
    const int total = 31 + right;
    // Single: AVX2 has no 64-bit arithmetic shift, so the sum is lifted by 2^62 (non-negative,
    // below 2^64), shifted logically and lowered by 2^(62 - total) again in 32 bits.
    nudge = single ? _mm256_set1_epi64x((int64_t{1} << (total - 1)) + (int64_t{1} << 62)) : _mm256_set1_epi64x(int64_t{1} << 30);
    bias32 = _mm256_set1_epi32(static_cast<int32_t>(uint32_t{1} << (62 - total)));
    const auto m = static_cast<int32_t>((int64_t{1} << right) - 1);
    mask = _mm256_set1_epi32(m);
    half = _mm256_set1_epi32(m >> 1);
    leftC = _mm_cvtsi32_si128(left);
    rightC = _mm_cvtsi32_si128(right);
    totalC = _mm_cvtsi32_si128(total);
  }

  NPU_AVX2 __m256i operator()(__m256i s) const {
    if (left) {  // x * 2^left, saturated
      const __m256i gt = _mm256_cmpgt_epi32(s, hiLim), lt = _mm256_cmpgt_epi32(loLim, s);
      s = _mm256_sll_epi32(s, leftC);
      s = _mm256_blendv_epi8(s, _mm256_set1_epi32(std::numeric_limits<int32_t>::max()), gt);
      s = _mm256_blendv_epi8(s, _mm256_set1_epi32(std::numeric_limits<int32_t>::min()), lt);
    }
    const __m256i pe = _mm256_mul_epi32(s, vm), po = _mm256_mul_epi32(_mm256_srli_epi64(s, 32), vm);
    if (single) {  // roundingShift64: + nudge, - 1 where p < 0, floor shift
      const __m256i zero = _mm256_setzero_si256();
      const __m256i qe = _mm256_srl_epi64(_mm256_add_epi64(_mm256_add_epi64(pe, nudge), _mm256_cmpgt_epi64(zero, pe)), totalC);
      const __m256i qo = _mm256_srl_epi64(_mm256_add_epi64(_mm256_add_epi64(po, nudge), _mm256_cmpgt_epi64(zero, po)), totalC);
      return _mm256_sub_epi32(_mm256_blend_epi32(qe, _mm256_slli_epi64(qo, 32), 0xAA), bias32);
    }
    // roundingDoublingHighMul: trunc((p + nudge) / 2^31) == floor((p + 2^30) / 2^31) for every
    // int64 p (the multiplier is never INT32_MIN, so no saturation case).
    const __m256i even = _mm256_srli_epi64(_mm256_add_epi64(pe, nudge), 31);
    const __m256i odd = _mm256_slli_epi64(_mm256_add_epi64(po, nudge), 1);
    const __m256i h = _mm256_blend_epi32(even, odd, 0xAA);
    // roundingDivideByPot
    const __m256i rem = _mm256_and_si256(h, mask);
    const __m256i thr = _mm256_add_epi32(half, _mm256_srli_epi32(h, 31));
    return _mm256_add_epi32(_mm256_sra_epi32(h, rightC), _mm256_and_si256(_mm256_cmpgt_epi32(rem, thr), _mm256_set1_epi32(1)));
  }
};

/// clampToRange(int64 zy + r, lo, hi) on each lane without int32 overflow.
struct ClampZy {
  __m256i lo, hi, zy;
  NPU_AVX2 ClampZy(int32_t z, int32_t l, int32_t h)
      : lo(_mm256_set1_epi32(l - z)), hi(_mm256_set1_epi32(h - z)), zy(_mm256_set1_epi32(z)) {}
  NPU_AVX2 __m256i operator()(__m256i r) const { return _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(r, lo), hi), zy); }
};

/// Eight 8-bit values (unsigned or signed) to int32 lanes.
NPU_AVX2 __m256i load8(const uint8_t* p, bool isUnsigned) {
  const __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  return isUnsigned ? _mm256_cvtepu8_epi32(v) : _mm256_cvtepi8_epi32(v);
}

/// Eight int32 lanes already in [-128, 255] to their low bytes.
NPU_AVX2 void store8(uint8_t* p, __m256i v) {
  const __m256i b = _mm256_shuffle_epi8(v, _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8,
                                                             12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1));
  const __m128i lo = _mm256_castsi256_si128(b), hi = _mm256_extracti128_si256(b, 1);
  _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_unpacklo_epi32(lo, hi));
}

#undef NPU_AVX2

#define NPU_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl"), always_inline)) inline

/// The same three on sixteen lanes (AVX-512).
NPU_AVX512 __m512i satAdd16(__m512i a, __m512i b) {
  const __m512i s = _mm512_add_epi32(a, b);
  const __mmask16 ovf =
      _mm512_cmplt_epi32_mask(_mm512_and_si512(_mm512_xor_si512(a, s), _mm512_xor_si512(b, s)), _mm512_setzero_si512());
  return _mm512_mask_blend_epi32(ovf, s, _mm512_xor_si512(_mm512_srai_epi32(a, 31), _mm512_set1_epi32(std::numeric_limits<int32_t>::max())));
}

/// The shift count operand of QMul16T: a vector type as a template argument would lose its
/// attributes (GCC warns), so it is chosen by specialization.
template <bool PerLane>
struct ShiftCount16 {
  using type = __m128i;
};
template <>
struct ShiftCount16<true> {
  using type = __m512i;
};

/// multiplyByQuantizedMultiplier on sixteen lanes. PerLane false: one FixedMultiplier for all
/// lanes (shift counts in an xmm); true: each lane its own multiplier and shifts (variable
/// shifts), loaded from per-lane constants (int_gemm.cc's Lanes epilogue: a lane per channel).
template <bool PerLane>
struct QMul16T {
  using Count = typename ShiftCount16<PerLane>::type;
  bool anyLeft = false;
  bool single = false;
  __m512i vm, vmOdd, hiLim, loLim, nudge, mask, half;
  // Single rounding: each 64-bit product's total shift 31 + right and its nudge 2^(30 + right),
  // for the even and the odd 32-bit lanes.
  __m512i shiftE, shiftO, nudgeE, nudgeO;
  Count leftC, rightC;

  NPU_AVX512 explicit QMul16T(FixedMultiplier f)
    requires(!PerLane)
  {
    const int left = f.shift > 0 ? f.shift : 0;
    const int right = f.shift > 0 ? 0 : std::min(-f.shift, 31);
    anyLeft = left != 0;
    vm = vmOdd = _mm512_set1_epi32(f.multiplier);
    hiLim = _mm512_set1_epi32(std::numeric_limits<int32_t>::max() >> left);
    loLim = _mm512_set1_epi32(std::numeric_limits<int32_t>::min() >> left);
    nudge = _mm512_set1_epi64(int64_t{1} << 30);
    const auto m = static_cast<int32_t>((int64_t{1} << right) - 1);
    mask = _mm512_set1_epi32(m);
    half = _mm512_set1_epi32(m >> 1);
    leftC = _mm_cvtsi32_si128(left);
    rightC = _mm_cvtsi32_si128(right);
    single = f.rounding == Rounding::Single;
    shiftE = shiftO = _mm512_set1_epi64(31 + right);
    nudgeE = nudgeO = _mm512_set1_epi64(int64_t{1} << (30 + right));
  }

  /// Sixteen lanes of each constant as the uniform constructor derives them from one multiplier:
  /// the multiplier, left and right shift, INT32_MAX >> left, INT32_MIN >> left, 2^right - 1 and
  /// (2^right - 1) >> 1; the rounding is the program's.
  NPU_AVX512 QMul16T(const int32_t* mult, const int32_t* left, const int32_t* right, const int32_t* hiLimits,
                     const int32_t* loLimits, const int32_t* masks, const int32_t* halves, Rounding rounding)
    requires PerLane
  {
    vm = _mm512_loadu_si512(mult);
    vmOdd = _mm512_srli_epi64(vm, 32);
    leftC = _mm512_loadu_si512(left);
    rightC = _mm512_loadu_si512(right);
    anyLeft = _mm512_test_epi32_mask(leftC, leftC) != 0;
    hiLim = _mm512_loadu_si512(hiLimits);
    loLim = _mm512_loadu_si512(loLimits);
    nudge = _mm512_set1_epi64(int64_t{1} << 30);
    mask = _mm512_loadu_si512(masks);
    half = _mm512_loadu_si512(halves);
    single = rounding == Rounding::Single;
    const __m512i k30 = _mm512_set1_epi64(30), one = _mm512_set1_epi64(1);
    const __m512i halfE = _mm512_add_epi64(_mm512_and_si512(rightC, _mm512_set1_epi64(0xFFFFFFFF)), k30);
    const __m512i halfO = _mm512_add_epi64(_mm512_srli_epi64(rightC, 32), k30);
    shiftE = _mm512_add_epi64(halfE, one);
    shiftO = _mm512_add_epi64(halfO, one);
    nudgeE = _mm512_sllv_epi64(one, halfE);
    nudgeO = _mm512_sllv_epi64(one, halfO);
  }

  NPU_AVX512 __m512i operator()(__m512i s) const {
    if (anyLeft) {
      const __mmask16 gt = _mm512_cmpgt_epi32_mask(s, hiLim), lt = _mm512_cmplt_epi32_mask(s, loLim);
      if constexpr (PerLane) s = _mm512_sllv_epi32(s, leftC);
      else s = _mm512_sll_epi32(s, leftC);
      s = _mm512_mask_blend_epi32(gt, s, _mm512_set1_epi32(std::numeric_limits<int32_t>::max()));
      s = _mm512_mask_blend_epi32(lt, s, _mm512_set1_epi32(std::numeric_limits<int32_t>::min()));
    }
    if (single) {
      // Round half away from zero of s * m / 2^t (t = 31 + right, m >= 0): on |s| (INT32_MIN as the
      // unsigned 2^31) the product is non-negative, so (|p| + 2^(t-1)) >> t, then s's sign back;
      // the same value as fixed_point.h's roundingShift64 of the signed product.
      const __m512i a = _mm512_abs_epi32(s);
      const __mmask16 neg = _mm512_cmplt_epi32_mask(s, _mm512_setzero_si512());
      const __m512i ae = _mm512_mul_epu32(a, vm), ao = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), vmOdd);
      const __m512i qe = _mm512_srlv_epi64(_mm512_add_epi64(ae, nudgeE), shiftE);
      const __m512i qo = _mm512_srlv_epi64(_mm512_add_epi64(ao, nudgeO), shiftO);
      const __m512i r = _mm512_mask_blend_epi32(0xAAAA, qe, _mm512_slli_epi64(qo, 32));
      return _mm512_mask_sub_epi32(r, neg, _mm512_setzero_si512(), r);
    }
    const __m512i pe = _mm512_mul_epi32(s, vm), po = _mm512_mul_epi32(_mm512_srli_epi64(s, 32), vmOdd);
    const __m512i even = _mm512_add_epi64(pe, nudge);
    const __m512i odd = _mm512_add_epi64(po, nudge);
    const __m512i h = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 31), _mm512_slli_epi64(odd, 1));
    const __m512i rem = _mm512_and_si512(h, mask);
    const __m512i thr = _mm512_add_epi32(half, _mm512_srli_epi32(h, 31));
    __m512i r;
    if constexpr (PerLane) r = _mm512_srav_epi32(h, rightC);
    else r = _mm512_sra_epi32(h, rightC);
    return _mm512_mask_add_epi32(r, _mm512_cmpgt_epi32_mask(rem, thr), r, _mm512_set1_epi32(1));
  }
};
using QMul16 = QMul16T<false>;
using QMulLanes16 = QMul16T<true>;

struct ClampZy16 {
  __m512i lo, hi, zy;
  NPU_AVX512 ClampZy16(int32_t z, int32_t l, int32_t h)
      : lo(_mm512_set1_epi32(l - z)), hi(_mm512_set1_epi32(h - z)), zy(_mm512_set1_epi32(z)) {}
  NPU_AVX512 __m512i operator()(__m512i r) const { return _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(r, lo), hi), zy); }
};

#undef NPU_AVX512

}  // namespace npuconv::device::simd
