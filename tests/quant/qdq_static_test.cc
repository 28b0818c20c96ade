// qdq_static_test.cc - INT8 static quantization (QDQ): which Q/DQ nodes exist around tiny models,
// their scales and zero points computed from the given ranges, and the QDQ model's outputs
// against the float model's within a bound derived from the scales.
#include <gtest/gtest.h>

#include <cmath>

#include "converter/ir/verifier.h"
#include "passes/match.h"
#include "passes/registry.h"
#include "quant/quantize.h"
#include "tests/passes/pass_test_util.h"
#include "tests/quant/quant_test_util.h"

namespace npuconv {
namespace {

/// Expected asymmetric uint8 parameters of a range (widened to include 0), computed here
/// independently of quant_math: scale = (hi - lo) / 255, zero point = round(-lo / scale).
std::pair<float, int64_t> expectedU8(TensorRange r) {
  double lo = std::min(r.lo, 0.0f), hi = std::max(r.hi, 0.0f);
  float s = static_cast<float>((hi - lo) / 255.0);
  return {s, static_cast<int64_t>(std::nearbyint(-lo / s))};
}

/// The QuantizeLinear of activation `name`: the one reading it, or for a graph output (whose
/// name moved to the DequantizeLinear) the one behind its DequantizeLinear.
const Node* activationQ(const Model& m, const std::string& name) {
  const Node* p = test::producerOf(m, name);
  if (p && p->is("DequantizeLinear") && p->operand(0)->producer() && p->operand(0)->producer()->is("QuantizeLinear"))
    return p->operand(0)->producer();
  return test::quantizeOf(m, name);
}

void expectActivation(const Model& m, const std::string& name, TensorRange r) {
  SCOPED_TRACE("activation " + name);
  const Node* q = activationQ(m, name);
  ASSERT_NE(q, nullptr) << "no QuantizeLinear for " << name;
  auto [s, z] = expectedU8(r);
  ASSERT_EQ(test::constFloats(q->operand(1)).size(), 1u);
  EXPECT_EQ(test::constFloats(q->operand(1))[0], s);
  EXPECT_EQ(test::constInts64(q->operand(2)), std::vector<int64_t>{z});
  EXPECT_EQ(m::constTensor(q->operand(2))->dtype(), DType::U8);
  // Exactly one pair per tensor: every user of the Q is a DQ with the same parameters.
  for (const Use& u : q->result(0)->uses()) {
    EXPECT_TRUE(u.user->is("DequantizeLinear"));
    EXPECT_EQ(u.user->operand(1), q->operand(1));
  }
}

/// A weight operand: DequantizeLinear of an int8 initializer, symmetric, per channel on
/// `axis`, scale max|w_c| / 127 of the float weight `w`.
void expectWeight(const Value* operand, const TensorData& w, int64_t axis) {
  ASSERT_NE(operand->producer(), nullptr);
  const Node* dq = operand->producer();
  ASSERT_TRUE(dq->is("DequantizeLinear"));
  TensorRef q = m::constTensor(dq->operand(0));
  ASSERT_NE(q, nullptr);
  EXPECT_TRUE(dq->operand(0)->isInitializer());
  EXPECT_EQ(q->dtype(), DType::I8);
  EXPECT_EQ(q->dims(), w.dims());
  EXPECT_EQ(dq->attrs().getInt("axis", -100), axis);
  std::vector<float> scales = test::constFloats(dq->operand(1));
  const auto& d = w.dims();
  int64_t channels = d[static_cast<size_t>(axis)], inner = 1;
  for (size_t k = static_cast<size_t>(axis) + 1; k < d.size(); ++k) inner *= d[k];
  ASSERT_EQ(static_cast<int64_t>(scales.size()), channels);
  EXPECT_EQ(test::constInts64(dq->operand(2)), std::vector<int64_t>(static_cast<size_t>(channels), 0));
  auto x = w.as<float>();
  auto qi = q->as<int8_t>();
  std::vector<double> mx(static_cast<size_t>(channels), 0.0);
  for (size_t i = 0; i < x.size(); ++i) {
    size_t c = (i / static_cast<size_t>(inner)) % static_cast<size_t>(channels);
    mx[c] = std::max(mx[c], std::fabs(static_cast<double>(x[i])));
  }
  for (int64_t c = 0; c < channels; ++c)
    EXPECT_EQ(scales[static_cast<size_t>(c)], static_cast<float>(mx[static_cast<size_t>(c)] / 127.0)) << "channel " << c;
  for (size_t i = 0; i < x.size(); ++i) {
    size_t c = (i / static_cast<size_t>(inner)) % static_cast<size_t>(channels);
    EXPECT_EQ(qi[i], static_cast<int8_t>(std::nearbyint(x[i] / scales[c]))) << "element " << i;
  }
}

/// A bias operand: int32 DequantizeLinear with scale s_x * s_w[c], zero point 0, axis 0.
void expectBias(const Value* operand, const TensorData& b, float sx, const Value* weightOperand) {
  ASSERT_NE(operand->producer(), nullptr);
  const Node* dq = operand->producer();
  ASSERT_TRUE(dq->is("DequantizeLinear"));
  TensorRef q = m::constTensor(dq->operand(0));
  ASSERT_EQ(q->dtype(), DType::I32);
  std::vector<float> sw = test::constFloats(weightOperand->producer()->operand(1));
  std::vector<float> sb = test::constFloats(dq->operand(1));
  ASSERT_EQ(sb.size(), sw.size());
  EXPECT_EQ(dq->attrs().getInt("axis", -100), 0);
  EXPECT_EQ(m::constTensor(dq->operand(2))->dtype(), DType::I32);
  auto bf = b.as<float>();
  auto bi = q->as<int32_t>();
  for (size_t c = 0; c < sw.size(); ++c) {
    double s = static_cast<double>(sx) * sw[c];
    EXPECT_FLOAT_EQ(sb[c], static_cast<float>(s));
    EXPECT_EQ(bi[c], static_cast<int32_t>(std::nearbyint(bf[c] / s))) << "channel " << c;
  }
}

/// float vs QDQ outputs on the executor: max |diff| <= tol for every output.
void expectClose(const Model& f, const Model& q, const std::vector<NamedTensors>& samples, double tol) {
  for (const auto& s : samples) {
    NamedTensors a = test::runModel(f, s), b = test::runModel(q, s);
    ASSERT_EQ(a.size(), b.size());
    for (const auto& [name, t] : a) {
      ASSERT_TRUE(b.count(name)) << "quantized model lacks output " << name;
      auto x = t.span<float>(), y = b.at(name).span<float>();
      ASSERT_EQ(x.size(), y.size());
      double worst = 0, mag = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        worst = std::max(worst, std::fabs(static_cast<double>(x[i]) - y[i]));
        mag = std::max(mag, std::fabs(static_cast<double>(x[i])));
      }
      EXPECT_LE(worst, tol) << name;
      EXPECT_GT(worst, 0.0) << name << ": bit-identical outputs: nothing was quantized";
      EXPECT_GT(mag, 10 * tol) << name << ": the bound is too loose to test anything";
    }
  }
}

/// Error bound of one quantized linear layer y = sum_k x_k w_k + b, output quantized with sy:
/// |dy| <= sy/2 + K (|x|max sw/2 + |w|max sx/2 + sx sw / 4) + sx sw / 2.
double linearBound(int64_t fanIn, double xmax, double sx, double wmax, double sw, double sy) {
  return sy / 2 + static_cast<double>(fanIn) * (xmax * sw / 2 + wmax * sx / 2 + sx * sw / 4) + sx * sw / 2 + 1e-6;
}

double maxAbs(const TensorData& t) {
  double m = 0;
  for (float v : t.toFloats()) m = std::max(m, std::fabs(static_cast<double>(v)));
  return m;
}

struct Quantized {
  Model floatModel, model;
  QuantRanges ranges;
  std::vector<NamedTensors> samples;
  QuantizeReport report;
};

/// Builds the model, calibrates minmax on seeded samples, quantizes; fails the test on error.
Quantized quantize(const std::string& text, const std::map<std::string, test::Range>& consts,
                   const QuantizeOptions& opt = {}, const std::string& passes = "") {
  Quantized r;
  r.floatModel = test::buildModel(text, consts);
  if (!passes.empty()) {
    auto pm = buildPassManager("", passes, {});
    EXPECT_TRUE(pm.hasValue());
    PassContext ctx;
    Status s = pm->run(r.floatModel, ctx);
    EXPECT_TRUE(s.isOk()) << s.toString();
  }
  r.model = test::buildModel(text, consts);
  if (!passes.empty()) {
    auto pm = buildPassManager("", passes, {});
    PassContext ctx;
    EXPECT_TRUE(pm->run(r.model, ctx).isOk());
  }
  r.samples = test::seededSamples(r.floatModel, 4, 11);
  r.ranges = test::observedRanges(r.floatModel, r.samples);
  Status s = quantizeStatic(r.model, r.ranges, opt, r.report);
  EXPECT_TRUE(s.isOk()) << s.toString();
  Status v = verifyModel(r.model);
  EXPECT_TRUE(v.isOk()) << v.toString();
  return r;
}

const Node* onlyNode(const Model& m, std::string_view op) {
  const Node* found = nullptr;
  for (const Node* n : m.graph->nodes())
    if (n->is(op)) {
      EXPECT_EQ(found, nullptr) << "more than one " << op;
      found = n;
    }
  return found;
}

constexpr const char* kConvRelu = R"(<ir_version: 8, opset_import: ["" : 13]>
  g (float[1,3,8,8] x, float[4,3,3,3] w, float[4] b) => (float[1,4,6,6] y) {
    c = Conv(x, w, b)
    y = Relu(c)
  })";

