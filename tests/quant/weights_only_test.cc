// int8-weights: MatMul / Gemm / Conv / ConvTranspose weights become int8 initializers behind
// DequantizeLinear (per output channel on the right axis), activations stay float; the result
// equals the float model run on the dequantized weights and stays close to the float model.
#include <algorithm>

#include "quant/quant_math.h"
#include "quant/quantize.h"
#include "tests/quant/precisions_test_util.h"

namespace npuconv {
namespace {

Model fourOps() {
  return test::buildModel(R"(<ir_version: 8, opset_import: ["" : 13]>
  g (float[1,2,6,6] x, float[4,2,3,3] cw, float[4] cb, float[4,3,2,2] tw, float[6,5] mw, float[7,5] gw, float[7] gb)
      => (float[18,7] y) {
    c = Conv<pads = [1,1,1,1]>(x, cw, cb)
    r = Relu(c)
    t = ConvTranspose<strides = [2,2]>(r, tw)
    p = MaxPool<kernel_shape = [2,2], strides = [2,2]>(t)
    shape = Constant<value = int64[2] {18, 6}>()
    f = Reshape(p, shape)
    m = MatMul(f, mw)
    y = Gemm<transB = 1>(m, gw, gb)
  })",
                          {{"cw", {}}, {"cb", {}}, {"tw", {}}, {"mw", {}}, {"gw", {}}, {"gb", {}}});
}

TEST(WeightsOnly, PerChannelDequantizeOnEachWeight) {
  Model floatModel = fourOps();
  Model m = fourOps();
  QuantizeReport report;
  QuantizeOptions opt;
  ASSERT_TRUE(quantizeWeightsOnly(m, opt, report).isOk());
  ASSERT_TRUE(verifyModel(m).isOk()) << verifyModel(m).toString();
  EXPECT_EQ(m.opsetVersion(""), 13);
  std::vector<Node*> dqs = test::nodesOf(m, "DequantizeLinear");
  ASSERT_EQ(dqs.size(), 4u);
  // The axis of each weight's consumer: Conv 0, ConvTranspose 1, MatMul 1 (last), Gemm(transB) 0.
  std::map<std::string, int64_t> wantAxis = {{"Conv", 0}, {"ConvTranspose", 1}, {"MatMul", 1}, {"Gemm", 0}};
  for (Node* dq : dqs) {
    ASSERT_EQ(dq->result()->uses().size(), 1u);
    const Node* user = dq->result()->uses()[0].user;
    EXPECT_EQ(dq->result()->uses()[0].operand, 1u);
    int64_t axis = dq->attrs().getInt("axis", -99);
    EXPECT_EQ(axis, wantAxis.at(user->opType())) << user->opType();
    TensorRef q = test::constData(dq->operand(0));
    TensorRef s = test::constData(dq->operand(1));
    TensorRef z = test::constData(dq->operand(2));
    ASSERT_TRUE(q && s && z);
    EXPECT_EQ(q->dtype(), DType::I8);
    EXPECT_EQ(z->dtype(), DType::I8);
    EXPECT_EQ(s->numElements(), q->dims()[static_cast<size_t>(axis)]);
    for (int64_t i = 0; i < z->numElements(); ++i) EXPECT_EQ(z->as<int8_t>()[static_cast<size_t>(i)], 0);
    // The largest weight magnitude maps to 127.
    std::span<const int8_t> qv = q->as<int8_t>();
    int maxQ = 0;
    for (int8_t v : qv) maxQ = std::max(maxQ, std::abs(static_cast<int>(v)));
    EXPECT_EQ(maxQ, 127);
  }
  // Float weights are gone, the float ops stay.
  for (const char* w : {"cw", "tw", "mw", "gw"}) EXPECT_EQ(m.graph->findValue(w), nullptr) << w;
  EXPECT_EQ(test::nodesOf(m, "Conv").size(), 1u);
  EXPECT_EQ(test::nodesOf(m, "Gemm").size(), 1u);
  ASSERT_EQ(report.nodes.size(), 4u);
  EXPECT_EQ(report.nodes[0]["node"], "Conv_1");
  EXPECT_EQ(report.nodes[0]["precision"], "int8-weights");
  EXPECT_EQ(report.nodes[0]["channels"], 4);

  NamedTensors in = test::seededFloatInputs(floatModel, 3);
  NamedTensors ref = test::runConverted(floatModel, in);
  NamedTensors got = test::runConverted(m, in);
  ASSERT_EQ(ref.count("y"), 1u);
  ASSERT_EQ(got.count("y"), 1u);
  double rel = test::relMaxDiff(ref.at("y"), got.at("y"));
  std::printf("[ weights  ] four ops: max|diff| / max|y| = %.3g\n", rel);
  EXPECT_LT(rel, 0.02);
  EXPECT_GT(rel, 0.0) << "weights unchanged: nothing was quantized";
}

// The executor's DequantizeLinear gives back exactly scale * q per channel, and |w - scale*q| is
// at most half a step of its channel.
TEST(WeightsOnly, DequantizedWeightsWithinHalfStep) {
  Model floatModel = fourOps();
  Model m = fourOps();
  QuantizeReport report;
  ASSERT_TRUE(quantizeWeightsOnly(m, {}, report).isOk());
  for (Node* dq : test::nodesOf(m, "DequantizeLinear")) {
    const Node* user = dq->result()->uses()[0].user;
    std::string wName = report.nodes[0]["weight"];
    for (const auto& e : report.nodes)
      if (e["node"] == user->name()) wName = e["weight"];
    TensorRef w = test::constData(floatModel.graph->findValue(wName));
    ASSERT_TRUE(w) << wName;
    TensorRef q = test::constData(dq->operand(0));
    std::vector<float> s = test::constData(dq->operand(1))->toFloats();
    int64_t axis = dq->attrs().getInt("axis", 1);
    int64_t inner = 1;
    for (size_t d = static_cast<size_t>(axis) + 1; d < w->dims().size(); ++d) inner *= w->dims()[d];
    int64_t channels = w->dims()[static_cast<size_t>(axis)];
    std::span<const float> wv = w->as<float>();
    std::span<const int8_t> qv = q->as<int8_t>();
    for (size_t i = 0; i < wv.size(); ++i) {
      float scale = s[static_cast<size_t>((static_cast<int64_t>(i) / inner) % channels)];
      EXPECT_LE(std::fabs(wv[i] - scale * qv[i]), 0.5f * scale * 1.0001f) << wName << "[" << i << "]";
    }
  }
}

TEST(WeightsOnly, ExcludedNodesAndPerTensor) {
  Model m = fourOps();
  QuantizeReport report;
  QuantizeOptions opt;
  opt.perChannel = false;
  opt.excludeNodes = {"MatMul_7"};
  ASSERT_TRUE(quantizeWeightsOnly(m, opt, report).isOk());
  ASSERT_TRUE(verifyModel(m).isOk());
  std::vector<Node*> dqs = test::nodesOf(m, "DequantizeLinear");
  EXPECT_EQ(dqs.size(), 3u);
  for (Node* dq : dqs) {
    EXPECT_FALSE(dq->attrs().has("axis"));
    EXPECT_EQ(test::constData(dq->operand(1))->rank(), 0);
  }
  ASSERT_NE(m.graph->findValue("mw"), nullptr);
  EXPECT_TRUE(m.graph->findValue("mw")->isInitializer());
  bool found = false;
  for (const auto& e : report.nodes)
    if (e["node"] == "MatMul_7") {
      found = true;
      EXPECT_EQ(e["precision"], "fp32");
      EXPECT_EQ(e["reason"], "excluded");
    }
  EXPECT_TRUE(found);
}

// Opset 11 with a Softmax: raising to 13 would change Softmax's axis semantics, so the weights
// are per tensor (DequantizeLinear without axis) and the report says why.
TEST(WeightsOnly, PerTensorWhenOpsetCannotBeRaised) {
  const char* text = R"(<ir_version: 7, opset_import: ["" : 11]>
    g (float[2,3,4] x, float[4,5] w) => (float[2,3,5] y) {
      m = MatMul(x, w)
      y = Softmax<axis = 1>(m)
    })";
  Model m = test::buildModel(text, {{"w", {}}});
  QuantizeReport report;
  ASSERT_TRUE(quantizeWeightsOnly(m, {}, report).isOk());
  ASSERT_TRUE(verifyModel(m).isOk());
  EXPECT_EQ(m.opsetVersion(""), 11);
  ASSERT_EQ(test::nodesOf(m, "DequantizeLinear").size(), 1u);
  EXPECT_FALSE(test::nodesOf(m, "DequantizeLinear")[0]->attrs().has("axis"));
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_NE(report.warnings[0].find("per tensor"), std::string::npos);
  EXPECT_EQ(report.nodes[0]["axis"], -1);
}

