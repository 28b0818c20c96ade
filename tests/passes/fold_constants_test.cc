// fold-constants: constant subgraphs, Shape of a static value and Constant nodes become
// initializers; the size cap and non-constant inputs stop it.
#include "passes/registry.h"
#include "tests/passes/pass_test_util.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

TEST(FoldConstants, FoldsArithmeticAndShapes) {
  Model after;
  test::expectEquivalentAfter("fold-constants", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3] x) => (float[3,2] y, float[2,3] z, float[3] k) {
      a = Constant<value_floats = [1.0, 2.0, 3.0]>()
      b = Constant<value_float = 2.0>()
      c = Mul(a, b)
      d = Sqrt(c)
      z = Add(x, d)
      k = Neg(c)
      sh = Shape(x)
      r = Constant<value_ints = [1, 0]>()
      g1 = Gather(sh, r)
      y = Reshape(x, g1)
    })",
                              {.expectOps = {{"Constant", 0}, {"Mul", 0}, {"Sqrt", 0}, {"Shape", 0}, {"Gather", 0},
                                             {"Neg", 0}, {"Add", 1}, {"Reshape", 1}}},
                              &after);
  ASSERT_EQ(after.graph->outputs().size(), 3u);
  EXPECT_EQ(after.graph->outputs()[2]->name(), "k");
  EXPECT_TRUE(after.graph->outputs()[2]->isInitializer());
}

TEST(FoldConstants, RespectsSizeCapAndInputs) {
  test::expectEquivalentAfter("fold-constants", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[100] x) => (float[100] y) <int64[1] shp = {100}> {
      c = ConstantOfShape(shp)
      s = Add(x, x)
      y = Add(s, c)
    })",
                              {.expectOps = {{"ConstantOfShape", 1}, {"Add", 2}}, .expectChange = false,
                               .options = {{"fold-constants.max-bytes", "16"}}});
}

// Shapes whose byte size passes 2^63: the size estimate used to wrap around to a small number,
// so the node was "folded" by running its kernel on a buffer of the wrapped size.
TEST(FoldConstants, SizeEstimateDoesNotOverflow) {
  for (const char* shape : {"4611686018427387904", "4294967296, 4294967296"}) {
    SCOPED_TRACE(shape);
    Model m = test::parseModel(fmt::format(R"(<ir_version: 8, opset_import: ["" : 13]>
      g () => (float[?] y, float[?] z) {{
        s = Constant<value_ints = [{}]>()
        y = ConstantOfShape(s)
        one = Constant<value_floats = [1.0]>()
        z = Expand(one, s)
      }})",
                                           shape));
    auto pm = buildPassManager("", "fold-constants", {});
    ASSERT_TRUE(pm.hasValue()) << pm.status().toString();
    PassContext ctx;
    ASSERT_TRUE(pm->run(m, ctx).isOk());
    EXPECT_EQ(test::countOps(m, "ConstantOfShape"), 1);
    EXPECT_EQ(test::countOps(m, "Expand"), 1);
  }
}

}  // namespace
}  // namespace npuconv