TEST(QdqStatic, ConvReluStructureAndScales) {
  Model f = test::buildModel(kConvRelu, {{"w", {}}, {"b", {-0.5f, 0.5f}}});
  EXPECT_EQ(tensorsToCalibrate(f, {}), (std::vector<std::string>{"x", "y"}));  // not c: Relu is folded
  Quantized q = quantize(kConvRelu, {{"w", {}}, {"b", {-0.5f, 0.5f}}});
  const Model& m = q.model;
  EXPECT_EQ(test::countOps(m, "QuantizeLinear"), 2);    // x, y
  EXPECT_EQ(test::countOps(m, "DequantizeLinear"), 4);  // x, y, w, b
  const Node* conv = onlyNode(m, "Conv");
  const Node* relu = onlyNode(m, "Relu");
  ASSERT_TRUE(conv && relu);
  EXPECT_EQ(relu->operand(0), conv->result(0)) << "no Q/DQ between Conv and its Relu";
  expectActivation(m, "x", q.ranges.at("x"));
  expectActivation(m, "y", q.ranges.at("y"));
  TensorRef w = m::constTensor(q.floatModel.graph->findValue("w"));
  TensorRef b = m::constTensor(q.floatModel.graph->findValue("b"));
  expectWeight(conv->operand(1), *w, 0);
  expectBias(conv->operand(2), *b, expectedU8(q.ranges.at("x")).first, conv->operand(1));
  // The graph output keeps its name, float, produced by the last DequantizeLinear.
  ASSERT_EQ(m.graph->outputs().size(), 1u);
  EXPECT_EQ(m.graph->outputs()[0]->name(), "y");
  EXPECT_TRUE(m.graph->outputs()[0]->producer()->is("DequantizeLinear"));
  // No float weight left, no QuantizeLinear of a constant.
  for (const Value* init : m.graph->initializers()) EXPECT_NE(init->name(), "w");
  for (const Node* n : m.graph->nodes())
    if (n->is("QuantizeLinear")) {
      EXPECT_FALSE(m::isConstant(n->operand(0))) << n->name();
    }
  // Report: one entry keyed by the original names of Conv and Relu.
  ASSERT_EQ(q.report.nodes.size(), 1u);
  const std::string convName = test::producerOf(f, "c")->provenance().at(0);
  const std::string reluName = test::producerOf(f, "y")->provenance().at(0);
  EXPECT_EQ(q.report.nodes[0]["nodes"], (nlohmann::ordered_json{convName, reluName}));
  EXPECT_EQ(q.report.nodes[0]["weight"]["scheme"], "symmetric per-channel, axis 0");
  // Numerics.
  auto [sx, zx] = expectedU8(q.ranges.at("x"));
  auto [sy, zy] = expectedU8(q.ranges.at("y"));
  const Node* wdq = conv->operand(1)->producer();
  std::vector<float> sw = test::constFloats(wdq->operand(1));
  double swMax = *std::max_element(sw.begin(), sw.end());
  expectClose(q.floatModel, m, q.samples, linearBound(27, 1.0, sx, maxAbs(*w), swMax, sy));
}

