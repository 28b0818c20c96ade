// Elementwise kernels: broadcasting, dtypes (float16, ints, bool), opset differences and
// errors, checked against values computed here independently.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "converter/exec/executor.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

std::string header(int opset) { return "<ir_version: 8, opset_import: [\"\" : " + std::to_string(opset) + "]>\n"; }

Expected<NamedTensors> runModel(const std::string& text, const NamedTensors& inputs, int threads = 2) {
  Model m = test::parseModel(text);
  if (!m.graph) return Status::internal("parse failed");
  auto exec = Executor::create(m, ExecOptions{threads});
  if (!exec) return exec.status();
  // The graph lives in `m`; run before it goes away.
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

TEST(ElementwiseKernels, AddBroadcastsMultidirectionally) {
  // [2,3,4] + [3,1] and [1,4] + [2,1,1]: every pattern of the broadcast plan.
  auto a = randomFloats(24, -5, 5, 1), b = randomFloats(3, -5, 5, 2);
  auto r = runModel(header(13) + R"(g (float[2,3,4] a, float[3,1] b) => (float[2,3,4] y) { y = Add(a, b) })",
                    {{"a", make<float>(DType::F32, {2, 3, 4}, a)}, {"b", make<float>(DType::F32, {3, 1}, b)}});
  ASSERT_TRUE(r) << r.status().toString();
  const Tensor& y = r->at("y");
  ASSERT_EQ(y.dims(), (std::vector<int64_t>{2, 3, 4}));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_FLOAT_EQ(y.data<float>()[(i * 3 + j) * 4 + k], a[(i * 3 + j) * 4 + k] + b[j]);

  auto c = randomFloats(4, -5, 5, 3), d = randomFloats(2, -5, 5, 4);
  auto r2 = runModel(header(13) + R"(g (float[1,4] c, float[2,1,1] d) => (float[2,1,4] y) { y = Sub(c, d) })",
                     {{"c", make<float>(DType::F32, {1, 4}, c)}, {"d", make<float>(DType::F32, {2, 1, 1}, d)}});
  ASSERT_TRUE(r2) << r2.status().toString();
  const Tensor& y2 = r2->at("y");
  ASSERT_EQ(y2.dims(), (std::vector<int64_t>{2, 1, 4}));
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 4; ++k) EXPECT_FLOAT_EQ(y2.data<float>()[i * 4 + k], c[k] - d[i]);
}

TEST(ElementwiseKernels, LargeBroadcastMatchesAcrossThreadCounts) {
  // Big enough for several parallel chunks, with rows split between chunks.
  const int64_t n = 37, m = 5003;
  auto a = randomFloats(size_t(n * m), -3, 3, 5), b = randomFloats(size_t(m), 0.5f, 3, 6);
  std::string text = header(14) + R"(g (float[37,5003] a, float[5003] b) => (float[37,5003] y) { y = Div(a, b) })";
  NamedTensors in{{"a", make<float>(DType::F32, {n, m}, a)}, {"b", make<float>(DType::F32, {m}, b)}};
  auto r1 = runModel(text, in, 1), r2 = runModel(text, in, 3);
  ASSERT_TRUE(r1 && r2);
  for (int64_t i = 0; i < n * m; ++i) {
    float want = a[size_t(i)] / b[size_t(i % m)];
    ASSERT_EQ(r1->at("y").data<float>()[i], want) << i;
    ASSERT_EQ(r2->at("y").data<float>()[i], want) << i;
  }
}

