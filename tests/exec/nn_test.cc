// nn kernels (Conv, ConvTranspose, MatMul, Gemm, pools, Resize) against naive references
// written here straight from the ONNX definitions, on seeded random data.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "converter/exec/executor.h"
#include "formats/onnx/onnx_reader.h"
#include "tests/exec/exec_test_util.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

std::vector<float> randomFloats(std::mt19937& rng, int64_t n) {
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

int64_t count(const std::vector<int64_t>& d) {
  int64_t n = 1;
  for (int64_t x : d) n *= x;
  return n;
}

std::string ints(const std::vector<int64_t>& d) { return test::dimsText(d); }

/// Runs a one-node model; `inputs` are (name, tensor) in graph order; the output is "Y".
Expected<Tensor> runOne(const std::string& node, const std::vector<std::pair<std::string, Tensor>>& inputs,
                        const std::vector<int64_t>& outDims, int opset = 17, int threads = 2,
                        const std::string& outType = "float") {
  std::ostringstream t;
  t << "<ir_version: 8, opset_import: [\"\" : " << opset << "]>\ng (";
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i].second;
    std::string ty = x.dtype() == DType::F32 ? "float" : x.dtype() == DType::I64 ? "int64" : "float16";
    t << (i ? ", " : "") << ty << test::dimsText(x.dims()) << " " << inputs[i].first;
  }
  t << ") => (" << outType << test::dimsText(outDims) << " Y) {\n  " << node << "\n}\n";
  auto m = parseOnnxText(t.str());
  if (!m) return m.status();
  auto exec = Executor::create(*m, ExecOptions{threads});
  if (!exec) return exec.status();
  NamedTensors feeds;
  for (const auto& [n, x] : inputs) feeds[n] = x;
  auto out = (*exec)->run(feeds);
  if (!out) return out.status();
  return out->at("Y");
}

void expectClose(const Tensor& got, const std::vector<double>& want, double tol = 1e-4) {
  ASSERT_EQ(got.numElements(), int64_t(want.size()));
  std::vector<double> g = got.toDoubles();
  int bad = 0;
  for (size_t i = 0; i < want.size() && bad < 5; ++i)
    if (!(std::fabs(g[i] - want[i]) <= tol * (1 + std::fabs(want[i])))) {
      ADD_FAILURE() << "element " << i << ": got " << g[i] << " want " << want[i];
      ++bad;
    }
}

// ---------------------------------------------------------------------------------------------
// Conv

struct ConvCase {
  int64_t n, c, m, group;
  std::vector<int64_t> in, k, stride, dil, pads;  // pads: begins then ends
  bool bias = true;
};

/// Iterates all index vectors of `dims`.
void forEachIndex(const std::vector<int64_t>& dims, const std::function<void(const std::vector<int64_t>&)>& f) {
  std::vector<int64_t> idx(dims.size(), 0);
  if (count(dims) == 0) return;
  for (;;) {
    f(idx);
    size_t i = dims.size();
    for (; i-- > 0;) {
      if (++idx[i] < dims[i]) break;
      idx[i] = 0;
    }
    if (i == size_t(-1)) return;
  }
}

int64_t flat(const std::vector<int64_t>& dims, const std::vector<int64_t>& idx) {
  int64_t f = 0;
  for (size_t i = 0; i < dims.size(); ++i) f = f * dims[i] + idx[i];
  return f;
}

