// fp16: float32 weights and activations to float16, block-listed ops in float32 behind one
// shared Cast per value, --keep-io-types, clamping with one warning, ops with float32-only
// inputs (Resize), integer tensors untouched, If bodies converted consistently, never two Casts
// back to back; numerics against the float32 model.
#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include "formats/onnx/onnx_writer.h"
#include "quant/quantize.h"
#include "tests/quant/precisions_test_util.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

/// Casts whose input comes straight from another Cast (f32 -> f16 -> f32 left behind).
int castPairs(const Graph& g) {
  int pairs = 0;
  for (const Node* n : g.nodes()) {
    if (n->is("Cast") && n->operand(0)->producer() && n->operand(0)->producer()->is("Cast")) ++pairs;
    for (const Graph* sub : n->subgraphs()) pairs += castPairs(*sub);
  }
  return pairs;
}

/// Writes `m` and runs onnx's checker and its strict type/shape inference on it.
void expectOnnxChecks(const Model& m, const std::string& name) {
  std::filesystem::path p = test::tempDir("fp16_" + name) / "model.onnx";
  auto w = writeOnnx(m, p);
  ASSERT_TRUE(w.hasValue()) << w.status().toString();
  try {
    onnx::checker::check_model(p.string());
    onnx::shape_inference::InferShapes(p.string(), "", onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict_mode=*/1));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "onnx checker rejects the " << name << " model: " << e.what();
  }
}

DType castTo(const Node* c) { return static_cast<DType>(c->attrs().getInt("to", 0)); }

double compareOutputs(const Model& floatModel, const Model& half, uint64_t seed = 3) {
  NamedTensors in = test::seededFloatInputs(floatModel, seed);
  NamedTensors ref = test::runConverted(floatModel, in), got = test::runConverted(half, in);
  double worst = 0;
  for (const auto& [name, t] : ref) {
    EXPECT_EQ(got.count(name), 1u) << name;
    if (got.count(name)) worst = std::max(worst, test::relMaxDiff(t, got.at(name)));
  }
  return worst;
}

const char* kMlp = R"(<ir_version: 8, opset_import: ["" : 17]>
  g (float[4,16] x, float[16,8] w, float[8] b) => (float[4,8] y) {
    m = MatMul(x, w)
    a = Add(m, b)
    s = Softmax<axis = 1>(a)
    y = Mul(s, a)
  })";

TEST(Fp16, BlockedOpBehindOneCastEachWay) {
  Model floatModel = test::buildModel(kMlp, {{"w", {}}, {"b", {}}});
  Model m = test::buildModel(kMlp, {{"w", {}}, {"b", {}}});
  QuantizeOptions opt;
  opt.fp16BlockOps = {"Softmax"};
  QuantizeReport report;
  ASSERT_TRUE(convertToFp16(m, opt, report).isOk());
  ASSERT_TRUE(verifyModel(m).isOk()) << verifyModel(m).toString();
  Graph& g = *m.graph;
  EXPECT_EQ(g.findValue("x")->dtype(), DType::F16);
  EXPECT_EQ(g.outputs()[0]->dtype(), DType::F16);
  EXPECT_EQ(g.outputs()[0]->name(), "y");
  EXPECT_EQ(g.findValue("w")->initializer()->dtype(), DType::F16);
  EXPECT_EQ(g.findValue("a")->dtype(), DType::F16);
  EXPECT_EQ(g.findValue("s")->dtype(), DType::F32);  // Softmax stays float32
  std::vector<Node*> casts = test::nodesOf(m, "Cast");
  ASSERT_EQ(casts.size(), 2u);
  EXPECT_EQ(castTo(casts[0]), DType::F32);
  EXPECT_EQ(casts[0]->operand(0)->name(), "a");
  EXPECT_EQ(casts[0]->result()->uses()[0].user->opType(), "Softmax");
  EXPECT_EQ(castTo(casts[1]), DType::F16);
  EXPECT_EQ(casts[1]->operand(0)->name(), "s");
  EXPECT_EQ(castPairs(g), 0);
  expectOnnxChecks(m, "mlp");
  ASSERT_EQ(report.nodes.size(), 1u);
  EXPECT_EQ(report.nodes[0]["op"], "Softmax");
  double rel = compareOutputs(floatModel, m);
  std::printf("[ fp16     ] mlp: max|diff| / max|y| = %.3g\n", rel);
  EXPECT_LT(rel, 5e-3);
  EXPECT_GT(rel, 0.0);
}

