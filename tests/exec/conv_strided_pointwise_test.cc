// conv_strided_pointwise_test.cc - a 1x1 Conv with a stride and no padding (resnet50's
// downsample Convs), which the executor runs as a pointwise Conv on its gathered input (the
// column tiles, or the pixel tiles on 7x7 / 14x14 outputs), against the general kernel: the
// GEMM with B packed by im2col. Same K blocks, same products in the same order (the gathered
// matrix holds exactly im2col's values): the outputs must be bit-identical, with constant
// (prepacked) weights and weights as a graph input, at one and two threads.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "converter/exec/executor.h"
#include "converter/exec/kernels/gemm_f32.h"
#include "converter/exec/kernels/im2col_f32.h"
#include "converter/exec/thread_pool.h"
#include "formats/onnx/onnx_reader.h"
#include "tests/exec/exec_test_util.h"

namespace npuconv {
namespace {

struct StridedCase {
  int64_t c, m, h, w, sh, sw;
};

void checkStrided(const StridedCase& k, int threads, bool constWeights) {
  const int64_t oh = (k.h - 1) / k.sh + 1, ow = (k.w - 1) / k.sw + 1, outSp = oh * ow;
  std::mt19937 rng(uint32_t(k.c * 131 + k.m * 7 + k.h));
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> x(size_t(k.c * k.h * k.w)), w(size_t(k.m * k.c)), b(size_t(k.m));
  for (auto* v : {&x, &w, &b})
    for (float& f : *v) f = u(rng);

  // The general kernel: im2col-packed B, the weights packed by the GEMM, bias in the epilogue.
  const nn::Geo3 g{{1, k.h, k.w}, {1, oh, ow}, {1, 1, 1}, {1, k.sh, k.sw}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}};
  std::vector<float> want(size_t(k.m * outSp));
  {
    ThreadPool pool(1);
    nn::Im2colF32 im2col(pool, x.data(), k.c, g);
    gemm::Epilogue ep;
    ep.bias = b.data();
    ep.biasPerRow = true;
    gemm::sgemmPackedB(&pool, k.m, outSp, k.c, w.data(), k.c, im2col.packer(), want.data(), outSp, ep);
  }

  std::ostringstream text;
  text << "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float" << test::dimsText({1, k.c, k.h, k.w}) << " X"
       << (constWeights ? "" : ", float" + test::dimsText({k.m, k.c, 1, 1}) + " W") << ", float[" << k.m
       << "] B) => (float" << test::dimsText({1, k.m, oh, ow}) << " Y)";
  if (constWeights) {
    text << " <float" << test::dimsText({k.m, k.c, 1, 1}) << " W = {";
    text.precision(9);
    for (size_t i = 0; i < w.size(); ++i) text << (i ? ", " : "") << w[i];
    text << "}>";
  }
  text << " {\n  Y = Conv <strides = " << test::dimsText({k.sh, k.sw}) << "> (X, W, B)\n}\n";
  auto model = parseOnnxText(text.str());
  ASSERT_TRUE(model.hasValue()) << model.status().toString();
  auto exec = Executor::create(*model, ExecOptions{threads});
  ASSERT_TRUE(exec.hasValue()) << exec.status().toString();
  NamedTensors feeds;
  feeds["X"] = Tensor::fromValues<float>(DType::F32, {1, k.c, k.h, k.w}, std::span<const float>(x));
  if (!constWeights) feeds["W"] = Tensor::fromValues<float>(DType::F32, {k.m, k.c, 1, 1}, std::span<const float>(w));
  feeds["B"] = Tensor::fromValues<float>(DType::F32, {k.m}, std::span<const float>(b));
  for (int run = 0; run < 2; ++run) {  // the second run reads the weights packed by the first
    auto res = (*exec)->run(feeds);
    ASSERT_TRUE(res.hasValue()) << res.status().toString();
    std::vector<double> got = res->at("Y").toDoubles();
    ASSERT_EQ(got.size(), want.size());
    size_t diff = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      const float f = float(got[i]);
      diff += std::memcmp(&f, &want[i], sizeof(float)) != 0;
    }
    EXPECT_EQ(diff, 0u) << "run " << run;
  }
}

TEST(ConvStridedPointwise, BitIdenticalToIm2colGemm) {
  const StridedCase cases[] = {
      {96, 64, 14, 14, 2, 2},    // 7x7 output: pixel tiles
      {200, 160, 13, 13, 2, 2},  // odd input: 7x7 output, K over two K blocks
      {64, 256, 28, 28, 2, 2},   // 14x14 output, 256 filters: pixel tiles
      {48, 40, 30, 31, 2, 2},    // 15x16 output: column tiles, B read in place
      {24, 36, 20, 17, 3, 2},    // unequal strides, 7x9 output
      {16, 24, 9, 40, 1, 3},     // stride along W only
      {256, 96, 56, 56, 2, 2},   // 28x28 output, K = 256 (two K blocks), few filters
  };
  const gemm::Isa isas[] = {gemm::Isa::Avx2, gemm::Isa::Avx512};
  for (gemm::Isa isa : isas) {
    if (isa == gemm::Isa::Avx512 && !gemm::cpuHasAvx512()) continue;
    gemm::setIsa(isa);
    for (const StridedCase& k : cases)
      for (int threads : {1, 2})
        for (bool constWeights : {true, false}) {
          SCOPED_TRACE(std::to_string(k.c) + "->" + std::to_string(k.m) + " " + std::to_string(k.h) + "x" +
                       std::to_string(k.w) + " s" + std::to_string(k.sh) + "," + std::to_string(k.sw) +
                       (isa == gemm::Isa::Avx2 ? " AVX2" : " AVX-512") + " threads " + std::to_string(threads) +
                       (constWeights ? " const W" : " W input"));
          checkStrided(k, threads, constWeights);
        }
  }
  gemm::setIsa(gemm::Isa::Auto);
}

}  // namespace
}  // namespace npuconv
