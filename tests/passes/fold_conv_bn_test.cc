// fold-conv-bn: BatchNormalization folds into Conv, grouped ConvTranspose, Gemm (transB) and
// MatMul; a Conv result with another user is left alone.
#include "tests/passes/pass_test_util.h"

namespace npuconv {
namespace {

const std::map<std::string, test::Range> kBn = {
    {"w", {}}, {"b", {}}, {"s", {0.5f, 1.5f}}, {"bb", {}}, {"mean", {}}, {"var", {0.2f, 2.0f}}};

TEST(FoldConvBn, Conv) {
  test::expectEquivalentAfter("fold-conv-bn", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,8,8] x, float[4,3,3,3] w, float[4] b, float[4] s, float[4] bb, float[4] mean, float[4] var)
        => (float[1,4,8,8] y) {
      c = Conv<pads = [1, 1, 1, 1]>(x, w, b)
      y = BatchNormalization<epsilon = 0.001>(c, s, bb, mean, var)
    })",
                              {.consts = kBn, .expectOps = {{"BatchNormalization", 0}, {"Conv", 1}}});
}

TEST(FoldConvBn, GroupedConvTransposeWithoutBias) {
  auto c = kBn;
  c.erase("b");
  test::expectEquivalentAfter("fold-conv-bn", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,4,5,5] x, float[4,3,3,3] w, float[6] s, float[6] bb, float[6] mean, float[6] var)
        => (float[1,6,7,7] y) {
      c = ConvTranspose<group = 2>(x, w)
      y = BatchNormalization(c, s, bb, mean, var)
    })",
                              {.consts = c, .expectOps = {{"BatchNormalization", 0}, {"ConvTranspose", 1}}});
}

TEST(FoldConvBn, GemmTransB) {
  test::expectEquivalentAfter("fold-conv-bn", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,5] x, float[6,5] w, float[6] b, float[6] s, float[6] bb, float[6] mean, float[6] var)
        => (float[2,6] y) {
      c = Gemm<transB = 1, beta = 0.5, alpha = 2.0>(x, w, b)
      y = BatchNormalization(c, s, bb, mean, var)
    })",
                              {.consts = kBn, .expectOps = {{"BatchNormalization", 0}, {"Gemm", 1}}});
}

TEST(FoldConvBn, MatMulBecomesGemm) {
  auto c = kBn;
  c.erase("b");
  test::expectEquivalentAfter("fold-conv-bn", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3,5] x, float[5,4] w, float[4] s, float[4] bb, float[4] mean, float[4] var) => (float[3,4] y) {
      c = MatMul(x, w)
      y = BatchNormalization(c, s, bb, mean, var)
    })",
                              {.consts = c, .expectOps = {{"BatchNormalization", 0}, {"MatMul", 0}, {"Gemm", 1}}});
}

TEST(FoldConvBn, KeepsSharedConvResult) {
  test::expectEquivalentAfter("fold-conv-bn", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,8,8] x, float[4,3,3,3] w, float[4] b, float[4] s, float[4] bb, float[4] mean, float[4] var)
        => (float[1,4,6,6] y, float[1,4,6,6] z) {
      c = Conv(x, w, b)
      y = BatchNormalization(c, s, bb, mean, var)
      z = Relu(c)
    })",
                              {.consts = kBn, .expectOps = {{"BatchNormalization", 1}}, .expectChange = false});
}

}  // namespace
}  // namespace npuconv
