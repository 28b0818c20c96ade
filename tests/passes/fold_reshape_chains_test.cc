// fold-reshape-chains: a Reshape after Reshape/Flatten reads the original input, 0 entries
// resolved; a Reshape after a compute op stays.
#include "tests/passes/pass_test_util.h"

namespace npuconv {
namespace {

TEST(FoldReshapeChains, FoldsReshapeAndFlatten) {
  test::expectEquivalentAfter("fold-reshape-chains", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3,4] x) => (float[4,6] y, float[6,2,2] z) <float[6,4] r1> {
      s1 = Constant<value_ints = [6, 4]>()
      r1 = Reshape(x, s1)
      s2 = Constant<value_ints = [0, 2, 2]>()
      z = Reshape(r1, s2)
      f = Flatten<axis = 2>(x)
      s3 = Constant<value_ints = [4, -1]>()
      y = Reshape(f, s3)
    })",
                              {.expectOps = {{"Reshape", 2}, {"Flatten", 0}}});
}

TEST(FoldReshapeChains, KeepsReshapeOfComputedValue) {
  test::expectEquivalentAfter("fold-reshape-chains", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3,4] x) => (float[4,6] y) {
      r = Relu(x)
      s = Constant<value_ints = [4, 6]>()
      y = Reshape(r, s)
    })",
                              {.expectOps = {{"Reshape", 1}}, .expectChange = false});
}

}  // namespace
}  // namespace npuconv
