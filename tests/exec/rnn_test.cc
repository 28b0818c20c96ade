// LSTM / GRU / RNN kernels against a hand-computed step and a naive per-element reference
// written here in double precision straight from the ONNX equations.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "converter/exec/executor.h"
#include "formats/onnx/onnx_reader.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

using Fn = std::function<double(double)>;
double sigm(double x) { return 1.0 / (1.0 + std::exp(-x)); }

std::vector<float> randomFloats(std::mt19937& rng, size_t n, float scale = 1.f) {
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

void expectNear(const Tensor& got, const std::vector<double>& want, double tol, const char* what) {
  ASSERT_EQ(got.numElements(), int64_t(want.size())) << what;
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got.data<float>()[i], want[i], tol) << what << " [" << i << "]";
}

/// Naive reference, layout 0. Returns Y [S, D, B, H], Y_h and Y_c [D, B, H].
struct RefOut {
  std::vector<double> y, yh, yc;
};

enum class Kind { Lstm, Gru, Rnn };

struct RefSpec {
  Kind kind = Kind::Lstm;
  int64_t S = 0, B = 0, I = 0, H = 0, D = 1;
  bool reverseOnly = false;
  std::vector<float> x, w, r, b, h0, c0, p;
  std::vector<int64_t> lens;
  double clip = 0;
  bool inputForget = false, linearBeforeReset = false;
  std::vector<Fn> acts;  // per direction: f, g, h (LSTM) / f, g (GRU) / f (RNN), all directions
};

RefSpec makeSpec(Kind k, int64_t S, int64_t B, int64_t I, int64_t H, int64_t D) {
  RefSpec s;
  s.kind = k;
  s.S = S;
  s.B = B;
  s.I = I;
  s.H = H;
  s.D = D;
  return s;
}

