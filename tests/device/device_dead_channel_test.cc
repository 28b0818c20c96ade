// A Conv output channel whose weights are ~0 but whose bias is not (PP-OCRv4 det has them after
// channel equalization: s_w ~1e-16): b / (s_in * s_w) passes int32, so the quantizer keeps that
// bias float in the QDQ model. The blob's integer Conv must still add it: the lowering widens the
// channel's weight scale until the bias fits (before, the int32 clamp zeroed the channel, where
// the QDQ model outputs the bias). The blob must agree with the QDQ model on the reference
// executor within one output step.
#include <gtest/gtest.h>

#include <cmath>

#include "converter/device/interpreter.h"
#include "converter/exec/executor.h"
#include "formats/onnx/onnx_reader.h"
#include "tests/formats/blob_test_util.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

TEST(DeviceDeadChannel, FloatBiasPastInt32StillReachesTheIntegerConv) {
  const fs::path dir = test::tempDir("device_dead_channel");
  // Channel 1: weights 1e-14 (a dead channel), bias 0.5; channels 0 and 2 ordinary.
  Model m = test::parseModel(R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 2, 4, 4] X) => (float[1, 3, 4, 4] Y)
<float[3, 2, 1, 1] W = {0.7, -0.4, 3e-14, -2e-14, -0.3, 0.9}, float[3] B = {0.1, 0.5, -0.2}>
{
  C = Conv (X, W, B)
  Y = Relu (C)
}
)");
  auto conv = test::convertInt8WithRandomCalib(m, dir, {1, 2, 4, 4}, 8, 5);
  ASSERT_TRUE(conv.hasValue()) << conv.status().toString();
  const std::vector<float>& xs = conv->calib;
  const device::Program& p = conv->blob.program;
  float outStep = 0;
  bool integerConv = false;
  for (const device::Op& op : p.ops) {
    integerConv |= op.code == device::OpCode::Conv;
    if (op.code == device::OpCode::Dequantize && p.tensors[static_cast<size_t>(op.inputs[0])].quant >= 0)
      outStep = p.quant[static_cast<size_t>(p.tensors[static_cast<size_t>(op.inputs[0])].quant)].scales[0];
  }
  ASSERT_TRUE(integerConv) << "the Conv must stay an integer op";
  ASSERT_GT(outStep, 0.0f);
  auto interp = device::Interpreter::create(p);
  ASSERT_TRUE(interp.hasValue()) << interp.status().toString();
  auto qdq = readOnnx(dir / "out/model.onnx");
  ASSERT_TRUE(qdq.hasValue()) << qdq.status().toString();
  auto exec = Executor::create(*qdq, {.threads = 1});
  ASSERT_TRUE(exec.hasValue());
  for (int s = 0; s < 8; ++s) {
    const Tensor x = Tensor::fromValues<float>(DType::F32, {1, 2, 4, 4}, std::span<const float>(xs).subspan(static_cast<size_t>(s) * 32, 32));
    auto got = (*interp)->run({x});
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    auto want = (*exec)->runOrdered({x});
    ASSERT_TRUE(want.hasValue()) << want.status().toString();
    auto a = (*want)[0].span<float>(), b = (*got)[0].span<float>();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_LE(std::fabs(a[i] - b[i]), outStep * 1.001f) << "sample " << s << " element " << i;
      if (i / 16 == 1) {
        EXPECT_NEAR(b[i], 0.5f, outStep) << "the dead channel outputs its bias";
      }
    }
  }
}

}  // namespace
}  // namespace npuconv