TEST(QdqStatic, RaisesOpsetForPerChannelWeights) {
  std::string text = kConvRelu;
  text.replace(text.find("\"\" : 13"), 7, "\"\" : 11");
  Quantized q = quantize(text, {{"w", {}}, {"b", {}}});
  EXPECT_EQ(q.model.opsetVersion(""), 13);
  // Per tensor needs only opset 10: the model keeps 11.
  QuantizeOptions perTensor;
  perTensor.perChannel = false;
  Quantized p = quantize(text, {{"w", {}}, {"b", {}}}, perTensor);
  EXPECT_EQ(p.model.opsetVersion(""), 11);
  const Node* conv = onlyNode(p.model, "Conv");
  EXPECT_FALSE(conv->operand(1)->producer()->attrs().has("axis"));
  EXPECT_EQ(test::constFloats(conv->operand(1)->producer()->operand(1)).size(), 1u);
  // A Softmax over a middle axis at opset 11 means something else at 13: an error naming the node.
  std::string soft = R"(<ir_version: 7, opset_import: ["" : 11]>
    g (float[2,4,16] x, float[16,8] w) => (float[2,4,8] y) { m = MatMul(x, w)  y = Softmax<axis = 1>(m) })";
  Model sm = test::buildModel(soft, {{"w", {}}});
  QuantizeReport rep;
  Status s = quantizeStatic(sm, test::observedRanges(sm, test::seededSamples(sm, 1, 3)), {}, rep);
  EXPECT_EQ(s.code(), StatusCode::Unsupported);
  EXPECT_NE(s.message().find("Softmax"), std::string::npos) << s.toString();
}

