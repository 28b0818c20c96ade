// int8-dynamic: ONNX Runtime's quantize_dynamic form. Exact op structure (one shared
// DynamicQuantizeLinear per activation, MatMulInteger/ConvInteger -> Cast -> Mul(a_scale *
// w_scale) [-> Add bias]), weight types and zero points, and numerics against the float model.
#include "quant/quantize.h"
#include "tests/quant/precisions_test_util.h"

namespace npuconv {
namespace {

double compare(const Model& floatModel, const Model& q, const std::string& out, uint64_t seed = 11) {
  NamedTensors in = test::seededFloatInputs(floatModel, seed);
  NamedTensors ref = test::runConverted(floatModel, in), got = test::runConverted(q, in);
  EXPECT_EQ(ref.count(out), 1u);
  EXPECT_EQ(got.count(out), 1u) << out;
  if (!ref.count(out) || !got.count(out)) return 1e9;
  EXPECT_EQ(got.at(out).dtype(), DType::F32);
  return test::relMaxDiff(ref.at(out), got.at(out));
}

const char* kTwoProjections = R"(<ir_version: 8, opset_import: ["" : 17]>
  g (float[2,8,16] x, float[16,12] wq, float[16,12] wk) => (float[2,8,12] q, float[2,8,12] k) {
    q = MatMul(x, wq)
    k = MatMul(x, wk)
  })";

TEST(DynamicInt8, MatMulSharesDynamicQuantizeLinear) {
  Model floatModel = test::buildModel(kTwoProjections, {{"wq", {}}, {"wk", {}}});
  Model m = test::buildModel(kTwoProjections, {{"wq", {}}, {"wk", {}}});
  QuantizeReport report;
  ASSERT_TRUE(quantizeDynamic(m, {}, report).isOk());
  ASSERT_TRUE(verifyModel(m).isOk()) << verifyModel(m).toString();
  EXPECT_EQ(test::countOps(m, "DynamicQuantizeLinear"), 1);
  EXPECT_EQ(test::countOps(m, "MatMulInteger"), 2);
  EXPECT_EQ(test::countOps(m, "Cast"), 2);
  EXPECT_EQ(test::countOps(m, "Mul"), 4);  // scales product + output scaling, per MatMul
  EXPECT_EQ(test::countOps(m, "MatMul"), 0);
  for (Node* mm : test::nodesOf(m, "MatMulInteger")) {
    EXPECT_EQ(mm->operand(0)->producer()->opType(), "DynamicQuantizeLinear");
    EXPECT_EQ(mm->operand(2), mm->operand(0)->producer()->result(2));  // a_zero_point
    TensorRef b = test::constData(mm->operand(1));
    TensorRef bzp = test::constData(mm->operand(3));
    ASSERT_TRUE(b && bzp);
    EXPECT_EQ(b->dtype(), DType::I8);
    EXPECT_EQ(bzp->dtype(), DType::I8);
    EXPECT_EQ(bzp->rank(), 0);
    EXPECT_EQ(mm->provenance().size(), 1u);
    EXPECT_EQ(mm->result()->dtype(), DType::I32);
    // Cast(float) -> Mul(cast, Mul(a_scale, b_scale [12]))
    const Node* cast = mm->result()->uses()[0].user;
    ASSERT_TRUE(cast->is("Cast"));
    EXPECT_EQ(cast->attrs().getInt("to", 0), 1);
    const Node* mul = cast->result()->uses()[0].user;
    ASSERT_TRUE(mul->is("Mul"));
    const Node* scales = mul->operand(1)->producer();
    ASSERT_TRUE(scales && scales->is("Mul"));
    EXPECT_EQ(scales->operand(0), mm->operand(0)->producer()->result(1));
    EXPECT_EQ(test::constData(scales->operand(1))->numElements(), 12);  // per output column
  }
  // Outputs keep their names.
  EXPECT_EQ(m.graph->outputs()[0]->name(), "q");
  EXPECT_EQ(m.graph->outputs()[0]->producer()->opType(), "Mul");
  ASSERT_EQ(report.nodes.size(), 2u);
  EXPECT_EQ(report.nodes[1]["precision"], "int8-dynamic");
  double rel = compare(floatModel, m, "q");
  std::printf("[ dynamic  ] MatMul: max|diff| / max|y| = %.3g\n", rel);
  EXPECT_LT(rel, 0.03);
  EXPECT_GT(rel, 0.0);
  EXPECT_LT(compare(floatModel, m, "k"), 0.03);
}

TEST(DynamicInt8, Uint8WeightsPerTensor) {
  Model floatModel = test::buildModel(kTwoProjections, {{"wq", {}}, {"wk", {}}});
  Model m = test::buildModel(kTwoProjections, {{"wq", {}}, {"wk", {}}});
  QuantizeReport report;
  QuantizeOptions opt;
  opt.weightType = DType::U8;
  opt.perChannel = false;
  ASSERT_TRUE(quantizeDynamic(m, opt, report).isOk());
  ASSERT_TRUE(verifyModel(m).isOk());
  for (Node* mm : test::nodesOf(m, "MatMulInteger")) {
    EXPECT_EQ(test::constData(mm->operand(1))->dtype(), DType::U8);
    TensorRef zp = test::constData(mm->operand(3));
    ASSERT_EQ(zp->dtype(), DType::U8);
    EXPECT_EQ(zp->as<uint8_t>()[0], 128);
    const Node* scales = mm->result()->uses()[0].user->result()->uses()[0].user->operand(1)->producer();
    EXPECT_EQ(test::constData(scales->operand(1))->rank(), 0);
  }
  EXPECT_LT(compare(floatModel, m, "q"), 0.04);
}

TEST(DynamicInt8, GemmTransBAlphaBetaBecomesMatMulIntegerAdd) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[4,10] x, float[6,10] w, float[6] c) => (float[4,6] y) {
      y = Gemm<transB = 1, alpha = 0.5, beta = 2.0>(x, w, c)
    })";
  Model floatModel = test::buildModel(text, {{"w", {}}, {"c", {}}});
  Model m = test::buildModel(text, {{"w", {}}, {"c", {}}});
  QuantizeReport report;
  ASSERT_TRUE(quantizeDynamic(m, {}, report).isOk());
  ASSERT_TRUE(verifyModel(m).isOk()) << verifyModel(m).toString();
  EXPECT_EQ(test::countOps(m, "Gemm"), 0);
  EXPECT_EQ(test::countOps(m, "MatMulInteger"), 1);
  EXPECT_EQ(test::countOps(m, "Add"), 1);
  Node* mm = test::nodesOf(m, "MatMulInteger")[0];
  EXPECT_EQ(test::constData(mm->operand(1))->dims(), (std::vector<int64_t>{10, 6}));  // B transposed to [K, N]
  // beta folded into the bias constant.
  std::vector<float> bias = test::constData(test::nodesOf(m, "Add")[0]->operand(1))->toFloats();
  std::vector<float> c = test::constData(floatModel.graph->findValue("c"))->toFloats();
  ASSERT_EQ(bias.size(), c.size());
  for (size_t i = 0; i < c.size(); ++i) EXPECT_FLOAT_EQ(bias[i], 2.0f * c[i]);
  double rel = compare(floatModel, m, "y");
  EXPECT_LT(rel, 0.03);
  EXPECT_GT(rel, 0.0);
}

