// conv_stem_test.cc - the small-C stem Conv kernel (convStemF32: 1-4 input channels, K < 64,
// AVX-512) against a double-precision reference and against the general path it replaces (the
// AVX2 ISA: im2col + GEMM), over strides 1 and 2, odd sizes, pads, filter counts that are not
// multiples of 8 and row widths with a partial vector; the result must not depend on the thread
// count.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <span>
#include <sstream>
#include <vector>

#include "converter/exec/executor.h"
#include "converter/exec/kernels/gemm_f32.h"
#include "tests/exec/exec_test_util.h"

namespace npuconv {
namespace {

struct Stem {
  int64_t n, c, m, h, w, kh, kw, sh, sw, pt, pl, pb, pr;
  bool bias, clip;
};

int64_t stemOut(int64_t in, int64_t k, int64_t s, int64_t p0, int64_t p1) { return (in + p0 + p1 - k) / s + 1; }

/// Y of the Conv (+ Clip(-0.5, 1.5)) of `d` on the microkernel `isa` with `threads` threads;
/// the inputs come from a fixed seed, `ref` gets the double-precision reference.
std::vector<float> runStem(const Stem& d, gemm::Isa isa, int threads, std::vector<double>* ref) {
  const int64_t oh = stemOut(d.h, d.kh, d.sh, d.pt, d.pb), ow = stemOut(d.w, d.kw, d.sw, d.pl, d.pr);
  std::mt19937 rng(uint32_t(d.h * 131 + d.w * 7 + d.m));
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> x(size_t(d.n * d.c * d.h * d.w)), w(size_t(d.m * d.c * d.kh * d.kw)), b(size_t(d.m));
  for (auto& v : x) v = u(rng);
  for (auto& v : w) v = u(rng);
  for (auto& v : b) v = u(rng);
  if (ref) {
    ref->clear();
    for (int64_t n = 0; n < d.n; ++n)
      for (int64_t m = 0; m < d.m; ++m)
        for (int64_t i = 0; i < oh; ++i)
          for (int64_t j = 0; j < ow; ++j) {
            double acc = d.bias ? b[size_t(m)] : 0.0;
            for (int64_t c = 0; c < d.c; ++c)
              for (int64_t a = 0; a < d.kh; ++a)
                for (int64_t e = 0; e < d.kw; ++e) {
                  const int64_t ih = i * d.sh - d.pt + a, iw = j * d.sw - d.pl + e;
                  if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w) continue;
                  acc += double(x[size_t(((n * d.c + c) * d.h + ih) * d.w + iw)]) *
                         double(w[size_t(((m * d.c + c) * d.kh + a) * d.kw + e)]);
                }
            if (d.clip) acc = std::min(1.5, std::max(-0.5, acc));
            ref->push_back(acc);
          }
  }
  std::ostringstream t;
  t << "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float" << test::dimsText({d.n, d.c, d.h, d.w}) << " X, float"
    << test::dimsText({d.m, d.c, d.kh, d.kw}) << " W" << (d.bias ? ", float" + test::dimsText({d.m}) + " B" : "") << ") => (float"
    << test::dimsText({d.n, d.m, oh, ow}) << " Y) {\n  C = Conv <strides = " << test::dimsText({d.sh, d.sw})
    << ", pads = " << test::dimsText({d.pt, d.pl, d.pb, d.pr}) << "> (X, W" << (d.bias ? ", B)" : ")") << "\n";
  if (d.clip)
    t << "  lo = Constant <value = float {-0.5}> ()\n  hi = Constant <value = float {1.5}> ()\n  Y = Clip (C, lo, hi)\n";
  else
    t << "  Y = Identity (C)\n";
  t << "}\n";
  NamedTensors feeds;
  feeds["X"] = Tensor::fromValues<float>(DType::F32, {d.n, d.c, d.h, d.w}, std::span<const float>(x));
  feeds["W"] = Tensor::fromValues<float>(DType::F32, {d.m, d.c, d.kh, d.kw}, std::span<const float>(w));
  if (d.bias) feeds["B"] = Tensor::fromValues<float>(DType::F32, {d.m}, std::span<const float>(b));
  return test::runTextModelOnIsa(t.str(), feeds, isa, threads);
}

TEST(ConvStem, MatchesReferenceAndGeneralPath) {
  if (!gemm::cpuHasAvx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
  const Stem cases[] = {
      {1, 3, 32, 224, 224, 3, 3, 2, 2, 1, 1, 1, 1, true, true},  // mobilenet_v2's stem
      {1, 3, 16, 33, 35, 3, 3, 2, 2, 1, 1, 1, 1, true, false},   // odd sizes, 18 columns
      {2, 3, 13, 17, 40, 3, 3, 1, 1, 1, 1, 1, 1, false, true},   // stride 1, 13 filters, 2 images
      {1, 1, 8, 9, 70, 3, 5, 2, 2, 0, 2, 1, 2, true, false},     // one channel at stride 2, 3x5
      {1, 4, 20, 5, 31, 3, 3, 1, 1, 0, 0, 0, 0, true, true},     // four channels, no padding
      {1, 2, 9, 8, 100, 5, 5, 2, 2, 2, 2, 2, 2, true, true},     // 5x5, two channels
      {1, 3, 24, 3, 65, 3, 3, 2, 2, 1, 1, 1, 1, true, false},    // 2 output rows, 33 columns
      {1, 3, 5, 1, 96, 1, 3, 1, 2, 0, 1, 0, 1, true, true},      // one row, 1x3, 48 columns
  };
  for (const Stem& d : cases) {
    SCOPED_TRACE(std::to_string(d.c) + "->" + std::to_string(d.m) + " " + std::to_string(d.h) + "x" +
                 std::to_string(d.w) + " k" + std::to_string(d.kh) + "x" + std::to_string(d.kw) + " s" +
                 std::to_string(d.sh) + "x" + std::to_string(d.sw));
    std::vector<double> want;
    const std::vector<float> got = runStem(d, gemm::Isa::Avx512, 1, &want);
    const std::vector<float> general = runStem(d, gemm::Isa::Avx2, 1, nullptr);
    ASSERT_EQ(got.size(), want.size());
    ASSERT_EQ(general.size(), want.size());
    ASSERT_FALSE(want.empty());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_NEAR(got[i], want[i], 1e-5 * (1 + std::fabs(want[i]))) << "element " << i;
      ASSERT_NEAR(got[i], general[i], 2e-5 * (1 + std::fabs(want[i]))) << "element " << i;
    }
    const std::vector<float> two = runStem(d, gemm::Isa::Avx512, 2, nullptr);
    ASSERT_EQ(two.size(), got.size());
    EXPECT_EQ(std::memcmp(two.data(), got.data(), got.size() * sizeof(float)), 0) << "1 vs 2 threads";
  }
}

}  // namespace
}  // namespace npuconv