TEST(Fp16, KeepIoTypesCastsAtTheEdgesShared) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[2,8] x, float[8,8] w) => (float[2,8] y, float[2,8] z) {
      a = MatMul(x, w)
      r = Relu(x)
      y = Add(a, r)
      z = Sigmoid(y)
    })";
  Model floatModel = test::buildModel(text, {{"w", {}}});
  Model m = test::buildModel(text, {{"w", {}}});
  QuantizeOptions opt;
  opt.keepIoTypes = true;
  QuantizeReport report;
  ASSERT_TRUE(convertToFp16(m, opt, report).isOk());
  ASSERT_TRUE(verifyModel(m).isOk()) << verifyModel(m).toString();
  Graph& g = *m.graph;
  EXPECT_EQ(g.findValue("x")->dtype(), DType::F32);
  // One Cast for x shared by MatMul and Relu; one per output, named as the output.
  std::vector<Node*> casts = test::nodesOf(m, "Cast");
  ASSERT_EQ(casts.size(), 3u);
  EXPECT_EQ(casts[0]->operand(0)->name(), "x");
  EXPECT_EQ(casts[0]->result()->uses().size(), 2u);
  ASSERT_EQ(g.outputs().size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(g.outputs()[i]->dtype(), DType::F32);
    ASSERT_TRUE(g.outputs()[i]->producer()->is("Cast"));
  }
  EXPECT_EQ(g.outputs()[0]->name(), "y");
  EXPECT_EQ(g.outputs()[1]->name(), "z");
  // y is also read by Sigmoid in float16: from the float16 value, not back through its Cast.
  EXPECT_EQ(test::nodesOf(m, "Sigmoid")[0]->operand(0)->dtype(), DType::F16);
  EXPECT_EQ(castPairs(g), 0);
  EXPECT_LT(compareOutputs(floatModel, m), 5e-3);
}

TEST(Fp16, ClampsOutOfRangeWithOneWarning) {
  Model m = test::parseModel(R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[4] x) => (float[4] y) {
      big = Constant<value = float[4] {1e6, -7e4, 1e-8, 3.0}>()
      mask = Constant<value = float[4] {-3.4e38, 1.0, 0.5, 70000.0}>()
      a = Add(x, big)
      y = Mul(a, mask)
    })");
  Graph& g = *m.graph;
  QuantizeReport report;
  ASSERT_TRUE(convertToFp16(m, {}, report).isOk());
  ASSERT_TRUE(verifyModel(m).isOk()) << verifyModel(m).toString();
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_NE(report.warnings[0].find("mask"), std::string::npos) << report.warnings[0];
  EXPECT_NE(report.warnings[0].find("big"), std::string::npos) << report.warnings[0];
  TensorRef big = test::constData(g.findValue("big"));
  ASSERT_EQ(big->dtype(), DType::F16);
  EXPECT_EQ(halfToFloat(big->as<uint16_t>()[0]), 65504.0f);
  EXPECT_EQ(halfToFloat(big->as<uint16_t>()[1]), -65504.0f);
  EXPECT_EQ(big->as<uint16_t>()[2], 0u);  // 1e-8 is below half the smallest subnormal (2^-25): rounds to +0
  EXPECT_EQ(halfToFloat(big->as<uint16_t>()[3]), 3.0f);
  TensorRef mk = test::constData(g.findValue("mask"));
  EXPECT_EQ(halfToFloat(mk->as<uint16_t>()[0]), -65504.0f);
  EXPECT_EQ(halfToFloat(mk->as<uint16_t>()[3]), 65504.0f);
}