RefOut reference(const RefSpec& s) {
  int64_t G = s.kind == Kind::Lstm ? 4 : s.kind == Kind::Gru ? 3 : 1, H = s.H, I = s.I;
  size_t na = s.kind == Kind::Lstm ? 3 : s.kind == Kind::Gru ? 2 : 1;
  RefOut o;
  o.y.assign(size_t(s.S * s.D * s.B * H), 0.0);
  o.yh.assign(size_t(s.D * s.B * H), 0.0);
  o.yc.assign(size_t(s.D * s.B * H), 0.0);
  auto cl = [&](double v) { return s.clip > 0 ? std::clamp(v, -s.clip, s.clip) : v; };
  for (int64_t d = 0; d < s.D; ++d) {
    const Fn* a = &s.acts[size_t(d) * na];
    bool rev = s.reverseOnly || d == 1;
    auto W = [&](int64_t row, int64_t col) { return double(s.w[size_t((d * G * H + row) * I + col)]); };
    auto R = [&](int64_t row, int64_t col) { return double(s.r[size_t((d * G * H + row) * H + col)]); };
    auto Wb = [&](int64_t row) { return s.b.empty() ? 0.0 : double(s.b[size_t(d * 2 * G * H + row)]); };
    auto Rb = [&](int64_t row) { return s.b.empty() ? 0.0 : double(s.b[size_t(d * 2 * G * H + G * H + row)]); };
    for (int64_t bt = 0; bt < s.B; ++bt) {
      std::vector<double> h(static_cast<size_t>(H), 0.0), c(static_cast<size_t>(H), 0.0);
      for (int64_t j = 0; j < H; ++j) {
        if (!s.h0.empty()) h[size_t(j)] = s.h0[size_t((d * s.B + bt) * H + j)];
        if (!s.c0.empty()) c[size_t(j)] = s.c0[size_t((d * s.B + bt) * H + j)];
      }
      int64_t len = s.lens.empty() ? s.S : s.lens[size_t(bt)];
      for (int64_t step = 0; step < len; ++step) {
        int64_t t = rev ? len - 1 - step : step;
        auto xin = [&](int64_t row) {
          double v = 0;
          for (int64_t k = 0; k < I; ++k) v += double(s.x[size_t((t * s.B + bt) * I + k)]) * W(row, k);
          return v;
        };
        auto hin = [&](int64_t row, const std::vector<double>& hv) {
          double v = 0;
          for (int64_t k = 0; k < H; ++k) v += hv[size_t(k)] * R(row, k);
          return v;
        };
        std::vector<double> hn(static_cast<size_t>(H)), cn(static_cast<size_t>(H));
        for (int64_t j = 0; j < H; ++j) {
          size_t J = size_t(j);
          if (s.kind == Kind::Lstm) {
            auto P = [&](int64_t k) { return s.p.empty() ? 0.0 : double(s.p[size_t(d * 3 * H + k * H + j)]); };
            double i = a[0](cl(xin(j) + hin(j, h) + Wb(j) + Rb(j) + P(0) * c[J]));
            double f = s.inputForget ? 1 - i
                                     : a[0](cl(xin(2 * H + j) + hin(2 * H + j, h) + Wb(2 * H + j) + Rb(2 * H + j) + P(2) * c[J]));
            double ct = a[1](cl(xin(3 * H + j) + hin(3 * H + j, h) + Wb(3 * H + j) + Rb(3 * H + j)));
            cn[J] = f * c[J] + i * ct;
            double og = a[0](cl(xin(H + j) + hin(H + j, h) + Wb(H + j) + Rb(H + j) + P(1) * cn[J]));
            hn[J] = og * a[2](cn[J]);
          } else if (s.kind == Kind::Gru) {
            double z = a[0](cl(xin(j) + hin(j, h) + Wb(j) + Rb(j)));
            double ht;
            if (s.linearBeforeReset) {
              double r = a[0](cl(xin(H + j) + hin(H + j, h) + Wb(H + j) + Rb(H + j)));
              ht = a[1](cl(xin(2 * H + j) + r * (hin(2 * H + j, h) + Rb(2 * H + j)) + Wb(2 * H + j)));
            } else {
              std::vector<double> rh(static_cast<size_t>(H));
              for (int64_t k = 0; k < H; ++k)
                rh[size_t(k)] = a[0](cl(xin(H + k) + hin(H + k, h) + Wb(H + k) + Rb(H + k))) * h[size_t(k)];
              ht = a[1](cl(xin(2 * H + j) + hin(2 * H + j, rh) + Rb(2 * H + j) + Wb(2 * H + j)));
            }
            hn[J] = (1 - z) * ht + z * h[J];
          } else {
            hn[J] = a[0](cl(xin(j) + hin(j, h) + Wb(j) + Rb(j)));
          }
        }
        h = hn;
        if (s.kind == Kind::Lstm) c = cn;
        for (int64_t j = 0; j < H; ++j) o.y[size_t(((t * s.D + d) * s.B + bt) * H + j)] = h[size_t(j)];
      }
      for (int64_t j = 0; j < H; ++j) {
        o.yh[size_t((d * s.B + bt) * H + j)] = h[size_t(j)];
        o.yc[size_t((d * s.B + bt) * H + j)] = c[size_t(j)];
      }
    }
  }
  return o;
}

TEST(RnnKernels, LstmOneStepByHand) {
  // One step, batch 1, input 1, hidden 1: every gate is a scalar.
  const char* text = R"(
    <ir_version: 8, opset_import: ["" : 7]>
    g (float[1,1,1] X, float[1,4,1] W, float[1,4,1] R, float[1,8] B, float[1,1,1] h0, float[1,1,1] c0,
       float[1,3] P) => (float[1,1,1,1] Y, float[1,1,1] Yh, float[1,1,1] Yc) {
      Y, Yh, Yc = LSTM<hidden_size = 1>(X, W, R, B, , h0, c0, P)
    })";
  float x = 0.7f, h0 = -0.3f, c0 = 0.4f;
  std::vector<float> W = {0.5f, -0.2f, 0.8f, 0.1f}, R = {0.3f, 0.6f, -0.4f, 0.9f};  // i o f c
  std::vector<float> B = {0.1f, 0.2f, 0.3f, 0.4f, -0.1f, 0.05f, 0.0f, 0.2f};
  std::vector<float> P = {0.25f, -0.5f, 0.75f};  // i o f
  auto out = test::runText(text, {{"X", test::f32Tensor({1, 1, 1}, {x})}, {"W", test::f32Tensor({1, 4, 1}, W)}, {"R", test::f32Tensor({1, 4, 1}, R)},
                             {"B", test::f32Tensor({1, 8}, B)}, {"h0", test::f32Tensor({1, 1, 1}, {h0})}, {"c0", test::f32Tensor({1, 1, 1}, {c0})},
                             {"P", test::f32Tensor({1, 3}, P)}});
  double i = sigm(x * 0.5 + h0 * 0.3 + 0.1 - 0.1 + 0.25 * c0);
  double f = sigm(x * 0.8 + h0 * -0.4 + 0.3 + 0.0 + 0.75 * c0);
  double ct = std::tanh(x * 0.1 + h0 * 0.9 + 0.4 + 0.2);
  double c = f * c0 + i * ct;
  double o = sigm(x * -0.2 + h0 * 0.6 + 0.2 + 0.05 + -0.5 * c);
  double h = o * std::tanh(c);
  expectNear(out.at("Y"), {h}, 1e-6, "Y");
  expectNear(out.at("Yh"), {h}, 1e-6, "Y_h");
  expectNear(out.at("Yc"), {c}, 1e-6, "Y_c");
}

