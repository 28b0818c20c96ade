// Calibration methods on known distributions, percentiles against a sorted-array reference, and
// the health warnings on a small model with a -3.4e38 mask Add, a constant and outliers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "quant/calib_methods.h"
#include "quant/calibration.h"
#include "quant/observe/float_histogram.h"
#include "tests/quant/calib_test_util.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

TensorStats statsOf(const std::vector<float>& v) {
  TensorStats s;
  calib::HistogramAccumulator(nullptr).add(v.data(), static_cast<int64_t>(v.size()), s);
  return s;
}

TensorRange rangeOf(const TensorStats& s, CalibMethod m, double p = 99.99) {
  CalibrateOptions o;
  o.method = m;
  o.percentile = p;
  return calib::rangeFor(s, o);
}

/// The p-th percentile of the values >= 0 as the sorted-array element of rank ceil(p n).
double referencePercentile(std::vector<float> v, double p) {
  std::erase_if(v, [](float x) { return x < 0; });
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100 * static_cast<double>(v.size())));
  return v[std::max<size_t>(rank, 1) - 1];
}

TEST(CalibMethods, PercentileWithinOneBucketOfTheSortedReference) {
  std::vector<float> v = test::gaussian(200000, 3, 2.0f);
  for (size_t i = 0; i < v.size(); i += 50) v[i] = 0;
  TensorStats s = statsOf(v);
  for (double p : {50.0, 90.0, 99.0, 99.9, 99.99, 99.999}) {
    double want = referencePercentile(v, p);
    TensorRange r = calib::percentileRange(s, p);
    EXPECT_NEAR(r.hi, want, want / 128) << "p " << p;
    std::vector<float> neg;
    for (float x : v) neg.push_back(-x);
    double wantLo = -referencePercentile(neg, p);
    EXPECT_NEAR(r.lo, wantLo, -wantLo / 128) << "p " << p;
  }
  EXPECT_EQ(calib::percentileRange(s, 100).hi, *std::max_element(v.begin(), v.end()));
}

TEST(CalibMethods, UniformIsBarelyClippedByAnyMethod) {
  TensorStats s = statsOf(test::uniformValues(400000, 5, -1.0f, 1.0f));
  TensorRange mm = rangeOf(s, CalibMethod::MinMax);
  EXPECT_GT(mm.hi, 0.9999f);
  EXPECT_LT(mm.lo, -0.9999f);
  for (CalibMethod m : {CalibMethod::Percentile, CalibMethod::Entropy, CalibMethod::Mse}) {
    TensorRange r = rangeOf(s, m);
    EXPECT_GT(r.hi, 0.97f) << calibMethodName(m);
    EXPECT_LT(r.lo, -0.97f) << calibMethodName(m);
    EXPECT_LE(r.hi, mm.hi);
  }
}

TEST(CalibMethods, GaussianWithOutliersIsClippedExceptByMinMax) {
  // outliers: +-50 sigma. mse weighs their clipping error against the rounding error of every
  // other value: with 2 of them in 400000 clipping wins, with 20 keeping them does (20 * 46^2 >
  // 400000 * (100/255)^2 / 12), so mse is checked on the first case only.
  for (size_t outliers : {2, 20}) {
    std::vector<float> v = test::gaussian(400000, 9, 1.0f);
    for (size_t i = 0; i < outliers; ++i) v[i * 1000] = (i % 2 ? -50.0f : 50.0f);
    TensorStats s = statsOf(v);
    TensorRange mm = rangeOf(s, CalibMethod::MinMax);
    EXPECT_EQ(mm.hi, 50.0f);
    EXPECT_EQ(mm.lo, -50.0f);
    for (CalibMethod m : {CalibMethod::Percentile, CalibMethod::Entropy, CalibMethod::Mse}) {
      if (m == CalibMethod::Mse && outliers > 2) continue;
      TensorRange r = rangeOf(s, m);
      EXPECT_LT(r.hi, 12.0f) << calibMethodName(m) << " " << outliers;
      EXPECT_GT(r.hi, 2.5f) << calibMethodName(m) << " " << outliers;  // but not into the body
      EXPECT_GT(r.lo, -12.0f) << calibMethodName(m) << " " << outliers;
    }
    if (outliers > 2) {
      EXPECT_EQ(rangeOf(s, CalibMethod::Mse).hi, 50.0f);
    }
  }
}

TEST(CalibMethods, EntropyClipsAHeavyTailedTensor) {
  // Laplace(0, 1) magnitudes after a Relu-like cut: one-sided, heavy tail, absmax ~ 12.
  test::SplitMix64 r(21);
  std::vector<float> v(300000);
  for (auto& x : v) x = -std::log(1.0f - r.uniform() * 0.999999f);
  TensorStats s = statsOf(v);
  TensorRange e = rangeOf(s, CalibMethod::Entropy);
  EXPECT_LT(e.hi, 0.8 * s.max) << "entropy picked nearly the max: minmax in disguise";
  EXPECT_GT(e.hi, 3.0f);  // about the 95th percentile or more
  EXPECT_EQ(e.lo, static_cast<float>(s.min));
  TensorRange m = rangeOf(s, CalibMethod::Mse);
  EXPECT_LT(m.hi, s.max);
}

