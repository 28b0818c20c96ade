// convert-layout-nhwc and lower-nhwc-to-onnx on tiny models: Transposes left only at region
// boundaries, weights permuted to OHWI, and outputs bit-identical to the NCHW model on the
// executor (max |diff| == 0, inputs/outputs permuted where io-layout=nhwc changes them).
#include <onnx/checker.h>

#include <cstring>

#include "converter/exec/executor.h"
#include "converter/ir/printer.h"
#include "converter/ir/verifier.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "passes/layout/nhwc.h"
#include "passes/registry.h"
#include "tests/passes/layout_test_util.h"
#include "tests/passes/pass_test_util.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

using test::LayoutRun;

// Conv -> Relu -> Conv -> MaxPool -> Conv -> Add(residual) -> GlobalAveragePool -> Flatten
// -> Gemm: one region from the input to the Flatten.
const char* kSmallCnn = R"(<ir_version: 8, opset_import: ["" : 13]>
  g (float[1,3,8,8] x, float[8,3,3,3] w1, float[8] b1, float[8,8,3,3] w2, float[8] b2, float[8,8,3,3] w3,
     float[8] b3, float[5,8] wg, float[5] bg) => (float[1,5] y) {
    c1 = Conv<pads = [1, 1, 1, 1]>(x, w1, b1)
    r1 = Relu(c1)
    c2 = Conv<pads = [1, 1, 1, 1]>(r1, w2, b2)
    p = MaxPool<kernel_shape = [2, 2], strides = [2, 2]>(c2)
    c3 = Conv<pads = [1, 1, 1, 1]>(p, w3, b3)
    a = Add(c3, p)
    g1 = GlobalAveragePool(a)
    f = Flatten(g1)
    y = Gemm<transB = 1>(f, wg, bg)
  })";
const std::map<std::string, test::Range> kSmallCnnConsts = {{"w1", {}}, {"b1", {}}, {"w2", {}}, {"b2", {}},
                                                            {"w3", {}}, {"b3", {}}, {"wg", {}}, {"bg", {}}};

TEST(ConvertLayoutNhwc, SmallCnnOneBoundaryTranspose) {
  Model before = test::buildModel(kSmallCnn, kSmallCnnConsts);
  LayoutRun r = test::runLayout(kSmallCnn, kSmallCnnConsts, "convert-layout-nhwc", {});
  // The only boundary is the input: the Flatten reads the [N,1,1,C] pooled tensor directly
  // (same bytes as [N,C,1,1]), so no Transpose is needed before the Gemm.
  EXPECT_EQ(test::countOps(r.model, "Transpose"), 1) << toText(r.model);
  EXPECT_EQ(test::countNhwcOps(r.model), 5);  // 3 Conv, MaxPool, GlobalAveragePool
  EXPECT_EQ(test::countOps(r.model, "Conv"), 0);
  EXPECT_EQ(test::countOps(r.model, "Relu"), 1);
  EXPECT_EQ(test::countOps(r.model, "Add"), 1);
  EXPECT_EQ(r.model.opsetVersion(std::string(nhwc::kDomain)), 1);
  // Weights are OHWI: the NHWC Conv named like the first one reads w1 permuted.
  const Graph& g = *r.model.graph;
  const Node* conv1 = nullptr;
  for (const Node* n : g.nodes())
    if (nhwc::isNhwcNode(*n) && n->opType() == "Conv" && n->provenance() == std::vector<std::string>{"Conv_1"}) conv1 = n;
  ASSERT_NE(conv1, nullptr) << toText(r.model);
  EXPECT_EQ(conv1->name(), "Conv_1");
  TensorRef w = conv1->operand(1)->initializer();
  ASSERT_TRUE(w);
  EXPECT_EQ(w->dims(), (std::vector<int64_t>{8, 3, 3, 3}));
  TensorRef w0 = before.graph->findValue("w1")->initializer();
  for (int64_t o = 0; o < 8; ++o)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t h = 0; h < 3; ++h)
        for (int64_t k = 0; k < 3; ++k)
          ASSERT_EQ(w->as<float>()[static_cast<size_t>(((o * 3 + h) * 3 + k) * 3 + c)],
                    w0->as<float>()[static_cast<size_t>(((o * 3 + c) * 3 + h) * 3 + k)]);
  test::expectIdentical(before, r.model, false);
}

TEST(ConvertLayoutNhwc, IoLayoutNhwcLeavesNoTranspose) {
  Model before = test::buildModel(kSmallCnn, kSmallCnnConsts);
  LayoutRun r = test::runLayout(kSmallCnn, kSmallCnnConsts, "convert-layout-nhwc", {{"io-layout", "nhwc"}});
  EXPECT_EQ(test::countOps(r.model, "Transpose"), 0) << toText(r.model);
  const Value* x = r.model.graph->inputs()[0];
  EXPECT_EQ(x->name(), "x");
  EXPECT_EQ(x->type().toString(), "f32[1,8,8,3]");
  EXPECT_EQ(r.model.graph->outputs()[0]->type().toString(), "f32[1,5]");  // rank 2 stays
  test::expectIdentical(before, r.model, true);
}

