// fold-squeeze-unsqueeze: matching pairs cancel (input and attribute forms), different axes
// become one Reshape; a lone Squeeze stays.
#include "tests/passes/pass_test_util.h"

namespace npuconv {
namespace {

TEST(FoldSqueezeUnsqueeze, CancelsAndMerges) {
  test::expectEquivalentAfter("fold-squeeze-unsqueeze", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,1,3] x) => (float[2,1,3] y, float[1,2,3] z) {
      a = Constant<value_ints = [1]>()
      s = Squeeze(x, a)
      u = Unsqueeze(s, a)
      y = Relu(u)
      a0 = Constant<value_ints = [0]>()
      a2 = Constant<value_ints = [-2]>()
      u2 = Unsqueeze(x, a0)
      s2 = Squeeze(u2, a2)
      z = Relu(s2)
    })",
                              {.expectOps = {{"Squeeze", 0}, {"Unsqueeze", 0}, {"Reshape", 1}}});
}

TEST(FoldSqueezeUnsqueeze, CancelsAttributeForm) {
  test::expectEquivalentAfter("fold-squeeze-unsqueeze", R"(<ir_version: 7, opset_import: ["" : 11]>
    g (float[2,3] x) => (float[2,3] y) {
      u = Unsqueeze<axes = [-1]>(x)
      s = Squeeze<axes = [-1]>(u)
      y = Relu(s)
    })",
                              {.expectOps = {{"Squeeze", 0}, {"Unsqueeze", 0}}});
}

TEST(FoldSqueezeUnsqueeze, KeepsLoneSqueeze) {
  test::expectEquivalentAfter("fold-squeeze-unsqueeze", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,1,3] x) => (float[2,3] y) {
      a = Constant<value_ints = [1]>()
      s = Squeeze(x, a)
      y = Relu(s)
    })",
                              {.expectOps = {{"Squeeze", 1}}, .expectChange = false});
}

}  // namespace
}  // namespace npuconv
