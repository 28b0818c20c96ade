// Calibration statistics: exact counts on hand-made tensors, the parallel accumulator against the
// serial one, collectStats on a small model (thread count, shards + merge, JSON round trip).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "converter/exec/thread_pool.h"
#include "quant/calibration.h"
#include "quant/observe/float_histogram.h"
#include "tests/quant/calib_test_util.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

using calib::bucketHigh;
using calib::bucketLow;
using calib::bucketOf;

int64_t sum(const std::vector<int64_t>& v) {
  int64_t s = 0;
  for (int64_t x : v) s += x;
  return s;
}

int64_t at(const std::vector<int64_t>& run, int64_t origin, int64_t u) {
  if (u < origin || u >= origin + static_cast<int64_t>(run.size())) return 0;
  return run[static_cast<size_t>(u - origin)];
}

TEST(CalibHistogram, BucketsAreTheHighFloatBits) {
  EXPECT_EQ(bucketOf(0.0f), 0);
  EXPECT_EQ(bucketOf(1e-40f), 0);  // denormal
  EXPECT_EQ(bucketOf(std::numeric_limits<float>::min()), 1);
  EXPECT_EQ(bucketOf(std::numeric_limits<float>::max()), calib::kMaxBucket);
  for (float x : {1.0f, 1.004f, 3.14159f, 1e-20f, 6.5e4f, 3.0e38f}) {
    int64_t u = bucketOf(x);
    EXPECT_LE(bucketLow(u), x);
    EXPECT_LT(x, bucketHigh(u));
    EXPECT_LE(bucketHigh(u) / bucketLow(u), 1.0 + 1.0 / 128 + 1e-12);  // relative resolution 2^-7
  }
  EXPECT_EQ(bucketOf(-2.5f), bucketOf(2.5f));
}

TEST(CalibHistogram, ExactCountsOnAHandMadeTensor) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v = {0.0f, -0.0f, 1.0f,  1.5f, 1.0f, -2.0f,  1e-40f, std::nanf(""), inf,
                          -inf, 3.0f,  -2.0f, 0.5f, 7.0f, -0.25f, 1.0f, 2.0f};
  TensorStats s;
  calib::HistogramAccumulator acc(nullptr);
  acc.add(v.data(), static_cast<int64_t>(v.size()), s);
  EXPECT_EQ(s.count, 17);
  EXPECT_EQ(s.zeros, 3);
  EXPECT_EQ(s.nans, 1);
  EXPECT_EQ(s.posInfs, 1);
  EXPECT_EQ(s.negInfs, 1);
  EXPECT_EQ(s.min, -2.0);
  EXPECT_EQ(s.max, 7.0);
  EXPECT_EQ(sum(s.hist), 8);     // 1, 1.5, 1, 3, 0.5, 7, 1, 2
  EXPECT_EQ(sum(s.negHist), 3);  // -2, -2, -0.25
  EXPECT_EQ(at(s.hist, s.histOrigin, bucketOf(1.0f)), 3);
  EXPECT_EQ(at(s.negHist, s.negHistOrigin, bucketOf(2.0f)), 2);
  EXPECT_EQ(s.histOrigin, bucketOf(0.5f));  // runs are trimmed to the occupied buckets
  EXPECT_EQ(s.histOrigin + static_cast<int64_t>(s.hist.size()) - 1, bucketOf(7.0f));
  EXPECT_EQ(s.finiteCount(), 14);

  // Adding the same tensor again doubles every count and keeps min/max.
  acc.add(v.data(), static_cast<int64_t>(v.size()), s);
  EXPECT_EQ(s.count, 34);
  EXPECT_EQ(at(s.hist, s.histOrigin, bucketOf(1.0f)), 6);
  EXPECT_EQ(s.min, -2.0);
}

TEST(CalibHistogram, AllNegativeZeroAndDenormalOnly) {
  std::vector<float> v(37, -0.0f);
  v[5] = -1e-39f;
  TensorStats s;
  calib::HistogramAccumulator(nullptr).add(v.data(), 37, s);
  EXPECT_EQ(s.zeros, 37);
  EXPECT_TRUE(s.hist.empty());
  EXPECT_TRUE(s.negHist.empty());
  EXPECT_FALSE(std::signbit(s.max));  // -0 is stored as +0: independent of the split
}