// Resize's roi and scales stay float32 (the op requires it), Clip's bounds follow its input,
// shapes and indices stay int64, a constant read in both precisions is stored twice.
TEST(Fp16, OptionalInputsAndIntegerTensors) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,2,4,4] x, float[2] idxf) => (float[1,2,8,8] y, float[2] c) {
      roi = Constant<value = float[0] {}>()
      scales = Constant<value = float[4] {1.0, 1.0, 2.0, 2.0}>()
      r = Resize<mode = "linear">(x, roi, scales)
      lo = Constant<value = float {-0.5}>()
      hi = Constant<value = float {0.5}>()
      y = Clip(r, lo, hi)
      shp = Shape(x)
      i = Constant<value = int64[1] {1}>()
      d = Gather(shp, i)
      df = Cast<to = 1>(d)
      c = Add(idxf, df)
    })";
  Model floatModel = test::buildModel(text);
  Model m = test::buildModel(text);
  QuantizeReport report;
  ASSERT_TRUE(convertToFp16(m, {}, report).isOk());
  ASSERT_TRUE(verifyModel(m).isOk()) << verifyModel(m).toString();
  Node* resize = test::nodesOf(m, "Resize")[0];
  EXPECT_EQ(resize->operand(0)->dtype(), DType::F16);
  EXPECT_EQ(resize->operand(1)->dtype(), DType::F32);
  EXPECT_EQ(resize->operand(2)->dtype(), DType::F32);
  EXPECT_TRUE(test::constData(resize->operand(2)));  // still the constant, no Cast
  Node* clip = test::nodesOf(m, "Clip")[0];
  EXPECT_EQ(clip->operand(1)->dtype(), DType::F16);
  EXPECT_EQ(clip->operand(2)->dtype(), DType::F16);
  EXPECT_EQ(m.graph->findValue("shp")->dtype(), DType::I64);
  EXPECT_EQ(m.graph->findValue("d")->dtype(), DType::I64);
  // The model's own Cast to float now casts to float16: no Cast added after it.
  Node* cast = m.graph->findValue("df")->producer();
  EXPECT_EQ(castTo(cast), DType::F16);
  EXPECT_EQ(test::countOps(m, "Cast"), 1);
  EXPECT_EQ(castPairs(*m.graph), 0);
  expectOnnxChecks(m, "resize");
  EXPECT_LT(compareOutputs(floatModel, m), 5e-3);
}

TEST(Fp16, IfBranchesConvertedConsistently) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 17]>
    g (bool cond, float[3] x, float[3] w) => (float[3] y) {
      y = If(cond) <then_branch = t () => (float[3] o) { o = Mul(x, w) },
                     else_branch = e () => (float[3] o2) { s = Softmax(x)
                                                             o2 = Add(s, w) }>
    })";
  Model floatModel = test::buildModel(text, {{"w", {}}});
  Model m = test::buildModel(text, {{"w", {}}});
  QuantizeOptions opt;
  opt.fp16BlockOps = {"Softmax"};
  QuantizeReport report;
  ASSERT_TRUE(convertToFp16(m, opt, report).isOk());
  ASSERT_TRUE(verifyModel(m).isOk()) << verifyModel(m).toString();
  Node* ifNode = test::nodesOf(m, "If")[0];
  EXPECT_EQ(ifNode->result()->dtype(), DType::F16);
  for (Graph* sub : ifNode->subgraphs()) EXPECT_EQ(sub->outputs()[0]->dtype(), DType::F16) << sub->name();
  // The blocked Softmax in the else branch reads x through a Cast inside the branch.
  Graph* elseG = nullptr;
  for (Graph* sub : ifNode->subgraphs())
    if (sub->name() == "e") elseG = sub;
  ASSERT_NE(elseG, nullptr);
  int casts = 0;
  for (Node* n : elseG->nodes()) casts += n->is("Cast");
  EXPECT_EQ(casts, 2);  // x -> f32 for Softmax, its result -> f16 for Add
  expectOnnxChecks(m, "if");
  EXPECT_EQ(castPairs(*m.graph), 0);
  for (bool c : {true, false}) {
    NamedTensors in = test::seededFloatInputs(floatModel, 9);
    Tensor condT(DType::Bool, {});
    condT.mutableData<uint8_t>()[0] = c;
    in["cond"] = condT;
    NamedTensors ref = test::runConverted(floatModel, in), got = test::runConverted(m, in);
    ASSERT_TRUE(ref.count("y") && got.count("y"));
    EXPECT_EQ(got.at("y").dtype(), DType::F16);
    EXPECT_LT(test::relMaxDiff(ref.at("y"), got.at("y")), 5e-3) << "cond " << c;
  }
}

