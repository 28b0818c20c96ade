// fast_math_test.cc - the vectorized float helpers of the elementwise kernels (ew_util.h)
// against libm in double precision.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "converter/exec/kernels/ew_util.h"

namespace npuconv {
namespace {

TEST(FastMath, ErfMatchesLibm) {
  std::vector<float> x;
  for (float v = -6.0f; v <= 6.0f; v += 0.00137f) x.push_back(v);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-20f, 1e-6f, 0.4999999f, 0.5f, 0.5000001f, -0.5f, 3.9f, 10.0f, 1e30f})
    x.push_back(v);
  x.push_back(std::numeric_limits<float>::infinity());
  x.push_back(-std::numeric_limits<float>::infinity());
  x.push_back(std::numeric_limits<float>::quiet_NaN());
  std::vector<float> y(x.size());
  ew::erfF32(x.data(), y.data(), int64_t(x.size()));  // also covers the non-multiple-of-8 tail
  for (size_t i = 0; i < x.size(); ++i) {
    double want = std::erf(double(x[i]));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(y[i])) << "x=" << x[i];
      continue;
    }
    double err = std::fabs(double(y[i]) - want);
    // Below |x| = 0.5 (Taylor branch) relative accuracy; above it absolute 1.5e-7 plus rounding.
    double tol = std::fabs(x[i]) < 0.5f ? 4e-7 * std::fabs(want) + 1e-37 : 3e-7;
    EXPECT_LE(err, tol) << "x=" << x[i] << " got " << y[i] << " want " << want;
    EXPECT_EQ(std::signbit(y[i]), std::signbit(x[i])) << "x=" << x[i];
  }
}

TEST(FastMath, Exp8MatchesScalarFastExp) {
  alignas(32) float in[8] = {-100.0f, -87.0f, -1.5f, 0.0f, 1e-3f, 3.25f, 88.0f, 200.0f};
  alignas(32) float out[8];
  _mm256_store_ps(out, ew::fastExp8(_mm256_load_ps(in)));
  for (int i = 0; i < 8; ++i) {
    double want = std::exp(double(in[i]));
    if (std::isinf(float(want))) EXPECT_TRUE(std::isinf(out[i])) << in[i];
    else EXPECT_NEAR(out[i], want, 3e-7 * want + 1e-39) << in[i];
  }
}

}  // namespace
}  // namespace npuconv
