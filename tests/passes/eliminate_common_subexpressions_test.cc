// eliminate-common-subexpressions: equal nodes and equal constants merge; different
// attributes or constants do not.
#include "tests/passes/pass_test_util.h"

namespace npuconv {
namespace {

TEST(EliminateCommonSubexpressions, MergesNodesAndConstants) {
  Model after;
  test::expectEquivalentAfter("eliminate-common-subexpressions", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3] x) => (float[2,3] y) {
      a = Relu(x)
      b = Relu(x)
      c1 = Constant<value_floats = [1.0, 2.0, 3.0]>()
      c2 = Constant<value_floats = [1.0, 2.0, 3.0]>()
      p = Add(a, c1)
      q = Add(b, c2)
      y = Mul(p, q)
    })",
                              {.expectOps = {{"Relu", 1}, {"Constant", 1}, {"Add", 1}, {"Mul", 1}}}, &after);
  for (const Node* n : after.graph->nodes()) {
    if (n->is("Relu")) {
      EXPECT_EQ(n->provenance().size(), 2u);  // both original names kept
    }
  }
}

TEST(EliminateCommonSubexpressions, KeepsDifferentAttributesAndConstants) {
  test::expectEquivalentAfter("eliminate-common-subexpressions", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3] x) => (float[2,3] y) {
      a = LeakyRelu<alpha = 0.1>(x)
      b = LeakyRelu<alpha = 0.2>(x)
      c1 = Constant<value_floats = [1.0, 2.0, 3.0]>()
      c2 = Constant<value_floats = [1.0, 2.0, 4.0]>()
      p = Add(a, c1)
      q = Add(b, c2)
      y = Mul(p, q)
    })",
                              {.expectOps = {{"LeakyRelu", 2}, {"Constant", 2}, {"Add", 2}}, .expectChange = false});
}

}  // namespace
}  // namespace npuconv
