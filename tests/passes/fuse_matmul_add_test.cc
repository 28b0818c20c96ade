// fuse-matmul-add: 2-D MatMul + bias becomes Gemm (grouped with its Relu), 3-D stays a
// grouped MatMul + Add; a residual Add (non-constant) is left alone.
#include "passes/fuse/fusion_groups.h"
#include "tests/passes/pass_test_util.h"

namespace npuconv {
namespace {

TEST(FuseMatMulAdd, GemmWhen2dElseGroup) {
  Model after;
  test::expectEquivalentAfter("fuse-matmul-add", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3,5] x, float[2,3,5] x3, float[5,4] w, float[4] b) => (float[3,4] y, float[2,3,4] z) {
      m = MatMul(x, w)
      a = Add(m, b)
      y = Relu(a)
      m3 = MatMul(x3, w)
      z = Add(b, m3)
    })",
                              {.consts = {{"w", {}}, {"b", {}}}, .expectOps = {{"Gemm", 1}, {"MatMul", 1}, {"Add", 1}, {"Relu", 1}}},
                              &after);
  std::vector<FusionGroup> groups = fusionGroups(after);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].kind, "linear-act");
  EXPECT_EQ(groups[1].kind, "linear");
}

TEST(FuseMatMulAdd, KeepsResidualAdd) {
  test::expectEquivalentAfter("fuse-matmul-add", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3,5] x, float[5,5] w) => (float[3,5] y) {
      m = MatMul(x, w)
      y = Add(m, x)
    })",
                              {.consts = {{"w", {}}}, .expectOps = {{"MatMul", 1}, {"Add", 1}, {"Gemm", 0}}, .expectChange = false});
}

}  // namespace
}  // namespace npuconv
