// fold-conv-mul-add: per-channel Mul and Add after a Conv fold into its weights and bias; a
// spatially varying Mul does not.
#include "tests/passes/pass_test_util.h"

namespace npuconv {
namespace {

TEST(FoldConvMulAdd, FoldsPerChannelMulThenAdd) {
  test::expectEquivalentAfter("fold-conv-mul-add", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,6,6] x, float[4,3,3,3] w, float[4,1,1] sc, float[1,4,1,1] sh) => (float[1,4,4,4] y) {
      c = Conv(x, w)
      m = Mul(sc, c)
      y = Add(m, sh)
    })",
                              {.consts = {{"w", {}}, {"sc", {}}, {"sh", {}}}, .expectOps = {{"Mul", 0}, {"Add", 0}, {"Conv", 1}}});
}

TEST(FoldConvMulAdd, KeepsSpatialMul) {
  test::expectEquivalentAfter("fold-conv-mul-add", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,6,6] x, float[4,3,3,3] w, float[1,1,4,4] sp) => (float[1,4,4,4] y) {
      c = Conv(x, w)
      y = Mul(c, sp)
    })",
                              {.consts = {{"w", {}}, {"sp", {}}}, .expectOps = {{"Mul", 1}}, .expectChange = false});
}

}  // namespace
}  // namespace npuconv