TEST(QdqStatic, ConvBatchNormFoldedGetsInt32Bias) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,8,8] x, float[4,3,3,3] w, float[4] sc, float[4] bb, float[4] mean, float[4] var) => (float[1,4,6,6] y) {
      c = Conv(x, w)
      y = BatchNormalization(c, sc, bb, mean, var)
    })";
  Quantized q = quantize(text, {{"w", {}}, {"sc", {0.5f, 1.5f}}, {"bb", {-0.2f, 0.2f}}, {"mean", {-0.1f, 0.1f}},
                                {"var", {0.5f, 1.5f}}},
                         {}, "fold-conv-bn");
  EXPECT_EQ(test::countOps(q.model, "BatchNormalization"), 0);
  const Node* conv = onlyNode(q.model, "Conv");
  ASSERT_NE(conv, nullptr);
  ASSERT_EQ(conv->numOperands(), 3u);
  const Node* fconv = onlyNode(q.floatModel, "Conv");
  expectWeight(conv->operand(1), *m::constTensor(fconv->operand(1)), 0);
  auto [sx, zx] = expectedU8(q.ranges.at("x"));
  expectBias(conv->operand(2), *m::constTensor(fconv->operand(2)), sx, conv->operand(1));
  auto [sy, zy] = expectedU8(q.ranges.at("y"));
  std::vector<float> sw = test::constFloats(conv->operand(1)->producer()->operand(1));
  expectClose(q.floatModel, q.model, q.samples,
              linearBound(27, 1.0, sx, maxAbs(*m::constTensor(fconv->operand(1))),
                          *std::max_element(sw.begin(), sw.end()), sy));
}

TEST(QdqStatic, MatMulConstantWeightAndBiasAdd) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,16] x, float[16,8] w, float[8] b) => (float[2,8] y) {
      m = MatMul(x, w)
      y = Add(m, b)
    })";
  Model f = test::buildModel(text, {{"w", {}}, {"b", {}}});
  EXPECT_EQ(tensorsToCalibrate(f, {}), (std::vector<std::string>{"x", "y"}));
  Quantized q = quantize(text, {{"w", {}}, {"b", {}}});
  const Node* mm = onlyNode(q.model, "MatMul");
  const Node* add = onlyNode(q.model, "Add");
  ASSERT_TRUE(mm && add);
  EXPECT_EQ(add->operand(0), mm->result(0)) << "bias Add folded: no Q/DQ on the MatMul output";
  TensorRef w = m::constTensor(q.floatModel.graph->findValue("w"));
  expectWeight(mm->operand(1), *w, 1);
  auto [sx, zx] = expectedU8(q.ranges.at("x"));
  expectBias(add->operand(1), *m::constTensor(q.floatModel.graph->findValue("b")), sx, mm->operand(1));
  expectActivation(q.model, "x", q.ranges.at("x"));
  expectActivation(q.model, "y", q.ranges.at("y"));
  auto [sy, zy] = expectedU8(q.ranges.at("y"));
  std::vector<float> sw = test::constFloats(mm->operand(1)->producer()->operand(1));
  expectClose(q.floatModel, q.model, q.samples,
              linearBound(16, 1.0, sx, maxAbs(*w), *std::max_element(sw.begin(), sw.end()), sy));
}

