// fuse-gelu: the erf form (three orderings) and the tanh form become Gelu at opset 20 and a
// recorded group below; an Erf with a wrong constant is left alone.
#include <fmt/format.h>

#include "passes/fuse/fusion_groups.h"
#include "tests/passes/pass_test_util.h"

namespace npuconv {
namespace {

std::string geluModel(int opset) {
  return fmt::format(R"(<ir_version: 9, opset_import: ["" : {}]>
    g (float[2,16] x) => (float[2,16] y1, float[2,16] y2, float[2,16] y3, float[2,16] y4) {{
      r2 = Constant<value_float = 1.4142135>()
      one = Constant<value_float = 1.0>()
      half = Constant<value_float = 0.5>()
      t1 = Div(x, r2)
      e1 = Erf(t1)
      a1 = Add(e1, one)
      h1 = Mul(x, half)
      y1 = Mul(h1, a1)
      t2 = Div(x, r2)
      e2 = Erf(t2)
      a2 = Add(one, e2)
      m2 = Mul(x, a2)
      y2 = Mul(m2, half)
      is2 = Constant<value_float = 0.70710678>()
      t3 = Mul(x, is2)
      e3 = Erf(t3)
      a3 = Add(e3, one)
      m3 = Mul(a3, half)
      y3 = Mul(m3, x)
      three = Constant<value_float = 3.0>()
      c4 = Pow(x, three)
      k4 = Constant<value_float = 0.044715>()
      m4 = Mul(c4, k4)
      s4 = Add(x, m4)
      r4 = Constant<value_float = 0.7978845608>()
      u4 = Mul(s4, r4)
      h4 = Tanh(u4)
      a4 = Add(h4, one)
      b4 = Mul(x, a4)
      y4 = Mul(b4, half)
    }})", opset);
}

TEST(FuseGelu, FusesAllFormsAtOpset20) {
  test::expectEquivalentAfter("fuse-gelu", geluModel(20),
                              {.inputs = {{"x", {-3.0f, 3.0f}}},
                               .expectOps = {{"Gelu", 4}, {"Erf", 0}, {"Tanh", 0}, {"Mul", 0}, {"Add", 0}},
                               .rtol = 2e-5});
}

TEST(FuseGelu, FusesInTheIrBelowOpset20AndLowersBackForOnnx) {
  Model fused;
  test::expectEquivalentAfter("fuse-gelu", geluModel(13), {.inputs = {{"x", {-3.0f, 3.0f}}},
                                                           .expectOps = {{"Gelu", 4}, {"Erf", 0}, {"Tanh", 0}},
                                                           .rtol = 2e-5},
                              &fused);
  EXPECT_EQ(fused.opsetVersion(""), 13);  // no --opset: the model's opset stays
  Model lowered;
  test::expectEquivalentAfter("fuse-gelu,lower-to-opset", geluModel(13),
                              {.inputs = {{"x", {-3.0f, 3.0f}}}, .expectOps = {{"Gelu", 0}, {"Erf", 3}, {"Tanh", 1}},
                               .rtol = 2e-5},
                              &lowered);
  std::vector<FusionGroup> groups = fusionGroups(lowered);
  ASSERT_EQ(groups.size(), 4u);
  for (const FusionGroup& g : groups) EXPECT_EQ(g.kind, "gelu");
}

TEST(LowerToOpset, KeepsGeluAtOpset20) {
  test::expectEquivalentAfter("fuse-gelu,lower-to-opset", geluModel(20),
                              {.inputs = {{"x", {-3.0f, 3.0f}}}, .expectOps = {{"Gelu", 4}}, .rtol = 2e-5});
}

TEST(FuseGelu, KeepsWrongConstant) {
  test::expectEquivalentAfter("fuse-gelu", R"(<ir_version: 9, opset_import: ["" : 20]>
    g (float[2,16] x) => (float[2,16] y) {
      r2 = Constant<value_float = 2.0>()
      one = Constant<value_float = 1.0>()
      half = Constant<value_float = 0.5>()
      t = Div(x, r2)
      e = Erf(t)
      a = Add(e, one)
      h = Mul(x, half)
      y = Mul(h, a)
    })",
                              {.expectOps = {{"Gelu", 0}, {"Erf", 1}}, .expectChange = false});
}

}  // namespace
}  // namespace npuconv