TEST(ConvertLayoutNhwc, LayoutNchwOptionTurnsItOff) {
  test::expectEquivalentAfter("convert-layout-nhwc", kSmallCnn,
                              {.consts = kSmallCnnConsts, .expectChange = false, .options = {{"layout", "nchw"}}});
  // A target profile's preferred layout applies when --layout is not given.
  test::expectEquivalentAfter("convert-layout-nhwc", kSmallCnn,
                              {.consts = kSmallCnnConsts, .expectChange = false, .options = {{"target.layout", "nchw"}}});
}

TEST(ConvertLayoutNhwc, NoConvLeavesModelAlone) {
  test::expectEquivalentAfter("convert-layout-nhwc", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,4,4] x, float[1,3,4,4] z) => (float[1,4,4,3] y) {
      t = Transpose<perm = [0, 2, 3, 1]>(x)
      u = Transpose<perm = [0, 2, 3, 1]>(z)
      s = Add(t, u)
      y = Relu(s)
    })",
                              {.expectChange = false});
}

TEST(ConvertLayoutNhwc, DepthwiseAndGroupedConv) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,4,9,9] x, float[4,1,3,3] dw, float[4] db, float[6,2,1,1] gw) => (float[2,6,9,9] y) {
      d = Conv<group = 4, pads = [1, 1, 1, 1]>(x, dw, db)
      h = HardSwish(d)
      y = Conv<group = 2>(h, gw)
    })";
  std::map<std::string, test::Range> consts = {{"dw", {}}, {"db", {}}, {"gw", {}}};
  LayoutRun r = test::runLayout(text, consts, "convert-layout-nhwc", {});
  EXPECT_EQ(test::countOps(r.model, "Transpose"), 2) << toText(r.model);
  EXPECT_EQ(test::countNhwcOps(r.model), 2);
  test::expectIdentical(test::buildModel(text, consts), r.model, false);
  LayoutRun io = test::runLayout(text, consts, "convert-layout-nhwc", {{"io-layout", "nhwc"}});
  EXPECT_EQ(test::countOps(io.model, "Transpose"), 0) << toText(io.model);
  EXPECT_EQ(io.model.graph->outputs()[0]->type().toString(), "f32[2,9,9,6]");
  test::expectIdentical(test::buildModel(text, consts), io.model, true);
}

TEST(ConvertLayoutNhwc, StridedPaddedDilatedConvAndPools) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,17,15] x, float[5,3,3,3] w, float[5] b, float[4,5,3,3] w2) => (float[1,4,3,3] y) {
      c = Conv<strides = [2, 2], pads = [1, 0, 2, 1], dilations = [1, 2]>(x, w, b)
      l = LeakyRelu<alpha = 0.1>(c)
      a = AveragePool<kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1], count_include_pad = 0>(l)
      s = Conv<auto_pad = "SAME_UPPER", strides = [2, 2]>(a, w2)
      y = MaxPool<kernel_shape = [2, 2], ceil_mode = 1, strides = [2, 2]>(s)
    })";
  std::map<std::string, test::Range> consts = {{"w", {}}, {"b", {}}, {"w2", {}}};
  LayoutRun r = test::runLayout(text, consts, "convert-layout-nhwc", {});
  EXPECT_EQ(test::countOps(r.model, "Transpose"), 2) << toText(r.model);
  EXPECT_EQ(test::countNhwcOps(r.model), 4);
  test::expectIdentical(test::buildModel(text, consts), r.model, false);
}

TEST(ConvertLayoutNhwc, ResidualAndPerChannelConstants) {
  // Two branches of the region meet in Add; a per-channel Mul [C,1,1] becomes [C], a rank-4
  // [1,C,1,1] Add constant too, a scalar Clip bound and a [W] constant broadcast as written.
  const char* text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,4,6,6] x, float[4,4,3,3] w1, float[4,4,1,1] w2, float[4,1,1] s, float[1,4,1,1] t, float[6] v)
        => (float[1,4,6,6] y) {
      c1 = Conv<pads = [1, 1, 1, 1]>(x, w1)
      c2 = Conv(x, w2)
      m = Mul(c1, s)
      a = Add(t, m)
      lo = Constant<value = float {0.0}>()
      hi = Constant<value = float {0.5}>()
      k = Clip(a, lo, hi)
      q = Sub(k, v)
      y = Add(q, c2)
    })";
  std::map<std::string, test::Range> consts = {{"w1", {}}, {"w2", {}}, {"s", {}}, {"t", {}}, {"v", {}}};
  LayoutRun r = test::runLayout(text, consts, "convert-layout-nhwc", {});
  EXPECT_EQ(test::countOps(r.model, "Transpose"), 2) << toText(r.model);  // x once (shared), y
  for (const Node* n : r.model.graph->nodes())
    if (n->is("Mul")) {
      ASSERT_TRUE(n->operand(1)->isInitializer());
      EXPECT_EQ(n->operand(1)->initializer()->dims(), (std::vector<int64_t>{4}));
    }
  test::expectIdentical(test::buildModel(text, consts), r.model, false);
  LayoutRun io = test::runLayout(text, consts, "convert-layout-nhwc", {{"io-layout", "nhwc"}});
  EXPECT_EQ(test::countOps(io.model, "Transpose"), 0) << toText(io.model);
  test::expectIdentical(test::buildModel(text, consts), io.model, true);
}

