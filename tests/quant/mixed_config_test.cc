// mixed_config_test.cc - the mixed-precision config: parsing and its errors, precedence
// (name > pattern > op type > default), keys that match nothing, and quantizeStatic with int16
// layers (16-bit Q/DQ, int8 weights) and fp16 layers, checked numerically on the executor.
#include <gtest/gtest.h>

#include <cmath>

#include "converter/ir/verifier.h"
#include "passes/match.h"
#include "quant/mixed_config.h"
#include "quant/precision_summary.h"
#include "quant/quantize.h"
#include "tests/passes/pass_test_util.h"
#include "tests/quant/quant_test_util.h"

namespace npuconv {
namespace {

MixedConfig parse(const char* text) {
  auto c = parseMixedConfig(nlohmann::ordered_json::parse(text), "mix.json");
  EXPECT_TRUE(c.hasValue()) << c.status().toString();
  return c.hasValue() ? *c : MixedConfig{};
}

std::string parseError(const char* text) {
  auto c = parseMixedConfig(nlohmann::ordered_json::parse(text), "mix.json");
  EXPECT_FALSE(c.hasValue()) << text;
  return c.hasValue() ? "" : c.status().message();
}

constexpr const char* kTwoConvs = R"(<ir_version: 8, opset_import: ["" : 13]>
  g (float[1,3,8,8] x, float[4,3,3,3] w1, float[4] b1, float[4,4,3,3] w2) => (float[1,4,4,4] y) {
    a = Conv(x, w1, b1)
    r = Relu(a)
    y = Conv(r, w2)
  })";

TEST(MixedConfig, ParseErrorsNameTheKey) {
  EXPECT_NE(parseError(R"({"nodes": {"a": "int4"}})").find("nodes[\"a\"]"), std::string::npos);
  EXPECT_NE(parseError(R"({"nodes": {"a": "int4"}})").find("int4"), std::string::npos);
  EXPECT_NE(parseError(R"({"layers": {}})").find("unknown key \"layers\""), std::string::npos);
  EXPECT_NE(parseError(R"({"patterns": {"(": "fp16"}})").find("patterns[\"(\"]"), std::string::npos);
  EXPECT_NE(parseError(R"({"default": 8})").find("default"), std::string::npos);
  EXPECT_NE(parseError(R"({"op_types": {"Conv": 16}})").find("op_types[\"Conv\"]"), std::string::npos);
  EXPECT_NE(parseError(R"([1])").find("JSON object"), std::string::npos);
}

TEST(MixedConfig, PrecedenceNamePatternOpTypeDefault) {
  Model m = test::buildModel(kTwoConvs, {{"w1", {}}, {"b1", {}}, {"w2", {}}});
  const Node* c1 = test::producerOf(m, "a");
  const Node* relu = test::producerOf(m, "r");
  const Node* c2 = test::producerOf(m, "y");
  const std::string n1 = c1->provenance().at(0), n2 = c2->provenance().at(0);
  MixedConfig c = parse(R"({"default": "fp16", "op_types": {"Conv": "int16"}})");
  EXPECT_EQ(precisionOf(c, *c1), LayerPrecision::Int16);
  EXPECT_EQ(precisionOf(c, *relu), LayerPrecision::Fp16);
  // A pattern beats the op type; an exact name beats the pattern.
  std::string text = R"({"default": "int8", "op_types": {"Conv": "int16"}, "patterns": {".*": "fp32"}, "nodes": {")" +
                     n2 + R"(": "int8"}})";
  MixedConfig d = parse(text.c_str());
  EXPECT_EQ(precisionOf(d, *c1), LayerPrecision::Fp32);
  EXPECT_EQ(precisionOf(d, *c2), LayerPrecision::Int8);
  // The first matching pattern in file order wins.
  MixedConfig e = parse(R"({"patterns": {".*": "int16", "X.*": "fp32"}})");
  EXPECT_EQ(precisionOf(e, *c1), LayerPrecision::Int16);
  // The empty config is plain int8.
  EXPECT_TRUE(parse("{}").empty());
  EXPECT_EQ(precisionOf(MixedConfig{}, *c1), LayerPrecision::Int8);
  EXPECT_FALSE(d.empty());
  EXPECT_TRUE(d.mentions(LayerPrecision::Fp32));
  EXPECT_FALSE(d.mentions(LayerPrecision::Fp16));
}

