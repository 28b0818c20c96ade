// A QDQ model (quantization as explicit QuantizeLinear/DequantizeLinear nodes, the one
// representation the IR has) survives the O2 and npu (+NHWC) pipelines, the emit stage and
// the ONNX writer: valid, accepted by onnx's checker, computing the same outputs on the
// executor. Weight QuantizeLinear(float constant) folds into an integer constant; the
// DequantizeLinear of that constant stays (it is the quantized weight); CSE merges duplicate
// DequantizeLinear nodes; activation Q/DQ pairs are untouched.
#include <gtest/gtest.h>

#include <onnx/checker.h>

#include "converter/exec/executor.h"
#include "converter/ir/verifier.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "passes/match.h"
#include "pipeline/pass_pipeline.h"
#include "tests/passes/pass_test_util.h"
#include "tests/support/test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

const char* kQdq = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,8,8] x, float[4,3,3,3] w, float[4] cb, float[4] s, float[4] bb, float[4] mean, float[4] var,
       float[4,5] fw) => (float[1,5] y) {
      xs = Constant<value = float {0.02}>()
      xz = Constant<value = uint8 {128}>()
      xq = QuantizeLinear(x, xs, xz)
      xd = DequantizeLinear(xq, xs, xz)
      ws = Constant<value = float[4] {0.004, 0.005, 0.006, 0.007}>()
      wz = Constant<value = int8[4] {0, 0, 0, 0}>()
      wq = QuantizeLinear<axis = 0>(w, ws, wz)
      wd = DequantizeLinear<axis = 0>(wq, ws, wz)
      c = Conv<pads = [1, 1, 1, 1]>(xd, wd, cb)
      b = BatchNormalization(c, s, bb, mean, var)
      r = Relu(b)
      i = Identity(r)
      rs = Constant<value = float {0.03}>()
      rz = Constant<value = uint8 {0}>()
      rq = QuantizeLinear(i, rs, rz)
      rd = DequantizeLinear(rq, rs, rz)
      rd2 = DequantizeLinear(rq, rs, rz)
      p = GlobalAveragePool(rd)
      p2 = GlobalAveragePool(rd2)
      a = Add(p, p2)
      sh = Constant<value = int64[2] {1, 4}>()
      f = Reshape(a, sh)
      fs = Constant<value = float {0.01}>()
      fz = Constant<value = int8 {0}>()
      fq = QuantizeLinear(fw, fs, fz)
      fd = DequantizeLinear(fq, fs, fz)
      y = MatMul(f, fd)
    })";

const std::map<std::string, test::Range> kConsts = {{"w", {-0.4f, 0.4f}}, {"cb", {}},           {"s", {0.5f, 1.5f}},
                                                    {"bb", {}},           {"mean", {}},         {"var", {0.2f, 2.0f}},
                                                    {"fw", {-1.0f, 1.0f}}};

Tensor runOn(const Model& m, const NamedTensors& in) {
  auto exec = Executor::create(*m.graph, m.opsetVersion(""), ExecOptions{.threads = 1});
  EXPECT_TRUE(exec.hasValue()) << exec.status().toString();
  if (!exec) return {};
  auto out = (*exec)->run(in);
  EXPECT_TRUE(out.hasValue()) << out.status().toString();
  return out ? out->at("y") : Tensor{};
}

class QdqPipeline : public ::testing::TestWithParam<std::string> {};

TEST_P(QdqPipeline, StaysValidAndNumericallyEqual) {
  Model m = test::buildModel(kQdq, kConsts);
  NamedTensors in;
  auto x = test::makeSeededInput("x", DType::F32, {1, 3, 8, 8}, 3);
  ASSERT_TRUE(x.hasValue());
  in.emplace("x", std::move(*x));
  Tensor want = runOn(m, in);
  ASSERT_EQ(want.numElements(), 5);

  PassOptions po;
  po.pipeline = GetParam();
  po.verifyEach = true;
  auto pp = PassPipeline::create(po);
  ASSERT_TRUE(pp.hasValue()) << pp.status().toString();
  Status s = (*pp)->runToStandardOps(m, "qdq");
  ASSERT_TRUE(s.isOk()) << s.toString();
  s = (*pp)->runFinal(m, "qdq");
  ASSERT_TRUE(s.isOk()) << s.toString();
  if (GetParam() == "npu") {  // the layout pass did run (and was lowered again)
    bool converted = false;
    for (const PassRecord& r : (*pp)->records()) converted |= r.name == "convert-layout-nhwc" && r.changed;
    EXPECT_TRUE(converted);
  }

  // Weights: QuantizeLinear folded into integer constants, their DequantizeLinear kept.
  EXPECT_EQ(test::countOps(m, "QuantizeLinear"), 2);    // x and r: activations
  EXPECT_EQ(test::countOps(m, "DequantizeLinear"), 4);  // rd2 merged into rd by CSE
  int weightDq = 0;
  for (const Node* n : m.graph->nodes()) {
    if (!n->is("DequantizeLinear") || !m::isConstant(n->operand(0))) continue;
    EXPECT_TRUE(n->operand(0)->dtype() == DType::I8) << n->describe();
    ++weightDq;
  }
  EXPECT_EQ(weightDq, 2);

  // Written and read back: the checker accepts it and it computes what the input computed.
  std::filesystem::path file = test::tempDir("qdq_" + GetParam()) / "m.onnx";
  ASSERT_TRUE(writeOnnx(m, file).hasValue());
  try {
    onnx::checker::check_model(file.string());
  } catch (const std::exception& e) {
    FAIL() << "onnx checker: " << e.what();
  }
  auto back = readOnnx(file);
  ASSERT_TRUE(back.hasValue()) << back.status().toString();
  Tensor got = runOn(*back, in);
  ASSERT_EQ(got.dims(), want.dims());
  double maxAbs = 0, maxDiff = 0;
  for (int64_t i = 0; i < want.numElements(); ++i) {
    maxAbs = std::max(maxAbs, double(std::abs(want.data<float>()[i])));
    maxDiff = std::max(maxDiff, double(std::abs(want.data<float>()[i] - got.data<float>()[i])));
  }
  EXPECT_GT(maxAbs, 0.01);
  EXPECT_LE(maxDiff, 1e-5 * maxAbs) << "max |diff| " << maxDiff;
}

INSTANTIATE_TEST_SUITE_P(Pipelines, QdqPipeline, ::testing::Values("O2", "npu"));

TEST(QdqFold, DequantizeLinearOfAnIntegerConstantIsNotFolded) {
  test::EquivOptions opt;
  opt.expectChange = true;  // the Constant nodes become initializers
  opt.expectOps = {{"DequantizeLinear", 1}, {"QuantizeLinear", 0}};
  test::expectEquivalentAfter("fold-constants", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3] x) => (float[2,3] y) {
      wq = Constant<value = int8[2,3] {-128, -1, 0, 1, 64, 127}>()
      ws = Constant<value = float {0.5}>()
      wz = Constant<value = int8 {3}>()
      wd = DequantizeLinear(wq, ws, wz)
      y = Add(x, wd)
    })", opt);
}

}  // namespace
}  // namespace npuconv
