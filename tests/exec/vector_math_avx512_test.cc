// vector_math_avx512_test.cc - the AVX-512 twins of the softmax and Erf loops give the AVX2
// loops' bits: every float value (zeros with their sign) and every sum, over lengths that
// exercise the 16-lane body, the 8-lane step and the scalar tail, with infinities and NaN mixed
// in. (A NaN result is only required to be NaN: which operand's NaN an addition propagates is the
// compiler's choice of operand order.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "converter/exec/kernels/ew_util.h"
#include "converter/exec/kernels/gemm_f32.h"
#include "converter/exec/kernels/vector_math_avx512.h"
#include "tests/cli/two_layer_model.h"

namespace npuconv {
namespace {

bool sameBits(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  uint32_t ua = 0, ub = 0;
  std::memcpy(&ua, &a, 4);
  std::memcpy(&ub, &b, 4);
  return ua == ub;
}

/// n values spread over [-scale, scale], with specials at a few positions when `specials`.
std::vector<float> sample(int64_t n, float scale, bool specials, uint32_t seed) {
  std::vector<float> x = test::pseudoFloats(size_t(n), seed, 1000.0f / scale);
  if (specials && n > 5) {
    x[1] = std::numeric_limits<float>::infinity();
    x[size_t(n / 2)] = -std::numeric_limits<float>::infinity();
    x[size_t(n - 2)] = -0.0f;
    x[3] = 0.0f;
  }
  return x;
}

class VectorMathAvx512 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!gemm::cpuHasAvx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
  }
  const std::vector<int64_t> lengths_ = {0, 1, 7, 8, 9, 15, 16, 17, 23, 24, 31, 32, 33, 47, 64, 100, 256, 1000};
};

TEST_F(VectorMathAvx512, ErfMatchesAvx2Loop) {
  for (int64_t n : lengths_)
    for (bool specials : {false, true}) {
      std::vector<float> x = sample(n, 4.0f, specials, uint32_t(n) + 11);
      if (specials && n > 9) x[9] = std::numeric_limits<float>::quiet_NaN();
      std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
      ew::erfF32(x.data(), want.data(), n);
      ew::erfAvx512(x.data(), got.data(), n);
      for (int64_t i = 0; i < n; ++i)
        ASSERT_TRUE(sameBits(got[size_t(i)], want[size_t(i)])) << "n=" << n << " i=" << i << " x=" << x[size_t(i)];
    }
}

TEST_F(VectorMathAvx512, SoftmaxLoopsMatchAvx2Loops) {
  for (int64_t n : lengths_)
    for (bool specials : {false, true})
      for (float scale : {1.0f, 40.0f}) {
        std::vector<float> x = sample(n, scale, specials, uint32_t(n) * 3 + 5);
        // The maximum: the largest non-NaN value (NaN never replaces it).
        float ref = -std::numeric_limits<float>::infinity();
        for (float v : x) ref = v > ref ? v : ref;
        const float m = ew::laneMaxAvx512(x.data(), n);
        ASSERT_EQ(m, ref) << "n=" << n;
        const float shift = std::isinf(m) ? 0.0f : m;
        std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
        const float sumWant = ew::expShiftSum(x.data(), shift, want.data(), n);
        __m256 acc = _mm256_setzero_ps();
        const int64_t done = ew::expShiftBodyAvx512(x.data(), shift, got.data(), n, acc);
        ASSERT_EQ(done, n / 16 * 16);
        const float sumGot = ew::expShiftSum(x.data(), shift, got.data(), n, acc, done);
        ASSERT_TRUE(sameBits(sumGot, sumWant)) << "n=" << n << " scale=" << scale << ": " << sumGot << " vs " << sumWant;
        for (int64_t i = 0; i < n; ++i)
          ASSERT_TRUE(sameBits(got[size_t(i)], want[size_t(i)])) << "n=" << n << " i=" << i;
      }
  // exp's whole range, shift 0: results that are subnormal (x near -87), overflow (x > 88.72)
  // and the clamps at both ends.
  {
    const int64_t n = 4001;
    std::vector<float> x(static_cast<size_t>(n)), want(x.size()), got(x.size());
    for (int64_t i = 0; i < n; ++i) x[size_t(i)] = -95.0f + 190.0f * float(i) / float(n - 1);
    const float sumWant = ew::expShiftSum(x.data(), 0.0f, want.data(), n);
    __m256 acc = _mm256_setzero_ps();
    const int64_t done = ew::expShiftBodyAvx512(x.data(), 0.0f, got.data(), n, acc);
    ASSERT_TRUE(sameBits(ew::expShiftSum(x.data(), 0.0f, got.data(), n, acc, done), sumWant));
    for (int64_t i = 0; i < n; ++i)
      ASSERT_TRUE(sameBits(got[size_t(i)], want[size_t(i)])) << "x=" << x[size_t(i)];
    std::vector<float> e(x.size()), eWant(x.size());
    for (float& v : x) v /= 9.0f;  // erf's exp(-x^2) down to its subnormal range and below
    ew::erfF32(x.data(), eWant.data(), n);
    ew::erfAvx512(x.data(), e.data(), n);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_TRUE(sameBits(e[size_t(i)], eWant[size_t(i)])) << "x=" << x[size_t(i)];
  }
  // A NaN in the row: the maximum skips it, the sum is NaN on both sides.
  std::vector<float> x = sample(40, 3.0f, false, 99);
  x[17] = std::numeric_limits<float>::quiet_NaN();
  float ref = -std::numeric_limits<float>::infinity();
  for (float v : x) ref = v > ref ? v : ref;
  EXPECT_EQ(ew::laneMaxAvx512(x.data(), 40), ref);
  std::vector<float> y(40);
  __m256 acc = _mm256_setzero_ps();
  const int64_t done = ew::expShiftBodyAvx512(x.data(), ref, y.data(), 40, acc);
  EXPECT_TRUE(std::isnan(ew::expShiftSum(x.data(), ref, y.data(), 40, acc, done)));
}

}  // namespace
}  // namespace npuconv