TEST(RnnKernels, LstmBidirectionalSequenceLensPeepholesClip) {
  RefSpec s = makeSpec(Kind::Lstm, 4, 3, 3, 5, 2);
  std::mt19937 rng(1);
  s.x = randomFloats(rng, size_t(s.S * s.B * s.I), 2.f);
  s.w = randomFloats(rng, size_t(2 * 4 * 5 * 3));
  s.r = randomFloats(rng, size_t(2 * 4 * 5 * 5));
  s.b = randomFloats(rng, size_t(2 * 8 * 5));
  s.h0 = randomFloats(rng, size_t(2 * 3 * 5));
  s.c0 = randomFloats(rng, size_t(2 * 3 * 5));
  s.p = randomFloats(rng, size_t(2 * 15));
  s.lens = {4, 2, 0};
  s.clip = 1.5;
  s.acts = {sigm, [](double v) { return std::tanh(v); }, [](double v) { return std::tanh(v); },
            sigm, [](double v) { return std::tanh(v); }, [](double v) { return std::tanh(v); }};
  const char* text = R"(
    <ir_version: 8, opset_import: ["" : 7]>
    g (float[4,3,3] X, float[2,20,3] W, float[2,20,5] R, float[2,40] B, int32[3] L, float[2,3,5] h0,
       float[2,3,5] c0, float[2,15] P) => (float[4,2,3,5] Y, float[2,3,5] Yh, float[2,3,5] Yc) {
      Y, Yh, Yc = LSTM<hidden_size = 5, direction = "bidirectional", clip = 1.5>(X, W, R, B, L, h0, c0, P)
    })";
  std::vector<int32_t> lens = {4, 2, 0};
  auto out = test::runText(text, {{"X", test::f32Tensor({4, 3, 3}, s.x)}, {"W", test::f32Tensor({2, 20, 3}, s.w)}, {"R", test::f32Tensor({2, 20, 5}, s.r)},
                             {"B", test::f32Tensor({2, 40}, s.b)},
                             {"L", Tensor::fromValues<int32_t>(DType::I32, {3}, std::span<const int32_t>(lens))},
                             {"h0", test::f32Tensor({2, 3, 5}, s.h0)}, {"c0", test::f32Tensor({2, 3, 5}, s.c0)}, {"P", test::f32Tensor({2, 15}, s.p)}});
  RefOut r = reference(s);
  expectNear(out.at("Y"), r.y, 2e-5, "Y");
  expectNear(out.at("Yh"), r.yh, 2e-5, "Y_h");
  expectNear(out.at("Yc"), r.yc, 2e-5, "Y_c");
}

