// expand_depthwise_fusion_test.cc - the executor's pointwise Conv [-> activation] -> depthwise
// Conv [-> activation] fusion (a mobile net's expand + depthwise pair): the 1x1 Conv's kernel
// computes the expanded map a band of rows at a time and runs the depthwise Conv on each band
// (converter/exec/kernels/nn_conv.cc, convExpandDepthwiseF32). Each case runs fused (no
// observer; 1 and 2 threads) and unfused (an observer of every value turns fusion off: the
// general kernels one node at a time) and must agree bit for bit: maps large enough for several
// bands (stride 1 and 2, 3x3 and 5x5, asymmetric pads, band remainders, two images), and maps
// small enough to run the two Convs one after the other (narrow maps through the interleaved
// depthwise kernel). The step timer shows whether the depthwise Conv ran in the 1x1 Conv's step.
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

struct ExpandDwCase {
  int64_t n, c, m, h, w;
  int64_t k, stride;
  int64_t pads[4];          // top, left, bottom, right
  std::string act1, act2;   // "" or an activation op after the 1x1 / the depthwise Conv
  bool dwBias = true;
};

/// X [n, c, h, w] -> Conv 1x1 (c -> m) [-> act1] -> depthwise Conv k x k [-> act2] -> Y.
std::string expandDwModel(const ExpandDwCase& k) {
  std::mt19937 rng(11);
  const std::string w1 = test::randomValuesText(rng, k.m * k.c, 0.6f), b1 = test::randomValuesText(rng, k.m, 0.5f);
  const std::string w2 = test::randomValuesText(rng, k.m * k.k * k.k, 0.5f), b2 = test::randomValuesText(rng, k.m, 0.5f);
  std::string body = "  E = Conv <kernel_shape = [1, 1]> (X, W1, B1)\n";
  std::string in = "E";
  if (!k.act1.empty()) {
    body += test::activationText(k.act1, "A", "E");
    in = "A";
  }
  const std::string pads = std::to_string(k.pads[0]) + ", " + std::to_string(k.pads[1]) + ", " +
                           std::to_string(k.pads[2]) + ", " + std::to_string(k.pads[3]);
  body += "  D = Conv <group = " + std::to_string(k.m) + ", kernel_shape = [" + std::to_string(k.k) + ", " +
          std::to_string(k.k) + "], strides = [" + std::to_string(k.stride) + ", " + std::to_string(k.stride) +
          "], pads = [" + pads + "]> (" + in + ", W2" + (k.dwBias ? ", B2)\n" : ")\n");
  body += k.act2.empty() ? "  Y = Identity (D)\n" : test::activationText(k.act2, "Y", "D");
  return "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float[" + std::to_string(k.n) + ", " + std::to_string(k.c) +
         ", " + std::to_string(k.h) + ", " + std::to_string(k.w) + "] X) => (float[" + std::to_string(k.n) +
         ", ?, ?, ?] Y)\n<float[" + std::to_string(k.m) + ", " + std::to_string(k.c) + ", 1, 1] W1 = {" + w1 +
         "}, float[" + std::to_string(k.m) + "] B1 = {" + b1 + "}, float[" + std::to_string(k.m) + ", 1, " +
         std::to_string(k.k) + ", " + std::to_string(k.k) + "] W2 = {" + w2 + "}, float[" + std::to_string(k.m) +
         "] B2 = {" + b2 + "}, float lo = {0}, float hi = {6}>\n{\n" + body + "}\n";
}

/// fused: the depthwise Conv ran in the 1x1 Conv's step.
test::FusionRunOutcome runExpandDw(const ExpandDwCase& k, bool observe, int threads) {
  return test::runFusionCase(
      {.text = expandDwModel(k), .inputs = {{"X", {k.n, k.c, k.h, k.w}}}, .seed = 5, .threads = threads, .observeAll = observe},
      [](const Node& node, const std::vector<const Node*>& fused) {
        return node.is("Conv") && node.result(0) && node.result(0)->name() == "E" &&
               std::any_of(fused.begin(), fused.end(), [](const Node* f) { return f->is("Conv"); });
      });
}

