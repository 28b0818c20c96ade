// activation_avx512.h - gemm::Epilogue's fused activation on one 16-lane vector (AVX-512), for
// the kernels that compute 16 outputs per vector (the per-plane depthwise Conv, the small-C stem
// Conv); the same results as act8 on each 8-lane half.
#pragma once

#include <immintrin.h>

#include "converter/exec/kernels/activation_simd.h"

namespace npuconv::gemm {

/// The activation on one 16-lane vector: None, Relu and Clip on all lanes (the same operations
/// as act8: max returns its second operand on NaN, Clip replaces only lanes that compare below
/// / above), the others on the two 8-lane halves with act8.
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))) inline __m512 act16(__m512 v, const Epilogue& e) {
  switch (e.act) {
    case Act::None: return v;
    case Act::Relu: return _mm512_mask_max_ps(v, 0xFFFF, v, _mm512_setzero_ps());
    case Act::Clip: {
      const __m512 lo = _mm512_set1_ps(e.p0), hi = _mm512_set1_ps(e.p1);
      v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, lo, _CMP_LT_OQ), lo);
      return _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, hi, _CMP_GT_OQ), hi);
    }
    default: {
      const __m256 a = actDyn8(_mm512_extractf32x8_ps(v, 0), e), b = actDyn8(_mm512_extractf32x8_ps(v, 1), e);
      return _mm512_insertf32x8(_mm512_insertf32x8(v, a, 0), b, 1);
    }
  }
}

}  // namespace npuconv::gemm
