// fuse-layer-norm: the decomposition becomes LayerNormalization at opset 17 (or when the
// "opset" option raises an older model), and stays as a recorded group at opset 13.
#include <fmt/format.h>

#include "passes/fuse/fusion_groups.h"
#include "tests/passes/pass_test_util.h"

namespace npuconv {
namespace {

std::string layerNormModel(int opset) {
  return fmt::format(R"(<ir_version: 8, opset_import: ["" : {}]>
    g (float[2,4,8] x, float[8] gamma, float[8] beta) => (float[2,4,8] y) {{
      mu = ReduceMean<axes = [-1]>(x)
      d = Sub(x, mu)
      two = Constant<value_float = 2.0>()
      p = Pow(d, two)
      var = ReduceMean<axes = [-1]>(p)
      eps = Constant<value_float = 0.00001>()
      ve = Add(var, eps)
      s = Sqrt(ve)
      n = Div(d, s)
      o = Mul(gamma, n)
      y = Add(o, beta)
    }})", opset);
}

const std::map<std::string, test::Range> kParams = {{"gamma", {0.5f, 1.5f}}, {"beta", {}}};

TEST(FuseLayerNorm, FusesAtOpset17) {
  test::expectEquivalentAfter("fuse-layer-norm", layerNormModel(17),
                              {.consts = kParams, .expectOps = {{"LayerNormalization", 1}, {"ReduceMean", 0}, {"Sqrt", 0}, {"Add", 0}}});
}

TEST(FuseLayerNorm, OpsetOptionRaisesImport) {
  Model after;
  test::expectEquivalentAfter("fuse-layer-norm", layerNormModel(13),
                              {.consts = kParams, .expectOps = {{"LayerNormalization", 1}}, .options = {{"opset", "17"}}}, &after);
  EXPECT_EQ(after.opsetVersion(""), 17);
}

TEST(FuseLayerNorm, FusesInTheIrBelowOpset17AndLowersBackForOnnx) {
  Model fused;
  test::expectEquivalentAfter("fuse-layer-norm", layerNormModel(13),
                              {.consts = kParams, .expectOps = {{"LayerNormalization", 1}, {"ReduceMean", 0}}}, &fused);
  EXPECT_EQ(fused.opsetVersion(""), 13);
  Model lowered;
  test::expectEquivalentAfter("fuse-layer-norm,lower-to-opset", layerNormModel(13),
                              {.consts = kParams, .expectOps = {{"LayerNormalization", 0}, {"ReduceMean", 2}, {"Sqrt", 1}}},
                              &lowered);
  std::vector<FusionGroup> groups = fusionGroups(lowered);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].kind, "layer-norm");
  EXPECT_EQ(groups[0].nodes.size(), 9u);
  EXPECT_EQ(lowered.opsetVersion(""), 13);
}

TEST(FuseLayerNorm, KeepsNonTrailingAxes) {
  std::string text = layerNormModel(17);
  text.replace(text.find("axes = [-1]"), 11, "axes = [1]");
  test::expectEquivalentAfter("fuse-layer-norm", text,
                              {.consts = kParams, .expectOps = {{"LayerNormalization", 0}}, .expectChange = false});
}

}  // namespace
}  // namespace npuconv
