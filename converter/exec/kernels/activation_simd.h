// activation_simd.h - the fused activations of gemm::Epilogue on 8 floats (AVX2), shared by
// the GEMM epilogue and the depthwise Conv kernel so that both compute exactly what the
// elementwise kernels compute.
#pragma once

#include <immintrin.h>

#include "converter/exec/kernels/ew_util.h"
#include "converter/exec/kernels/gemm_f32.h"

namespace npuconv::gemm {

/// act(v) on 8 floats. NaN behaves as the elementwise kernels: Relu -> 0, Clip/LeakyRelu/
/// HardSwish/Sigmoid -> NaN, HardSigmoid -> 1 (min/max_ps return their second operand on NaN).
template <Act A>
inline __m256 act8(__m256 v, const Epilogue& e) {
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  if constexpr (A == Act::Relu) {
    return _mm256_max_ps(v, zero);
  } else if constexpr (A == Act::Clip) {
    v = _mm256_blendv_ps(v, _mm256_set1_ps(e.p0), _mm256_cmp_ps(v, _mm256_set1_ps(e.p0), _CMP_LT_OQ));
    return _mm256_blendv_ps(v, _mm256_set1_ps(e.p1), _mm256_cmp_ps(v, _mm256_set1_ps(e.p1), _CMP_GT_OQ));
  } else if constexpr (A == Act::LeakyRelu) {
    return _mm256_blendv_ps(v, _mm256_mul_ps(_mm256_set1_ps(e.p0), v), _mm256_cmp_ps(v, zero, _CMP_LT_OQ));
  } else if constexpr (A == Act::HardSigmoid) {
    __m256 h = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(e.p0), v), _mm256_set1_ps(e.p1));
    return _mm256_max_ps(_mm256_min_ps(h, one), zero);
  } else if constexpr (A == Act::HardSwish) {
    // Exactly the unfused arithmetic: ONNX HardSwish is x / 6 + 0.5 (p0 == 0); PyTorch's
    // Mul(x, HardSigmoid<alpha, beta>(x)) is alpha * x + beta (p0, p1).
    __m256 h = e.p0 == 0.0f ? _mm256_add_ps(_mm256_div_ps(v, _mm256_set1_ps(6.0f)), _mm256_set1_ps(0.5f))
                            : _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(e.p0), v), _mm256_set1_ps(e.p1));
    return _mm256_mul_ps(v, _mm256_max_ps(_mm256_min_ps(h, one), zero));
  } else if constexpr (A == Act::ClipHardSwish) {
    // Add(x, 3), Clip(0, 6) (NaN stays NaN, as in the Clip kernel), Mul(x, .), Div(., 6).
    __m256 h = _mm256_add_ps(v, _mm256_set1_ps(3.0f));
    h = _mm256_blendv_ps(h, zero, _mm256_cmp_ps(h, zero, _CMP_LT_OQ));
    h = _mm256_blendv_ps(h, _mm256_set1_ps(6.0f), _mm256_cmp_ps(h, _mm256_set1_ps(6.0f), _CMP_GT_OQ));
    return _mm256_div_ps(_mm256_mul_ps(v, h), _mm256_set1_ps(6.0f));
  } else if constexpr (A == Act::Sigmoid) {
    const __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
    const __m256 ex = ew::fastExp8(_mm256_sub_ps(zero, ax));
    const __m256 den = _mm256_add_ps(one, ex);
    return _mm256_blendv_ps(_mm256_div_ps(ex, den), _mm256_div_ps(one, den), _mm256_cmp_ps(v, zero, _CMP_GE_OQ));
  } else {
    return v;
  }
}

/// act8 with the activation chosen at run time.
inline __m256 actDyn8(__m256 v, const Epilogue& e) {
  switch (e.act) {
    case Act::None: return v;
    case Act::Relu: return act8<Act::Relu>(v, e);
    case Act::Clip: return act8<Act::Clip>(v, e);
    case Act::LeakyRelu: return act8<Act::LeakyRelu>(v, e);
    case Act::HardSigmoid: return act8<Act::HardSigmoid>(v, e);
    case Act::HardSwish: return act8<Act::HardSwish>(v, e);
    case Act::Sigmoid: return act8<Act::Sigmoid>(v, e);
    case Act::ClipHardSwish: return act8<Act::ClipHardSwish>(v, e);
  }
  return v;
}

}  // namespace npuconv::gemm