TEST(QdqStatic, GemmAxisFollowsTransB) {
  for (int transB : {0, 1}) {
    SCOPED_TRACE(transB);
    std::string text = fmt::format(R"(<ir_version: 8, opset_import: ["" : 13]>
      g (float[2,16] x, float[{}] w, float[8] c) => (float[2,8] y) {{
        y = Gemm<transB = {}>(x, w, c)
      }})",
                                   transB ? "8,16" : "16,8", transB);
    Quantized q = quantize(text, {{"w", {}}, {"c", {}}});
    const Node* gemm = onlyNode(q.model, "Gemm");
    ASSERT_NE(gemm, nullptr);
    TensorRef w = m::constTensor(q.floatModel.graph->findValue("w"));
    expectWeight(gemm->operand(1), *w, transB ? 0 : 1);
    auto [sx, zx] = expectedU8(q.ranges.at("x"));
    expectBias(gemm->operand(2), *m::constTensor(q.floatModel.graph->findValue("c")), sx, gemm->operand(1));
    auto [sy, zy] = expectedU8(q.ranges.at("y"));
    std::vector<float> sw = test::constFloats(gemm->operand(1)->producer()->operand(1));
    expectClose(q.floatModel, q.model, q.samples,
                linearBound(16, 1.0, sx, maxAbs(*w), *std::max_element(sw.begin(), sw.end()), sy));
  }
}

constexpr const char* kConcat = R"(<ir_version: 8, opset_import: ["" : 13]>
  g (float[1,3,8,8] x, float[4,3,3,3] w1, float[4,3,3,3] w2) => (float[1,8,6,6] y) {
    a = Conv(x, w1)
    n = Neg(x)
    d = Conv(n, w2)
    e = Mul(d, d)
    y = Concat<axis = 1>(a, e)
  })";

TEST(QdqStatic, ConcatSharesOneScale) {
  Quantized q = quantize(kConcat, {{"w1", {}}, {"w2", {}}});
  TensorRange u = q.ranges.at("a");
  for (const char* t : {"e", "y"}) u = {std::min(u.lo, q.ranges.at(t).lo), std::max(u.hi, q.ranges.at(t).hi)};
  ASSERT_NE(q.ranges.at("a").hi, q.ranges.at("e").hi);  // the union differs from each range
  for (const char* t : {"a", "e", "y"}) expectActivation(q.model, t, u);
  expectActivation(q.model, "x", q.ranges.at("x"));
  // Unshared: each keeps its own.
  QuantizeOptions own;
  own.shareConcatScales = false;
  Quantized p = quantize(kConcat, {{"w1", {}}, {"w2", {}}}, own);
  for (const char* t : {"a", "e", "y"}) expectActivation(p.model, t, p.ranges.at(t));
  // Neg stays float: its input is not quantized for it, its output is quantized for the Conv.
  const Node* neg = onlyNode(q.model, "Neg");
  ASSERT_NE(neg, nullptr);
  EXPECT_EQ(neg->operand(0)->name(), "x");
}

TEST(QdqStatic, AddResidualSharesInputPair) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,4,6,6] x, float[4,4,3,3] w) => (float[1,4,6,6] y) {
      c = Conv<pads = [1,1,1,1]>(x, w)
      s = Add(c, x)
      y = Relu(s)
    })";
  Model f = test::buildModel(text, {{"w", {}}});
  EXPECT_EQ(tensorsToCalibrate(f, {}), (std::vector<std::string>{"x", "c", "y"}));
  Quantized q = quantize(text, {{"w", {}}});
  EXPECT_EQ(test::countOps(q.model, "QuantizeLinear"), 3);  // x (once), c, y
  const Node* conv = onlyNode(q.model, "Conv");
  const Node* add = onlyNode(q.model, "Add");
  const Node* relu = onlyNode(q.model, "Relu");
  ASSERT_TRUE(conv && add && relu);
  EXPECT_EQ(conv->operand(0), add->operand(1)) << "one DQ of x shared by Conv and Add";
  EXPECT_EQ(relu->operand(0), add->result(0)) << "Relu folded into the Add";
  expectActivation(q.model, "c", q.ranges.at("c"));
  expectActivation(q.model, "y", q.ranges.at("y"));
  auto [sx, zx] = expectedU8(q.ranges.at("x"));
  auto [sc, zc] = expectedU8(q.ranges.at("c"));
  auto [sy, zy] = expectedU8(q.ranges.at("y"));
  std::vector<float> sw = test::constFloats(conv->operand(1)->producer()->operand(1));
  TensorRef w = m::constTensor(q.floatModel.graph->findValue("w"));
  double convErr = linearBound(36, 1.0, sx, maxAbs(*w), *std::max_element(sw.begin(), sw.end()), sc);
  expectClose(q.floatModel, q.model, q.samples, convErr + sx / 2 + sy / 2);
}

