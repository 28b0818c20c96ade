// fold-pad-into-conv: zero Pads fold into Conv, AveragePool (count_include_pad) and MaxPool
// over a non-negative input; reflect padding and MaxPool over signed data do not.
#include "tests/passes/pass_test_util.h"

namespace npuconv {
namespace {

TEST(FoldPadIntoConv, FoldsIntoConvAndPools) {
  Model after;
  test::expectEquivalentAfter("fold-pad-into-conv", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,6,6] x, float[4,3,3,3] w) => (float[1,4,8,7] y, float[1,3,7,7] a, float[1,3,6,6] m) {
      p = Constant<value_ints = [0, 0, 1, 2, 0, 0, 2, 1]>()
      xp = Pad(x, p)
      y = Conv<pads = [0, 0, 1, 0]>(xp, w)
      q = Constant<value_ints = [0, 0, 1, 1, 0, 0, 1, 1]>()
      xq = Pad(x, q)
      a = AveragePool<kernel_shape = [2, 2]>(xq)
      r = Relu(x)
      rq = Pad(r, q)
      m = MaxPool<kernel_shape = [3, 3]>(rq)
    })",
                              {.consts = {{"w", {}}}, .expectOps = {{"Pad", 0}, {"Conv", 1}, {"AveragePool", 1}, {"MaxPool", 1}}},
                              &after);
  for (const Node* n : after.graph->nodes())
    if (n->is("AveragePool")) {
      EXPECT_EQ(n->attrs().getInt("count_include_pad", 0), 1);
    }
}

TEST(FoldPadIntoConv, KeepsReflectAndSignedMaxPool) {
  test::expectEquivalentAfter("fold-pad-into-conv", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,6,6] x, float[4,3,3,3] w) => (float[1,4,6,6] y, float[1,3,6,6] m) {
      q = Constant<value_ints = [0, 0, 1, 1, 0, 0, 1, 1]>()
      xr = Pad<mode = "reflect">(x, q)
      y = Conv(xr, w)
      xq = Pad(x, q)
      m = MaxPool<kernel_shape = [3, 3]>(xq)
    })",
                              {.consts = {{"w", {}}}, .expectOps = {{"Pad", 2}}, .expectChange = false});
}

}  // namespace
}  // namespace npuconv