// A Loop's carried float values become float16 on both sides of the body boundary.
TEST(Fp16, LoopCarriedValues) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[3] x, float[3] w) => (float[3] y) {
      n = Constant<value = int64 {3}>()
      c = Constant<value = bool {1}>()
      y = Loop(n, c, x) <body = b (int64 i, bool ci, float[3] acc) => (bool co, float[3] next) {
        co = Identity(ci)
        m = Mul(acc, w)
        next = Add(m, acc)
      }>
    })";
  Model floatModel = test::buildModel(text, {{"w", {}}});
  Model m = test::buildModel(text, {{"w", {}}});
  QuantizeReport report;
  ASSERT_TRUE(convertToFp16(m, {}, report).isOk());
  ASSERT_TRUE(verifyModel(m).isOk()) << verifyModel(m).toString();
  Node* loop = test::nodesOf(m, "Loop")[0];
  EXPECT_EQ(loop->operand(0)->dtype(), DType::I64);
  EXPECT_EQ(loop->operand(1)->dtype(), DType::Bool);
  EXPECT_EQ(loop->operand(2)->dtype(), DType::F16);
  EXPECT_EQ(loop->result()->dtype(), DType::F16);
  Graph* body = loop->subgraphs()[0];
  EXPECT_EQ(body->inputs()[0]->dtype(), DType::I64);
  EXPECT_EQ(body->inputs()[2]->dtype(), DType::F16);
  EXPECT_EQ(body->outputs()[0]->dtype(), DType::Bool);
  EXPECT_EQ(body->outputs()[1]->dtype(), DType::F16);
  EXPECT_EQ(test::countOps(m, "Cast"), 0);  // w (outer, read in the body) is stored as float16
  expectOnnxChecks(m, "loop");
  double rel = compareOutputs(floatModel, m);
  EXPECT_LT(rel, 5e-3);
  EXPECT_GT(rel, 0.0);
}

// Range has no float16 form in ONNX: it stays float32 whatever the block list says, its result
// is cast once for the float16 consumer.
TEST(Fp16, OpsWithoutFloat16StayFloat32) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[4] x) => (float[4] y) {
      s = Constant<value = float {0.5}>()
      l = Constant<value = float {2.5}>()
      d = Constant<value = float {0.5}>()
      r = Range(s, l, d)
      y = Mul(x, r)
    })";
  Model floatModel = test::buildModel(text);
  Model m = test::buildModel(text);
  QuantizeOptions opt;
  opt.fp16BlockOps = {"NothingBlocked"};
  QuantizeReport report;
  ASSERT_TRUE(convertToFp16(m, opt, report).isOk());
  ASSERT_TRUE(verifyModel(m).isOk()) << verifyModel(m).toString();
  Node* range = test::nodesOf(m, "Range")[0];
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(range->operand(i)->dtype(), DType::F32);
  EXPECT_EQ(range->result()->dtype(), DType::F32);
  EXPECT_EQ(test::countOps(m, "Cast"), 1);
  expectOnnxChecks(m, "range");
  EXPECT_LT(compareOutputs(floatModel, m), 5e-3);
}

// A constant read by a float16 op and by a blocked op is stored in both precisions.
TEST(Fp16, SharedConstantStoredTwice) {
  const char* text = R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[4] x, float[4] w) => (float[4] y) {
      a = Mul(x, w)
      p = Pow(a, w)
      y = Add(p, a)
    })";
  Model m = test::buildModel(text, {{"w", {0.5f, 1.5f}}});
  QuantizeReport report;
  ASSERT_TRUE(convertToFp16(m, {}, report).isOk());  // default list: Pow in float32
  ASSERT_TRUE(verifyModel(m).isOk()) << verifyModel(m).toString();
  Node* pow = test::nodesOf(m, "Pow")[0];
  EXPECT_EQ(pow->operand(1)->name(), "w");
  EXPECT_EQ(pow->operand(1)->dtype(), DType::F32);
  Node* mul = test::nodesOf(m, "Mul")[0];
  EXPECT_EQ(mul->operand(1)->name(), "w_fp16");
  EXPECT_EQ(mul->operand(1)->initializer()->dtype(), DType::F16);
  EXPECT_EQ(test::countOps(m, "Cast"), 2);  // a -> f32 for Pow, p -> f16 for Add
}

}  // namespace
}  // namespace npuconv
