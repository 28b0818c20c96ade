// eliminate-identity: every provable no-op in a chain goes; real reshapes and interface
// identities stay.
#include "tests/passes/pass_test_util.h"

namespace npuconv {
namespace {

TEST(EliminateIdentity, RemovesNoOpChain) {
  test::expectEquivalentAfter("eliminate-identity", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3] x) => (float[2,3] y) {
      a = Identity(x)
      b = Dropout(a)
      c = Cast<to = 1>(b)
      s = Constant<value_ints = [2, -1]>()
      d = Reshape(c, s)
      e = Transpose<perm = [0, 1]>(d)
      p = Constant<value_ints = [0, 0, 0, 0]>()
      f = Pad(e, p)
      st = Constant<value_ints = [0]>()
      en = Constant<value_ints = [2147483647]>()
      ax = Constant<value_ints = [1]>()
      h = Slice(f, st, en, ax)
      es = Constant<value_ints = [1, 3]>()
      i = Expand(h, es)
      j = Squeeze(i)
      y = Relu(j)
    })",
                              {.expectOps = {{"Identity", 0}, {"Dropout", 0}, {"Cast", 0}, {"Reshape", 0},
                                             {"Transpose", 0}, {"Pad", 0}, {"Slice", 0}, {"Expand", 0},
                                             {"Squeeze", 0}, {"Relu", 1}}});
}

TEST(EliminateIdentity, GraphOutputTakesOverName) {
  Model after;
  test::expectEquivalentAfter("eliminate-identity", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3] x) => (float[2,3] y) {
      r = Relu(x)
      y = Identity(r)
    })",
                              {.expectOps = {{"Identity", 0}}}, &after);
  ASSERT_EQ(after.graph->outputs().size(), 1u);
  EXPECT_EQ(after.graph->outputs()[0]->name(), "y");
}

TEST(EliminateIdentity, KeepsRealOpsAndInterfaceIdentity) {
  test::expectEquivalentAfter("eliminate-identity", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3] x) => (float[2,3] y, float[2,3] z, float[2,3] w) {
      y = Identity(x)
      t = Transpose<perm = [1, 0]>(x)
      s = Constant<value_ints = [2, 3]>()
      z = Reshape(t, s)
      c = Cast<to = 11>(x)
      w = Cast<to = 1>(c)
      st = Constant<value_ints = [1]>()
      en = Constant<value_ints = [3]>()
      ax = Constant<value_ints = [1]>()
      q = Slice(x, st, en, ax)
    })",
                              {.expectOps = {{"Identity", 1}, {"Transpose", 1}, {"Reshape", 1}, {"Cast", 2}, {"Slice", 1}},
                               .expectChange = false});
}

}  // namespace
}  // namespace npuconv
