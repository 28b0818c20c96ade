// conv_fast_test.cc - the float32 fast paths of Conv (AVX2 depthwise kernel, GEMM with fused
// bias) against a naive double-precision 2-D reference, over kernel sizes, strides, asymmetric
// pads, widths that are not multiples of 8, and channel multipliers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <span>
#include <sstream>
#include <vector>

#include "converter/exec/executor.h"
#include "converter/exec/kernels/gemm_f32.h"
#include "formats/onnx/onnx_reader.h"
#include "tests/exec/exec_test_util.h"

namespace npuconv {
namespace {

struct Dw {
  int64_t n, c, mult, h, w, kh, kw, sh, sw, pt, pl, pb, pr;
  bool bias;
};

void checkDepthwise(const Dw& d, int threads) {
  const int64_t M = d.c * d.mult;
  const int64_t oh = (d.h + d.pt + d.pb - d.kh) / d.sh + 1, ow = (d.w + d.pl + d.pr - d.kw) / d.sw + 1;
  std::mt19937 rng(uint32_t(d.h * 131 + d.w * 7 + d.kh));
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> x(static_cast<size_t>(d.n * d.c * d.h * d.w)), w(static_cast<size_t>(M * d.kh * d.kw)), b(static_cast<size_t>(M));
  for (auto& v : x) v = u(rng);
  for (auto& v : w) v = u(rng);
  for (auto& v : b) v = u(rng);
  std::vector<double> want;
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double acc = d.bias ? b[size_t(m)] : 0.0;
          for (int64_t a = 0; a < d.kh; ++a)
            for (int64_t e = 0; e < d.kw; ++e) {
              int64_t ih = i * d.sh - d.pt + a, iw = j * d.sw - d.pl + e;
              if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w) continue;
              acc += double(x[size_t(((n * d.c + m / d.mult) * d.h + ih) * d.w + iw)]) *
                     double(w[size_t((m * d.kh + a) * d.kw + e)]);
            }
          want.push_back(acc);
        }
  std::ostringstream t;
  t << "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float" << test::dimsText({d.n, d.c, d.h, d.w}) << " X, float"
    << test::dimsText({M, 1, d.kh, d.kw}) << " W" << (d.bias ? ", float" + test::dimsText({M}) + " B" : "") << ") => (float"
    << test::dimsText({d.n, M, oh, ow}) << " Y) {\n  Y = Conv <group = " << d.c << ", strides = " << test::dimsText({d.sh, d.sw})
    << ", pads = " << test::dimsText({d.pt, d.pl, d.pb, d.pr}) << "> (X, W" << (d.bias ? ", B)" : ")") << "\n}\n";
  auto model = parseOnnxText(t.str());
  ASSERT_TRUE(model.hasValue()) << model.status().toString();
  auto exec = Executor::create(*model, ExecOptions{threads});
  ASSERT_TRUE(exec.hasValue()) << exec.status().toString();
  NamedTensors feeds;
  feeds["X"] = Tensor::fromValues<float>(DType::F32, {d.n, d.c, d.h, d.w}, std::span<const float>(x));
  feeds["W"] = Tensor::fromValues<float>(DType::F32, {M, 1, d.kh, d.kw}, std::span<const float>(w));
  if (d.bias) feeds["B"] = Tensor::fromValues<float>(DType::F32, {M}, std::span<const float>(b));
  auto out = (*exec)->run(feeds);
  ASSERT_TRUE(out.hasValue()) << out.status().toString();
  std::vector<double> got = out->at("Y").toDoubles();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-5 * (1 + std::fabs(want[i]))) << "element " << i << " kernel " << d.kh << "x"
                                                                   << d.kw << " stride " << d.sh << "x" << d.sw;
}

