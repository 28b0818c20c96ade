// Each integer op of the device blob against the QDQ ONNX model in ONNX Runtime (graph
// optimizations off: Q/DQ run as written, in float): a tiny float model with one op of interest
// (random weights), `npuconv convert --precision int8` writes model.onnx (QDQ) and model.npub;
// the blob must lower that op to its integer form and its output must agree with ORT's within one
// quantization step of the output. Skipped without node_modules/onnxruntime-node.
#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "converter/device/interpreter.h"
#include "tests/formats/blob_test_util.h"
#include "tests/support/test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

bool haveOrt() {
  return fs::exists(test::sourceDir() / "node_modules" / "onnxruntime-node") && test::runCommand("node --version") == 0;
}

struct OpCase {
  std::string name;
  std::string text;                 // ONNX text; graph inputs named w* are bound to random weights
  device::OpCode expect;            // the integer op the blob must hold
  std::vector<int64_t> inputDims;   // of x
};

std::ostream& operator<<(std::ostream& os, const OpCase& c) { return os << c.name; }

class DeviceOpOracle : public ::testing::TestWithParam<OpCase> {};

TEST_P(DeviceOpOracle, IntegerOpWithinOneStepOfOrt) {
  if (!haveOrt()) GTEST_SKIP() << "onnxruntime-node not installed";
  const OpCase& c = GetParam();
  const fs::path dir = test::tempDir("device_op_" + c.name);
  Model m = test::parseModel(c.text);
  test::bindRandomWeights(m, 11);
  auto conv = test::convertInt8WithRandomCalib(m, dir, c.inputDims, 8, 3);
  ASSERT_TRUE(conv.hasValue()) << conv.status().toString();
  const std::vector<float>& xs = conv->calib;
  const device::Program& p = conv->blob.program;
  bool found = false;
  for (const device::Op& op : p.ops) found |= op.code == c.expect;
  ASSERT_TRUE(found) << "no " << device::opCodeName(c.expect) << " in the blob";
  EXPECT_EQ(p.cpuOps(), 0u);

  Tensor x = Tensor::fromValues<float>(DType::F32, c.inputDims, std::span<const float>(xs.data(), static_cast<size_t>(elementCount(c.inputDims))));
  auto interp = device::Interpreter::create(p);
  ASSERT_TRUE(interp.hasValue()) << interp.status().toString();
  auto got = (*interp)->run({x});
  ASSERT_TRUE(got.hasValue()) << got.status().toString();

  fs::create_directories(dir / "ortin");
  Status written = test::writeRawInputs({{"x", x}}, dir / "ortin");
  ASSERT_TRUE(written.isOk()) << written.toString();
  std::string err;
  const std::string ort = fmt::format("node '{}' --model '{}' --inputs '{}' --outdir '{}'",
                                      (test::sourceDir() / "tests/oracle/ort_run.js").string(), (dir / "out/model.onnx").string(),
                                      (dir / "ortin/inputs.json").string(), (dir / "ort").string());
  ASSERT_EQ(test::runCommand(ort, nullptr, &err), 0) << ort << "\n" << err;
  auto manifest = nlohmann::json::parse(test::slurp(dir / "ort/manifest.json"));
  const std::string bytes = test::slurp(dir / "ort" / manifest["outputs"][0]["file"].get<std::string>());
  ASSERT_EQ(bytes.size(), (*got)[0].byteSize());
  // One step of the output's quantization: the Dequantize that produces the graph output.
  float step = 0;
  for (const device::Op& op : p.ops)
    if (op.code == device::OpCode::Dequantize && op.outputs[0] == p.outputs[0].tensor)
      step = p.quant[static_cast<size_t>(p.tensors[static_cast<size_t>(op.inputs[0])].quant)].scales[0];
  ASSERT_GT(step, 0);
  const auto* ref = reinterpret_cast<const float*>(bytes.data());
  auto out = (*got)[0].span<float>();
  double worst = 0;
  int64_t off = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const double d = std::fabs(double(out[i]) - ref[i]) / step;
    worst = std::max(worst, d);
    off += d > 0.5;
  }
  std::printf("%s: max |blob - ORT| = %.3f steps, %lld of %zu elements off\n", c.name.c_str(), worst, (long long)off, out.size());
  EXPECT_LE(worst, 1.0 + 1e-3);
}

