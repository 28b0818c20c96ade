// conv_gemm_test.cc - float32 Conv through the GEMM (B panels packed straight from the input)
// and through the channel-interleaved depthwise kernel, against a naive double-precision N-D
// reference: 1-D, 2-D and 3-D, strides 1 to 3, dilations, asymmetric pads, groups, batch, tiny
// and huge outputs (panels that cross output lines, several K and N cache blocks), long strided
// 1-D kernels and channel-multiplier Convs (an STFT front end) through the GEMM, 1 and 2
// threads, both microkernels, weights as inputs and as prepacked initializers.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "converter/exec/executor.h"
#include "converter/exec/kernels/gemm_f32.h"
#include "formats/onnx/onnx_reader.h"

namespace npuconv {
namespace {

struct ConvCase {
  int64_t n, c, m, group;
  std::vector<int64_t> in, k, s, d, padBegin, padEnd;
};

std::string listText(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

/// Runs the Conv (W a graph input, or with constWeights an initializer the executor prepacks)
/// and compares with the reference; with constWeights the executor runs twice, switching the
/// microkernel in between (the prepacked weights must follow).
void checkConv(const ConvCase& cc, int threads, bool constWeights = false) {
  const size_t r = cc.in.size();
  std::vector<int64_t> out(r);
  for (size_t i = 0; i < r; ++i)
    out[i] = (cc.in[i] + cc.padBegin[i] + cc.padEnd[i] - cc.d[i] * (cc.k[i] - 1) - 1) / cc.s[i] + 1;
  auto count = [](const std::vector<int64_t>& v) {
    int64_t p = 1;
    for (int64_t x : v) p *= x;
    return p;
  };
  const int64_t inSp = count(cc.in), outSp = count(out), kk = count(cc.k), cg = cc.c / cc.group, mg = cc.m / cc.group;
  std::mt19937 rng(uint32_t(cc.c * 977 + cc.m * 31 + outSp));
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> x(size_t(cc.n * cc.c * inSp)), w(size_t(cc.m * cg * kk)), b(size_t(cc.m));
  for (auto& v : x) v = u(rng);
  for (auto& v : w) v = u(rng);
  for (auto& v : b) v = u(rng);

  // Reference: every output position, every tap, in double.
  std::vector<double> want(size_t(cc.n * cc.m * outSp));
  std::vector<int64_t> o(r), t(r);
  for (int64_t n = 0; n < cc.n; ++n)
    for (int64_t m = 0; m < cc.m; ++m)
      for (int64_t op = 0; op < outSp; ++op) {
        for (int64_t i = int64_t(r) - 1, rem = op; i >= 0; --i) {
          o[size_t(i)] = rem % out[size_t(i)];
          rem /= out[size_t(i)];
        }
        double acc = b[size_t(m)];
        for (int64_t c = 0; c < cg; ++c)
          for (int64_t tp = 0; tp < kk; ++tp) {
            for (int64_t i = int64_t(r) - 1, rem = tp; i >= 0; --i) {
              t[size_t(i)] = rem % cc.k[size_t(i)];
              rem /= cc.k[size_t(i)];
            }
            int64_t at = 0;
            bool inside = true;
            for (size_t i = 0; i < r; ++i) {
              int64_t p = o[i] * cc.s[i] - cc.padBegin[i] + t[i] * cc.d[i];
              inside &= p >= 0 && p < cc.in[i];
              at = at * cc.in[i] + p;
            }
            if (!inside) continue;
            int64_t ch = (m / mg) * cg + c;
            acc += double(x[size_t((n * cc.c + ch) * inSp + at)]) * double(w[size_t((m * cg + c) * kk + tp)]);
          }
        want[size_t((n * cc.m + m) * outSp + op)] = acc;
      }

  std::vector<int64_t> xd = {cc.n, cc.c}, wd = {cc.m, cg}, yd = {cc.n, cc.m};
  xd.insert(xd.end(), cc.in.begin(), cc.in.end());
  wd.insert(wd.end(), cc.k.begin(), cc.k.end());
  yd.insert(yd.end(), out.begin(), out.end());
  std::vector<int64_t> pads = cc.padBegin;
  pads.insert(pads.end(), cc.padEnd.begin(), cc.padEnd.end());
  std::ostringstream text;
  text << "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float" << listText(xd) << " X"
       << (constWeights ? "" : ", float" + listText(wd) + " W") << ", float[" << cc.m << "] B) => (float"
       << listText(yd) << " Y)";
  if (constWeights) {
    text << " <float" << listText(wd) << " W = {";
    text.precision(9);
    for (size_t i = 0; i < w.size(); ++i) text << (i ? ", " : "") << w[i];
    text << "}>";
  }
  text << " {\n  Y = Conv <group = " << cc.group << ", strides = " << listText(cc.s)
       << ", dilations = " << listText(cc.d) << ", pads = " << listText(pads) << "> (X, W, B)\n}\n";
  auto model = parseOnnxText(text.str());
  ASSERT_TRUE(model.hasValue()) << model.status().toString();
  auto exec = Executor::create(*model, ExecOptions{threads});
  ASSERT_TRUE(exec.hasValue()) << exec.status().toString();
  NamedTensors feeds;
  feeds["X"] = Tensor::fromValues<float>(DType::F32, xd, std::span<const float>(x));
  if (!constWeights) feeds["W"] = Tensor::fromValues<float>(DType::F32, wd, std::span<const float>(w));
  feeds["B"] = Tensor::fromValues<float>(DType::F32, {cc.m}, std::span<const float>(b));
  const gemm::Isa before = gemm::activeIsa();
  for (int run = 0; run < (constWeights ? 2 : 1); ++run) {
    if (run == 1 && gemm::cpuHasAvx512()) gemm::setIsa(before == gemm::Isa::Avx2 ? gemm::Isa::Avx512 : gemm::Isa::Avx2);
    auto res = (*exec)->run(feeds);
    ASSERT_TRUE(res.hasValue()) << res.status().toString();
    std::vector<double> got = res->at("Y").toDoubles();
    ASSERT_EQ(got.size(), want.size());
    const double tol = 1e-5 * std::sqrt(double(cg * kk));
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_NEAR(got[i], want[i], tol * (1 + std::fabs(want[i]))) << "element " << i << " run " << run;
  }
  gemm::setIsa(before);
}

TEST(ConvGemm, MatchesReference) {
  const ConvCase cases[] = {
      // 3x3 same-padded: panels cross output lines (width 37)
      {1, 5, 13, 1, {30, 37}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
      // 7x7 stride 2 (a ResNet stem), odd sizes
      {1, 3, 8, 1, {40, 41}, {7, 7}, {2, 2}, {1, 1}, {3, 3}, {3, 3}},
      // stride 2 with dilation 2
      {1, 4, 6, 1, {17, 19}, {3, 3}, {2, 2}, {2, 2}, {1, 1}, {1, 1}},
      // 1x1 stride 2 (a downsample)
      {1, 20, 24, 1, {14, 14}, {1, 1}, {2, 2}, {1, 1}, {0, 0}, {0, 0}},
      // stride 3, asymmetric pads
      {1, 3, 5, 1, {23, 29}, {3, 3}, {3, 3}, {1, 1}, {0, 2}, {1, 0}},
      // groups
      {1, 8, 6, 2, {9, 10}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
      // depthwise with dilation and stride (channels interleaved 8 per vector), 11 channels
      {1, 11, 11, 11, {9, 11}, {3, 3}, {2, 1}, {2, 2}, {2, 2}, {2, 2}},
      {2, 3, 3, 3, {6, 3}, {2, 2}, {1, 1}, {1, 1}, {0, 0}, {1, 0}},
      // 1-D with dilation 3
      {1, 4, 7, 1, {300}, {5}, {1}, {3}, {2}, {2}},
      // 3-D
      {1, 2, 3, 1, {5, 6, 7}, {3, 2, 3}, {1, 2, 1}, {1, 1, 1}, {1, 0, 1}, {1, 1, 1}},
      // K = 360 and N = 4096: several K and N cache blocks
      {1, 40, 16, 1, {64, 64}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
      // one or two filters
      {1, 6, 1, 1, {12, 11}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
      {1, 6, 2, 1, {12, 11}, {3, 3}, {2, 1}, {1, 1}, {1, 1}, {1, 1}},
      // a 1x1 output, and a batch of 2
      {1, 16, 24, 1, {3, 3}, {3, 3}, {1, 1}, {1, 1}, {0, 0}, {0, 0}},
      {2, 7, 9, 1, {8, 6}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
      // A single-channel signal through many long strided filters (an STFT front end, scaled
      // down): the channel-multiplier Conv runs as a GEMM, its B panels transposed from rows
      {1, 1, 40, 1, {1300}, {64}, {24}, {1}, {0}, {0}},
      // several channels (K blocks cross channel boundaries), pads, tap runs not a multiple of 8
      {1, 3, 10, 1, {500}, {21}, {7}, {1}, {3}, {2}},
      // a 1xK kernel with a stride of 5 along W on a 2-D image, and a multiplier-8 depthwise Conv
      {1, 2, 9, 1, {5, 80}, {1, 12}, {2, 5}, {1, 1}, {0, 1}, {1, 0}},
      {1, 2, 16, 2, {7, 300}, {1, 9}, {1, 3}, {1, 1}, {0, 0}, {0, 0}},
      // batches of small images as one GEMM (columns = image x position), padded and strided
      {5, 6, 20, 1, {9, 4}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
      {3, 4, 7, 1, {11, 10}, {3, 3}, {2, 2}, {1, 1}, {1, 0}, {0, 1}},
      {4, 1, 24, 1, {300}, {32}, {20}, {1}, {4}, {0}},
  };
  const gemm::Isa isas[] = {gemm::Isa::Avx2, gemm::Isa::Avx512};
  for (gemm::Isa isa : isas) {
    if (isa == gemm::Isa::Avx512 && !gemm::cpuHasAvx512()) continue;
    gemm::setIsa(isa);
    for (const ConvCase& cc : cases) {
      SCOPED_TRACE(isa == gemm::Isa::Avx2 ? "AVX2" : "AVX-512");
      checkConv(cc, 1);
      checkConv(cc, 2);
      checkConv(cc, 2, true);
    }
  }
  gemm::setIsa(gemm::Isa::Auto);
}

/// Runs Y = Relu(Conv(X) + B) with constant weights on `x` ([n, 16, 7, 5]), 2 threads.
std::vector<float> runBatch(const std::vector<float>& x, int64_t n, const std::string& weights) {
  const std::string text = "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float[" + std::to_string(n) +
                           ", 16, 7, 5] X) => (float[" + std::to_string(n) + ", 24, 7, 5] Y) " + weights +
                           " {\n  C = Conv <pads = [1, 1, 1, 1]> (X, W, B)\n  Y = Relu (C)\n}\n";
  auto model = parseOnnxText(text);
  EXPECT_TRUE(model.hasValue()) << model.status().toString();
  auto exec = Executor::create(*model, ExecOptions{2});
  EXPECT_TRUE(exec.hasValue()) << exec.status().toString();
  NamedTensors feeds;
  feeds["X"] = Tensor::fromValues<float>(DType::F32, {n, 16, 7, 5}, std::span<const float>(x));
  auto res = (*exec)->run(feeds);
  EXPECT_TRUE(res.hasValue()) << res.status().toString();
  std::vector<float> y;
  for (double v : res->at("Y").toDoubles()) y.push_back(float(v));
  return y;
}

TEST(ConvGemm, BatchAsOneGemmMatchesPerImageRunsExactly) {
  // The batched GEMM (columns = image x position) against the per-image GEMM of batch-1 runs:
  // every output is the same sum in the same order, bit for bit, with either microkernel.
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::ostringstream w;
  w.precision(9);
  w << "<float[24, 16, 3, 3] W = {";
  for (int i = 0; i < 24 * 16 * 9; ++i) w << (i ? ", " : "") << u(rng);
  w << "}, float[24] B = {";
  for (int i = 0; i < 24; ++i) w << (i ? ", " : "") << u(rng);
  w << "}>";
  const int64_t n = 6, image = 16 * 7 * 5, outImage = 24 * 7 * 5;
  std::vector<float> x(size_t(n * image));
  for (auto& v : x) v = u(rng);
  for (gemm::Isa isa : {gemm::Isa::Avx2, gemm::Isa::Avx512}) {
    if (isa == gemm::Isa::Avx512 && !gemm::cpuHasAvx512()) continue;
    gemm::setIsa(isa);
    const std::vector<float> batch = runBatch(x, n, w.str());
    ASSERT_EQ(batch.size(), size_t(n * outImage));
    for (int64_t i = 0; i < n; ++i) {
      const std::vector<float> one(x.begin() + i * image, x.begin() + (i + 1) * image);
      const std::vector<float> y = runBatch(one, 1, w.str());
      for (int64_t j = 0; j < outImage; ++j) ASSERT_EQ(batch[size_t(i * outImage + j)], y[size_t(j)]) << i << " " << j;
    }
  }
  gemm::setIsa(gemm::Isa::Auto);
}

}  // namespace
}  // namespace npuconv