TEST(MixedConfig, NodeWithSeveralOriginalNamesTakesTheHighestPrecision) {
  Model m = test::buildModel(kTwoConvs, {{"w1", {}}, {"b1", {}}, {"w2", {}}});
  Node* c1 = m.graph->findValue("a")->producer();
  c1->setProvenance({"conv", "bn"});  // Conv with a folded BatchNormalization
  MixedConfig c = parse(R"({"nodes": {"conv": "int16", "bn": "fp16"}})");
  EXPECT_EQ(precisionOf(c, *c1), LayerPrecision::Fp16);
}

TEST(MixedConfig, KeysThatMatchNothingAreErrors) {
  Model m = test::buildModel(kTwoConvs, {{"w1", {}}, {"b1", {}}, {"w2", {}}});
  const std::string n1 = test::producerOf(m, "a")->provenance().at(0);
  EXPECT_TRUE(checkMixedConfigKeys(parse(("{\"nodes\": {\"" + n1 + "\": \"int16\"}}").c_str()), *m.graph, "mix.json").isOk());
  Status s = checkMixedConfigKeys(parse(R"({"nodes": {"conv_typo": "int16"}})"), *m.graph, "mix.json");
  EXPECT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("nodes[\"conv_typo\"]"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("mix.json"), std::string::npos);
  s = checkMixedConfigKeys(parse(R"({"patterns": {"^nothing_.*": "fp16"}})"), *m.graph, "mix.json");
  EXPECT_NE(s.message().find("^nothing_.*"), std::string::npos) << s.message();
  s = checkMixedConfigKeys(parse(R"({"op_types": {"Softmax": "fp16"}})"), *m.graph, "mix.json");
  EXPECT_NE(s.message().find("Softmax"), std::string::npos) << s.message();
}

TEST(MixedConfig, JsonFormIsDeterministicAndRoundTrips) {
  MixedConfig c = parse(R"({"nodes": {"z": "int16", "a": "fp32"}, "patterns": {"b.*": "fp16", "a.*": "int16"},
                            "op_types": {"Softmax": "fp32", "Add": "int16"}, "default": "int8"})");
  std::string text = mixedConfigToJson(c).dump();
  EXPECT_EQ(text, R"({"default":"int8","nodes":{"a":"fp32","z":"int16"},"patterns":{"b.*":"fp16","a.*":"int16"},)"
                  R"("op_types":{"Add":"int16","Softmax":"fp32"}})");
  MixedConfig back = parse(text.c_str());
  EXPECT_EQ(mixedConfigToJson(back).dump(), text);
  back.setNode("m", LayerPrecision::Fp16);
  back.setNode("a", LayerPrecision::Int16);
  EXPECT_EQ(mixedConfigToJson(back)["nodes"].dump(), R"({"a":"int16","m":"fp16","z":"int16"})");
}

/// max |float - quantized| over the samples' single output.
double worstError(const Model& f, const Model& q, const std::vector<NamedTensors>& samples) {
  double worst = 0;
  for (const auto& s : samples) {
    NamedTensors a = test::runModel(f, s), b = test::runModel(q, s);
    auto x = a.begin()->second.span<float>(), y = b.begin()->second.span<float>();
    for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(static_cast<double>(x[i]) - y[i]));
  }
  return worst;
}

struct MixedRun {
  Model model;
  double error = 0;
};

MixedRun quantizeWith(const char* config) {
  const std::map<std::string, test::Range> consts = {{"w1", {}}, {"b1", {}}, {"w2", {}}};
  Model f = test::buildModel(kTwoConvs, consts);
  MixedRun r{test::buildModel(kTwoConvs, consts)};
  auto samples = test::seededSamples(f, 4, 5);
  QuantRanges ranges = test::observedRanges(f, samples);
  QuantizeOptions opt;
  opt.mixed = parse(config);
  QuantizeReport rep;
  Status s = quantizeStatic(r.model, ranges, opt, rep, ranges);
  EXPECT_TRUE(s.isOk()) << s.toString();
  if (opt.mixed.mentions(LayerPrecision::Fp16)) {
    opt.keepIoTypes = true;
    s = convertToFp16(r.model, opt, rep);
    EXPECT_TRUE(s.isOk()) << s.toString();
  }
  Status v = verifyModel(r.model);
  EXPECT_TRUE(v.isOk()) << v.toString();
  r.error = worstError(f, r.model, samples);
  return r;
}