std::vector<double> refConv(const ConvCase& c, const std::vector<float>& x, const std::vector<float>& w,
                            const std::vector<float>& b, std::vector<int64_t>& outSp) {
  size_t r = c.in.size();
  outSp.clear();
  for (size_t i = 0; i < r; ++i)
    outSp.push_back((c.in[i] + c.pads[i] + c.pads[i + r] - ((c.k[i] - 1) * c.dil[i] + 1)) / c.stride[i] + 1);
  int64_t cg = c.c / c.group, mg = c.m / c.group;
  std::vector<double> y;
  for (int64_t n = 0; n < c.n; ++n)
    for (int64_t m = 0; m < c.m; ++m)
      forEachIndex(outSp, [&](const std::vector<int64_t>& o) {
        double acc = c.bias ? b[size_t(m)] : 0.0;
        int64_t g = m / mg;
        for (int64_t ci = 0; ci < cg; ++ci)
          forEachIndex(c.k, [&](const std::vector<int64_t>& kk) {
            std::vector<int64_t> ip(r);
            for (size_t i = 0; i < r; ++i) {
              ip[i] = o[i] * c.stride[i] - c.pads[i] + kk[i] * c.dil[i];
              if (ip[i] < 0 || ip[i] >= c.in[i]) return;
            }
            int64_t xi = (n * c.c + g * cg + ci) * count(c.in) + flat(c.in, ip);
            int64_t wi = (m * cg + ci) * count(c.k) + flat(c.k, kk);
            acc += double(x[size_t(xi)]) * double(w[size_t(wi)]);
          });
        y.push_back(acc);
      });
  return y;
}

void checkConv(const ConvCase& c, int threads = 2) {
  std::mt19937 rng(1234);
  std::vector<int64_t> xd = {c.n, c.c}, wd = {c.m, c.c / c.group};
  xd.insert(xd.end(), c.in.begin(), c.in.end());
  wd.insert(wd.end(), c.k.begin(), c.k.end());
  auto x = randomFloats(rng, count(xd)), w = randomFloats(rng, count(wd)), b = randomFloats(rng, c.m);
  std::vector<int64_t> outSp;
  std::vector<double> want = refConv(c, x, w, b, outSp);
  std::vector<int64_t> yd = {c.n, c.m};
  yd.insert(yd.end(), outSp.begin(), outSp.end());
  std::string node = "Y = Conv <group = " + std::to_string(c.group) + ", strides = " + ints(c.stride) +
                     ", dilations = " + ints(c.dil) + ", pads = " + ints(c.pads) + "> (X, W" + (c.bias ? ", B)" : ")");
  std::vector<std::pair<std::string, Tensor>> ins = {{"X", test::f32Tensor(xd, x)}, {"W", test::f32Tensor(wd, w)}};
  if (c.bias) ins.push_back({"B", test::f32Tensor({c.m}, b)});
  auto y = runOne(node, ins, yd, 17, threads);
  ASSERT_TRUE(y.hasValue()) << y.status().toString();
  EXPECT_EQ(y->dims(), yd);
  expectClose(*y, want);
}

TEST(NnConv, Plain2dWithBias) { checkConv({2, 3, 4, 1, {7, 6}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}}); }
TEST(NnConv, StridedDilatedAsymmetricPads) {
  checkConv({1, 4, 6, 1, {11, 9}, {3, 2}, {2, 3}, {2, 1}, {0, 2, 1, 0}});
}
TEST(NnConv, Groups) { checkConv({2, 6, 4, 2, {8, 8}, {3, 3}, {1, 2}, {1, 1}, {1, 0, 2, 1}, false}); }
TEST(NnConv, DepthwiseWithMultiplier) { checkConv({2, 3, 6, 3, {9, 10}, {3, 3}, {2, 1}, {1, 2}, {1, 2, 0, 1}}); }
TEST(NnConv, Pointwise1x1) { checkConv({2, 16, 8, 1, {5, 7}, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}}); }
TEST(NnConv, Pointwise1x1Strided) { checkConv({1, 8, 4, 1, {6, 7}, {1, 1}, {2, 2}, {1, 1}, {0, 0, 0, 0}}); }
TEST(NnConv, OneDimensional) { checkConv({2, 3, 5, 1, {17}, {4}, {3}, {2}, {2, 1}}); }
TEST(NnConv, ThreeDimensional) { checkConv({1, 2, 4, 2, {5, 6, 4}, {2, 3, 2}, {1, 2, 1}, {2, 1, 1}, {1, 0, 1, 0, 1, 1}}); }
TEST(NnConv, LargeEnoughToSplitAcrossThreads) {
  checkConv({1, 32, 48, 1, {20, 18}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}}, 2);
  checkConv({1, 32, 48, 1, {20, 18}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}}, 1);
}

