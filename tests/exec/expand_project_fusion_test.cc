// expand_project_fusion_test.cc - the executor's fusion of a mobile net's whole inverted-residual
// block: [pointwise Conv [-> act] ->] depthwise Conv [-> act] -> pointwise (project) Conv
// [+ residual Add] [-> act], run by the first Conv's kernel a band of rows at a time with the
// project Conv reading each band of depthwise output from cache (converter/exec/kernels/
// nn_conv.cc, convExpandDepthwiseF32). Each case runs fused (no observer; 1 and 2 threads) and
// unfused (an observer of every value turns fusion off) and must agree bit for bit: several band
// shapes, stride 1 and 2, with and without the residual Add (the block's input, or another graph
// input), with and without an activation after it, and small maps that run the calls one after
// the other. An observer of the depthwise or the project output turns the fusion off.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "converter/exec/executor.h"
#include "formats/onnx/onnx_reader.h"
#include "tests/exec/exec_test_util.h"

namespace npuconv {
namespace {

struct BlockCase {
  int64_t n, c, m, p, h, w;
  int64_t k, stride, pad;
  std::string act1, act2, act3;  // after the expand, the depthwise and the project (+ residual) Conv
  int residual;                  // 0: none, 1: Add(project, X), 2: Add(R, project) with R an input
  bool expand = true;            // false: no expand Conv (m == c; MobileNetV2's first block)
};

int64_t outSize(const BlockCase& k, int64_t in) { return (in + 2 * k.pad - k.k) / k.stride + 1; }

/// X -> E = Conv 1x1 [-> A] -> D = depthwise [-> Dv] -> P = Conv 1x1 [+ residual -> S] [-> act3] -> Y.
std::string blockModel(const BlockCase& k) {
  std::mt19937 rng(17);
  const int64_t oh = outSize(k, k.h), ow = outSize(k, k.w);
  std::string body = k.expand ? "  E = Conv <kernel_shape = [1, 1]> (X, W1, B1)\n" : "";
  std::string in = k.expand ? "E" : "X";
  if (k.expand && !k.act1.empty()) body += test::activationText(k.act1, "A", "E"), in = "A";
  const std::string pd = std::to_string(k.pad), kt = std::to_string(k.k), st = std::to_string(k.stride);
  body += "  D = Conv <group = " + std::to_string(k.m) + ", kernel_shape = [" + kt + ", " + kt + "], strides = [" + st +
          ", " + st + "], pads = [" + pd + ", " + pd + ", " + pd + ", " + pd + "]> (" + in + ", W2, B2)\n";
  in = "D";
  if (!k.act2.empty()) body += test::activationText(k.act2, "Dv", "D"), in = "Dv";
  body += "  P = Conv <kernel_shape = [1, 1]> (" + in + ", W3, B3)\n";
  in = "P";
  if (k.residual == 1) body += "  S = Add (P, X)\n", in = "S";
  if (k.residual == 2) body += "  S = Add (R, P)\n", in = "S";
  body += k.act3.empty() ? "  Y = Identity (" + in + ")\n" : test::activationText(k.act3, "Y", in);
  std::string inputs = "float" + test::dimsText({k.n, k.c, k.h, k.w}) + " X";
  if (k.residual == 2) inputs += ", float" + test::dimsText({k.n, k.p, oh, ow}) + " R";
  return "<ir_version: 8, opset_import: [\"\" : 17]>\ng (" + inputs + ") => (float[" + std::to_string(k.n) +
         ", ?, ?, ?] Y)\n<float" + test::dimsText({k.m, k.c, 1, 1}) + " W1 = {" + test::randomValuesText(rng, k.m * k.c, 0.6f) +
         "}, float[" + std::to_string(k.m) + "] B1 = {" + test::randomValuesText(rng, k.m, 0.5f) + "}, float" +
         test::dimsText({k.m, 1, k.k, k.k}) + " W2 = {" + test::randomValuesText(rng, k.m * k.k * k.k, 0.5f) + "}, float[" +
         std::to_string(k.m) + "] B2 = {" + test::randomValuesText(rng, k.m, 0.5f) + "}, float" + test::dimsText({k.p, k.m, 1, 1}) +
         " W3 = {" + test::randomValuesText(rng, k.p * k.m, 0.3f) + "}, float[" + std::to_string(k.p) + "] B3 = {" +
         test::randomValuesText(rng, k.p, 0.5f) + "}, float lo = {0}, float hi = {6}>\n{\n" + body + "}\n";
}

/// observe: 0 none, 1 every value (no fusion), 2 only the named value `watch`. fused: the project
/// Conv ran in the expand Conv's step.
test::FusionRunOutcome runBlock(const BlockCase& k, int observe, int threads, const std::string& watch = "") {
  test::FusionRunSpec spec{.text = blockModel(k), .inputs = {{"X", {k.n, k.c, k.h, k.w}}}, .seed = 5, .threads = threads,
                           .observeAll = observe == 1, .watch = observe == 2 ? watch : ""};
  if (k.residual == 2) spec.inputs.push_back({"R", {k.n, k.p, outSize(k, k.h), outSize(k, k.w)}});
  const std::string first = k.expand ? "E" : "D";
  return test::runFusionCase(spec, [&first](const Node& node, const std::vector<const Node*>& fused) {
    return node.is("Conv") && node.result(0) && node.result(0)->name() == first &&
           std::any_of(fused.begin(), fused.end(), [](const Node* f) { return f->result(0) && f->result(0)->name() == "P"; });
  });
}

size_t differing(const test::FusionRunOutcome& a, const test::FusionRunOutcome& b) {
  size_t diff = 0;
  for (size_t i = 0; i < a.y.size(); ++i) diff += a.y[i] != b.y[i];
  return diff;
}

TEST(ExecExpandProjectFusion, MatchesUnfusedRunBitForBit) {
  const BlockCase cases[] = {
      // MobileNetV2's stride-1 block: Clip, residual Add of the block input, several bands.
      {1, 24, 144, 24, 56, 56, 3, 1, 1, "Clip", "Clip", "", 1},
      // The same without the residual (a block that changes the width), a remainder band.
      {1, 16, 96, 24, 60, 64, 3, 1, 1, "Clip", "Clip", "", 0},
      // Stride 2, odd height, no residual; 5x5 with HardSwish (MobileNetV3).
      {1, 16, 96, 24, 61, 56, 3, 2, 1, "Relu", "Relu", "", 0},
      {1, 24, 72, 40, 48, 40, 5, 2, 2, "HardSwish", "HardSwish", "", 0},
      // A residual from another input with an activation after the Add; two images.
      {2, 8, 64, 16, 64, 64, 3, 1, 1, "", "Relu", "Relu", 2},
      // Deep project Convs with few filters (the direct kernel on AVX-512: run whole after the
      // bands): with the residual, and with an activation but no residual.
      {1, 32, 192, 32, 40, 40, 3, 1, 1, "Clip", "Clip", "", 1},
      {1, 32, 192, 64, 40, 40, 3, 1, 1, "Relu", "Relu", "Relu", 0},
      {1, 16, 256, 48, 36, 40, 5, 2, 2, "HardSwish", "HardSwish", "", 0},
      {2, 16, 96, 16, 36, 36, 3, 1, 1, "Clip", "", "", 1},
      // Small maps: the calls one after the other (narrow maps through the interleaved kernels).
      {1, 16, 48, 16, 20, 20, 3, 1, 1, "Clip", "Clip", "", 1},
      {2, 24, 144, 32, 7, 7, 3, 1, 1, "Relu", "Relu", "", 0},
      {1, 40, 120, 40, 14, 14, 5, 1, 2, "HardSwish", "HardSwish", "", 1},
      // No expand Conv (the depthwise Conv's own kernel runs the project Conv): banded with and
      // without a residual, stride 2, no activation, and a small map.
      {1, 32, 32, 16, 112, 112, 3, 1, 1, "", "Clip", "", 0, false},
      {1, 32, 32, 32, 96, 80, 3, 1, 1, "", "Relu", "Relu", 1, false},
      {2, 48, 48, 24, 160, 112, 5, 2, 2, "", "", "", 0, false},
      {1, 32, 32, 32, 20, 20, 3, 1, 1, "", "Clip", "", 1, false},
  };
  for (const BlockCase& k : cases) {
    SCOPED_TRACE(std::string(k.expand ? "" : "no expand ") + "c=" + std::to_string(k.c) + " m=" + std::to_string(k.m) + " p=" + std::to_string(k.p) + " " +
                 std::to_string(k.h) + "x" + std::to_string(k.w) + " k=" + std::to_string(k.k) +
                 " s=" + std::to_string(k.stride) + " residual=" + std::to_string(k.residual));
    const test::FusionRunOutcome plain = runBlock(k, 1, 1);
    ASSERT_FALSE(plain.y.empty());
    EXPECT_FALSE(plain.fused);
    for (int threads : {1, 2, 3}) {  // 3: an image's rows in three slices (BandPlan)
      const test::FusionRunOutcome fused = runBlock(k, 0, threads);
      EXPECT_TRUE(fused.fused) << threads << " threads";
      ASSERT_EQ(fused.dims, plain.dims);
      ASSERT_EQ(fused.y.size(), plain.y.size());
      const size_t diff = differing(fused, plain);
      EXPECT_EQ(diff, 0u) << threads << " threads: " << diff << " of " << plain.y.size() << " values differ";
    }
  }
}

TEST(ExecExpandProjectFusion, ObservedDepthwiseOrProjectOutputRunsUnfused) {
  const BlockCase k{1, 24, 144, 24, 56, 56, 3, 1, 1, "Clip", "Clip", "", 1};
  const test::FusionRunOutcome plain = runBlock(k, 1, 1);
  ASSERT_FALSE(plain.y.empty());
  for (const std::string watch : {"Dv", "P"}) {
    SCOPED_TRACE(watch);
    const test::FusionRunOutcome seen = runBlock(k, 2, 2, watch);
    EXPECT_FALSE(seen.fused);
    ASSERT_EQ(seen.y.size(), plain.y.size());
    EXPECT_EQ(differing(seen, plain), 0u);
  }
}

}  // namespace
}  // namespace npuconv