TEST(ExecExpandDepthwiseFusion, MatchesUnfusedRunBitForBit) {
  const ExpandDwCase cases[] = {
      // Banded: several bands, stride 1 3x3 with Clip (MobileNetV2), a remainder band.
      {1, 16, 96, 60, 64, 3, 1, {1, 1, 1, 1}, "Clip", "Clip"},
      // Stride 2 (odd height: the last band's window runs into the bottom padding), Relu.
      {1, 16, 96, 61, 56, 3, 2, {1, 1, 1, 1}, "Relu", "Relu"},
      // 5x5, asymmetric pads, HardSwish after both (MobileNetV3), no depthwise bias.
      {1, 24, 72, 48, 40, 5, 2, {2, 1, 1, 2}, "HardSwish", "HardSwish", false},
      // Two images, no activation after the 1x1, none after the depthwise Conv.
      {2, 8, 64, 40, 48, 3, 1, {1, 1, 1, 1}, "", ""},
      // A window that reads no row of padding, stride 1.
      {1, 12, 80, 50, 33, 3, 1, {0, 0, 0, 0}, "Clip", ""},
      // Small maps: the two Convs one after the other (per-plane and interleaved depthwise).
      {1, 16, 48, 20, 20, 3, 1, {1, 1, 1, 1}, "Clip", "Clip"},
      {2, 24, 144, 7, 7, 3, 1, {1, 1, 1, 1}, "Relu", "Relu"},
      {1, 40, 120, 14, 14, 5, 2, {2, 2, 2, 2}, "HardSwish", "HardSwish"},
  };
  for (const ExpandDwCase& k : cases) {
    SCOPED_TRACE(expandDwModel(k).substr(0, 0) + "c=" + std::to_string(k.c) + " m=" + std::to_string(k.m) + " " +
                 std::to_string(k.h) + "x" + std::to_string(k.w) + " k=" + std::to_string(k.k) +
                 " s=" + std::to_string(k.stride) + " " + k.act1 + "/" + k.act2);
    const test::FusionRunOutcome plain = runExpandDw(k, true, 1);
    ASSERT_FALSE(plain.y.empty());
    EXPECT_FALSE(plain.fused);
    for (int threads : {1, 2}) {
      const test::FusionRunOutcome fused = runExpandDw(k, false, threads);
      EXPECT_TRUE(fused.fused) << threads << " threads";
      ASSERT_EQ(fused.dims, plain.dims);
      ASSERT_EQ(fused.y.size(), plain.y.size());
      size_t diff = 0;
      for (size_t i = 0; i < plain.y.size(); ++i) diff += fused.y[i] != plain.y[i];
      EXPECT_EQ(diff, 0u) << threads << " threads: " << diff << " of " << plain.y.size() << " values differ";
    }
  }
}

TEST(ExecExpandDepthwiseFusion, ObservedExpandedMapRunsUnfused) {
  // An observer of the 1x1 Conv's activated map needs it whole: no fusion, same result.
  const ExpandDwCase k{1, 16, 96, 60, 64, 3, 1, {1, 1, 1, 1}, "Clip", "Clip"};
  auto model = parseOnnxText(expandDwModel(k));
  ASSERT_TRUE(model.hasValue()) << model.status().toString();
  auto exec = Executor::create(*model, ExecOptions{1});
  ASSERT_TRUE(exec.hasValue()) << exec.status().toString();
  bool sawA = false;
  const Value* a = model->graph->findValue("A");
  ASSERT_NE(a, nullptr);
  (*exec)->setObserver([&](const Node& n, size_t, const Tensor&) { sawA |= n.result(0)->name() == "A"; }, {a});
  std::vector<float> x(size_t(k.n * k.c * k.h * k.w), 0.25f);
  NamedTensors feeds;
  feeds["X"] = Tensor::fromValues<float>(DType::F32, {k.n, k.c, k.h, k.w}, std::span<const float>(x));
  auto out = (*exec)->run(feeds);
  ASSERT_TRUE(out.hasValue()) << out.status().toString();
  EXPECT_TRUE(sawA);
}

}  // namespace
}  // namespace npuconv
