// bias_correction_test.cc - fast bias correction: on a Conv whose int8 weights all round the same
// way (a known mean error), the corrected model's per-channel output mean matches the float
// model's on held-out inputs, and the report gives each layer's shift.
#include <gtest/gtest.h>

#include <cmath>

#include "passes/match.h"
#include "quant/layer_probe.h"
#include "quant/quantize.h"
#include "tests/passes/pass_test_util.h"
#include "tests/quant/quant_test_util.h"

namespace npuconv {
namespace {

constexpr const char* kConv = R"(<ir_version: 8, opset_import: ["" : 13]>
  g (float[1,3,6,6] x, float[4,3,3,3] w, float[4] b) => (float[1,4,4,4] y) {
    y = Conv(x, w, b)
  })";

/// Weights whose int8 rounding errs the same way in every channel: one element sets the scale
/// (max|w| = 1 -> scale 1/127), the others are 1.4 steps and round down to 1 step.
Model biasedConv() {
  Model m = test::buildModel(kConv, {{"w", {}}, {"b", {-0.1f, 0.1f}}});
  std::vector<float> w(4 * 27, 1.4f / 127.0f);
  for (int c = 0; c < 4; ++c) w[static_cast<size_t>(c * 27)] = 1.0f;
  Value* v = m.graph->findValue("w");
  m.graph->setInitializerData(v, std::make_shared<const TensorData>(
                                     TensorData::fromValues(DType::F32, {4, 3, 3, 3}, std::span<const float>(w))));
  return m;
}

/// Per-channel mean of float - quantized output over `samples`.
std::vector<double> channelMeanError(const Model& f, const Model& q, const std::vector<NamedTensors>& samples) {
  std::vector<double> e(4, 0.0);
  double n = 0;
  for (const auto& s : samples) {
    NamedTensors fo = test::runModel(f, s), qo = test::runModel(q, s);
    auto a = fo.at("y").span<float>();
    auto b = qo.at("y").span<float>();
    for (size_t i = 0; i < a.size(); ++i) e[i / 16] += a[i] - b[i];
    n += 16;
  }
  for (double& x : e) x /= n;
  return e;
}

TEST(BiasCorrection, RemovesKnownMeanError) {
  Model f = biasedConv();
  Model q = biasedConv();
  // Positive inputs: every product errs the same way, about -0.4/127 * 26 * E[x] per output.
  auto calib = test::seededSamples(f, 16, 100, 0.0f, 1.0f);
  auto heldOut = test::seededSamples(f, 8, 900, 0.0f, 1.0f);
  QuantizeReport rep;
  ASSERT_TRUE(quantizeStatic(q, test::observedRanges(f, calib), {}, rep).isOk());
  std::vector<double> before = channelMeanError(f, q, heldOut);
  const double expected = 26 * 0.5 * 0.4 / 127.0;  // ~0.041
  for (double e : before) EXPECT_NEAR(e, expected, 0.3 * expected) << "the test model lost its known error";

  const Node* conv = nullptr;
  for (const Node* n : q.graph->nodes())
    if (n->is("Conv")) conv = n;
  ASSERT_NE(conv, nullptr);
  std::vector<int64_t> biasBefore = test::constInts64(conv->operand(2)->producer()->operand(0));
  std::vector<float> biasScale = test::constFloats(conv->operand(2)->producer()->operand(1));

  test::VectorSampleStream data(calib);
  ASSERT_TRUE(data.next().hasValue());  // correctBias must rewind
  ASSERT_TRUE(correctBias(q, f, data, 1, rep).isOk());
  std::vector<double> after = channelMeanError(f, q, heldOut);
  for (size_t c = 0; c < 4; ++c) {
    SCOPED_TRACE(c);
    EXPECT_LT(std::fabs(after[c]), 0.2 * std::fabs(before[c]));
  }
  // The int32 bias moved by about the known error, in steps of its own scale.
  std::vector<int64_t> biasAfter = test::constInts64(conv->operand(2)->producer()->operand(0));
  for (size_t c = 0; c < 4; ++c)
    EXPECT_NEAR(static_cast<double>(biasAfter[c] - biasBefore[c]) * biasScale[c], expected, 0.3 * expected);
  ASSERT_EQ(rep.nodes.size(), 1u);
  ASSERT_TRUE(rep.nodes[0].contains("bias_correction"));
  EXPECT_NEAR(rep.nodes[0]["bias_correction"]["max_abs_shift"].get<double>(), expected, 0.3 * expected);
}

TEST(BiasCorrection, DeterministicAcrossThreads) {
  Model f = biasedConv();
  auto calib = test::seededSamples(f, 4, 100, 0.0f, 1.0f);
  std::vector<std::vector<int64_t>> biases;
  for (int threads : {1, 2}) {
    Model q = biasedConv();
    QuantizeReport rep;
    ASSERT_TRUE(quantizeStatic(q, test::observedRanges(f, calib), {}, rep).isOk());
    test::VectorSampleStream data(calib);
    ASSERT_TRUE(correctBias(q, f, data, threads, rep).isOk());
    for (const Node* n : q.graph->nodes())
      if (n->is("Conv")) biases.push_back(test::constInts64(n->operand(2)->producer()->operand(0)));
  }
  ASSERT_EQ(biases.size(), 2u);
  EXPECT_EQ(biases[0], biases[1]);
}

/// The int32 bias of the model's Conv.
std::vector<int64_t> convBias(const Model& q) {
  for (const Node* n : q.graph->nodes())
    if (n->is("Conv")) return test::constInts64(n->operand(2)->producer()->operand(0));
  return {};
}

// Several shapes (pipeline/variant_decisions.h): the shifts correctBias applied, given to another
// model quantized alike, give it bit-identical int32 biases; a layer that model lacks is an
// internal error naming it, on one line.
TEST(BiasCorrection, ShiftsApplyToAnotherModelQuantizedAlike) {
  Model f = biasedConv();
  auto calib = test::seededSamples(f, 8, 100, 0.0f, 1.0f);
  const QuantRanges ranges = test::observedRanges(f, calib);
  Model a = biasedConv(), b = biasedConv(), c = biasedConv();
  QuantizeReport ra, rb, rc;
  ASSERT_TRUE(quantizeStatic(a, ranges, {}, ra).isOk());
  ASSERT_TRUE(quantizeStatic(b, ranges, {}, rb).isOk());
  ASSERT_TRUE(quantizeStatic(c, ranges, {}, rc).isOk());
  test::VectorSampleStream data(calib);
  std::vector<BiasShift> shifts;
  ASSERT_TRUE(correctBias(a, f, data, 1, ra, &shifts).isOk());
  ASSERT_EQ(shifts.size(), 1u);
  EXPECT_EQ(shifts[0].delta.size(), 4u);
  ASSERT_NE(convBias(a), convBias(b)) << "the correction moved no bias: the test shows nothing";
  ASSERT_TRUE(applyBiasShifts(b, f, shifts, rb).isOk());
  EXPECT_EQ(convBias(a), convBias(b));
  ASSERT_EQ(rb.nodes.size(), 1u);
  EXPECT_TRUE(rb.nodes[0].contains("bias_correction")) << rb.nodes.dump();

  shifts[0].layer = "no_such_conv";
  Status s = applyBiasShifts(c, f, shifts, rc);
  EXPECT_EQ(s.code(), StatusCode::Internal);
  EXPECT_NE(s.message().find("\"no_such_conv\""), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
}

}  // namespace
}  // namespace npuconv

