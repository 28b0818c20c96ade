// equalize_test.cc - depthwise input equalization (quant/equalize.h): on a Conv -> depthwise Conv
// whose middle tensor has channels four decades apart (PP-OCRv4's stem in miniature), int8 with
// a per-tensor activation scale loses the small channels; after equalization the float model is
// unchanged and int8 keeps them. Pairs the rescaling would change (a second reader, a
// non-homogeneous activation between) are left alone.
#include <gtest/gtest.h>

#include <cmath>

#include "quant/equalize.h"
#include "quant/error_stats.h"
#include "quant/quantize.h"
#include "tests/passes/pass_test_util.h"
#include "tests/quant/quant_test_util.h"

namespace npuconv {
namespace {

constexpr const char* kStem = R"(<ir_version: 8, opset_import: ["" : 13]>
  g (float[1,3,8,8] x, float[4,3,3,3] w1, float[4] b1, float[4,1,3,3] w2, float[4] b2) => (float[1,4,6,6] y) {
    t = Conv <pads = [1, 1, 1, 1]> (x, w1, b1)
    y = Conv <group = 4> (t, w2, b2)
  })";

constexpr const char* kStemRelu = R"(<ir_version: 8, opset_import: ["" : 13]>
  g (float[1,3,8,8] x, float[4,3,3,3] w1, float[4] b1, float[4,1,3,3] w2, float[4] b2) => (float[1,4,6,6] y) {
    a = Conv <pads = [1, 1, 1, 1]> (x, w1, b1)
    t = Relu (a)
    y = Conv <group = 4> (t, w2, b2)
  })";

/// Scales the constant `name` per slice along axis 0 by `k`.
void scaleConst(Model& m, const std::string& name, const std::vector<float>& k) {
  Value* v = m.graph->findValue(name);
  TensorRef t = m::constTensor(v);
  std::vector<float> d = t->toFloats();
  const size_t per = d.size() / k.size();
  for (size_t i = 0; i < d.size(); ++i) d[i] *= k[i / per];
  m.graph->setInitializerData(
      v, std::make_shared<const TensorData>(TensorData::fromValues(DType::F32, t->dims(), std::span<const float>(d))));
}

/// The stem: channel c of t spans ~10^-c of channel 0, and the depthwise filter undoes it, so
/// every output channel carries the same signal.
Model stem(const char* text) {
  Model m = test::buildModel(text, {{"w1", {}}, {"b1", {-0.1f, 0.1f}}, {"w2", {}}, {"b2", {-0.1f, 0.1f}}});
  scaleConst(m, "w1", {1.0f, 0.1f, 0.01f, 0.001f});
  scaleConst(m, "b1", {1.0f, 0.1f, 0.01f, 0.001f});
  scaleConst(m, "w2", {1.0f, 10.0f, 100.0f, 1000.0f});
  return m;
}

ErrorStats compare(const Model& ref, const Model& got, const std::vector<NamedTensors>& samples) {
  ErrorStats e;
  for (const auto& s : samples) {
    NamedTensors a = test::runModel(ref, s), b = test::runModel(got, s);
    e.add(a.at("y").span<float>(), b.at("y").span<float>());
  }
  return e;
}

/// `m` in int8, calibrated (min/max) on `calib`.
Model quantized(Model m, const std::vector<NamedTensors>& calib) {
  QuantRanges ranges = test::observedRanges(m, calib);
  QuantizeReport rep;
  EXPECT_TRUE(quantizeStatic(m, ranges, {}, rep).isOk());
  return m;
}

/// The stem, equalized on `calib`.
Model equalized(const char* text, const std::vector<NamedTensors>& calib, nlohmann::ordered_json& report) {
  Model m = stem(text);
  test::VectorSampleStream data(calib);
  auto r = equalizeDepthwiseInputs(m, data, {});
  EXPECT_TRUE(r.hasValue()) << r.status().toString();
  if (r.hasValue()) report = std::move(*r);
  return m;
}