TEST(ElementwiseKernels, IncompatibleShapesFailNamingTheNode) {
  auto r = runModel(header(13) + R"(g (float[2,3] a, float[4] b) => (float[2,3] y) { y = Mul(a, b) })",
                    {{"a", Tensor(DType::F32, {2, 3})}, {"b", Tensor(DType::F32, {4})}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("Mul"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("broadcast"), std::string::npos) << r.status().message();
}

TEST(ElementwiseKernels, Float16ComputesInFloatAndRoundsOnce) {
  std::vector<float> af = {0.1f, -2.5f, 1000.f, 3.3333f, 65000.f, -0.0001f};
  std::vector<float> bf = {3.0f, 0.7f, 1.001f, -3.0f, 2.0f, 10.f};
  std::vector<uint16_t> a, b;
  for (float v : af) a.push_back(floatToHalf(v));
  for (float v : bf) b.push_back(floatToHalf(v));
  auto r = runModel(header(13) + R"(g (float16[6] a, float16[6] b) => (float16[6] y, float16[6] s) {
      y = Mul(a, b)
      s = Sigmoid(a)
    })",
                    {{"a", make<uint16_t>(DType::F16, {6}, a)}, {"b", make<uint16_t>(DType::F16, {6}, b)}});
  ASSERT_TRUE(r) << r.status().toString();
  ASSERT_EQ(r->at("y").dtype(), DType::F16);
  for (size_t i = 0; i < 6; ++i) {
    float x = halfToFloat(a[i]), yv = halfToFloat(b[i]);
    EXPECT_EQ(r->at("y").data<uint16_t>()[i], floatToHalf(x * yv)) << i;  // 65000*2 -> inf
    float sig = 1.0f / (1.0f + std::exp(-x));
    EXPECT_NEAR(halfToFloat(r->at("s").data<uint16_t>()[i]), sig, 1e-3) << i;
  }
}

TEST(ElementwiseKernels, ClipBoundsAreAttributesBeforeOpset11AndInputsAfter) {
  std::vector<float> x = {-3, -1, 0, 0.5f, 2, 7};
  auto r6 = runModel(header(6) + R"(g (float[6] x) => (float[6] y) { y = Clip<min = -1.5, max = 1.0>(x) })",
                     {{"x", make<float>(DType::F32, {6}, x)}});
  ASSERT_TRUE(r6) << r6.status().toString();
  auto r13 = runModel(header(13) + R"(g (float[6] x, float lo, float hi) => (float[6] y) { y = Clip(x, lo, hi) })",
                      {{"x", make<float>(DType::F32, {6}, x)},
                       {"lo", make<float>(DType::F32, {}, {-1.5f})},
                       {"hi", make<float>(DType::F32, {}, {1.0f})}});
  ASSERT_TRUE(r13) << r13.status().toString();
  // Only a max bound (min left empty) on int8.
  auto ri = runModel(header(13) + R"(g (int8[4] x, int8 hi) => (int8[4] y) { y = Clip(x, , hi) })",
                     {{"x", make<int8_t>(DType::I8, {4}, {-128, -5, 3, 100})}, {"hi", make<int8_t>(DType::I8, {}, {4})}});
  ASSERT_TRUE(ri) << ri.status().toString();
  for (size_t i = 0; i < x.size(); ++i) {
    float want = std::min(std::max(x[i], -1.5f), 1.0f);
    EXPECT_EQ(r6->at("y").data<float>()[i], want);
    EXPECT_EQ(r13->at("y").data<float>()[i], want);
  }
  std::vector<int8_t> wantI = {-128, -5, 3, 4};
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(ri->at("y").data<int8_t>()[i], wantI[i]);
}

