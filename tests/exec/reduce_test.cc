// Reduce-family kernels: axes as attribute vs input, keepdims, non-contiguous axes, softmax
// opset semantics, LayerNorm statistics, float16; expectations computed here independently.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "converter/exec/executor.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

std::string header(int opset) { return "<ir_version: 8, opset_import: [\"\" : " + std::to_string(opset) + "]>\n"; }

Expected<NamedTensors> tryRunText(const std::string& text, const NamedTensors& inputs, int threads = 2) {
  Model m = test::parseModel(text);
  if (!m.graph) return Status::internal("parse failed");
  auto exec = Executor::create(m, ExecOptions{threads});
  if (!exec) return exec.status();
  return (*exec)->run(inputs);
}

template <typename T>
Tensor make(DType t, std::vector<int64_t> dims, const std::vector<T>& v) {
  return Tensor::fromValues<T>(t, std::move(dims), std::span<const T>(v));
}

std::vector<float> randomFloats(size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(ReduceKernels, SumOverNonContiguousAxesAttributeAndInputForms) {
  auto x = randomFloats(24, -2, 2, 1);
  // Reference: sum over axes 0 and 2 of [2,3,4].
  std::vector<double> want(3, 0.0);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) want[size_t(j)] += x[size_t((i * 3 + j) * 4 + k)];
  auto r11 = tryRunText(header(11) + R"(g (float[2,3,4] x) => (float[3] y) { y = ReduceSum<axes = [0, -1], keepdims = 0>(x) })",
                      {{"x", make<float>(DType::F32, {2, 3, 4}, x)}});
  ASSERT_TRUE(r11) << r11.status().toString();
  auto r13 = tryRunText(header(13) + R"(g (float[2,3,4] x, int64[2] axes) => (float[1,3,1] y) { y = ReduceSum(x, axes) })",
                      {{"x", make<float>(DType::F32, {2, 3, 4}, x)}, {"axes", make<int64_t>(DType::I64, {2}, {0, 2})}});
  ASSERT_TRUE(r13) << r13.status().toString();
  EXPECT_EQ(r11->at("y").dims(), (std::vector<int64_t>{3}));
  EXPECT_EQ(r13->at("y").dims(), (std::vector<int64_t>{1, 3, 1}));
  for (size_t j = 0; j < 3; ++j) {
    EXPECT_NEAR(r11->at("y").data<float>()[j], want[j], 1e-5);
    EXPECT_NEAR(r13->at("y").data<float>()[j], want[j], 1e-5);
  }
}

TEST(ReduceKernels, EmptyAxesReduceAllOrNothing) {
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  auto all = tryRunText(header(13) + R"(g (float[2,3] x) => (float[1,1] y) { y = ReduceSum(x) })",
                      {{"x", make<float>(DType::F32, {2, 3}, x)}});
  ASSERT_TRUE(all) << all.status().toString();
  EXPECT_EQ(all->at("y").dims(), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(all->at("y").data<float>()[0], 21.f);
  auto noop = tryRunText(header(13) + R"(g (float[2,3] x, int64[0] axes) => (float[2,3] y) { y = ReduceSum<noop_with_empty_axes = 1>(x, axes) })",
                       {{"x", make<float>(DType::F32, {2, 3}, x)}, {"axes", Tensor(DType::I64, {0})}});
  ASSERT_TRUE(noop) << noop.status().toString();
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(noop->at("y").data<float>()[i], x[i]);
}

TEST(ReduceKernels, ReducersAgreeWithDirectFormulas) {
  auto x = randomFloats(60, 0.1f, 2, 2);
  auto r = tryRunText(header(13) + R"(g (float[3,4,5] x) => (float[3,5] mx, float[3,5] mn, float[3,5] pr, float[3,5] l2, float[3,5] lse, float[3,5] mean) {
      mx = ReduceMax<axes = [1], keepdims = 0>(x)
      mn = ReduceMin<axes = [1], keepdims = 0>(x)
      pr = ReduceProd<axes = [1], keepdims = 0>(x)
      l2 = ReduceL2<axes = [1], keepdims = 0>(x)
      lse = ReduceLogSumExp<axes = [1], keepdims = 0>(x)
      mean = ReduceMean<axes = [1], keepdims = 0>(x)
    })",
                    {{"x", make<float>(DType::F32, {3, 4, 5}, x)}});
  ASSERT_TRUE(r) << r.status().toString();
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 5; ++k) {
      double mx = -1e30, mn = 1e30, pr = 1, sq = 0, se = 0, s = 0;
      for (int j = 0; j < 4; ++j) {
        double v = x[size_t((i * 4 + j) * 5 + k)];
        mx = std::max(mx, v), mn = std::min(mn, v), pr *= v, sq += v * v, se += std::exp(v), s += v;
      }
      size_t o = size_t(i * 5 + k);
      EXPECT_FLOAT_EQ(r->at("mx").data<float>()[o], float(mx));
      EXPECT_FLOAT_EQ(r->at("mn").data<float>()[o], float(mn));
      EXPECT_NEAR(r->at("pr").data<float>()[o], pr, 1e-5 * pr);
      EXPECT_NEAR(r->at("l2").data<float>()[o], std::sqrt(sq), 1e-5);
      EXPECT_NEAR(r->at("lse").data<float>()[o], std::log(se), 1e-5);
      EXPECT_NEAR(r->at("mean").data<float>()[o], s / 4, 1e-6);
    }
}

