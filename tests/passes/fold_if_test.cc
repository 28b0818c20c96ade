// fold-if: an If on a constant condition becomes the branch it takes (after freeze-shapes, a
// shape test is constant); an If on data stays.
#include "tests/passes/pass_test_util.h"

namespace npuconv {
namespace {

// `if x.shape[1] > 4: relu(x) + w else: -x`, as exporters write shape-dependent code.
constexpr const char* kShapeIf = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, seq] x) => (float[1, seq] y) {
      s = Shape(x)
      one = Constant<value_ints = [1]>()
      d = Gather<axis = 0>(s, one)
      four = Constant<value_ints = [4]>()
      c1 = Greater(d, four)
      c = Squeeze(c1)
      y = If(c) <then_branch = then_g () => (float[1, seq] t2) {
                   w = Constant<value_float = 0.5>()
                   t = Relu(x)
                   t2 = Add(t, w)
                 },
                 else_branch = else_g () => (float[1, seq] e) {
                   e = Neg(x)
                 }>
    })";

TEST(FoldIf, TakesTheBranchOnceShapesAreFrozen) {
  test::expectEquivalentAfter("freeze-shapes,fold-constants,fold-if,eliminate-dead-code", kShapeIf,
                              {.expectOps = {{"If", 0}, {"Relu", 1}, {"Add", 1}, {"Neg", 0}, {"Shape", 0}},
                               .options = {{"freeze.input-shapes", "x=1x8"}}});
  test::expectEquivalentAfter("freeze-shapes,fold-constants,fold-if,eliminate-dead-code", kShapeIf,
                              {.expectOps = {{"If", 0}, {"Relu", 0}, {"Neg", 1}},
                               .options = {{"freeze.input-shapes", "x=1x3"}}});
}

TEST(FoldIf, KeepsAnIfOnData) {
  test::expectEquivalentAfter("fold-constants,fold-if", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[4] x, bool c) => (float[4] y) {
      y = If(c) <then_branch = then_g () => (float[4] t) { t = Relu(x) },
                 else_branch = else_g () => (float[4] e) { e = Neg(x) }>
    })",
                              {.expectOps = {{"If", 1}}, .expectChange = false});
}

TEST(FoldIf, BranchReturningAnOuterValueKeepsTheOutputName) {
  Model after;
  test::expectEquivalentAfter("fold-constants,fold-if", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[4] x) => (float[4] y) {
      c = Constant<value = bool {1}>()
      y = If(c) <then_branch = then_g () => (float[4] x2) { x2 = Identity(x) },
                 else_branch = else_g () => (float[4] e) { e = Neg(x) }>
    })",
                              {.expectOps = {{"If", 0}}}, &after);
  EXPECT_EQ(after.graph->outputs()[0]->name(), "y");
}

}  // namespace
}  // namespace npuconv