TEST(ElementwiseKernels, IntegerDivModAndPow) {
  std::vector<int32_t> a = {7, -7, 7, -7, 5, -2147483647 - 1};
  std::vector<int32_t> b = {3, 3, -3, -3, 0, -1};
  auto r = runModel(header(13) + R"(g (int32[6] a, int32[6] b) => (int32[6] d, int32[6] m, int32[6] f) {
      d = Div(a, b)
      m = Mod(a, b)
      f = Mod<fmod = 1>(a, b)
    })",
                    {{"a", make<int32_t>(DType::I32, {6}, a)}, {"b", make<int32_t>(DType::I32, {6}, b)}});
  ASSERT_TRUE(r) << r.status().toString();
  // C++ truncating division; Python-style modulo (sign of divisor); C fmod (sign of dividend).
  std::vector<int32_t> wd = {2, -2, -2, 2, 0, -2147483647 - 1}, wm = {1, 2, -2, -1, 0, 0}, wf = {1, -1, 1, -1, 0, 0};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(r->at("d").data<int32_t>()[i], wd[i]) << i;
    EXPECT_EQ(r->at("m").data<int32_t>()[i], wm[i]) << i;
    EXPECT_EQ(r->at("f").data<int32_t>()[i], wf[i]) << i;
  }
  auto p = runModel(header(15) + R"(g (float[3] x, int64[3] e, int64[3] xi) => (float[3] y, int64[3] yi) {
      y = Pow(x, e)
      yi = Pow(xi, e)
    })",
                    {{"x", make<float>(DType::F32, {3}, {1.5f, -2.f, 4.f})},
                     {"e", make<int64_t>(DType::I64, {3}, {2, 3, -1})},
                     {"xi", make<int64_t>(DType::I64, {3}, {3, -2, 1})}});
  ASSERT_TRUE(p) << p.status().toString();
  EXPECT_FLOAT_EQ(p->at("y").data<float>()[0], 2.25f);
  EXPECT_FLOAT_EQ(p->at("y").data<float>()[1], -8.f);
  EXPECT_FLOAT_EQ(p->at("y").data<float>()[2], 0.25f);
  EXPECT_EQ(p->at("yi").data<int64_t>()[0], 9);
  EXPECT_EQ(p->at("yi").data<int64_t>()[1], -8);
  EXPECT_EQ(p->at("yi").data<int64_t>()[2], 1);
}

TEST(ElementwiseKernels, WhereAndComparisonsBroadcast) {
  std::vector<float> x = {1, 2, 3, 4, 5};
  auto r = runModel(header(16) + R"(g (float[5] x, float[4,1] t) => (float[4,5] y, bool[4,5] ge) {
      ge = GreaterOrEqual(x, t)
      zero = Constant<value = float {0}>()
      y = Where(ge, x, zero)
    })",
                    {{"x", make<float>(DType::F32, {5}, x)}, {"t", make<float>(DType::F32, {4, 1}, {0, 2, 4.5f, 9})}});
  ASSERT_TRUE(r) << r.status().toString();
  float t[4] = {0, 2, 4.5f, 9};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 5; ++j) {
      bool ge = x[size_t(j)] >= t[i];
      EXPECT_EQ(r->at("ge").data<bool>()[i * 5 + j], ge);
      EXPECT_EQ(r->at("y").data<float>()[i * 5 + j], ge ? x[size_t(j)] : 0.f);
    }
}

TEST(ElementwiseKernels, VariadicMeanAndMaxBroadcast) {
  auto r = runModel(header(13) + R"(g (float[2,2] a, float[2] b, float c) => (float[2,2] m, float[2,2] x) {
      m = Mean(a, b, c)
      x = Max(a, b, c)
    })",
                    {{"a", make<float>(DType::F32, {2, 2}, {1, 2, 3, 4})},
                     {"b", make<float>(DType::F32, {2}, {10, -10})},
                     {"c", make<float>(DType::F32, {}, {2.5f})}});
  ASSERT_TRUE(r) << r.status().toString();
  float a[4] = {1, 2, 3, 4}, b[2] = {10, -10};
  for (int i = 0; i < 4; ++i) {
    EXPECT_FLOAT_EQ(r->at("m").data<float>()[i], (a[i] + b[i % 2] + 2.5f) / 3);
    EXPECT_FLOAT_EQ(r->at("x").data<float>()[i], std::max({a[i], b[i % 2], 2.5f}));
  }
}

TEST(ElementwiseKernels, CastSaturatesAndRoundsHalf) {
  std::vector<float> x = {1.7f, -1.7f, 300.f, -300.f, NAN, 0.f, 65519.f, 1e-8f};
  auto r = runModel(header(13) + R"(g (float[8] x) => (int8[8] i, float16[8] h, bool[8] b, double[8] d) {
      i = Cast<to = 3>(x)
      h = Cast<to = 10>(x)
      b = Cast<to = 9>(x)
      d = Cast<to = 11>(h)
    })",
                    {{"x", make<float>(DType::F32, {8}, x)}});
  ASSERT_TRUE(r) << r.status().toString();
  std::vector<int8_t> wi = {1, -1, 127, -128, 0, 0, 127, 0};
  for (size_t k = 0; k < x.size(); ++k) {
    EXPECT_EQ(r->at("i").data<int8_t>()[k], wi[k]) << k;
    EXPECT_EQ(r->at("h").data<uint16_t>()[k], floatToHalf(x[k])) << k;
    EXPECT_EQ(r->at("b").data<bool>()[k], x[k] != 0) << k;  // NaN is true
    double hd = r->at("d").data<double>()[k];
    if (std::isnan(x[k])) EXPECT_TRUE(std::isnan(hd));
    else EXPECT_EQ(hd, double(halfToFloat(floatToHalf(x[k])))) << k;
  }
}

