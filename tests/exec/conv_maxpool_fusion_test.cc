// conv_maxpool_fusion_test.cc - the executor's Conv [-> activation] -> MaxPool fusion: over a
// batch of images the Conv kernel pools a few images at a time (converter/exec/kernels/
// nn_conv.cc, convPooledF32) instead of storing the whole Conv output for a separate MaxPool.
// Each case runs fused (no observer; 1 and 2 threads) and unfused (an observer of every value
// turns fusion off) and must agree bit for bit, for every Conv path the kernel can take inside
// (batched GEMM, per-image GEMM, direct, pointwise, depthwise) and chunk sizes that leave a
// remainder; the step timer shows whether the MaxPool was computed by the Conv's step.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "converter/exec/executor.h"
#include "formats/onnx/onnx_reader.h"
#include "tests/exec/exec_test_util.h"

namespace npuconv {
namespace {

struct PoolFusionCase {
  int64_t n, c, m, h, w, group;
  std::string convAttrs;  // inside Conv <...>
  int64_t kh, kw;         // Conv kernel
  std::string act;        // "" or an activation op applied to C
  std::string poolAttrs;  // inside MaxPool <...>
};

/// X [n, c, h, w] -> Conv (weights and bias initializers) [-> act] -> MaxPool -> Y.
std::string modelText(const PoolFusionCase& k, bool indices = false) {
  std::mt19937 rng(7);
  const int64_t cg = k.c / k.group;
  const std::string w = test::randomValuesText(rng, k.m * cg * k.kh * k.kw, 0.5f), b = test::randomValuesText(rng, k.m, 0.5f);
  std::string body = "  C = Conv <" + k.convAttrs + "> (X, W, B)\n";
  std::string in = "C";
  if (!k.act.empty()) {
    body += "  A = " + k.act + " (C" + (k.act == "Clip" ? ", lo, hi" : "") + ")\n";
    in = "A";
  }
  body += std::string(indices ? "  Y, I = MaxPool <" : "  Y = MaxPool <") + k.poolAttrs + "> (" + in + ")\n";
  return "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float[" + std::to_string(k.n) + ", " + std::to_string(k.c) +
         ", " + std::to_string(k.h) + ", " + std::to_string(k.w) + "] X) => (float[" + std::to_string(k.n) +
         ", ?, ?, ?] Y" + (indices ? ", int64[" + std::to_string(k.n) + ", ?, ?, ?] I" : "") + ")\n<float[" +
         std::to_string(k.m) + ", " + std::to_string(cg) + ", " + std::to_string(k.kh) + ", " + std::to_string(k.kw) +
         "] W = {" + w + "}, float[" + std::to_string(k.m) + "] B = {" + b +
         "}, float lo = {-0.3}, float hi = {0.7}>\n{\n" + body + "}\n";
}

/// typeBatch: type the activation's result "A" as [n, ?, ?, ?] (otherwise its shape is unknown).
/// fused: the MaxPool was computed by the Conv's step.
test::FusionRunOutcome runPoolFusion(const std::string& text, const PoolFusionCase& k, bool observe, int threads,
                                     bool typeBatch = false) {
  test::FusionRunSpec spec{.text = text, .inputs = {{"X", {k.n, k.c, k.h, k.w}}}, .seed = 3, .threads = threads,
                           .observeAll = observe};
  if (typeBatch)
    spec.edit = [&k](Model& m) {
      Value* a = m.graph->findValue("A");
      EXPECT_NE(a, nullptr);
      if (a) a->mutableType().shape = Shape{Dim(k.n), Dim(), Dim(), Dim()};
    };
  return test::runFusionCase(spec, [](const Node& node, const std::vector<const Node*>& fused) {
    return node.is("Conv") && std::any_of(fused.begin(), fused.end(), [](const Node* f) { return f->is("MaxPool"); });
  });
}

void expectPoolFusionBitIdentical(const test::FusionRunOutcome& fused, const test::FusionRunOutcome& plain) {
  ASSERT_FALSE(plain.y.empty());
  ASSERT_EQ(fused.dims, plain.dims);
  ASSERT_EQ(fused.y.size(), plain.y.size());
  for (size_t i = 0; i < plain.y.size(); ++i) ASSERT_EQ(fused.y[i], plain.y[i]) << "element " << i;
}

TEST(ExecConvMaxPoolFusion, MatchesUnfusedRunOnEveryConvPath) {
  const PoolFusionCase cases[] = {
      // One input channel, K = 9: batched GEMM over images (maps under 1024 positions), 123 KB
      // per image: chunks of 2 images and a remainder of 1.
      {3, 1, 32, 40, 24, 1, "pads = [1, 1, 1, 1]", 3, 3, "Relu", "kernel_shape = [2, 2], strides = [2, 2]"},
      // The NHWC CNN's first layer shape: one GEMM per image, 311 KB per image (chunk of 1).
      {2, 1, 32, 76, 32, 1, "pads = [1, 1, 1, 1]", 3, 3, "Relu", "kernel_shape = [2, 2], strides = [2, 2]"},
      // Dense 3x3 with K = 72 (the direct kernel with AVX-512), odd map: floor mode drops a row.
      {3, 8, 16, 19, 9, 1, "pads = [1, 1, 1, 1]", 3, 3, "Relu", "kernel_shape = [2, 2], strides = [2, 2]"},
      // Direct, 136 KB per image: chunks of one image, enough for each thread to run whole
      // chunks into its own scratch (2 threads); with 1 thread the chunk loop.
      {9, 8, 32, 38, 28, 1, "pads = [1, 1, 1, 1]", 3, 3, "Relu", "kernel_shape = [2, 2], strides = [2, 2]"},
      // Pointwise, no activation, a padded 3x3 stride-2 pool (resnet's stem pool).
      {2, 8, 12, 15, 13, 1, "kernel_shape = [1, 1]", 1, 1, "", "kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1]"},
      // One image whose batch the IR does not know (the whole map is computed, then pooled).
      {1, 8, 16, 19, 9, 1, "pads = [1, 1, 1, 1]", 3, 3, "Relu", "kernel_shape = [2, 2], strides = [2, 2]"},
      // Depthwise stride 2 with Clip, a stride-1 pool.
      {2, 8, 8, 14, 14, 8, "group = 8, strides = [2, 2], pads = [1, 1, 1, 1]", 3, 3, "Clip",
       "kernel_shape = [2, 2], strides = [1, 1]"},
      // One large image on the direct kernel (a scaled resnet50 stem: 7x7/2 Conv, 3x3/2 pool):
      // bands of pooled rows from bands of Conv rows, the row two bands share kept (2 bands).
      {1, 3, 64, 141, 90, 1, "strides = [2, 2], pads = [3, 3, 3, 3]", 7, 7, "Relu",
       "kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1]"},
      // ... a window sharing 2 rows with the next (3 bands), asymmetric pool pads, no activation.
      {1, 16, 48, 90, 60, 1, "pads = [1, 1, 1, 1]", 3, 3, "", "kernel_shape = [3, 2], strides = [1, 2], pads = [1, 0, 2, 1]"},
      // Asymmetric window, strides and pads; LeakyRelu.
      {3, 4, 8, 17, 21, 1, "pads = [0, 1, 2, 1]", 3, 3, "LeakyRelu",
       "kernel_shape = [3, 2], strides = [1, 2], pads = [1, 0, 2, 1]"},
  };
  for (const PoolFusionCase& k : cases) {
    const std::string text = modelText(k);
    SCOPED_TRACE(text.substr(text.find("{\n")));
    // The fused runs first: a pooled output the kernel left partly unwritten could otherwise
    // come from heap memory the unfused run freed, holding the very values it should have.
    std::vector<test::FusionRunOutcome> fused;
    for (int threads : {2, 1}) fused.push_back(runPoolFusion(text, k, false, threads));
    const test::FusionRunOutcome plain = runPoolFusion(text, k, true, 2);
    EXPECT_FALSE(plain.fused);
    for (size_t i = 0; i < fused.size(); ++i) {
      EXPECT_TRUE(fused[i].fused) << (i ? 1 : 2) << " threads";
      expectPoolFusionBitIdentical(fused[i], plain);
    }
  }
}

TEST(ExecConvMaxPoolFusion, NotFusedWhereTheKernelCannotOrShouldNot) {
  const PoolFusionCase base{3, 4, 8, 12, 10, 1, "pads = [1, 1, 1, 1]", 3, 3, "Relu", "kernel_shape = [2, 2], strides = [2, 2]"};
  struct Variant {
    const char* why;
    PoolFusionCase k;
    bool indices;
  };
  PoolFusionCase ceil = base;
  ceil.poolAttrs += ", ceil_mode = 1";
  PoolFusionCase dilated = base;
  dilated.poolAttrs += ", dilations = [2, 2]";
  PoolFusionCase stride3 = base;
  stride3.poolAttrs = "kernel_shape = [3, 3], strides = [3, 3]";
  const Variant variants[] = {
      {"ceil mode", ceil, false}, {"dilation", dilated, false},
      {"horizontal stride 3", stride3, false}, {"Indices wanted", base, true},
  };
  for (const Variant& v : variants) {
    SCOPED_TRACE(v.why);
    const std::string text = modelText(v.k, v.indices);
    const test::FusionRunOutcome plain = runPoolFusion(text, v.k, true, 2), other = runPoolFusion(text, v.k, false, 2);
    EXPECT_FALSE(other.fused);
    expectPoolFusionBitIdentical(other, plain);
  }
  // The base case itself is fused (so the variants above test the conditions, not a dead path).
  const std::string text = modelText(base);
  EXPECT_TRUE(runPoolFusion(text, base, false, 2).fused);
  // A batch of one known from the IR (the Relu's result typed [1, ?, ?, ?], as after shape
  // inference): not fused; the same model with a batch of 3 typed so is.
  PoolFusionCase one = base;
  one.n = 1;
  {
    SCOPED_TRACE("batch of one");
    const std::string oneText = modelText(one);
    const test::FusionRunOutcome plain = runPoolFusion(oneText, one, true, 2, true), other = runPoolFusion(oneText, one, false, 2, true);
    EXPECT_FALSE(other.fused);
    expectPoolFusionBitIdentical(other, plain);
    EXPECT_TRUE(runPoolFusion(text, base, false, 2, true).fused);
  }
  // float16 (its type unknown in the IR, so the fusion is planned): the kernel declines at run
  // time and the executor runs the Relu and the MaxPool itself.
  std::string half = text;
  half.replace(half.find("  C = Conv"), 0,
               "  Xh = Cast <to = 10> (X)\n  Wh = Cast <to = 10> (W)\n  Bh = Cast <to = 10> (B)\n");
  half.replace(half.find("(X, W, B)"), 9, "(Xh, Wh, Bh)");
  half.replace(half.find("  Y = MaxPool"), 13, "  P = MaxPool");
  half.replace(half.find("}\n", half.find("P = MaxPool")), 0, "  Y = Cast <to = 1> (P)\n");
  SCOPED_TRACE(half.substr(half.find("{\n")));
  const test::FusionRunOutcome plain = runPoolFusion(half, base, true, 2), declined = runPoolFusion(half, base, false, 2);
  EXPECT_FALSE(declined.fused);
  expectPoolFusionBitIdentical(declined, plain);
}

}  // namespace
}  // namespace npuconv