const char* kConv = R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 3, 9, 9] x, float[4, 3, 3, 3] w, float[4] wb) => (float[1, 4, 5, 5] y) {
  c = Conv <pads = [1, 1, 1, 1], strides = [2, 2]> (x, w, wb)
  y = Relu (c)
})";
const char* kDepthwise = R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 4, 8, 8] x, float[4, 1, 3, 3] w, float[4] wb) => (float[1, 4, 8, 8] y) {
  lo = Constant <value = float {0}> ()
  hi = Constant <value = float {6}> ()
  c = Conv <pads = [1, 1, 1, 1], group = 4> (x, w, wb)
  y = Clip (c, lo, hi)
})";
const char* kGemm = R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[2, 16] x, float[8, 16] w, float[8] wb) => (float[2, 8] y) {
  y = Gemm <transB = 1> (x, w, wb)
})";
const char* kMatMul = R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[3, 16] x, float[16, 8] w) => (float[3, 8] y) {
  y = MatMul (x, w)
})";
const char* kAdd = R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 4, 6, 6] x, float[4, 4, 1, 1] w) => (float[1, 4, 6, 6] y) {
  c = Conv (x, w)
  s = Add (c, x)
  y = Relu (s)
})";
const char* kMaxPool = R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 4, 9, 9] x, float[4, 4, 1, 1] w) => (float[1, 4, 5, 5] y) {
  c = Conv (x, w)
  y = MaxPool <kernel_shape = [3, 3], pads = [1, 1, 1, 1], strides = [2, 2]> (c)
})";
const char* kAvgPool = R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 4, 8, 8] x, float[4, 4, 1, 1] w) => (float[1, 4, 4, 4] y) {
  c = Conv (x, w)
  y = AveragePool <kernel_shape = [2, 2], strides = [2, 2]> (c)
})";
const char* kGap = R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 4, 7, 7] x, float[8, 4, 1, 1] w) => (float[1, 8, 1, 1] y) {
  c = Conv (x, w)
  y = GlobalAveragePool (c)
})";
const char* kConcat = R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 4, 5, 5] x, float[3, 4, 1, 1] w, float[2, 4, 3, 3] wa) => (float[1, 5, 5, 5] y) {
  a = Conv (x, w)
  b = Conv <pads = [1, 1, 1, 1]> (x, wa)
  y = Concat <axis = 1> (a, b)
})";
const char* kFlattenGemm = R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 4, 3, 3] x, float[4, 4, 1, 1] w, float[5, 36] wg) => (float[1, 5] y) {
  c = Conv (x, w)
  f = Flatten (c)
  y = Gemm <transB = 1> (f, wg)
})";
const char* kTranspose = R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 4, 3, 5] x, float[6, 4, 1, 1] w) => (float[1, 3, 5, 6] y) {
  c = Conv (x, w)
  y = Transpose <perm = [0, 2, 3, 1]> (c)
})";

INSTANTIATE_TEST_SUITE_P(
    Ops, DeviceOpOracle,
    ::testing::Values(OpCase{"conv_relu_stride2", kConv, device::OpCode::Conv, {1, 3, 9, 9}},
                      OpCase{"depthwise_clip", kDepthwise, device::OpCode::Conv, {1, 4, 8, 8}},
                      OpCase{"gemm", kGemm, device::OpCode::Gemm, {2, 16}},
                      OpCase{"matmul", kMatMul, device::OpCode::Gemm, {3, 16}},
                      OpCase{"add_relu", kAdd, device::OpCode::Add, {1, 4, 6, 6}},
                      OpCase{"maxpool", kMaxPool, device::OpCode::MaxPool, {1, 4, 9, 9}},
                      OpCase{"avgpool", kAvgPool, device::OpCode::AveragePool, {1, 4, 8, 8}},
                      OpCase{"global_avgpool", kGap, device::OpCode::GlobalAveragePool, {1, 4, 7, 7}},
                      OpCase{"concat", kConcat, device::OpCode::Concat, {1, 4, 5, 5}},
                      OpCase{"flatten_gemm", kFlattenGemm, device::OpCode::Reshape, {1, 4, 3, 3}},
                      OpCase{"transpose", kTranspose, device::OpCode::Transpose, {1, 4, 3, 5}}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace npuconv