TEST(DynamicInt8, ConvBecomesConvInteger) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,9,9] x, float[5,3,3,3] w, float[5] b) => (float[1,5,5,5] y) {
      c = Conv<pads = [1,1,1,1], strides = [2,2]>(x, w, b)
      y = Relu(c)
    })";
  Model floatModel = test::buildModel(text, {{"w", {}}, {"b", {}}});
  Model m = test::buildModel(text, {{"w", {}}, {"b", {}}});
  QuantizeReport report;
  ASSERT_TRUE(quantizeDynamic(m, {}, report).isOk());
  ASSERT_TRUE(verifyModel(m).isOk()) << verifyModel(m).toString();
  EXPECT_EQ(test::countOps(m, "Conv"), 0);
  ASSERT_EQ(test::countOps(m, "ConvInteger"), 1);
  Node* ci = test::nodesOf(m, "ConvInteger")[0];
  EXPECT_EQ(ci->attrs().getInts("strides"), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(ci->attrs().getInts("pads"), (std::vector<int64_t>{1, 1, 1, 1}));
  // Per-channel scales as [5,1,1] so they broadcast over N, C, H, W; the bias likewise.
  const Node* mul = ci->result()->uses()[0].user->result()->uses()[0].user;
  const Node* scales = mul->operand(1)->producer();
  EXPECT_EQ(test::constData(scales->operand(1))->dims(), (std::vector<int64_t>{5, 1, 1}));
  EXPECT_EQ(test::constData(test::nodesOf(m, "Add")[0]->operand(1))->dims(), (std::vector<int64_t>{5, 1, 1}));
  double rel = compare(floatModel, m, "y");
  std::printf("[ dynamic  ] Conv: max|diff| / max|y| = %.3g\n", rel);
  EXPECT_LT(rel, 0.03);
  EXPECT_GT(rel, 0.0);
}

// A fusion group naming a rewritten Gemm is dropped; the others stay.
TEST(DynamicInt8, DropsFusionGroupsOfRewrittenNodes) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[4,10] x, float[10,6] w, float[6] c) => (float[4,6] y, float[4,10] z) {
      g1 = Gemm(x, w, c)
      y = Relu(g1)
      z = Relu(x)
    })";
  Model m = test::buildModel(text, {{"w", {}}, {"c", {}}});
  m.metadata.emplace_back("npuconv.fusion_groups", "linear-act: Gemm_1 Relu_2\nconv-act: Other_1 Relu_3");
  QuantizeReport report;
  ASSERT_TRUE(quantizeDynamic(m, {}, report).isOk());
  ASSERT_EQ(m.metadata.size(), 1u);
  EXPECT_EQ(m.metadata[0].second, "conv-act: Other_1 Relu_3");
}

TEST(DynamicInt8, LeavesNonConstantAndExcludedInFloat) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[4,8] x, float[8,4] w, float[8,4] v) => (float[4,4] y, float[4,4] z) {
      y = MatMul(x, w)
      z = MatMul(x, v)
    })";
  Model m = test::buildModel(text, {{"w", {}}});
  QuantizeReport report;
  QuantizeOptions opt;
  opt.excludeNodes = {"MatMul_1"};
  ASSERT_TRUE(quantizeDynamic(m, opt, report).isOk());
  EXPECT_EQ(test::countOps(m, "MatMul"), 2);
  EXPECT_EQ(test::countOps(m, "DynamicQuantizeLinear"), 0);
  ASSERT_EQ(report.nodes.size(), 2u);
  EXPECT_EQ(report.nodes[0]["reason"], "excluded");
  EXPECT_EQ(report.nodes[1]["reason"], "weight is not a float32 constant of this graph");
}

}  // namespace
}  // namespace npuconv