TEST(NnConv, AutoPadSameLowerMatchesExplicitPads) {
  // in 7, k 4, stride 2: out 4, total pad (4-1)*2+4-7 = 3, SAME_LOWER puts 2 in front.
  std::mt19937 rng(7);
  auto x = randomFloats(rng, 1 * 2 * 7 * 7), w = randomFloats(rng, 3 * 2 * 4 * 4);
  ConvCase c{1, 2, 3, 1, {7, 7}, {4, 4}, {2, 2}, {1, 1}, {2, 2, 1, 1}, false};
  std::vector<int64_t> outSp;
  auto want = refConv(c, x, w, {}, outSp);
  auto y = runOne("Y = Conv <auto_pad = \"SAME_LOWER\", strides = [2, 2]> (X, W)",
                  {{"X", test::f32Tensor({1, 2, 7, 7}, x)}, {"W", test::f32Tensor({3, 2, 4, 4}, w)}}, {1, 3, 4, 4});
  ASSERT_TRUE(y.hasValue()) << y.status().toString();
  expectClose(*y, want);
}

TEST(NnConv, ChannelMismatchIsAnErrorNotACrash) {
  auto y = runOne("Y = Conv (X, W)", {{"X", test::f32Tensor({1, 3, 4, 4}, std::vector<float>(48))}, {"W", test::f32Tensor({2, 2, 3, 3}, std::vector<float>(36))}},
                  {1, 2, 2, 2});
  ASSERT_FALSE(y.hasValue());
  EXPECT_NE(y.status().message().find("Conv"), std::string::npos) << y.status().message();
}

// ---------------------------------------------------------------------------------------------
// ConvTranspose: scatter reference

TEST(NnConvTranspose, GroupsStridesPadsOutputPaddingDilations) {
  const int64_t N = 2, C = 4, G = 2, Mg = 3, H = 4, W = 5, kh = 3, kw = 2, sh = 2, sw = 3, dh = 1, dw = 2;
  const int64_t pt = 1, pl = 0, pb = 0, pr = 2, oph = 1, opw = 0;
  std::mt19937 rng(99);
  auto x = randomFloats(rng, N * C * H * W), w = randomFloats(rng, C * Mg * kh * kw), b = randomFloats(rng, G * Mg);
  int64_t M = G * Mg, Cg = C / G;
  int64_t OH = sh * (H - 1) + oph + (kh - 1) * dh + 1 - pt - pb;
  int64_t OW = sw * (W - 1) + opw + (kw - 1) * dw + 1 - pl - pr;
  std::vector<double> want(size_t(N * M * OH * OW), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t i = 0; i < OH * OW; ++i) want[size_t((n * M + m) * OH * OW + i)] = b[size_t(m)];
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t ih = 0; ih < H; ++ih)
        for (int64_t iw = 0; iw < W; ++iw)
          for (int64_t mo = 0; mo < Mg; ++mo)
            for (int64_t a = 0; a < kh; ++a)
              for (int64_t e = 0; e < kw; ++e) {
                int64_t oh = ih * sh - pt + a * dh, ow = iw * sw - pl + e * dw;
                if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
                int64_t m = (c / Cg) * Mg + mo;
                want[size_t(((n * M + m) * OH + oh) * OW + ow)] +=
                    double(x[size_t(((n * C + c) * H + ih) * W + iw)]) * w[size_t(((c * Mg + mo) * kh + a) * kw + e)];
              }
  auto y = runOne("Y = ConvTranspose <group = 2, strides = [2, 3], dilations = [1, 2], pads = [1, 0, 0, 2], "
                  "output_padding = [1, 0]> (X, W, B)",
                  {{"X", test::f32Tensor({N, C, H, W}, x)}, {"W", test::f32Tensor({C, Mg, kh, kw}, w)}, {"B", test::f32Tensor({M}, b)}}, {N, M, OH, OW});
  ASSERT_TRUE(y.hasValue()) << y.status().toString();
  EXPECT_EQ(y->dims(), (std::vector<int64_t>{N, M, OH, OW}));
  expectClose(*y, want);
}

// ---------------------------------------------------------------------------------------------
// MatMul / Gemm