TEST(CalibHistogram, ParallelSlicesEqualOneScan) {
  std::vector<float> v = test::gaussian(300001, 11, 3.0f);
  for (size_t i = 0; i < v.size(); i += 997) v[i] = 0.0f;
  v[123457] = std::nanf("");
  TensorStats serial, parallel;
  calib::HistogramAccumulator(nullptr).add(v.data(), static_cast<int64_t>(v.size()), serial);
  ThreadPool pool(2);
  calib::HistogramAccumulator(&pool, 1 << 12).add(v.data(), static_cast<int64_t>(v.size()), parallel);
  EXPECT_EQ(serial.min, parallel.min);
  EXPECT_EQ(serial.max, parallel.max);
  EXPECT_EQ(serial.hist, parallel.hist);
  EXPECT_EQ(serial.histOrigin, parallel.histOrigin);
  EXPECT_EQ(serial.negHist, parallel.negHist);
  EXPECT_EQ(serial.zeros, parallel.zeros);
  EXPECT_EQ(serial.nans, 1);
  EXPECT_EQ(parallel.nans, 1);
  EXPECT_EQ(serial.count, 300001);
  // Against a plain per-value count.
  int64_t pos = 0;
  for (float x : v) pos += x > 0 && std::isfinite(x);
  EXPECT_EQ(sum(serial.hist), pos);
  EXPECT_EQ(serial.max, *std::max_element(v.begin(), v.end(), [](float a, float b) {
    return std::isnan(a) || (!std::isnan(b) && a < b);
  }));
}

// y = 2x, z = Relu(y), w = Tanh(x): each sample x is a [2, 64] tensor.
const char* kModel = R"(<ir_version: 8, opset_import: ["" : 17]>
  g (float[2, 64] x) => (float[2, 64] z, float[2, 64] w) {
    two = Constant <value = float {2.0}> ()
    y = Mul(x, two)
    z = Relu(y)
    w = Tanh(x)
  })";

std::vector<NamedTensors> samples(int n) {
  std::vector<NamedTensors> out;
  for (int k = 0; k < n; ++k) {
    auto v = test::gaussian(128, 100 + static_cast<uint64_t>(k), 1.0f + 0.1f * static_cast<float>(k));
    out.push_back({{"x", test::f32Tensor({2, 64}, v)}});
  }
  return out;
}

CalibrationStats collect(const Model& m, const std::vector<NamedTensors>& data, CalibrateOptions opt) {
  test::VectorStream stream(data);
  auto s = collectStats(m, stream, opt);
  EXPECT_TRUE(s.hasValue()) << s.status().toString();
  if (!s) return {};
  s->modelKey = "m1";
  s->dataKey = "d1";
  return std::move(s).value();
}

std::string dumpJson(const CalibrationStats& s) { return calibStatsToJson(s).dump(); }

TEST(CalibCollect, StatsOfEveryFloatTensorMatchTheData) {
  Model m = test::parseModel(kModel);
  auto data = samples(7);
  CalibrationStats s = collect(m, data, CalibrateOptions{});
  EXPECT_EQ(s.samples, 7);
  ASSERT_TRUE(s.tensors.count("x") && s.tensors.count("y") && s.tensors.count("z") && s.tensors.count("w"));
  double mn = 1e9, mx = -1e9;
  int64_t positives = 0;
  for (const auto& d : data)
    for (float x : d.at("x").span<float>()) {
      mn = std::min<double>(mn, x), mx = std::max<double>(mx, x);
      positives += x > 0;
    }
  EXPECT_EQ(s.tensors["x"].min, mn);
  EXPECT_EQ(s.tensors["y"].min, 2 * mn);
  EXPECT_EQ(s.tensors["y"].max, 2 * mx);
  EXPECT_EQ(s.tensors["z"].min, 0.0);
  EXPECT_EQ(s.tensors["z"].count, 7 * 128);
  EXPECT_EQ(s.tensors["z"].samples, 7);
  EXPECT_EQ(s.tensors["z"].zeros, 7 * 128 - positives);
  EXPECT_EQ(sum(s.tensors["z"].hist), positives);
  EXPECT_EQ(s.tensors["w"].max, std::tanh(static_cast<float>(mx)));

  CalibrateOptions only;
  only.tensors = {"z", "y"};
  CalibrationStats s2 = collect(m, data, only);
  EXPECT_EQ(s2.tensors.size(), 2u);
  EXPECT_EQ(s2.observed, (std::vector<std::string>{"y", "z"}));
  EXPECT_EQ(s2.tensors["z"].hist, s.tensors["z"].hist);
}