TEST(ElementwiseKernels, Float32SigmoidVectorAndTailAgreeBitwise) {
  // The float32 Sigmoid runs 8 lanes at a time and its tail through a buffer: the same value at
  // a vector position and at a tail position must give the same bits; NaN stays NaN, the
  // infinities give 1 and 0.
  std::vector<float> head = {-100.f, -8.5f, -1.f, -0.f, 0.f, 0.3f, 7.25f, 90.f,
                             std::numeric_limits<float>::quiet_NaN(), INFINITY, -INFINITY, 1e-8f, -3.75f, 2.f, 15.f, -15.f};
  std::vector<float> x = head;
  for (size_t i = 0; i < 7; ++i) x.push_back(head[i + 8]);  // 23 elements: 7 in the tail
  const int64_t n = int64_t(x.size());
  auto r = runModel(header(13) + "g (float[" + std::to_string(n) + "] x) => (float[" + std::to_string(n) +
                        "] s) { s = Sigmoid(x) }",
                    {{"x", make<float>(DType::F32, {n}, x)}});
  ASSERT_TRUE(r) << r.status().toString();
  const float* s = r->at("s").data<float>();
  for (size_t i = 0; i < 7; ++i) {
    uint32_t a, b;
    std::memcpy(&a, s + 8 + i, 4);
    std::memcpy(&b, s + 16 + i, 4);
    EXPECT_EQ(a, b) << "x = " << head[i + 8];
  }
  EXPECT_TRUE(std::isnan(s[8]));
  EXPECT_EQ(s[9], 1.0f);
  EXPECT_EQ(s[10], 0.0f);
  EXPECT_EQ(s[3], 0.5f);
  EXPECT_EQ(s[4], 0.5f);
}

TEST(ElementwiseKernels, ActivationsMatchTheirFormulas) {
  auto x = randomFloats(1000, -8, 8, 11);
  x.push_back(0.f);
  x.push_back(-100.f);
  x.push_back(100.f);
  int64_t n = int64_t(x.size());
  std::string shape = "[" + std::to_string(n) + "]";
  auto r = runModel(header(17) + "g (float" + shape + " x) => (float" + shape + " s, float" + shape + " hs, float" + shape +
                        " e, float" + shape + " sp, float" + shape + " se, float" + shape + " ex, float" + shape + " lr) {\n" +
                        R"(
      s = Sigmoid(x)
      hs = HardSwish(x)
      e = Elu<alpha = 0.5>(x)
      sp = Softplus(x)
      se = Selu(x)
      ex = Exp(x)
      lr = LeakyRelu<alpha = 0.2>(x)
    })",
                    {{"x", make<float>(DType::F32, {n}, x)}});
  ASSERT_TRUE(r) << r.status().toString();
  auto near = [](double got, double want) {
    want = double(float(want));  // overflow to inf like float does
    return got == want || std::fabs(got - want) <= 1e-6 + 1e-5 * std::fabs(want);
  };
  for (size_t i = 0; i < x.size(); ++i) {
    double v = x[i];
    EXPECT_PRED2(near, r->at("s").data<float>()[i], 1 / (1 + std::exp(-v))) << v;
    EXPECT_PRED2(near, r->at("hs").data<float>()[i], v * std::clamp(v / 6 + 0.5, 0.0, 1.0)) << v;
    EXPECT_PRED2(near, r->at("e").data<float>()[i], v < 0 ? 0.5 * (std::exp(v) - 1) : v) << v;
    EXPECT_PRED2(near, r->at("sp").data<float>()[i], std::log(std::exp(v) + 1)) << v;
    EXPECT_PRED2(near, r->at("se").data<float>()[i], v > 0 ? 1.0507009873554805 * v : 1.0507009873554805 * 1.6732632423543772 * (std::exp(v) - 1)) << v;
    EXPECT_PRED2(near, r->at("ex").data<float>()[i], std::exp(v)) << v;
    EXPECT_PRED2(near, r->at("lr").data<float>()[i], v < 0 ? 0.2 * v : v) << v;
  }
}