std::vector<double> refMatMulBatched(const std::vector<float>& a, const std::vector<float>& b, int64_t batches,
                                     const std::function<int64_t(int64_t)>& aBatch,
                                     const std::function<int64_t(int64_t)>& bBatch, int64_t M, int64_t K, int64_t N) {
  std::vector<double> y;
  for (int64_t i = 0; i < batches; ++i)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k)
          acc += double(a[size_t(aBatch(i) * M * K + m * K + k)]) * b[size_t(bBatch(i) * K * N + k * N + n)];
        y.push_back(acc);
      }
  return y;
}

TEST(NnMatMul, BroadcastsBatchDims) {
  // [2,1,3,4] x [5,4,6] -> [2,5,3,6]
  std::mt19937 rng(5);
  auto a = randomFloats(rng, 2 * 3 * 4), b = randomFloats(rng, 5 * 4 * 6);
  auto want = refMatMulBatched(a, b, 10, [](int64_t i) { return i / 5; }, [](int64_t i) { return i % 5; }, 3, 4, 6);
  auto y = runOne("Y = MatMul (A, B)", {{"A", test::f32Tensor({2, 1, 3, 4}, a)}, {"B", test::f32Tensor({5, 4, 6}, b)}}, {2, 5, 3, 6});
  ASSERT_TRUE(y.hasValue()) << y.status().toString();
  EXPECT_EQ(y->dims(), (std::vector<int64_t>{2, 5, 3, 6}));
  expectClose(*y, want);
}

TEST(NnMatMul, SharedWeightsCollapseToOneGemm) {
  // [3,64,40] x [40,72]: a tall GEMM split across threads.
  std::mt19937 rng(6);
  auto a = randomFloats(rng, 3 * 64 * 40), b = randomFloats(rng, 40 * 72);
  auto want = refMatMulBatched(a, b, 3, [](int64_t i) { return i; }, [](int64_t) { return 0; }, 64, 40, 72);
  auto y = runOne("Y = MatMul (A, B)", {{"A", test::f32Tensor({3, 64, 40}, a)}, {"B", test::f32Tensor({40, 72}, b)}}, {3, 64, 72});
  ASSERT_TRUE(y.hasValue()) << y.status().toString();
  expectClose(*y, want);
}

TEST(NnMatMul, OneDimensionalOperands) {
  std::mt19937 rng(8);
  auto v = randomFloats(rng, 4), m = randomFloats(rng, 2 * 4 * 3);
  // [4] x [2,4,3] -> [2,3]
  auto want = refMatMulBatched(v, m, 2, [](int64_t) { return 0; }, [](int64_t i) { return i; }, 1, 4, 3);
  auto y = runOne("Y = MatMul (A, B)", {{"A", test::f32Tensor({4}, v)}, {"B", test::f32Tensor({2, 4, 3}, m)}}, {2, 3});
  ASSERT_TRUE(y.hasValue()) << y.status().toString();
  EXPECT_EQ(y->dims(), (std::vector<int64_t>{2, 3}));
  expectClose(*y, want);
  // [3,4] x [4] -> [3]
  auto mm = randomFloats(rng, 12);
  auto want2 = refMatMulBatched(mm, v, 1, [](int64_t) { return 0; }, [](int64_t) { return 0; }, 3, 4, 1);
  auto y2 = runOne("Y = MatMul (A, B)", {{"A", test::f32Tensor({3, 4}, mm)}, {"B", test::f32Tensor({4}, v)}}, {3});
  ASSERT_TRUE(y2.hasValue()) << y2.status().toString();
  EXPECT_EQ(y2->dims(), (std::vector<int64_t>{3}));
  expectClose(*y2, want2);
}

TEST(NnMatMul, InnerDimMismatchIsAnError) {
  auto y = runOne("Y = MatMul (A, B)", {{"A", test::f32Tensor({2, 3}, std::vector<float>(6))}, {"B", test::f32Tensor({4, 2}, std::vector<float>(8))}}, {2, 2});
  EXPECT_FALSE(y.hasValue());
}