TEST(MixedConfig, Int16LayersGet16BitActivationsAndInt8Weights) {
  MixedRun int8 = quantizeWith("{}");
  MixedRun int16 = quantizeWith(R"({"default": "int16"})");
  // Every activation Q/DQ is 16-bit, in com.microsoft at opset 13; weights stay int8.
  int q16 = 0;
  for (const Node* n : int16.model.graph->nodes()) {
    EXPECT_FALSE(n->is("QuantizeLinear")) << "an 8-bit QuantizeLinear left: " << n->name();
    if (n->isQdq("QuantizeLinear")) {
      ++q16;
      EXPECT_EQ(n->domain(), "com.microsoft");
      EXPECT_EQ(n->result(0)->dtype(), DType::U16);
      EXPECT_EQ(m::constTensor(n->operand(2))->dtype(), DType::U16);
    }
  }
  EXPECT_EQ(q16, 3);  // x, r, y
  EXPECT_EQ(int16.model.opsetVersion("com.microsoft"), 1);
  PrecisionSummary s = summarizePrecisions(*int16.model.graph);
  EXPECT_EQ(s.int8WeightShare(), 1.0);
  ASSERT_EQ(s.layers.size(), 2u);
  EXPECT_EQ(s.layers[0]["precision"], "int16");
  EXPECT_EQ(s.layers[1]["precision"], "int16");
  EXPECT_EQ(summarizePrecisions(*int8.model.graph).layers[0]["precision"], "int8");
  // Activation rounding drops by 256x; what is left is the int8 weights' error.
  EXPECT_GT(int8.error, 0.0);
  EXPECT_LT(int16.error, int8.error);
}

TEST(MixedConfig, Int16AtOpset21UsesOnnxQuantizeLinear) {
  std::string text = kTwoConvs;
  text.replace(text.find("\"\" : 13"), 7, "\"\" : 21");
  const std::map<std::string, test::Range> consts = {{"w1", {}}, {"b1", {}}, {"w2", {}}};
  Model f = test::buildModel(text, consts);
  Model q = test::buildModel(text, consts);
  auto samples = test::seededSamples(f, 2, 5);
  QuantRanges ranges = test::observedRanges(f, samples);
  QuantizeOptions opt;
  opt.mixed = parse(R"({"op_types": {"Conv": "int16"}})");
  QuantizeReport rep;
  ASSERT_TRUE(quantizeStatic(q, ranges, opt, rep).isOk());
  EXPECT_EQ(q.opsetVersion("com.microsoft"), 0);
  int q16 = 0;
  for (const Node* n : q.graph->nodes())
    if (n->is("QuantizeLinear")) q16 += n->result(0)->dtype() == DType::U16;
  EXPECT_EQ(q16, 3);
}

TEST(MixedConfig, Fp16AndFp32LayersStayFloatWithOneCastEachWay) {
  const std::map<std::string, test::Range> consts = {{"w1", {}}, {"b1", {}}, {"w2", {}}};
  Model f = test::buildModel(kTwoConvs, consts);
  const std::string n2 = test::producerOf(f, "y")->provenance().at(0);
  std::string cfg = "{\"nodes\": {\"" + n2 + "\": \"fp16\"}}";
  MixedRun r = quantizeWith(cfg.c_str());
  const Node* second = r.model.graph->findValue("y")->producer();
  // y = Cast(Conv_fp16(Cast(DQ(r))), to float32): the Conv computes in float16 on a float16 weight.
  ASSERT_TRUE(second->is("Cast"));
  const Node* conv = second->operand(0)->producer();
  ASSERT_TRUE(conv && conv->is("Conv"));
  EXPECT_EQ(conv->operand(1)->dtype(), DType::F16);
  ASSERT_TRUE(conv->operand(0)->producer()->is("Cast"));
  EXPECT_TRUE(conv->operand(0)->producer()->operand(0)->producer()->is("DequantizeLinear"));
  EXPECT_EQ(test::countOps(r.model, "Cast"), 2);
  PrecisionSummary s = summarizePrecisions(*r.model.graph);
  ASSERT_EQ(s.layers.size(), 2u);
  EXPECT_EQ(s.layers[0]["precision"], "int8");
  EXPECT_EQ(s.layers[1]["precision"], "fp16");
  EXPECT_LT(s.int8WeightShare(), 1.0);
  EXPECT_GT(s.int8WeightShare(), 0.0);
  // fp32: the second Conv keeps its float32 weight and no Cast appears.
  cfg = "{\"nodes\": {\"" + n2 + "\": \"fp32\"}}";
  MixedRun f32 = quantizeWith(cfg.c_str());
  EXPECT_EQ(test::countOps(f32.model, "Cast"), 0);
  EXPECT_EQ(summarizePrecisions(*f32.model.graph).layers[1]["precision"], "fp32");
  EXPECT_LT(f32.error, quantizeWith("{}").error);
}