namespace npuconv {
namespace {

// Two Convs of different shapes and no names, as many exporters write them (ONNX does not
// require node names): each quantized layer must be paired with its own float twin
// (converter/ir/node_keys.h). Pairing by name paired both with the last Conv, and bias correction
// then ran the first layer's quantized half against the second's float half (a shape error).
constexpr const char* kTwoConvs = R"(<ir_version: 8, opset_import: ["" : 13]>
  g (float[1,3,8,8] x, float[6,3,3,3] w1, float[6] b1, float[2,6,3,3] w2, float[2] b2) => (float[1,2,4,4] y) {
    t = Conv(x, w1, b1)
    y = Conv(t, w2, b2)
  })";

Model twoConvs(const std::vector<std::string>& names) {
  Model m = test::buildModel(kTwoConvs, {{"w1", {}}, {"b1", {-0.1f, 0.1f}}, {"w2", {}}, {"b2", {-0.1f, 0.1f}}});
  size_t i = 0;
  for (Node* n : m.graph->nodeList())
    if (n->is("Conv")) n->setName(names.at(i++));
  return m;
}

TEST(BiasCorrection, PairsUnnamedAndSameNamedLayersWithTheirOwnFloatTwins) {
  for (const std::vector<std::string>& names : {std::vector<std::string>{"", ""}, {"dup", "dup"}, {"a", "b"}}) {
    SCOPED_TRACE("names '" + names[0] + "', '" + names[1] + "'");
    Model f = twoConvs(names), q = twoConvs(names);
    auto calib = test::seededSamples(f, 4, 100, 0.0f, 1.0f);
    QuantizeReport rep;
    ASSERT_TRUE(quantizeStatic(q, test::observedRanges(f, calib), {}, rep).isOk());
    auto layers = probeLayers(f, q);
    ASSERT_TRUE(layers.hasValue()) << layers.status().message();
    ASSERT_EQ(layers->size(), 2u);
    for (const ProbedLayer& L : *layers) {
      // The float half reads the same weight as the quantized half dequantizes.
      const Value* fw = nullptr;
      const Value* qw = nullptr;
      for (const Node* n : L.floatPre.graph->nodes())
        if (n->is("Conv")) fw = n->operand(1);
      for (const Node* n : L.quantPre.graph->nodes())
        if (n->is("Conv")) qw = n->operand(1);
      ASSERT_TRUE(fw && qw && qw->producer());
      EXPECT_EQ(m::constTensor(fw)->dims(), m::constTensor(qw->producer()->operand(0))->dims()) << L.key;
    }
    EXPECT_NE((*layers)[0].key, (*layers)[1].key);
    test::VectorSampleStream data(calib);
    std::vector<BiasShift> shifts;
    Status s = correctBias(q, f, data, 1, rep, &shifts);
    ASSERT_TRUE(s.isOk()) << s.message();
    EXPECT_EQ(shifts.size(), 2u);
  }
}

}  // namespace
}  // namespace npuconv