void checkGemm(bool tA, bool tB, float alpha, float beta, std::vector<int64_t> cDims) {
  const int64_t M = 37, K = 29, N = 45;
  std::mt19937 rng(11);
  auto a = randomFloats(rng, M * K), b = randomFloats(rng, K * N), c = randomFloats(rng, count(cDims));
  std::vector<double> want;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += double(a[size_t(tA ? k * M + i : i * K + k)]) * b[size_t(tB ? j * K + k : k * N + j)];
      int64_t ci = 0;
      if (cDims.size() == 2) ci = (cDims[0] == 1 ? 0 : i) * cDims[1] + (cDims[1] == 1 ? 0 : j);
      if (cDims.size() == 1) ci = cDims[0] == 1 ? 0 : j;
      want.push_back(alpha * acc + beta * c[size_t(ci)]);
    }
  std::ostringstream node;
  node << std::showpoint << "Y = Gemm <transA = " << tA << ", transB = " << tB << ", alpha = " << alpha
       << ", beta = " << beta << "> (A, B, C)";
  SCOPED_TRACE(node.str());
  auto y = runOne(node.str(),
                  {{"A", test::f32Tensor(tA ? std::vector<int64_t>{K, M} : std::vector<int64_t>{M, K}, a)},
                   {"B", test::f32Tensor(tB ? std::vector<int64_t>{N, K} : std::vector<int64_t>{K, N}, b)},
                   {"C", test::f32Tensor(cDims, c)}},
                  {M, N});
  ASSERT_TRUE(y.hasValue()) << y.status().toString();
  expectClose(*y, want);
}

TEST(NnGemm, TransposesAlphaBetaAndBiasBroadcasts) {
  checkGemm(false, false, 1.f, 1.f, {37, 45});
  checkGemm(true, false, 0.5f, 2.f, {45});
  checkGemm(false, true, 1.5f, -1.f, {37, 1});
  checkGemm(true, true, -2.f, 0.25f, {1, 45});
  checkGemm(false, false, 1.f, 3.f, {1});
}

// ---------------------------------------------------------------------------------------------
// Pools

TEST(NnPool, MaxPoolWithIndicesCeilModeDilations) {
  const int64_t N = 2, C = 3, H = 9, W = 8, kh = 3, kw = 2, sh = 2, sw = 3, dh = 2, dw = 1, pt = 1, pl = 0, pb = 1, pr = 1;
  std::mt19937 rng(3);
  auto x = randomFloats(rng, N * C * H * W);
  auto outLen = [](int64_t in, int64_t k, int64_t s, int64_t d, int64_t p0, int64_t p1) {
    int64_t ek = (k - 1) * d + 1;
    int64_t o = (in + p0 + p1 - ek + s - 1) / s + 1;  // ceil
    if ((o - 1) * s >= in + p0) --o;
    return o;
  };
  int64_t OH = outLen(H, kh, sh, dh, pt, pb), OW = outLen(W, kw, sw, dw, pl, pr);
  std::vector<double> want, wantIdx;
  for (int64_t p = 0; p < N * C; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        double best = -std::numeric_limits<double>::infinity();
        int64_t at = -1;
        for (int64_t a = 0; a < kh; ++a)
          for (int64_t e = 0; e < kw; ++e) {
            int64_t ih = oh * sh - pt + a * dh, iw = ow * sw - pl + e * dw;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            double v = x[size_t((p * H + ih) * W + iw)];
            if (v > best) {
              best = v;
              at = (p * H + ih) * W + iw;
            }
          }
        want.push_back(best);
        wantIdx.push_back(double(at));
      }
  std::string text = R"(<ir_version: 8, opset_import: ["" : 12]>
g (float[2,3,9,8] X) => (float[2,3,)" + std::to_string(OH) + "," + std::to_string(OW) +
                     R"(] Y, int64[2,3,)" + std::to_string(OH) + "," + std::to_string(OW) + R"(] I) {
  Y, I = MaxPool <kernel_shape = [3, 2], strides = [2, 3], dilations = [2, 1], pads = [1, 0, 1, 1], ceil_mode = 1> (X)
}
)";
  auto m = parseOnnxText(text);
  ASSERT_TRUE(m.hasValue()) << m.status().toString();
  auto exec = Executor::create(*m, ExecOptions{2});
  ASSERT_TRUE(exec.hasValue()) << exec.status().toString();
  auto out = (*exec)->run({{"X", test::f32Tensor({N, C, H, W}, x)}});
  ASSERT_TRUE(out.hasValue()) << out.status().toString();
  EXPECT_EQ(out->at("Y").dims(), (std::vector<int64_t>{N, C, OH, OW}));
  expectClose(out->at("Y"), want, 0);
  expectClose(out->at("I"), wantIdx, 0);
}