TEST(ReduceKernels, ArgMaxSelectLastIndex) {
  std::vector<float> x = {1, 5, 5, 2, 7, 7, 7, 0};
  auto r = tryRunText(header(13) + R"(g (float[2,4] x) => (int64[2] first, int64[2,1] last, int64[1,4] mn) {
      first = ArgMax<axis = 1, keepdims = 0>(x)
      last = ArgMax<axis = -1, select_last_index = 1>(x)
      mn = ArgMin<axis = 0>(x)
    })",
                    {{"x", make<float>(DType::F32, {2, 4}, x)}});
  ASSERT_TRUE(r) << r.status().toString();
  EXPECT_EQ(r->at("first").data<int64_t>()[0], 1);
  EXPECT_EQ(r->at("first").data<int64_t>()[1], 0);
  EXPECT_EQ(r->at("last").data<int64_t>()[0], 2);
  EXPECT_EQ(r->at("last").data<int64_t>()[1], 2);
  std::vector<int64_t> wmn = {0, 0, 0, 1};
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(r->at("mn").data<int64_t>()[i], wmn[i]);
}

std::vector<double> refSoftmax(const std::vector<float>& x, size_t off, size_t n, size_t stride) {
  double m = -1e300, s = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, double(x[off + i * stride]));
  std::vector<double> y(n);
  for (size_t i = 0; i < n; ++i) s += (y[i] = std::exp(double(x[off + i * stride]) - m));
  for (double& v : y) v /= s;
  return y;
}

TEST(ReduceKernels, SoftmaxOpsetSemanticsDiffer) {
  // axis=1 of [2,3,4]: opset 11 normalizes over the flattened 12 trailing elements, opset 13
  // over the 3 elements of axis 1 only.
  auto x = randomFloats(24, -3, 3, 3);
  std::string body = R"(g (float[2,3,4] x) => (float[2,3,4] y) { y = Softmax<axis = 1>(x) })";
  auto r11 = tryRunText(header(11) + body, {{"x", make<float>(DType::F32, {2, 3, 4}, x)}});
  auto r13 = tryRunText(header(13) + body, {{"x", make<float>(DType::F32, {2, 3, 4}, x)}});
  ASSERT_TRUE(r11 && r13);
  for (size_t i = 0; i < 2; ++i) {
    auto w = refSoftmax(x, i * 12, 12, 1);
    for (size_t k = 0; k < 12; ++k) EXPECT_NEAR(r11->at("y").data<float>()[i * 12 + k], w[k], 1e-6);
    for (size_t k = 0; k < 4; ++k) {
      auto w3 = refSoftmax(x, i * 12 + k, 3, 4);
      for (size_t j = 0; j < 3; ++j) EXPECT_NEAR(r13->at("y").data<float>()[i * 12 + j * 4 + k], w3[j], 1e-6);
    }
  }
}

TEST(ReduceKernels, LastAxisSoftmaxAndLogSoftmaxAreAccurate) {
  // BERT-like attention scores: many rows, parallel chunks, a -inf mask column.
  const size_t rows = 96, n = 384;
  auto x = randomFloats(rows * n, -20, 20, 4);
  for (size_t r = 0; r < rows; ++r) x[r * n + 7] = -INFINITY;
  auto r = tryRunText(header(13) + R"(g (float[96,384] x) => (float[96,384] y, float[96,384] l) {
      y = Softmax(x)
      l = LogSoftmax(x)
    })",
                    {{"x", make<float>(DType::F32, {int64_t(rows), int64_t(n)}, x)}});
  ASSERT_TRUE(r) << r.status().toString();
  double worst = 0;
  for (size_t i = 0; i < rows; ++i) {
    auto w = refSoftmax(x, i * n, n, 1);
    for (size_t k = 0; k < n; ++k) {
      double got = r->at("y").data<float>()[i * n + k];
      worst = std::max(worst, std::fabs(got - w[k]) / std::max(w[k], 1e-30));
      if (k == 7) {
        EXPECT_EQ(got, 0.0);
        EXPECT_TRUE(std::isinf(r->at("l").data<float>()[i * n + k]));
      } else if (w[k] > 1e-30) {
        EXPECT_NEAR(r->at("l").data<float>()[i * n + k], std::log(w[k]), 1e-4);
      }
    }
  }
  EXPECT_LT(worst, 1e-5);
}