TEST(EqualizeDepthwise, KeepsTheFloatModelAndRecoversInt8OnSmallChannels) {
  for (const char* text : {kStem, kStemRelu}) {
    const Model original = stem(text);
    auto calib = test::seededSamples(original, 8, 11);
    auto heldOut = test::seededSamples(original, 8, 500);
    nlohmann::ordered_json r;
    const Model eq = equalized(text, calib, r);
    ASSERT_EQ(r.size(), 1u) << r.dump();
    EXPECT_EQ(r[0]["producer"], "Conv_1") << r.dump();
    EXPECT_EQ(r[0]["depthwise"], text == kStem ? "Conv_2" : "Conv_3") << r.dump();
    EXPECT_GT(r[0]["spread_before"].get<double>(), 100.0) << r.dump();
    EXPECT_LE(r[0]["spread_after"].get<double>(), 2.0) << r.dump();
    // Recorded for `npuconv compare`: the tensors Conv_1 (and Relu_2) stand for, 4 scales each.
    auto recorded = recordedChannelScales(eq);
    ASSERT_EQ(recorded.count("Conv_1"), 1u);
    EXPECT_EQ(recorded.at("Conv_1").size(), 4u);
    EXPECT_EQ(recorded.at("Conv_1")[0], 1.0);  // the largest channel is never scaled
    EXPECT_EQ(recorded.size(), text == kStem ? 1u : 2u);
    // Float: the same function (powers of two: the products are exact up to summation order).
    EXPECT_GT(compare(original, eq, heldOut).sqnrDb(), 100.0);
    // int8: the small channels had less than one step before; now they use the range.
    const double before = compare(original, quantized(stem(text), calib), heldOut).sqnrDb();
    const double after = compare(original, quantized(equalized(text, calib, r), calib), heldOut).sqnrDb();
    EXPECT_LT(before, 10.0) << "the test model lost its tiny channels";
    EXPECT_GT(after, 25.0) << "before " << before;
  }
}

TEST(EqualizeDepthwise, LeavesPairsItWouldChange) {
  // t has a second reader: rescaling its channels would change that reader's input.
  constexpr const char* kShared = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,8,8] x, float[4,3,3,3] w1, float[4,1,3,3] w2) => (float[1,4,6,6] y, float[1,4,8,8] t) {
      t = Conv <pads = [1, 1, 1, 1]> (x, w1)
      y = Conv <group = 4> (t, w2)
    })";
  // HardSigmoid between: not homogeneous, no per-channel scale passes through it.
  constexpr const char* kHard = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,8,8] x, float[4,3,3,3] w1, float[4,1,3,3] w2) => (float[1,4,6,6] y) {
      a = Conv <pads = [1, 1, 1, 1]> (x, w1)
      t = HardSigmoid (a)
      y = Conv <group = 4> (t, w2)
    })";
  // A grouped (not depthwise) Conv reads t.
  constexpr const char* kGrouped = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,8,8] x, float[4,3,3,3] w1, float[4,2,3,3] w2) => (float[1,4,6,6] y) {
      t = Conv <pads = [1, 1, 1, 1]> (x, w1)
      y = Conv <group = 2> (t, w2)
    })";
  for (const char* text : {kShared, kHard, kGrouped}) {
    Model m = test::buildModel(text, {{"w1", {}}, {"w2", {}}});
    scaleConst(m, "w1", {1.0f, 0.1f, 0.01f, 0.001f});
    test::VectorSampleStream data(test::seededSamples(m, 2, 3));
    auto r = equalizeDepthwiseInputs(m, data, {});
    ASSERT_TRUE(r.hasValue()) << r.status().toString();
    EXPECT_TRUE(r->empty()) << text << "\n" << r->dump();
  }
}

// Several shapes (pipeline/variant_decisions.h): the scales chosen on one model, applied to a
// fresh copy (another compilation of the same graph), give bit-identical rescaled weights and
// the same recorded scales without reading data; a pair the copy lacks is an internal error
// naming it, on one line.
TEST(EqualizeDepthwise, ScalesApplyToAnotherCopyOfTheModel) {
  const Model original = stem(kStemRelu);
  auto calib = test::seededSamples(original, 8, 11);
  Model a = stem(kStemRelu);
  test::VectorSampleStream data(calib);
  std::vector<EqualizedPair> chosen;
  ASSERT_TRUE(equalizeDepthwiseInputs(a, data, {}, &chosen).hasValue());
  ASSERT_EQ(chosen.size(), 1u);
  EXPECT_EQ(chosen[0].scales.size(), 4u);
  Model b = stem(kStemRelu);
  ASSERT_TRUE(applyDepthwiseScales(b, chosen).isOk());
  auto weights = [](const Model& m) {
    std::vector<std::vector<float>> w;
    for (const Node* n : m.graph->nodes())
      if (n->is("Conv"))
        for (size_t i = 1; i < n->operands().size(); ++i) w.push_back(test::constFloats(n->operand(i)));
    return w;
  };
  EXPECT_EQ(weights(a), weights(b));
  EXPECT_NE(weights(b), weights(original));
  EXPECT_EQ(recordedChannelScales(a), recordedChannelScales(b));

  chosen[0].depthwise = "no_such_conv";
  Model c = stem(kStemRelu);
  Status s = applyDepthwiseScales(c, chosen);
  EXPECT_EQ(s.code(), StatusCode::Internal);
  EXPECT_NE(s.message().find("\"no_such_conv\""), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
}

}  // namespace
}  // namespace npuconv
