// eliminate-dead-code: dead chains, unused initializers and opset imports go; live and
// custom-domain nodes stay.
#include "tests/passes/pass_test_util.h"

namespace npuconv {
namespace {

TEST(EliminateDeadCode, RemovesDeadChainInitializerAndImport) {
  Model after;
  test::expectEquivalentAfter("eliminate-dead-code", R"(<ir_version: 8, opset_import: ["" : 13, "unused.dom" : 1]>
    g (float[2,3] x, float[3] w, float[4] u) => (float[2,3] y) {
      dead1 = Relu(x)
      dead2 = Sigmoid(dead1)
      y = Add(x, w)
    })",
                              {.consts = {{"w", {}}, {"u", {}}}, .expectOps = {{"Relu", 0}, {"Sigmoid", 0}, {"Add", 1}}},
                              &after);
  EXPECT_EQ(after.graph->initializers().size(), 1u);
  EXPECT_EQ(after.opsetImports.size(), 1u);
}

TEST(EliminateDeadCode, KeepsLiveGraph) {
  test::expectEquivalentAfter("eliminate-dead-code", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3] x, float[3] w) => (float[2,3] y) {
      r = Relu(x)
      y = Add(r, w)
    })",
                              {.consts = {{"w", {}}}, .expectOps = {{"Relu", 1}, {"Add", 1}}, .expectChange = false});
}

TEST(EliminateDeadCode, KeepsUnusedCustomOp) {
  test::expectEquivalentAfter("eliminate-dead-code", R"(<ir_version: 8, opset_import: ["" : 13, "custom.dom" : 1]>
    g (float[2,3] x) => (float[2,3] y) {
      side = custom.dom.Log(x)
      y = Relu(x)
    })",
                              {.expectOps = {{"Relu", 1}}, .expectChange = false});
}

}  // namespace
}  // namespace npuconv