TEST(NnPool, AveragePoolCountIncludePad) {
  const int64_t H = 6, W = 7;
  std::mt19937 rng(4);
  auto x = randomFloats(rng, 2 * H * W);
  for (int include = 0; include < 2; ++include) {
    // kernel 3x3, stride 2, pads top 1 left 2 bottom 0 right 1.
    int64_t OH = (H + 1 - 3) / 2 + 1, OW = (W + 3 - 3) / 2 + 1;
    std::vector<double> want;
    for (int64_t p = 0; p < 2; ++p)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double sum = 0;
          int n = 0;
          for (int64_t a = 0; a < 3; ++a)
            for (int64_t e = 0; e < 3; ++e) {
              int64_t ih = oh * 2 - 1 + a, iw = ow * 2 - 2 + e;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              sum += x[size_t((p * H + ih) * W + iw)];
              ++n;
            }
          want.push_back(sum / (include ? 9 : n));
        }
    auto y = runOne("Y = AveragePool <kernel_shape = [3, 3], strides = [2, 2], pads = [1, 2, 0, 1], count_include_pad = " +
                        std::to_string(include) + "> (X)",
                    {{"X", test::f32Tensor({1, 2, H, W}, x)}}, {1, 2, OH, OW});
    ASSERT_TRUE(y.hasValue()) << y.status().toString();
    expectClose(*y, want);
  }
}

TEST(NnPool, GlobalAverageAndMax) {
  std::mt19937 rng(12);
  auto x = randomFloats(rng, 2 * 3 * 5 * 4);
  std::vector<double> avg, mx;
  for (int64_t p = 0; p < 6; ++p) {
    double s = 0, m = -1e30;
    for (int64_t i = 0; i < 20; ++i) {
      s += x[size_t(p * 20 + i)];
      m = std::max(m, double(x[size_t(p * 20 + i)]));
    }
    avg.push_back(s / 20);
    mx.push_back(m);
  }
  auto y = runOne("Y = GlobalAveragePool (X)", {{"X", test::f32Tensor({2, 3, 5, 4}, x)}}, {2, 3, 1, 1});
  ASSERT_TRUE(y.hasValue()) << y.status().toString();
  EXPECT_EQ(y->dims(), (std::vector<int64_t>{2, 3, 1, 1}));
  expectClose(*y, avg);
  auto y2 = runOne("Y = GlobalMaxPool (X)", {{"X", test::f32Tensor({2, 3, 5, 4}, x)}}, {2, 3, 1, 1});
  ASSERT_TRUE(y2.hasValue()) << y2.status().toString();
  expectClose(*y2, mx, 0);
}

TEST(NnPool, GlobalAverageOverPlanesOfEverySizeClass) {
  // The float32 plane sum runs four 8-lane accumulators, then 8-lane steps, then a scalar tail:
  // planes below, at and past each boundary, against a double reference; same bits with 1 and
  // 2 threads.
  for (int64_t sp : {1, 7, 8, 9, 31, 32, 33, 71, 100, 3001}) {
    std::mt19937 rng{uint32_t(sp)};
    auto x = randomFloats(rng, 3 * sp);
    for (float& v : x) v += 2.0f;  // a mean away from zero: a relative tolerance means something
    std::vector<double> want;
    for (int64_t p = 0; p < 3; ++p) {
      double s = 0;
      for (int64_t i = 0; i < sp; ++i) s += x[size_t(p * sp + i)];
      want.push_back(s / double(sp));
    }
    auto y1 = runOne("Y = GlobalAveragePool (X)", {{"X", test::f32Tensor({1, 3, sp}, x)}}, {1, 3, 1}, 17, 1);
    auto y2 = runOne("Y = GlobalAveragePool (X)", {{"X", test::f32Tensor({1, 3, sp}, x)}}, {1, 3, 1}, 17, 2);
    ASSERT_TRUE(y1.hasValue() && y2.hasValue()) << sp;
    expectClose(*y1, want, 1e-6);
    for (int64_t p = 0; p < 3; ++p) EXPECT_EQ(y1->data<float>()[p], y2->data<float>()[p]) << sp;
  }
}