// An int16 layer feeding an fp16 one: the 16-bit DequantizeLinear is ONNX Runtime's
// com.microsoft one below opset 21, whose float32 result must still get its Cast to float16
// (it did not: the fp16 Conv read float32 next to its float16 weight and the model did not run).
TEST(MixedConfig, Int16LayerFeedingAnFp16LayerGetsItsCast) {
  const std::map<std::string, test::Range> consts = {{"w1", {}}, {"b1", {}}, {"w2", {}}};
  Model f = test::buildModel(kTwoConvs, consts);
  const std::string n1 = test::producerOf(f, "a")->provenance().at(0);
  const std::string relu = test::producerOf(f, "r")->provenance().at(0);
  const std::string n2 = test::producerOf(f, "y")->provenance().at(0);
  std::string cfg = "{\"nodes\": {\"" + n1 + "\": \"int16\", \"" + relu + "\": \"int16\", \"" + n2 + "\": \"fp16\"}}";
  MixedRun r = quantizeWith(cfg.c_str());
  const Node* conv = r.model.graph->findValue("y")->producer()->operand(0)->producer();
  ASSERT_TRUE(conv && conv->is("Conv"));
  EXPECT_EQ(conv->operand(1)->dtype(), DType::F16);
  const Node* cast = conv->operand(0)->producer();
  ASSERT_TRUE(cast && cast->is("Cast")) << (cast ? cast->opType() : "graph input");
  const Node* dq = cast->operand(0)->producer();
  ASSERT_TRUE(dq && dq->isQdq("DequantizeLinear"));
  EXPECT_EQ(dq->domain(), "com.microsoft");
  EXPECT_GT(r.error, 0.0);
  EXPECT_LT(r.error, quantizeWith("{}").error);
}

TEST(MixedConfig, Int16BiasThatOverflowsInt32StaysFloat) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,2,4,4] x, float[2,2,1,1] w, float[2] b) => (float[1,2,4,4] y) {
      y = Conv(x, w, b)
    })";
  // A tiny weight and input with a large bias: b / (s_x * s_w) passes 2^31 at 16 bits.
  Model f = test::buildModel(text, {{"w", {-1e-3f, 1e-3f}}, {"b", {3e4f, 3e4f}}});
  Model q = test::buildModel(text, {{"w", {-1e-3f, 1e-3f}}, {"b", {3e4f, 3e4f}}});
  auto samples = test::seededSamples(f, 2, 5, -1e-2f, 1e-2f);
  QuantRanges ranges = test::observedRanges(f, samples);
  QuantizeOptions opt;
  opt.mixed = parse(R"({"default": "int16"})");
  QuantizeReport rep;
  ASSERT_TRUE(quantizeStatic(q, ranges, opt, rep).isOk());
  const Node* conv = nullptr;
  for (const Node* n : q.graph->nodes())
    if (n->is("Conv")) conv = n;
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->operand(2)->dtype(), DType::F32);
  EXPECT_TRUE(m::isConstant(conv->operand(2))) << "the bias stays a float32 constant";
  ASSERT_EQ(rep.nodes.size(), 1u);
  EXPECT_NE(rep.nodes[0]["bias"].get<std::string>().find("float32"), std::string::npos);
  EXPECT_EQ(rep.nodes[0]["precision"], "int16");
}

}  // namespace
}  // namespace npuconv