TEST(ElementwiseKernels, GeluExactAndTanh) {
  std::vector<float> x = {-3, -1, -0.5f, 0, 0.5f, 1, 3};
  auto r = runModel(header(17) + R"(g (float[7] x) => (float[7] a, float[7] b, float[7] r) {
      a = Gelu(x)
      b = Gelu<approximate = "tanh">(x)
      r = Round(x)
    })",
                    {{"x", make<float>(DType::F32, {7}, x)}});
  ASSERT_TRUE(r) << r.status().toString();
  for (size_t i = 0; i < x.size(); ++i) {
    double v = x[i];
    EXPECT_NEAR(r->at("a").data<float>()[i], 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))), 1e-6);
    EXPECT_NEAR(r->at("b").data<float>()[i], 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))), 1e-6);
  }
  // Round half to even: -0.5 -> -0, 0.5 -> 0.
  EXPECT_EQ(r->at("r").data<float>()[2], 0.f);
  EXPECT_EQ(r->at("r").data<float>()[4], 0.f);
}

TEST(ElementwiseKernels, DropoutInferenceIsIdentityWithTrueMask) {
  std::vector<float> x = {1, 2, 3};
  auto r = runModel(header(13) + R"(g (float[3] x) => (float[3] y, bool[3] m) { y, m = Dropout(x) })",
                    {{"x", make<float>(DType::F32, {3}, x)}});
  ASSERT_TRUE(r) << r.status().toString();
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r->at("y").data<float>()[i], x[i]);
    EXPECT_TRUE(r->at("m").data<bool>()[i]);
  }
  auto t = runModel(header(13) + R"(g (float[3] x, float ratio, bool train) => (float[3] y) { y = Dropout(x, ratio, train) })",
                    {{"x", make<float>(DType::F32, {3}, x)},
                     {"ratio", make<float>(DType::F32, {}, {0.5f})},
                     {"train", make<uint8_t>(DType::Bool, {}, {1})}});
  ASSERT_FALSE(t);
  EXPECT_EQ(t.status().code(), StatusCode::Unsupported);
}

TEST(ElementwiseKernels, BitShiftAndLogic) {
  auto r = runModel(header(13) + R"(g (uint8[4] a, uint8[4] s, bool[4] p, bool[4] q) => (uint8[4] l, uint8[4] rr, bool[4] x, bool[4] n) {
      l = BitShift<direction = "LEFT">(a, s)
      rr = BitShift<direction = "RIGHT">(a, s)
      x = Xor(p, q)
      n = Not(p)
    })",
                    {{"a", make<uint8_t>(DType::U8, {4}, {1, 3, 255, 16})},
                     {"s", make<uint8_t>(DType::U8, {4}, {1, 2, 9, 4})},
                     {"p", make<uint8_t>(DType::Bool, {4}, {1, 1, 0, 0})},
                     {"q", make<uint8_t>(DType::Bool, {4}, {1, 0, 1, 0})}});
  ASSERT_TRUE(r) << r.status().toString();
  std::vector<uint8_t> wl = {2, 12, 0, 0}, wr = {0, 0, 0, 1};
  std::vector<bool> wx = {false, true, true, false}, wn = {false, false, true, true};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(r->at("l").data<uint8_t>()[i], wl[i]) << i;
    EXPECT_EQ(r->at("rr").data<uint8_t>()[i], wr[i]) << i;
    EXPECT_EQ(r->at("x").data<bool>()[i], wx[i]) << i;
    EXPECT_EQ(r->at("n").data<bool>()[i], wn[i]) << i;
  }
}

}  // namespace
}  // namespace npuconv