TEST(RnnKernels, LstmReverseInputForgetCustomActivationsBatchwiseLayout) {
  RefSpec s = makeSpec(Kind::Lstm, 3, 2, 4, 3, 1);
  s.reverseOnly = true;
  s.inputForget = true;
  std::mt19937 rng(2);
  s.x = randomFloats(rng, size_t(s.S * s.B * s.I));
  s.w = randomFloats(rng, size_t(4 * 3 * 4));
  s.r = randomFloats(rng, size_t(4 * 3 * 3));
  s.b = randomFloats(rng, size_t(8 * 3));
  s.h0 = randomFloats(rng, size_t(2 * 3));
  // activations HardSigmoid(0.3, 0.4), LeakyRelu(0.2), Softsign.
  s.acts = {[](double v) { return std::clamp(0.3 * v + 0.4, 0.0, 1.0); },
            [](double v) { return v < 0 ? 0.2 * v : v; }, [](double v) { return v / (1 + std::fabs(v)); }};
  // layout 1: X [B, S, I], states [B, D, H], Y [B, S, D, H].
  std::vector<float> xb(s.x.size());
  for (int64_t t = 0; t < s.S; ++t)
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t k = 0; k < s.I; ++k) xb[size_t((b * s.S + t) * s.I + k)] = s.x[size_t((t * s.B + b) * s.I + k)];
  const char* text = R"(
    <ir_version: 8, opset_import: ["" : 14]>
    g (float[2,3,4] X, float[1,12,4] W, float[1,12,3] R, float[1,24] B, float[2,1,3] h0)
      => (float[2,3,1,3] Y, float[2,1,3] Yc) {
      Y, , Yc = LSTM<hidden_size = 3, direction = "reverse", input_forget = 1, layout = 1,
                    activations = ["HardSigmoid", "LeakyRelu", "Softsign"],
                    activation_alpha = [0.3, 0.2], activation_beta = [0.4]>(X, W, R, B, , h0)
    })";
  auto out = test::runText(text, {{"X", test::f32Tensor({2, 3, 4}, xb)}, {"W", test::f32Tensor({1, 12, 4}, s.w)}, {"R", test::f32Tensor({1, 12, 3}, s.r)},
                             {"B", test::f32Tensor({1, 24}, s.b)}, {"h0", test::f32Tensor({2, 1, 3}, s.h0)}});
  RefOut r = reference(s);
  std::vector<double> yb(r.y.size());  // [S,1,B,H] -> [B,S,1,H]
  for (int64_t t = 0; t < s.S; ++t)
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t j = 0; j < s.H; ++j) yb[size_t((b * s.S + t) * s.H + j)] = r.y[size_t((t * s.B + b) * s.H + j)];
  expectNear(out.at("Y"), yb, 2e-5, "Y");
  expectNear(out.at("Yc"), r.yc, 2e-5, "Y_c");  // D = 1: [B,1,H] == [1,B,H] element order
}

void runGru(bool linearBeforeReset) {
  RefSpec s = makeSpec(Kind::Gru, 5, 3, 2, 4, 2);
  s.linearBeforeReset = linearBeforeReset;
  std::mt19937 rng(linearBeforeReset ? 4 : 5);
  s.x = randomFloats(rng, size_t(s.S * s.B * s.I), 2.f);
  s.w = randomFloats(rng, size_t(2 * 3 * 4 * 2));
  s.r = randomFloats(rng, size_t(2 * 3 * 4 * 4));
  s.b = randomFloats(rng, size_t(2 * 6 * 4));
  s.h0 = randomFloats(rng, size_t(2 * 3 * 4));
  s.lens = {5, 3, 1};
  auto th = [](double v) { return std::tanh(v); };
  s.acts = {sigm, th, sigm, th};
  std::string text = fmt::format(R"(
    <ir_version: 8, opset_import: ["" : 7]>
    g (float[5,3,2] X, float[2,12,2] W, float[2,12,4] R, float[2,24] B, int32[3] L, float[2,3,4] h0)
      => (float[5,2,3,4] Y, float[2,3,4] Yh) {{
      Y, Yh = GRU<hidden_size = 4, direction = "bidirectional", linear_before_reset = {}>(X, W, R, B, L, h0)
    }})", linearBeforeReset ? 1 : 0);
  std::vector<int32_t> lens = {5, 3, 1};
  auto out = test::runText(text, {{"X", test::f32Tensor({5, 3, 2}, s.x)}, {"W", test::f32Tensor({2, 12, 2}, s.w)}, {"R", test::f32Tensor({2, 12, 4}, s.r)},
                             {"B", test::f32Tensor({2, 24}, s.b)},
                             {"L", Tensor::fromValues<int32_t>(DType::I32, {3}, std::span<const int32_t>(lens))},
                             {"h0", test::f32Tensor({2, 3, 4}, s.h0)}});
  RefOut r = reference(s);
  expectNear(out.at("Y"), r.y, 2e-5, "Y");
  expectNear(out.at("Yh"), r.yh, 2e-5, "Y_h");
}

TEST(RnnKernels, GruBidirectionalResetAfterLinear) { runGru(true); }
TEST(RnnKernels, GruBidirectionalResetBeforeLinear) { runGru(false); }