TEST(QdqStatic, MaxPoolPassesQuantizationThrough) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,8,8] x, float[4,3,3,3] w) => (float[1,4,3,3] y) {
      c = Conv(x, w)
      r = Relu(c)
      y = MaxPool<kernel_shape = [2,2], strides = [2,2]>(r)
    })";
  Model f = test::buildModel(text, {{"w", {}}});
  EXPECT_EQ(tensorsToCalibrate(f, {}), (std::vector<std::string>{"x", "r"}));  // no range for y
  Quantized q = quantize(text, {{"w", {}}});
  expectActivation(q.model, "r", q.ranges.at("r"));
  const Node* qy = activationQ(q.model, "y");
  const Node* qr = activationQ(q.model, "r");
  ASSERT_TRUE(qy && qr);
  EXPECT_EQ(test::constFloats(qy->operand(1)), test::constFloats(qr->operand(1)));
  EXPECT_EQ(test::constInts64(qy->operand(2)), test::constInts64(qr->operand(2)));
  const Node* pool = onlyNode(q.model, "MaxPool");
  EXPECT_TRUE(pool->operand(0)->producer()->is("DequantizeLinear"));
  // Max of quantized values is quantized: QDQ after the pool changes nothing, so the error is
  // the Conv's.
  auto [sx, zx] = expectedU8(q.ranges.at("x"));
  auto [sr, zr] = expectedU8(q.ranges.at("r"));
  std::vector<float> sw = test::constFloats(onlyNode(q.model, "Conv")->operand(1)->producer()->operand(1));
  expectClose(q.floatModel, q.model, q.samples,
              linearBound(27, 1.0, sx, maxAbs(*m::constTensor(q.floatModel.graph->findValue("w"))),
                          *std::max_element(sw.begin(), sw.end()), sr));
  bool passThrough = false;
  for (const auto& e : q.report.nodes) passThrough |= e["op"] == "MaxPool" && e["mode"] == "pass-through";
  EXPECT_TRUE(passThrough);
}

TEST(QdqStatic, ConstantNodeWeightBecomesInt8Initializer) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,2,4,4] x) => (float[1,3,4,4] y) {
      w = Constant<value = float[3,2,1,1] {0.5, -0.25, 1.0, 0.125, -2.0, 0.75}>()
      y = Conv(x, w)
    })";
  Quantized q = quantize(text, {});
  EXPECT_EQ(test::countOps(q.model, "Constant"), 0);
  const Node* conv = onlyNode(q.model, "Conv");
  std::vector<float> wv = {0.5f, -0.25f, 1.0f, 0.125f, -2.0f, 0.75f};
  TensorData w = TensorData::fromValues(DType::F32, {3, 2, 1, 1}, std::span<const float>(wv));
  expectWeight(conv->operand(1), w, 0);
  // Channel 0: max 0.5 -> scale 0.5/127, -0.25 -> -64 (round half even of -63.5).
  TensorRef qw = m::constTensor(conv->operand(1)->producer()->operand(0));
  EXPECT_EQ(qw->as<int8_t>()[1], -64);
}

