// fold-transpose-chains: consecutive Transposes compose, identity results vanish; a single
// real Transpose stays.
#include "tests/passes/pass_test_util.h"

namespace npuconv {
namespace {

TEST(FoldTransposeChains, ComposesAndCancels) {
  Model after;
  test::expectEquivalentAfter("fold-transpose-chains", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3,4] x) => (float[2,3,4] y, float[3,2,4] z) {
      t1 = Transpose<perm = [1, 2, 0]>(x)
      t2 = Transpose<perm = [2, 0, 1]>(t1)
      y = Relu(t2)
      t3 = Transpose<perm = [0, 2, 1]>(t1)
      z = Relu(t3)
    })",
                              {.expectOps = {{"Transpose", 1}, {"Relu", 2}}}, &after);
  for (const Node* n : after.graph->nodes())
    if (n->is("Transpose")) {
      EXPECT_EQ(n->attrs().getInts("perm"), (std::vector<int64_t>{1, 0, 2}));
    }
}

TEST(FoldTransposeChains, KeepsSingleTranspose) {
  test::expectEquivalentAfter("fold-transpose-chains", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3,4] x) => (float[4,3,2] y) {
      t = Transpose(x)
      y = Relu(t)
    })",
                              {.expectOps = {{"Transpose", 1}}, .expectChange = false});
}

}  // namespace
}  // namespace npuconv