TEST(CalibMethods, EntropyFallsBackToMseOnSparseHistograms) {
  // An additive attention mask: 0 where attended, -10000 elsewhere; and ten discrete levels.
  std::vector<float> mask, levels;
  for (int i = 0; i < 4000; ++i) mask.push_back(i % 5 == 0 ? -10000.0f : 0.0f);
  for (int i = 0; i < 4000; ++i) levels.push_back(static_cast<float>(i % 10 + 1));
  for (const auto& v : {mask, levels}) {
    TensorStats s = statsOf(v);
    TensorRange e = rangeOf(s, CalibMethod::Entropy), m = rangeOf(s, CalibMethod::Mse);
    EXPECT_EQ(e.lo, m.lo);
    EXPECT_EQ(e.hi, m.hi);
  }
  // The mask keeps its -10000 (to within the histogram's bucket): clipping it to a few hundred
  // would unmask the padded positions.
  EXPECT_NEAR(rangeOf(statsOf(mask), CalibMethod::Entropy).lo, -10000.0f, 10000 * 0.008);
}

TEST(CalibMethods, SaturationCountsValuesOutside) {
  std::vector<float> v;
  for (int i = 1; i <= 1000; ++i) v.push_back(static_cast<float>(i));
  TensorStats s = statsOf(v);
  EXPECT_EQ(calib::valuesOutside(s, {0, 1000}), 0);
  EXPECT_NEAR(calib::valuesOutside(s, {0, 900}), 100, 4);
}

TEST(CalibMethods, ComputeRangesCoversEveryTensorAndChecksThePercentile) {
  CalibrationStats st;
  st.tensors["a"] = statsOf({1, 2, 3});
  st.tensors["b"] = statsOf({-1, 5});
  CalibrateOptions o;
  o.method = CalibMethod::MinMax;
  auto r = computeRanges(st, o);
  ASSERT_TRUE(r.hasValue());
  EXPECT_EQ(r->at("a").lo, 1);
  EXPECT_EQ(r->at("b").hi, 5);
  o.method = CalibMethod::Percentile;
  o.percentile = 120;
  EXPECT_FALSE(computeRanges(st, o).hasValue());
}

// masked = x + bias with bias -3.4e38 on the padded positions; k = x * 0 (constant);
// o = x * 1 where the data has rare outliers.
const char* kHealthModel = R"(<ir_version: 8, opset_import: ["" : 17]>
  g (float[1, 512] x) => (float[1, 512] masked, float[1, 512] k, float[1, 512] o) {
    bias = Constant <value = float[1, 512] {
      0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
      0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
      0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
      0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
      0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
      0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
      -3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,
      -3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,
      -3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,
      -3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,
      -3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,
      -3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,
      -3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,
      -3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38,-3.4e38}> ()
    masked = Add(x, bias)
    zero = Constant <value = float {0.0}> ()
    k = Mul(x, zero)
    one = Constant <value = float {1.0}> ()
    o = Mul(x, one)
  })";

TEST(CalibHealth, WarnsByOriginalNameOnMaskConstantOutliersSaturation) {
  Model m = test::parseModel(kHealthModel);
  ASSERT_TRUE(m.graph);
  for (Node* n : m.graph->nodes())
    if (n->result(0)->name() == "masked") n->setProvenance({"/encoder/layer.0/attention/mask_add"});
  std::vector<NamedTensors> data;
  for (int k = 0; k < 40; ++k) {
    auto v = test::gaussian(512, 70 + static_cast<uint64_t>(k));
    if (k == 0) v[7] = 400.0f;  // one outlier in 20480 values
    data.push_back({{"x", test::f32Tensor({1, 512}, v)}});
  }
  test::VectorStream stream(data);
  auto stats = collectStats(m, stream, CalibrateOptions{});
  ASSERT_TRUE(stats.hasValue()) << stats.status().toString();
  CalibrateOptions minmax;
  minmax.method = CalibMethod::MinMax;
  auto ranges = computeRanges(*stats, minmax);
  ASSERT_TRUE(ranges.hasValue());
  auto warnings = checkCalibrationHealth(m, *stats, *ranges);
  auto find = [&](const std::string& tensor, const std::string& kind) -> const CalibWarning* {
    for (const CalibWarning& w : warnings)
      if (w.tensor == tensor && w.kind == kind) return &w;
    return nullptr;
  };
  const CalibWarning* mask = find("masked", "absurd-range");
  ASSERT_TRUE(mask);
  EXPECT_EQ(mask->producers, std::vector<std::string>{"/encoder/layer.0/attention/mask_add"});
  EXPECT_NE(mask->message.find("/encoder/layer.0/attention/mask_add"), std::string::npos) << mask->message;
  EXPECT_NE(mask->message.find("-3.4e+38"), std::string::npos) << mask->message;
  EXPECT_TRUE(find("k", "constant"));
  EXPECT_TRUE(find("o", "outliers"));
  EXPECT_FALSE(find("k", "outliers"));
  EXPECT_FALSE(find("o", "absurd-range"));
  EXPECT_FALSE(find("o", "saturation"));  // minmax clips nothing

  // A percentile range that clips 1% of the values is reported as saturating.
  CalibrateOptions p99;
  p99.percentile = 99;
  auto clipped = computeRanges(*stats, p99);
  ASSERT_TRUE(clipped.hasValue());
  auto w2 = checkCalibrationHealth(m, *stats, *clipped);
  bool saturation = false;
  for (const CalibWarning& w : w2) saturation |= w.tensor == "o" && w.kind == "saturation";
  EXPECT_TRUE(saturation);
  for (const CalibWarning& w : warnings) EXPECT_EQ(w.message.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace npuconv
