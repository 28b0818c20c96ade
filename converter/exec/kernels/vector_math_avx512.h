// vector_math_avx512.h - AVX-512 twins of ew_util.h's vectorized math loops (laneMax, erfF32,
// expShiftSum): 16 lanes per instruction, the same IEEE operations per element in the same
// order, so every result, sums included, is bit for bit the AVX2 loop's (a NaN stays a NaN, its
// sign and payload aside). They are compiled with a target attribute (the baseline is
// x86-64-v3) and called only when gemm::activeIsa() is Avx512, as the GEMM's microkernels are.
// Internal to converter/exec/kernels; not a public API.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace npuconv::ew {

/// Whether the *Avx512 functions below may run (the CPU has AVX-512 and NPUCONV_NO_AVX512 is
/// not set).
bool vectorMathAvx512();

/// max over x[0..n) ignoring NaN (a NaN element never replaces the running maximum), -inf for
/// n == 0: the value laneMax<float> gives (the sign of a zero maximum may differ).
float laneMaxAvx512(const float* x, int64_t n);

/// y[i] = erf(x[i]): erfF32's result.
void erfAvx512(const float* x, float* y, int64_t n);

/// y[i] = exp(x[i] - shift) for the first 16 * floor(n / 16) elements, which it returns, their
/// 8 partial sums added to `acc` as expShiftSum keeps them (each 16-lane step adds its low then
/// its high half): expShiftSum(x, shift, y, n, acc, done) then finishes with its own bits.
int64_t expShiftBodyAvx512(const float* x, float shift, float* y, int64_t n, __m256& acc);

}  // namespace npuconv::ew