TEST(ConvFastDepthwise, MatchesReference) {
  const Dw cases[] = {
      {1, 3, 1, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, true},       {2, 4, 1, 14, 13, 3, 3, 2, 2, 1, 1, 1, 1, true},
      {1, 5, 2, 9, 21, 5, 5, 1, 1, 2, 2, 2, 2, false},     {1, 2, 1, 28, 27, 5, 5, 2, 2, 2, 2, 2, 2, true},
      {1, 3, 1, 5, 3, 3, 3, 1, 2, 0, 2, 1, 0, true},       {1, 2, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, true},
      {1, 2, 1, 10, 17, 1, 4, 3, 2, 0, 3, 0, 1, true},     {1, 1, 3, 6, 40, 2, 7, 1, 1, 0, 3, 1, 3, false},
      {1, 16, 1, 56, 56, 3, 3, 2, 2, 0, 0, 1, 1, true},
      // Small maps (the 8-channel interleaved kernel): odd and even heights (the last row pair
      // moved back), one row, 9 and 12 channels (a partial block), 5x5, stride 2.
      {1, 12, 1, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, true},      {2, 9, 1, 14, 14, 5, 5, 1, 1, 2, 2, 2, 2, true},
      {1, 10, 1, 1, 9, 1, 3, 1, 1, 0, 1, 0, 1, true},      {1, 8, 1, 15, 15, 3, 3, 2, 2, 1, 1, 1, 1, false},
      {1, 11, 1, 3, 6, 3, 3, 1, 1, 0, 0, 0, 0, true},
      // Full 8-channel blocks move by 8x8 transposes: rows of 8 + 6 and of 7 columns (the tail
      // through a masked block), output planes of 196, 16 and 30 positions (not multiples of 8).
      {1, 16, 1, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, true},    {2, 24, 1, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1, true},
      {1, 8, 1, 9, 11, 3, 3, 2, 2, 1, 1, 1, 1, true},      {1, 16, 1, 5, 8, 3, 3, 1, 1, 0, 1, 0, 1, false},
      // 3x3 stride 1 read in place (AVX-512), with a channel multiplier: rows of 20 and of 11.
      {1, 2, 2, 10, 20, 3, 3, 1, 1, 1, 1, 1, 1, true},     {1, 3, 2, 9, 11, 3, 3, 1, 1, 1, 1, 1, 1, true},
  };
  for (const Dw& d : cases) {
    checkDepthwise(d, 1);
    checkDepthwise(d, 2);
  }
}

/// The depthwise Conv of `d` (+ `act`: "", "Clip" or "HardSwish", fused by the executor) and,
/// with `residual`, + X (same shape as the output: stride 1, "same" pads) before the activation,
/// on the microkernel `isa`; the output's bits.
std::vector<float> runDepthwiseWith(const Dw& d, const std::string& act, bool residual, gemm::Isa isa, int threads) {
  const int64_t oh = (d.h + d.pt + d.pb - d.kh) / d.sh + 1, ow = (d.w + d.pl + d.pr - d.kw) / d.sw + 1;
  std::mt19937 rng(uint32_t(d.h * 31 + d.w * 5 + d.kw));
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> x(size_t(d.n * d.c * d.h * d.w)), w(size_t(d.c * d.kh * d.kw)), b(size_t(d.c));
  for (auto& v : x) v = 4 * u(rng);
  for (auto& v : w) v = u(rng);
  for (auto& v : b) v = u(rng);
  std::ostringstream t;
  t << "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float" << test::dimsText({d.n, d.c, d.h, d.w}) << " X, float"
    << test::dimsText({d.c, 1, d.kh, d.kw}) << " W, float" << test::dimsText({d.c}) << " B) => (float"
    << test::dimsText({d.n, d.c, oh, ow}) << " Y) {\n  C = Conv <group = " << d.c << ", strides = " << test::dimsText({d.sh, d.sw})
    << ", pads = " << test::dimsText({d.pt, d.pl, d.pb, d.pr}) << "> (X, W, B)\n";
  std::string in = "C";
  if (residual) {
    t << "  R = Add (C, X)\n";
    in = "R";
  }
  if (act == "Clip") t << "  lo = Constant <value = float {-0.5}> ()\n  hi = Constant <value = float {1.5}> ()\n  Y = Clip ("
                       << in << ", lo, hi)\n";
  else if (act == "HardSwish") t << "  Y = HardSwish (" << in << ")\n";
  else t << "  Y = Identity (" << in << ")\n";
  t << "}\n";
  NamedTensors feeds;
  feeds["X"] = Tensor::fromValues<float>(DType::F32, {d.n, d.c, d.h, d.w}, std::span<const float>(x));
  feeds["W"] = Tensor::fromValues<float>(DType::F32, {d.c, 1, d.kh, d.kw}, std::span<const float>(w));
  feeds["B"] = Tensor::fromValues<float>(DType::F32, {d.c}, std::span<const float>(b));
  return test::runTextModelOnIsa(t.str(), feeds, isa, threads);
}