// Weights held in Constant nodes (PaddleOCR exports have no initializers) count; a weight
// shared by two MatMuls is stored once.
TEST(WeightsOnly, ConstantNodeWeightSharedOnce) {
  Model m = test::buildModel(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3,4] x, float[3,4] x2) => (float[3,2] y, float[3,2] y2) {
      w = Constant<value = float[4,2] {0.5, -1.0, 0.25, 2.0, -0.75, 0.125, 1.5, -0.3}>()
      y = MatMul(x, w)
      y2 = MatMul(x2, w)
    })");
  Model floatModel = test::buildModel(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3,4] x, float[3,4] x2) => (float[3,2] y, float[3,2] y2) {
      w = Constant<value = float[4,2] {0.5, -1.0, 0.25, 2.0, -0.75, 0.125, 1.5, -0.3}>()
      y = MatMul(x, w)
      y2 = MatMul(x2, w)
    })");
  QuantizeReport report;
  ASSERT_TRUE(quantizeWeightsOnly(m, {}, report).isOk());
  ASSERT_TRUE(verifyModel(m).isOk());
  EXPECT_EQ(test::nodesOf(m, "DequantizeLinear").size(), 1u);
  EXPECT_EQ(test::nodesOf(m, "Constant").size(), 0u);
  // Column scales: max|col| / 127 = 1.5/127 and 2.0/127.
  std::vector<float> s = test::constData(test::nodesOf(m, "DequantizeLinear")[0]->operand(1))->toFloats();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_FLOAT_EQ(s[0], 1.5f / 127);
  EXPECT_FLOAT_EQ(s[1], 2.0f / 127);
  NamedTensors in = test::seededFloatInputs(floatModel, 5);
  NamedTensors ref = test::runConverted(floatModel, in), got = test::runConverted(m, in);
  for (const char* o : {"y", "y2"}) {
    double rel = test::relMaxDiff(ref.at(o), got.at(o));
    EXPECT_LT(rel, 0.02) << o;
  }
}

}  // namespace
}  // namespace npuconv