TEST(QdqStatic, ExcludedNodeStaysFloat) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,8,8] x, float[4,3,3,3] w1, float[4,4,3,3] w2) => (float[1,4,4,4] y) {
      a = Conv(x, w1)
      y = Conv(a, w2)
    })";
  Model f = test::buildModel(text, {{"w1", {}}, {"w2", {}}});
  QuantizeOptions opt;
  opt.excludeNodes = {test::producerOf(f, "y")->provenance().at(0)};
  EXPECT_EQ(tensorsToCalibrate(f, opt), (std::vector<std::string>{"x", "a"}));
  Quantized q = quantize(text, {{"w1", {}}, {"w2", {}}}, opt);
  const Node* second = test::producerOf(q.model, "y");
  ASSERT_TRUE(second && second->is("Conv"));
  EXPECT_TRUE(second->operand(1)->isInitializer()) << "excluded Conv keeps its float weight";
  EXPECT_EQ(second->operand(1)->dtype(), DType::F32);
  ASSERT_EQ(q.report.nodes.size(), 1u);
  EXPECT_EQ(q.report.nodes[0]["nodes"], (nlohmann::ordered_json{test::producerOf(f, "a")->provenance().at(0)}));
  EXPECT_EQ(test::countOps(q.model, "QuantizeLinear"), 2);  // x, a
}

TEST(QdqStatic, OutlierChannelWarnsAndReduceRangeIsReported) {
  Model m = test::buildModel(kConvRelu, {{"w", {}}, {"b", {}}});
  Value* w = m.graph->findValue("w");
  const std::string convName = test::producerOf(m, "c")->provenance().at(0);
  std::vector<float> v = m::constTensor(w)->toFloats();
  for (size_t i = 27; i < 54; ++i) v[i] = 0.01f;
  v[30] = 5.0f;  // channel 1: max 5 vs mean ~0.2
  m.graph->setInitializerData(w, std::make_shared<const TensorData>(
                                     TensorData::fromValues(DType::F32, {4, 3, 3, 3}, std::span<const float>(v))));
  QuantizeReport rep;
  QuantizeOptions opt;
  opt.reduceRange = true;
  Status s = quantizeStatic(m, test::observedRanges(m, test::seededSamples(m, 2, 5)), opt, rep);
  ASSERT_TRUE(s.isOk()) << s.toString();
  bool outlier = false, reduce = false;
  for (const auto& wmsg : rep.warnings) {
    outlier |= wmsg.find(convName) != std::string::npos && wmsg.find("channel 1") != std::string::npos;
    reduce |= wmsg.find("reduce-range") != std::string::npos;
  }
  EXPECT_TRUE(outlier) << "no outlier warning naming " << convName << " channel 1";
  EXPECT_TRUE(reduce);
  EXPECT_EQ(rep.scheme["reduce_range"], true);
  const Node* conv = onlyNode(m, "Conv");
  TensorRef qw = m::constTensor(conv->operand(1)->producer()->operand(0));
  for (int8_t k : qw->as<int8_t>()) EXPECT_TRUE(k >= -64 && k <= 63);
  EXPECT_EQ(qw->as<int8_t>()[30], 63);
}

TEST(QdqStatic, Opset9ClipBecomesOpset13) {
  // PaddleOCR's classifier: opset 9, Relu6 as Clip<min, max>.
  const char* text = R"(<ir_version: 5, opset_import: ["" : 9]>
    g (float[1,3,8,8] x, float[4,3,3,3] w) => (float[1,4,6,6] y) {
      c = Conv(x, w)
      y = Clip<min = 0.0, max = 0.5>(c)
    })";
  Quantized q = quantize(text, {{"w", {}}});
  EXPECT_EQ(q.model.opsetVersion(""), 13);
  const Node* clip = onlyNode(q.model, "Clip");
  ASSERT_NE(clip, nullptr);
  EXPECT_EQ(clip->numOperands(), 3u);
  EXPECT_FALSE(clip->attrs().has("max"));
  expectActivation(q.model, "y", q.ranges.at("y"));
}

// Conv -> x * relu6(x + 3) / 6 -> * a + b: PP-LCNet's HardSwish and learnable affine, as the
// PaddleOCR exporter writes them.
constexpr const char* kHardSwishAffine = R"(<ir_version: 8, opset_import: ["" : 13]>
  g (float[1,3,8,8] x, float[4,3,3,3] w, float[4,4,1,1] w2) => (float[1,4,6,6] y) {
    c = Conv(x, w)
    three = Constant<value = float {3.0}>()
    zero = Constant<value = float {0.0}>()
    six = Constant<value = float {6.0}>()
    a = Add(c, three)
    r = Clip(a, zero, six)
    m = Mul(c, r)
    h = Div(m, six)
    sa = Constant<value = float {0.9}>()
    sb = Constant<value = float {0.1}>()
    k = Mul(h, sa)
    t = Add(k, sb)
    y = Conv(t, w2)
  })";