TEST(ReduceKernels, LayerNormalizationWithStatistics) {
  auto x = randomFloats(2 * 3 * 8, -4, 4, 5);
  auto s = randomFloats(8, 0.5f, 2, 6), b = randomFloats(8, -1, 1, 7);
  auto r = tryRunText(header(17) + R"(g (float[2,3,8] x, float[8] s, float[8] b) => (float[2,3,8] y, float[2,3,1] mean, float[2,3,1] inv) {
      y, mean, inv = LayerNormalization<epsilon = 0.001>(x, s, b)
    })",
                    {{"x", make<float>(DType::F32, {2, 3, 8}, x)}, {"s", make<float>(DType::F32, {8}, s)},
                     {"b", make<float>(DType::F32, {8}, b)}});
  ASSERT_TRUE(r) << r.status().toString();
  EXPECT_EQ(r->at("mean").dims(), (std::vector<int64_t>{2, 3, 1}));
  for (size_t row = 0; row < 6; ++row) {
    double mu = 0, var = 0;
    for (size_t i = 0; i < 8; ++i) mu += x[row * 8 + i];
    mu /= 8;
    for (size_t i = 0; i < 8; ++i) var += (x[row * 8 + i] - mu) * (x[row * 8 + i] - mu);
    var /= 8;
    double inv = 1 / std::sqrt(var + 0.001);
    EXPECT_NEAR(r->at("mean").data<float>()[row], mu, 1e-5);
    EXPECT_NEAR(r->at("inv").data<float>()[row], inv, 1e-4 * inv);
    for (size_t i = 0; i < 8; ++i)
      EXPECT_NEAR(r->at("y").data<float>()[row * 8 + i], (x[row * 8 + i] - mu) * inv * s[i] + b[i], 1e-4);
  }
}

TEST(ReduceKernels, Float16ReduceMeanAndSoftmax) {
  std::vector<float> xf = {0.5f, 1.5f, -2.f, 3.25f, 100.f, -7.5f};
  std::vector<uint16_t> x;
  for (float v : xf) x.push_back(floatToHalf(v));
  auto r = tryRunText(header(13) + R"(g (float16[2,3] x) => (float16[2,1] m, float16[2,3] s) {
      m = ReduceMean<axes = [1]>(x)
      s = Softmax(x)
    })",
                    {{"x", make<uint16_t>(DType::F16, {2, 3}, x)}});
  ASSERT_TRUE(r) << r.status().toString();
  ASSERT_EQ(r->at("m").dtype(), DType::F16);
  EXPECT_EQ(r->at("m").data<uint16_t>()[0], floatToHalf(0.0f));
  EXPECT_EQ(r->at("m").data<uint16_t>()[1], floatToHalf((3.25f + 100.f - 7.5f) / 3));
  for (size_t i = 0; i < 2; ++i) {
    auto w = refSoftmax(xf, i * 3, 3, 1);
    for (size_t k = 0; k < 3; ++k) EXPECT_NEAR(halfToFloat(r->at("s").data<uint16_t>()[i * 3 + k]), w[k], 1e-3);
  }
}

TEST(ReduceKernels, BatchNormInferenceAndTrainingUnsupported) {
  std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8};  // [1,2,2,2]
  std::string text = header(15) + R"(g (float[1,2,2,2] x, float[2] s, float[2] b, float[2] m, float[2] v) => (float[1,2,2,2] y) {
      y = BatchNormalization<epsilon = 0.01>(x, s, b, m, v)
    })";
  NamedTensors in{{"x", make<float>(DType::F32, {1, 2, 2, 2}, x)},
                  {"s", make<float>(DType::F32, {2}, {2, 0.5f})},
                  {"b", make<float>(DType::F32, {2}, {1, -1})},
                  {"m", make<float>(DType::F32, {2}, {2, 6})},
                  {"v", make<float>(DType::F32, {2}, {4, 1})}};
  auto r = tryRunText(text, in);
  ASSERT_TRUE(r) << r.status().toString();
  float sc[2] = {2, 0.5f}, bb[2] = {1, -1}, mm[2] = {2, 6}, vv[2] = {4, 1};
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < 4; ++i)
      EXPECT_NEAR(r->at("y").data<float>()[c * 4 + i], (x[size_t(c * 4 + i)] - mm[c]) / std::sqrt(vv[c] + 0.01) * sc[c] + bb[c], 1e-5);
  std::string train = text;
  train.replace(train.find("epsilon = 0.01"), 14, "training_mode = 1");
  auto t = tryRunText(train, in);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.status().code(), StatusCode::Unsupported);
}

TEST(ReduceKernels, CumSumExclusiveReverse) {
  std::vector<int32_t> x = {1, 2, 3, 4, 5, 6};  // [2,3]
  auto r = tryRunText(header(14) + R"(g (int32[2,3] x, int64 ax) => (int32[2,3] y, int32[2,3] z) {
      y = CumSum<exclusive = 1, reverse = 1>(x, ax)
      zero = Constant<value = int64 {0}>()
      z = CumSum(x, zero)
    })",
                    {{"x", make<int32_t>(DType::I32, {2, 3}, x)}, {"ax", make<int64_t>(DType::I64, {}, {1})}});
  ASSERT_TRUE(r) << r.status().toString();
  std::vector<int32_t> wy = {5, 3, 0, 11, 6, 0}, wz = {1, 2, 3, 5, 7, 9};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(r->at("y").data<int32_t>()[i], wy[i]) << i;
    EXPECT_EQ(r->at("z").data<int32_t>()[i], wz[i]) << i;
  }
}

}  // namespace
}  // namespace npuconv