/// Every case of `cases` with each fused activation ("", Clip, HardSwish) and, where the output
/// has X's shape, a fused residual: the AVX-512 kernels at 1 and 2 threads against AVX2 at one
/// thread, bit for bit.
void expectAvx512MatchesAvx2Bitwise(std::span<const Dw> cases) {
  for (const Dw& d : cases)
    for (const std::string act : {"", "Clip", "HardSwish"})
      for (bool residual : {false, true}) {
        if (residual && (d.sh != 1 || d.sw != 1 || d.pt * 2 + 1 != d.kh)) continue;
        SCOPED_TRACE(std::to_string(d.c) + "ch " + std::to_string(d.h) + "x" + std::to_string(d.w) + " k" +
                     std::to_string(d.kh) + " s" + std::to_string(d.sh) + " " + act + (residual ? " +residual" : ""));
        const std::vector<float> want = runDepthwiseWith(d, act, residual, gemm::Isa::Avx2, 1);
        for (int threads : {1, 2}) {
          const std::vector<float> got = runDepthwiseWith(d, act, residual, gemm::Isa::Avx512, threads);
          ASSERT_EQ(got.size(), want.size());
          ASSERT_FALSE(want.empty());
          size_t diff = 0;
          for (size_t i = 0; i < want.size(); ++i) diff += std::memcmp(&want[i], &got[i], sizeof(float)) != 0;
          EXPECT_EQ(diff, 0u) << threads << " threads";
        }
      }
}