TEST(ConvertLayoutNhwc, ChannelOpsBatchNormResizeDepthToSpace) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,5,5] x, float[8,3,3,3] w, float[8] s, float[8] bb, float[8] mean, float[8] var, float[4,11,1,1] w2)
        => (float[1,4,10,10] y, float[1,11,5,5] z) {
      c = Conv<pads = [1, 1, 1, 1]>(x, w)
      n = BatchNormalization(c, s, bb, mean, var)
      cat = Concat<axis = 1>(n, x)
      sm = Softmax<axis = 1>(cat)
      rm = ReduceMean<axes = [1]>(sm)
      z = Sub(sm, rm)
      d = Conv(z, w2)
      e = DepthToSpace<blocksize = 2>(d)
      sc = Constant<value = float[4] {1.0, 1.0, 0.5, 0.5}>()
      y = Resize<mode = "linear">(e, , sc)
    })";
  std::map<std::string, test::Range> consts = {{"w", {}}, {"s", {0.5f, 1.5f}}, {"bb", {}}, {"mean", {}}, {"var", {0.5f, 1.5f}}, {"w2", {}}};
  LayoutRun r = test::runLayout(text, consts, "convert-layout-nhwc", {});
  // x enters twice (Conv, Concat) through one shared Transpose; y and z leave through one each.
  EXPECT_EQ(test::countOps(r.model, "Transpose"), 3) << toText(r.model);
  EXPECT_EQ(test::countNhwcOps(r.model), 5);  // Conv x2, BatchNormalization, DepthToSpace, Resize
  test::expectIdentical(test::buildModel(text, consts), r.model, false);
  LayoutRun io = test::runLayout(text, consts, "convert-layout-nhwc", {{"io-layout", "nhwc"}});
  EXPECT_EQ(test::countOps(io.model, "Transpose"), 0) << toText(io.model);
  test::expectIdentical(test::buildModel(text, consts), io.model, true);
}

TEST(ConvertLayoutNhwc, NonAgnosticOpIsABoundary) {
  // A Reshape that mixes H, W and C ends the region; the Conv after it starts another one.
  const char* text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,4,4,4] x, float[4,4,1,1] w) => (float[1,4,4,4] y) {
      c = Conv(x, w)
      sh = Constant<value = int64[4] {1, 4, 2, 8}>()
      r = Reshape(c, sh)
      sh2 = Constant<value = int64[4] {1, 4, 4, 4}>()
      r2 = Reshape(r, sh2)
      y = Conv(r2, w)
    })";
  std::map<std::string, test::Range> consts = {{"w", {}}};
  LayoutRun r = test::runLayout(text, consts, "convert-layout-nhwc", {});
  EXPECT_EQ(test::countOps(r.model, "Transpose"), 4) << toText(r.model);
  test::expectIdentical(test::buildModel(text, consts), r.model, false);
}

TEST(LowerNhwcToOnnx, RestoresStandardOpsAndChecks) {
  Model before = test::buildModel(kSmallCnn, kSmallCnnConsts);
  LayoutRun r = test::runLayout(kSmallCnn, kSmallCnnConsts, "convert-layout-nhwc,lower-nhwc-to-onnx", {});
  EXPECT_EQ(test::countNhwcOps(r.model), 0);
  EXPECT_EQ(r.model.opsetVersion(std::string(nhwc::kDomain)), 0);
  EXPECT_EQ(test::countOps(r.model, "Conv"), 3);
  for (const Node* n : r.model.graph->nodes())
    if (n->is("Conv")) {
      EXPECT_EQ(n->operand(1)->initializer()->dims(), before.graph->findValue(n->operand(1)->name().substr(0, 2))->initializer()->dims());
    }
  test::expectIdentical(before, r.model, false);
  std::filesystem::path p = test::tempDir("lower_nhwc") / "m.onnx";
  ASSERT_TRUE(writeOnnx(r.model, p).hasValue());
  EXPECT_NO_THROW(onnx::checker::check_model(p.string()));
}

TEST(LowerNhwcToOnnx, NothingToLower) {
  test::expectEquivalentAfter("lower-nhwc-to-onnx", kSmallCnn, {.consts = kSmallCnnConsts, .expectChange = false});
}

}  // namespace
}  // namespace npuconv