TEST(RnnKernels, SimpleRnnReluClipNoBias) {
  RefSpec s = makeSpec(Kind::Rnn, 3, 2, 3, 4, 1);
  std::mt19937 rng(9);
  s.x = randomFloats(rng, size_t(s.S * s.B * s.I), 3.f);
  s.w = randomFloats(rng, size_t(4 * 3));
  s.r = randomFloats(rng, size_t(4 * 4));
  s.clip = 0.8;
  s.acts = {[](double v) { return v > 0 ? v : 0.0; }};
  const char* text = R"(
    <ir_version: 8, opset_import: ["" : 7]>
    g (float[3,2,3] X, float[1,4,3] W, float[1,4,4] R) => (float[3,1,2,4] Y, float[1,2,4] Yh) {
      Y, Yh = RNN<hidden_size = 4, activations = ["Relu"], clip = 0.8>(X, W, R)
    })";
  auto out = test::runText(text, {{"X", test::f32Tensor({3, 2, 3}, s.x)}, {"W", test::f32Tensor({1, 4, 3}, s.w)}, {"R", test::f32Tensor({1, 4, 4}, s.r)}});
  RefOut r = reference(s);
  expectNear(out.at("Y"), r.y, 1e-5, "Y");
  expectNear(out.at("Yh"), r.yh, 1e-5, "Y_h");
}

TEST(RnnKernels, SimpleRnnBidirectionalFloat64) {
  RefSpec s = makeSpec(Kind::Rnn, 4, 2, 3, 3, 2);
  std::mt19937 rng(21);
  s.x = randomFloats(rng, size_t(4 * 2 * 3));
  s.w = randomFloats(rng, size_t(2 * 3 * 3));
  s.r = randomFloats(rng, size_t(2 * 3 * 3));
  s.b = randomFloats(rng, size_t(2 * 6));
  auto th = [](double v) { return std::tanh(v); };
  s.acts = {th, th};
  auto f64 = [](std::vector<int64_t> dims, const std::vector<float>& v) {
    std::vector<double> d(v.begin(), v.end());
    return Tensor::fromValues<double>(DType::F64, std::move(dims), std::span<const double>(d));
  };
  const char* text = R"(
    <ir_version: 8, opset_import: ["" : 14]>
    g (double[4,2,3] X, double[2,3,3] W, double[2,3,3] R, double[2,6] B) => (double[4,2,2,3] Y, double[2,2,3] Yh) {
      Y, Yh = RNN<hidden_size = 3, direction = "bidirectional">(X, W, R, B)
    })";
  auto out = test::runText(text, {{"X", f64({4, 2, 3}, s.x)}, {"W", f64({2, 3, 3}, s.w)}, {"R", f64({2, 3, 3}, s.r)},
                             {"B", f64({2, 6}, s.b)}});
  RefOut r = reference(s);
  const Tensor& y = out.at("Y");
  ASSERT_EQ(y.dtype(), DType::F64);
  for (size_t i = 0; i < r.y.size(); ++i) EXPECT_NEAR(y.data<double>()[i], r.y[i], 1e-12) << i;
  for (size_t i = 0; i < r.yh.size(); ++i) EXPECT_NEAR(out.at("Yh").data<double>()[i], r.yh[i], 1e-12) << i;
}

TEST(RnnKernels, WrongWeightShapeIsAnError) {
  const char* text = R"(
    <ir_version: 8, opset_import: ["" : 7]>
    g (float[1,1,2] X, float[1,8,2] W, float[1,8,3] R) => (float[1,1,1,3] Y) {
      Y = LSTM<hidden_size = 3>(X, W, R)
    })";
  Model m = test::parseModel(text);
  auto exec = Executor::create(m, ExecOptions{1});
  ASSERT_TRUE(exec.hasValue()) << exec.status().toString();
  auto out = (*exec)->run({{"X", test::f32Tensor({1, 1, 2}, {1, 2})}, {"W", test::f32Tensor({1, 8, 2}, std::vector<float>(16, 0.f))},
                           {"R", test::f32Tensor({1, 8, 3}, std::vector<float>(24, 0.f))}});
  ASSERT_FALSE(out.hasValue());
  EXPECT_NE(out.status().message().find("LSTM"), std::string::npos) << out.status().toString();
}

}  // namespace
}  // namespace npuconv