TEST(CalibCollect, ThreadCountDoesNotChangeTheBytes) {
  Model m = test::parseModel(kModel);
  auto data = samples(5);
  CalibrateOptions one, two;
  one.threads = 1;
  two.threads = 2;
  EXPECT_EQ(dumpJson(collect(m, data, one)), dumpJson(collect(m, data, two)));
}

TEST(CalibCollect, ShardsMergedEqualOneRunBitForBit) {
  Model m = test::parseModel(kModel);
  auto data = samples(10);
  std::string whole = dumpJson(collect(m, data, CalibrateOptions{}));
  std::vector<CalibrationStats> parts;
  for (int i = 0; i < 3; ++i) {
    CalibrateOptions o;
    o.shardIndex = i;
    o.shardCount = 3;
    parts.push_back(collect(m, data, o));
    EXPECT_EQ(parts.back().samples, i == 0 ? 4 : 3);
  }
  // Any merge order gives the same bytes; each shard goes through its JSON file as on disk.
  for (auto order : {std::vector<int>{0, 1, 2}, std::vector<int>{2, 0, 1}}) {
    auto first = calibStatsFromJson(nlohmann::json::parse(dumpJson(parts[static_cast<size_t>(order[0])])));
    ASSERT_TRUE(first.hasValue()) << first.status().toString();
    CalibrationStats merged = std::move(first).value();
    for (size_t k = 1; k < 3; ++k) {
      auto next = calibStatsFromJson(nlohmann::json::parse(dumpJson(parts[static_cast<size_t>(order[k])])));
      ASSERT_TRUE(next.hasValue());
      Status st = merged.merge(*next);
      ASSERT_TRUE(st.isOk()) << st.toString();
    }
    EXPECT_EQ(dumpJson(merged), whole);
  }
  // A shard merged twice, or statistics of another model, are refused.
  CalibrationStats twice = parts[0];
  EXPECT_FALSE(twice.merge(parts[0]).isOk());
  CalibrationStats other = parts[1];
  other.modelKey = "m2";
  EXPECT_FALSE(twice.merge(other).isOk());
}

TEST(CalibJson, RoundTripIsLossless) {
  Model m = test::parseModel(kModel);
  CalibrationStats s = collect(m, samples(4), CalibrateOptions{});
  // Values that decimal printing could lose.
  s.tensors["x"].min = -0.1f;
  s.tensors["x"].max = std::nextafter(1.0f, 2.0f);
  nlohmann::ordered_json j = calibStatsToJson(s);
  EXPECT_EQ(j["format"], "npuconv-calibration");
  EXPECT_EQ(j["version"], 1);
  EXPECT_TRUE(j["tensors"]["z"]["count"].is_number_integer());
  auto back = calibStatsFromJson(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(back.hasValue()) << back.status().toString();
  EXPECT_EQ(back->tensors["x"].min, static_cast<double>(-0.1f));
  EXPECT_EQ(back->tensors["x"].max, static_cast<double>(std::nextafter(1.0f, 2.0f)));
  EXPECT_EQ(back->tensors["z"].hist, s.tensors["z"].hist);
  EXPECT_EQ(back->tensors["w"].negHist, s.tensors["w"].negHist);
  EXPECT_EQ(calibStatsToJson(*back).dump(), j.dump());

  nlohmann::json bad = nlohmann::json::parse(j.dump());
  bad["version"] = 2;
  EXPECT_FALSE(calibStatsFromJson(bad).hasValue());
  bad = nlohmann::json::parse(j.dump());
  bad["tensors"]["z"]["count"] = 5;  // counts no longer add up
  EXPECT_FALSE(calibStatsFromJson(bad).hasValue());
}

}  // namespace
}  // namespace npuconv