TEST(QdqStatic, DecomposedHardSwishAndScalarAffineJoinTheConv) {
  Model f = test::buildModel(kHardSwishAffine, {{"w", {}}, {"w2", {}}});
  // One range per layer boundary: nothing inside Conv -> HardSwish -> affine is rounded.
  EXPECT_EQ(tensorsToCalibrate(f, {}), (std::vector<std::string>{"x", "t", "y"}));
  Quantized q = quantize(kHardSwishAffine, {{"w", {}}, {"w2", {}}});
  EXPECT_EQ(test::countOps(q.model, "QuantizeLinear"), 3);
  ASSERT_EQ(q.report.nodes.size(), 2u);
  EXPECT_EQ(q.report.nodes[0]["op"], "Conv+Add+Clip+Mul+Div+Mul+Add");
  for (const char* v : {"a", "r", "m", "h", "k"}) {
    const Node* user = q.model.graph->findValue(v)->uses().at(0).user;
    EXPECT_FALSE(user->is("QuantizeLinear")) << v << " is rounded inside the fused layer";
  }
  double yMax = 0;
  for (const auto& s : q.samples) {
    NamedTensors out = test::runModel(q.floatModel, s);
    for (float v : out.at("y").span<float>()) yMax = std::max(yMax, std::fabs(double(v)));
  }
  expectClose(q.floatModel, q.model, q.samples, 0.05 * yMax);
}

TEST(QdqStatic, SigmoidOutputGetsTheFixedUnitRange) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,8,8] x, float[4,3,3,3] w) => (float[1,4,6,6] y) {
      c = Conv(x, w)
      y = Sigmoid(c)
    })";
  Model f = test::buildModel(text, {{"w", {}}});
  EXPECT_EQ(tensorsToCalibrate(f, {}), (std::vector<std::string>{"x"}));
  // Calibrated ranges would say otherwise; the quantizer keeps [0, 1].
  QuantRanges ranges = {{"x", {-1.0f, 1.0f}}, {"y", {0.2f, 0.7f}}};
  QuantizeReport rep;
  ASSERT_TRUE(quantizeStatic(f, ranges, {}, rep).isOk());
  expectActivation(f, "y", {0.0f, 1.0f});
}

TEST(QdqStatic, AddAndMulReadOnlyByFloatOpsStayFloat) {
  // BERT's additive attention mask: (mask * -10000) + scores -> Softmax. Neither the Mul nor the
  // Add feeds an int8 op; rounding them would only cost accuracy.
  const char* text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,16] x, float[16,8] w, float[2,8] mask) => (float[2,8] y) {
      s = MatMul(x, w)
      big = Constant<value = float {-10000.0}>()
      k = Mul(mask, big)
      a = Add(s, k)
      y = Softmax(a)
    })";
  Model f = test::buildModel(text, {{"w", {}}});
  EXPECT_EQ(tensorsToCalibrate(f, {}), (std::vector<std::string>{"x", "s"}));
  Quantized q = quantize(text, {{"w", {}}});
  const Node* mul = onlyNode(q.model, "Mul");
  const Node* add = onlyNode(q.model, "Add");
  ASSERT_TRUE(mul && add);
  EXPECT_EQ(mul->operand(0)->name(), "mask");
  EXPECT_TRUE(add->operand(1) == mul->result(0)) << "no Q/DQ between the mask's Mul and Add";
  EXPECT_EQ(q.report.nodes.size(), 1u);  // the MatMul only
}

TEST(QdqStatic, DeterministicBytes) {
  Quantized a = quantize(kConcat, {{"w1", {}}, {"w2", {}}});
  Quantized b = quantize(kConcat, {{"w1", {}}, {"w2", {}}});
  std::vector<std::string> na, nb;
  for (const Node* n : a.model.graph->nodes()) na.push_back(n->name() + ":" + n->opType());
  for (const Node* n : b.model.graph->nodes()) nb.push_back(n->name() + ":" + n->opType());
  EXPECT_EQ(na, nb);
  EXPECT_EQ(a.report.nodes.dump(), b.report.nodes.dump());
}

}  // namespace
}  // namespace npuconv