// ---------------------------------------------------------------------------------------------
// Resize

double bilinearAt(const std::vector<float>& x, int64_t H, int64_t W, double fy, double fx) {
  auto clampi = [](int64_t v, int64_t n) { return std::max<int64_t>(0, std::min<int64_t>(v, n - 1)); };
  fy = std::max(0.0, std::min(fy, double(H - 1)));
  fx = std::max(0.0, std::min(fx, double(W - 1)));
  int64_t y0 = int64_t(std::floor(fy)), x0 = int64_t(std::floor(fx));
  double dy = fy - double(y0), dx = fx - double(x0);
  auto at = [&](int64_t yy, int64_t xx) { return double(x[size_t(clampi(yy, H) * W + clampi(xx, W))]); };
  return (1 - dy) * ((1 - dx) * at(y0, x0) + dx * at(y0, x0 + 1)) + dy * ((1 - dx) * at(y0 + 1, x0) + dx * at(y0 + 1, x0 + 1));
}

TEST(NnResize, LinearHalfPixelAndAlignCorners) {
  const int64_t H = 5, W = 7, OH = 8, OW = 4;
  std::mt19937 rng(21);
  auto x = randomFloats(rng, H * W);
  for (std::string mode : {"half_pixel", "align_corners"}) {
    std::vector<double> want;
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        double fy, fx;
        if (mode == "half_pixel") {
          fy = (oy + 0.5) * double(H) / double(OH) - 0.5;
          fx = (ox + 0.5) * double(W) / double(OW) - 0.5;
        } else {
          fy = double(oy) * (H - 1) / (OH - 1);
          fx = double(ox) * (W - 1) / (OW - 1);
        }
        want.push_back(bilinearAt(x, H, W, fy, fx));
      }
    std::vector<int64_t> sz = {1, 1, OH, OW};
    auto y = runOne("Y = Resize <mode = \"linear\", coordinate_transformation_mode = \"" + mode + "\"> (X, R, S, Z)",
                    {{"X", test::f32Tensor({1, 1, H, W}, x)},
                     {"R", test::f32Tensor({0}, {})},
                     {"S", test::f32Tensor({0}, {})},
                     {"Z", Tensor::fromValues<int64_t>(DType::I64, {4}, std::span<const int64_t>(sz))}},
                    {1, 1, OH, OW}, 13);
    ASSERT_TRUE(y.hasValue()) << y.status().toString();
    EXPECT_EQ(y->dims(), (std::vector<int64_t>{1, 1, OH, OW}));
    expectClose(*y, want);
  }
}

TEST(NnResize, NearestAsymmetricFloorWithScales) {
  const int64_t H = 3, W = 4;
  std::vector<float> x(H * W);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i);
  // scales 1,1,2.5,0.5: out 7x2; asymmetric floor: iy = floor(oy / 2.5), ix = floor(ox / 0.5).
  std::vector<double> want;
  for (int64_t oy = 0; oy < 7; ++oy)
    for (int64_t ox = 0; ox < 2; ++ox) {
      int64_t iy = std::min<int64_t>(int64_t(std::floor(oy / 2.5)), H - 1), ix = std::min<int64_t>(ox * 2, W - 1);
      want.push_back(x[size_t(iy * W + ix)]);
    }
  auto y = runOne("Y = Resize <mode = \"nearest\", coordinate_transformation_mode = \"asymmetric\", nearest_mode = "
                  "\"floor\"> (X, R, S)",
                  {{"X", test::f32Tensor({1, 1, H, W}, x)}, {"R", test::f32Tensor({0}, {})}, {"S", test::f32Tensor({4}, {1.f, 1.f, 2.5f, 0.5f})}},
                  {1, 1, 7, 2});
  ASSERT_TRUE(y.hasValue()) << y.status().toString();
  EXPECT_EQ(y->dims(), (std::vector<int64_t>{1, 1, 7, 2}));
  expectClose(*y, want, 0);
}

