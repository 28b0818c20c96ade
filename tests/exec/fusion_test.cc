// fusion_test.cc - the executor's plan-time fusions (Conv + activation, Conv + residual Add [+
// activation], MatMul + bias): results are bit-identical to the unfused run (an observer turns
// fusion off; Paddle2ONNX's Add/Clip/Mul/Div HardSwish too), the observer still sees every tensor, a Conv output with more than one consumer is
// not fused, and a residual that does not fit is declined at run time.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "converter/exec/executor.h"
#include "formats/onnx/onnx_reader.h"

namespace npuconv {
namespace {

struct RunResult {
  std::vector<double> y;
  std::set<std::string> observed;
  uint64_t allocations = 0;  // tensors the run allocated: fewer when steps are fused away
};

RunResult runModel(const std::string& text, bool observe, int threads = 2) {
  auto model = parseOnnxText(text);
  EXPECT_TRUE(model.hasValue()) << model.status().toString();
  if (!model) return {};
  auto exec = Executor::create(*model, ExecOptions{threads});
  EXPECT_TRUE(exec.hasValue()) << exec.status().toString();
  if (!exec) return {};
  RunResult r;
  if (observe)
    (*exec)->setObserver([&](const Node& n, size_t i, const Tensor&) { r.observed.insert(n.result(i)->name()); });
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  std::vector<float> x(2 * 8 * 9 * 11);
  for (auto& v : x) v = u(rng);
  NamedTensors feeds;
  feeds["X"] = Tensor::fromValues<float>(DType::F32, {2, 8, 9, 11}, std::span<const float>(x));
  auto out = (*exec)->run(feeds);
  EXPECT_TRUE(out.hasValue()) << out.status().toString();
  if (out) r.y = out->at("Y").toDoubles();
  r.allocations = (*exec)->memoryStats().allocations;
  return r;
}

/// Conv (dense 3x3 or depthwise 3x3 stride 2) followed by `act`, weights as initializers.
std::string model(const std::string& act, bool depthwise, const std::string& extraInit = "") {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  int64_t wIn = depthwise ? 1 : 8;
  std::string w, b;
  for (int64_t i = 0; i < 8 * wIn * 9; ++i) w += (i ? ", " : "") + std::to_string(u(rng));
  for (int64_t i = 0; i < 8; ++i) b += (i ? ", " : "") + std::to_string(u(rng));
  std::string conv = depthwise ? "C = Conv <group = 8, strides = [2, 2], pads = [1, 1, 1, 1]> (X, W, B)"
                               : "C = Conv <pads = [1, 1, 1, 1]> (X, W, B)";
  std::string out = depthwise ? "[2, 8, 5, 6]" : "[2, 8, 9, 11]";
  return "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float[2, 8, 9, 11] X) => (float" + out +
         " Y)\n<float[8, " + std::to_string(wIn) + ", 3, 3] W = {" + w + "}, float[8] B = {" + b + "}" + extraInit +
         ">\n{\n  " + conv + "\n  " + act + "\n}\n";
}

void expectSame(const RunResult& fused, const RunResult& plain) {
  ASSERT_EQ(fused.y.size(), plain.y.size());
  ASSERT_FALSE(plain.y.empty());
  for (size_t i = 0; i < plain.y.size(); ++i)
    ASSERT_EQ(fused.y[i], plain.y[i]) << "element " << i;  // the epilogue does the same arithmetic
}

TEST(ExecFusion, ConvActivationMatchesUnfusedRun) {
  const std::string acts[] = {
      "Y = Relu (C)",
      "Y = LeakyRelu <alpha = 0.2> (C)",
      "Y = HardSigmoid <alpha = 0.3, beta = 0.4> (C)",
      "Y = HardSwish (C)",
      "Y = Sigmoid (C)",
      "Y = Clip (C, lo, hi)",
  };
  const std::string clipInit = ", float lo = {-0.25}, float hi = {0.6}";
  for (bool dw : {false, true})
    for (const std::string& act : acts) {
      SCOPED_TRACE(act + (dw ? " depthwise" : " dense"));
      std::string text = model(act, dw, act.find("Clip") != std::string::npos ? clipInit : "");
      RunResult fused = runModel(text, false), plain = runModel(text, true);
      expectSame(fused, plain);
      // The observed (unfused) run saw the Conv output too.
      EXPECT_TRUE(plain.observed.count("C"));
      EXPECT_TRUE(plain.observed.count("Y"));
      RunResult fused1 = runModel(text, false, 1);
      expectSame(fused1, plain);
    }
}

TEST(ExecFusion, PaddleHardSwishIsFusedBitIdentically) {
  // Paddle2ONNX's HardSwish, x * Clip(x + 3, 0, 6) / 6, after a dense or depthwise Conv (outputs
  // spread over about -8..8: both clip bounds are hit), either operand order.
  const std::string inits = ", float three = {3.0}, float zero = {0.0}, float six = {6.0}, float five = {5.0}";
  const std::string cases[] = {
      "A = Add (C, three)\n  K = Clip (A, zero, six)\n  M = Mul (C, K)\n  Y = Div (M, six)",
      "A = Add (three, C)\n  K = Clip (A, zero, six)\n  M = Mul (K, C)\n  Y = Div (M, six)",
  };
  for (bool dw : {false, true})
    for (const std::string& c : cases) {
      SCOPED_TRACE(c + (dw ? " depthwise" : " dense"));
      const std::string text = model(c, dw, inits);
      RunResult plain = runModel(text, true);
      for (int threads : {1, 2}) {
        RunResult fused = runModel(text, false, threads);
        expectSame(fused, plain);
        EXPECT_LT(fused.allocations + 3, plain.allocations + 1);  // A, K and M never allocated
      }
    }
  // Another divisor is not HardSwish: nothing is fused away, results unchanged.
  const std::string text = model(
      "A = Add (C, three)\n  K = Clip (A, zero, six)\n  M = Mul (C, K)\n  Y = Div (M, five)", false, inits);
  RunResult plain = runModel(text, true), other = runModel(text, false);
  expectSame(other, plain);
  EXPECT_EQ(other.allocations, plain.allocations);
}

TEST(ExecFusion, ConvHardSigmoidMulIsFusedAsHardSwish) {
  for (bool dw : {false, true})
    for (const std::string& act : {std::string("H = HardSigmoid <alpha = 0.16666667, beta = 0.5> (C)\n  Y = Mul (C, H)"),
                                   std::string("H = HardSigmoid <alpha = 0.16666667, beta = 0.5> (C)\n  Y = Mul (H, C)"),
                                   // not a HardSwish: other parameters
                                   std::string("H = HardSigmoid <alpha = 0.2, beta = 0.5> (C)\n  Y = Mul (C, H)")}) {
      SCOPED_TRACE(act);
      std::string text = model(act, dw);
      RunResult fused = runModel(text, false), plain = runModel(text, true);
      expectSame(fused, plain);
      EXPECT_TRUE(plain.observed.count("H"));
    }
}

/// MatMul(X, W) then `add` (which reads M), W [K, N] and b [N] initializers.
RunResult runMatMulBias(const std::string& add, int64_t m, int64_t k, int64_t n, bool observe) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::string w, b;
  for (int64_t i = 0; i < k * n; ++i) w += (i ? ", " : "") + std::to_string(u(rng));
  for (int64_t i = 0; i < n; ++i) b += (i ? ", " : "") + std::to_string(u(rng));
  std::string text = "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float[2, " + std::to_string(m) + ", " +
                     std::to_string(k) + "] X) => (float[2, " + std::to_string(m) + ", " + std::to_string(n) +
                     "] Y)\n<float[" + std::to_string(k) + ", " + std::to_string(n) + "] W = {" + w + "}, float[" +
                     std::to_string(n) + "] b = {" + b + "}>\n{\n  M = MatMul (X, W)\n  " + add + "\n}\n";
  auto model = parseOnnxText(text);
  EXPECT_TRUE(model.hasValue()) << model.status().toString();
  if (!model) return {};
  auto exec = Executor::create(*model, ExecOptions{2});
  EXPECT_TRUE(exec.hasValue()) << exec.status().toString();
  if (!exec) return {};
  RunResult r;
  if (observe)
    (*exec)->setObserver([&](const Node& node, size_t i, const Tensor&) { r.observed.insert(node.result(i)->name()); });
  std::vector<float> x(size_t(2 * m * k));
  for (auto& v : x) v = u(rng);
  NamedTensors feeds;
  feeds["X"] = Tensor::fromValues<float>(DType::F32, {2, m, k}, std::span<const float>(x));
  auto out = (*exec)->run(feeds);
  EXPECT_TRUE(out.hasValue()) << out.status().toString();
  if (out) r.y = out->at("Y").toDoubles();
  return r;
}

TEST(ExecFusion, MatMulBiasAddMatchesUnfusedRun) {
  const int64_t shapes[][3] = {{1, 7, 5}, {3, 40, 70}, {64, 96, 130}};
  for (const auto& sh : shapes)
    for (const std::string add : {"Y = Add (M, b)", "Y = Add (b, M)"}) {
      SCOPED_TRACE(add + " " + std::to_string(sh[0]) + "x" + std::to_string(sh[1]) + "x" + std::to_string(sh[2]));
      RunResult fused = runMatMulBias(add, sh[0], sh[1], sh[2], false);
      RunResult plain = runMatMulBias(add, sh[0], sh[1], sh[2], true);
      expectSame(fused, plain);
      EXPECT_TRUE(plain.observed.count("M"));
    }
}

TEST(ExecFusion, ConvWithTwoConsumersIsNotFused) {
  // C feeds both the Relu and the Add: the Add must see C before the activation.
  std::string text = model("R = Relu (C)\n  Y = Add (R, C)", false);
  RunResult fused = runModel(text, false), plain = runModel(text, true);
  expectSame(fused, plain);
  // And the result really is relu(C) + C (not 2 * relu(C)): some elements are negative.
  bool negative = false;
  for (double v : plain.y) negative |= v < 0;
  EXPECT_TRUE(negative);
}

TEST(ExecFusion, ConvResidualAddMatchesUnfusedRun) {
  // Residual X (a graph input) or D (another Conv, computed after C: D's Conv takes the Add),
  // with and without an activation after the Add, either operand order.
  const std::string cases[] = {
      "Y = Add (C, X)",
      "Y = Add (X, C)",
      "S = Add (C, X)\n  Y = Relu (S)",
      "S = Add (X, C)\n  Y = HardSwish (S)",
      "D = Conv <pads = [1, 1, 1, 1]> (X, W, B)\n  S = Add (C, D)\n  Y = Relu (S)",
      "D = Conv <pads = [1, 1, 1, 1]> (X, W, B)\n  E = Relu (D)\n  Y = Add (E, C)",
      // The sum has two consumers: the Add is fused, the activation is not.
      "S = Add (C, X)\n  R = Relu (S)\n  Y = Add (R, S)",
  };
  for (const std::string& c : cases) {
    SCOPED_TRACE(c);
    std::string text = model(c, false);
    RunResult plain = runModel(text, true);
    for (int threads : {1, 2}) {
      RunResult fused = runModel(text, false, threads);
      expectSame(fused, plain);
      EXPECT_LT(fused.allocations, plain.allocations);  // the Add's own output was never allocated
    }
    EXPECT_TRUE(plain.observed.count("C"));
  }
}

TEST(ExecFusion, DepthwiseConvResidualAddMatchesUnfusedRun) {
  // Stride-2 depthwise Convs: C [2, 8, 5, 6] plus D, a second depthwise Conv of X run before C.
  std::string text = model("S = Add (D, C)\n  Y = Relu (S)", true);
  text.replace(text.find("  C = Conv"), 0,
               "  D = Conv <group = 8, strides = [2, 2], pads = [1, 1, 1, 1]> (X, W, B)\n");
  RunResult plain = runModel(text, true), fused = runModel(text, false);
  expectSame(fused, plain);
  EXPECT_LT(fused.allocations, plain.allocations);
}

TEST(ExecFusion, WideDepthwiseEpilogueMatchesUnfusedRun) {
  // Maps 16 or more outputs wide run on the plane-at-a-time depthwise kernel (the tests above use
  // narrow maps: the interleaved kernel), whose register blocks apply the residual and the
  // activation before their masked stores: 37 and 19 columns leave partial vectors.
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  std::string w, b;
  for (int i = 0; i < 8 * 9; ++i) w += (i ? ", " : "") + std::to_string(u(rng));
  for (int i = 0; i < 8; ++i) b += (i ? ", " : "") + std::to_string(u(rng));
  const std::string tails[] = {"Y = Relu (C)", "Y = Clip (C, lo, hi)", "Y = HardSwish (C)",
                               "Y = LeakyRelu <alpha = 0.2> (C)", "Y = HardSigmoid <alpha = 0.3, beta = 0.4> (C)",
                               "S = Add (C, R)\n  Y = Relu (S)", "Y = Add (R, C)"};
  for (int stride : {1, 2})
    for (const std::string& tail : tails) {
      SCOPED_TRACE(tail + " stride " + std::to_string(stride));
      const int oh = stride == 1 ? 20 : 10, ow = stride == 1 ? 37 : 19;
      const std::string shape = "[1, 8, " + std::to_string(oh) + ", " + std::to_string(ow) + "]";
      const std::string text =
          "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float[1, 8, 20, 37] X, float" + shape + " R) => (float" +
          shape + " Y)\n<float[8, 1, 3, 3] W = {" + w + "}, float[8] B = {" + b +
          "}, float lo = {-0.25}, float hi = {0.6}>\n{\n  C = Conv <group = 8, strides = [" + std::to_string(stride) +
          ", " + std::to_string(stride) + "], pads = [1, 1, 1, 1]> (X, W, B)\n  " + tail + "\n}\n";
      auto model = parseOnnxText(text);
      ASSERT_TRUE(model.hasValue()) << model.status().toString();
      std::vector<float> x(8 * 20 * 37), r(size_t(8 * oh * ow));
      for (auto& v : x) v = 4 * u(rng);
      for (auto& v : r) v = 4 * u(rng);
      NamedTensors feeds;
      feeds["X"] = Tensor::fromValues<float>(DType::F32, {1, 8, 20, 37}, std::span<const float>(x));
      feeds["R"] = Tensor::fromValues<float>(DType::F32, {1, 8, oh, ow}, std::span<const float>(r));
      std::vector<double> ys[2];
      for (int observe : {0, 1}) {
        auto exec = Executor::create(*model, ExecOptions{2});
        ASSERT_TRUE(exec.hasValue()) << exec.status().toString();
        if (observe) (*exec)->setObserver([](const Node&, size_t, const Tensor&) {});
        auto out = (*exec)->run(feeds);
        ASSERT_TRUE(out.hasValue()) << out.status().toString();
        ys[observe] = out->at("Y").toDoubles();
      }
      ASSERT_EQ(ys[0].size(), size_t(8 * oh * ow));
      for (size_t i = 0; i < ys[1].size(); ++i) ASSERT_EQ(ys[0][i], ys[1][i]) << "element " << i;
    }
}

TEST(ExecFusion, ResidualThatDoesNotFitIsDeclined) {
  // A broadcast operand ([8, 1, 1]) is not a residual of C's shape: the Conv declines the fused
  // epilogue at run time and the executor runs the Add and the Relu itself.
  std::string bb;
  for (int i = 0; i < 8; ++i) bb += (i ? ", " : "") + std::to_string(0.1 * i - 0.3);
  std::string text = model("S = Add (C, bb)\n  Y = Relu (S)", false, ", float[8, 1, 1] bb = {" + bb + "}");
  RunResult plain = runModel(text, true), fused = runModel(text, false);
  expectSame(fused, plain);
  EXPECT_EQ(fused.allocations, plain.allocations);
}

}  // namespace
}  // namespace npuconv