TEST(ConvFastDepthwise, Avx512BlocksMatchAvx2Bitwise) {
  // Where the CPU has AVX-512 the per-plane kernel computes 16 columns per vector (blocks of 1,
  // 2 or 4 vectors, moved back at the right and bottom edges) with the same sums in the same
  // order as the AVX2 kernel's 8-column blocks: the two must agree bit for bit, with fused
  // activations (on 16 lanes and through the 8-lane halves) and a fused residual.
  if (!gemm::cpuHasAvx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
  const Dw cases[] = {
      {1, 3, 1, 112, 112, 3, 3, 1, 1, 1, 1, 1, 1, true}, {1, 2, 1, 112, 112, 3, 3, 2, 2, 1, 1, 1, 1, true},
      {2, 3, 1, 56, 56, 3, 3, 1, 1, 1, 1, 1, 1, true},   {1, 3, 1, 28, 28, 5, 5, 1, 1, 2, 2, 2, 2, true},
      {1, 2, 1, 33, 40, 5, 5, 2, 2, 2, 1, 1, 2, true},   {1, 3, 1, 9, 17, 3, 3, 1, 1, 1, 1, 1, 1, true},
      {1, 2, 1, 6, 70, 3, 3, 1, 1, 1, 1, 1, 1, true},
  };
  expectAvx512MatchesAvx2Bitwise(cases);
}

TEST(ConvFastDepthwise, Avx512DirectEdgesMatchPaddedCopyBitwise) {
  // With AVX-512 the 3x3 per-plane kernels read the input plane in place (rows outside it zero
  // vectors, columns outside it masked-off lanes; stride 2 split into even and odd columns by
  // permutes) and other stride-2 filters run on the padded copy, where the AVX2 kernel reads a
  // zero-padded copy with a general loop: the same sums in the same order, bit for bit. Stride 1
  // and 2, odd sizes, one to three output rows (blocks of 1 and 2 rows, moved back), 1-4 vectors per block
  // and a tail vector, asymmetric and zero pads, 5x5 and 7-wide filters, 1-5 channels, maps
  // narrower than a vector (1x1, 2x2, 3x5: the interleaved kernel) and rows of 8-15 columns
  // (read in place with AVX-512, the interleaved kernel with AVX2).
  if (!gemm::cpuHasAvx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
  const Dw cases[] = {
      {1, 3, 1, 1, 17, 3, 3, 1, 1, 1, 1, 1, 1, true},    {1, 2, 1, 2, 33, 3, 3, 1, 1, 1, 1, 1, 1, true},
      {1, 1, 1, 3, 31, 3, 3, 1, 1, 1, 1, 1, 1, true},    {1, 5, 1, 5, 95, 3, 3, 1, 1, 1, 1, 1, 1, true},
      {1, 3, 1, 3, 35, 3, 3, 2, 2, 1, 1, 1, 1, true},    {2, 2, 1, 7, 65, 3, 3, 2, 2, 1, 1, 1, 1, true},
      {1, 4, 1, 13, 129, 3, 3, 2, 2, 1, 1, 1, 1, true},  {1, 3, 1, 11, 113, 3, 3, 2, 2, 0, 0, 1, 1, true},
      {1, 2, 1, 9, 37, 5, 5, 2, 2, 2, 2, 2, 2, true},    {1, 2, 1, 10, 41, 3, 7, 1, 1, 1, 3, 1, 3, true},
      {1, 3, 1, 6, 20, 3, 3, 1, 1, 0, 0, 0, 0, true},    {1, 2, 1, 4, 18, 3, 3, 1, 2, 2, 0, 0, 2, true},
      {1, 3, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, true},     {1, 3, 1, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, true},
      {1, 5, 1, 3, 5, 3, 3, 2, 2, 1, 1, 1, 1, true},
      // Rows of 8-15 columns, one vector per row (8-row blocks, moved back; fewer rows: 4, 2, 1).
      {1, 9, 1, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, true},     {2, 3, 1, 11, 12, 3, 3, 1, 1, 0, 0, 0, 0, true},
      {1, 4, 1, 5, 15, 3, 3, 1, 1, 1, 1, 1, 1, true},    {1, 2, 1, 3, 8, 3, 3, 1, 1, 1, 1, 1, 1, false},
      {1, 3, 1, 1, 10, 3, 3, 1, 1, 1, 1, 1, 1, true},
      // Stride 2 to rows of 8-15 columns (8-row blocks, fewer rows) and a tail column past the
      // input (even widths: the third tap of the last output reads column IW, padding).
      {1, 5, 1, 28, 28, 3, 3, 2, 2, 1, 1, 1, 1, true},   {1, 3, 1, 19, 17, 3, 3, 2, 2, 1, 1, 1, 1, true},
      {2, 2, 1, 6, 30, 3, 3, 2, 2, 1, 1, 1, 1, true},    {1, 3, 1, 4, 64, 3, 3, 2, 2, 1, 1, 1, 1, false},
      // Pads of 2 (whole zero rows and a zero column pair inside the window) and mixed pads.
      {1, 2, 1, 6, 20, 3, 3, 1, 1, 2, 2, 2, 2, true},    {1, 2, 1, 9, 40, 3, 3, 2, 2, 2, 2, 0, 1, true},
  };
  expectAvx512MatchesAvx2Bitwise(cases);
}

TEST(ConvFastDepthwise, Avx512SmallMapBlocksMatchAvx2Bitwise) {
  // Maps narrower than 16 columns (the 8-channel interleaved kernel): with AVX-512 at stride 1
  // one vector holds two neighbouring positions of the 8 channels (rows of 8 and of 4 positions
  // per block pair, moved back at the edges); same sums as the AVX2 loop, bit for bit. Odd and
  // even heights, two rows, widths 4-15, 3x3 and 5x5, partial channel blocks, and stride 2 (AVX2
  // loop on both sides), with fused activations and a residual.
  if (!gemm::cpuHasAvx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
  const Dw cases[] = {
      {1, 16, 1, 14, 14, 5, 5, 1, 1, 2, 2, 2, 2, true}, {1, 24, 1, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, true},
      {2, 8, 1, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, true},    {1, 16, 1, 2, 9, 3, 3, 1, 1, 1, 1, 1, 1, false},
      {1, 12, 1, 9, 15, 5, 5, 1, 1, 2, 2, 2, 2, true},  {1, 16, 1, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, true},
      {2, 16, 1, 14, 14, 3, 3, 2, 2, 1, 1, 1, 1, true},
  };
  expectAvx512MatchesAvx2Bitwise(cases);
}

}  // namespace
}  // namespace npuconv