TEST(NnResize, NearestUpsamplingMatchesTheFormulaPerElement) {
  // Row-repeating upsampling copies earlier output rows and float32 rows gather typed (the fast
  // paths); float16 takes the byte-wise gather. Both against ONNX's formula element by element,
  // at scales whose coordinates are exact in double (so floor and ties are unambiguous).
  const int64_t N = 2, C = 3, H = 5, W = 7;
  std::mt19937 rng(5);
  std::vector<float> x = randomFloats(rng, N * C * H * W);
  for (float& v : x) v = halfToFloat(floatToHalf(v));  // exact in float16 too
  struct Case {
    double sh, sw;
    const char* ctm;
    const char* nm;
  };
  const Case cases[] = {{2, 2, "asymmetric", "floor"},        {4, 8, "asymmetric", "floor"},
                        {8, 4, "half_pixel", "round_prefer_floor"}, {2.5, 0.5, "asymmetric", "floor"},
                        {0.5, 2, "half_pixel", "round_prefer_floor"}, {1, 8, "half_pixel", "round_prefer_ceil"}};
  for (const Case& c : cases) {
    const int64_t OH = int64_t(std::floor(H * c.sh)), OW = int64_t(std::floor(W * c.sw));
    auto src = [&](int64_t o, double scale, int64_t in) {
      double v = std::string(c.ctm) == "asymmetric" ? o / scale : (o + 0.5) / scale - 0.5;
      double f = std::floor(v);
      int64_t i = std::string(c.nm) == "floor"                ? int64_t(f)
                  : std::string(c.nm) == "round_prefer_floor" ? int64_t(v - f <= 0.5 ? f : f + 1)
                                                              : int64_t(v - f < 0.5 ? f : f + 1);
      return std::clamp<int64_t>(i, 0, in - 1);
    };
    std::vector<double> want;
    for (int64_t p = 0; p < N * C; ++p)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) want.push_back(x[size_t((p * H + src(oy, c.sh, H)) * W + src(ox, c.sw, W))]);
    const std::string node = std::string("Y = Resize <mode = \"nearest\", coordinate_transformation_mode = \"") + c.ctm +
                             "\", nearest_mode = \"" + c.nm + "\"> (X, R, S)";
    const Tensor scales = test::f32Tensor({4}, {1.f, 1.f, float(c.sh), float(c.sw)});
    for (int threads : {1, 2}) {
      SCOPED_TRACE(fmt::format("scales {}x{} {} {}, {} threads", c.sh, c.sw, c.ctm, c.nm, threads));
      auto y = runOne(node, {{"X", test::f32Tensor({N, C, H, W}, x)}, {"R", test::f32Tensor({0}, {})}, {"S", scales}}, {N, C, OH, OW}, 13,
                      threads);
      ASSERT_TRUE(y.hasValue()) << y.status().toString();
      EXPECT_EQ(y->dims(), (std::vector<int64_t>{N, C, OH, OW}));
      expectClose(*y, want, 0);
      std::vector<uint16_t> xh(x.size());
      for (size_t i = 0; i < x.size(); ++i) xh[i] = floatToHalf(x[i]);
      auto yh = runOne(node,
                       {{"X", Tensor::fromValues<uint16_t>(DType::F16, {N, C, H, W}, std::span<const uint16_t>(xh))},
                        {"R", test::f32Tensor({0}, {})},
                        {"S", scales}},
                       {N, C, OH, OW}, 13, threads, "float16");
      ASSERT_TRUE(yh.hasValue()) << yh.status().toString();
      expectClose(*yh, want, 0);
    }
  }
}

}  // namespace
}  // namespace npuconv
