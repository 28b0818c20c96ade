// A mixed-precision conversion (int16 and fp16 layers beside int8, quant/mixed_config.h) still
// gets a device blob: the 16-bit QuantizeLinear/DequantizeLinear and the fp16 layer stay float ops
// on the CPU, and the blob's output tracks the QDQ model on the reference executor.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <fmt/format.h>

#include "converter/device/interpreter.h"
#include "converter/exec/executor.h"
#include "formats/blob/blob_reader.h"
#include "formats/npy/npy.h"
#include "formats/onnx/onnx_reader.h"
#include "tests/cli/two_layer_model.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

TEST(DeviceMixed, Int16AndFp16LayersRunAsFloatOps) {
  const fs::path dir = test::tempDir("device_mixed");
  const fs::path model = test::writeTwoLayerModel(dir), x = test::writeTwoLayerInputs(dir);
  std::ofstream(dir / "mix.json") << R"({"nodes": {"second_matmul": "int16", "first_bias": "fp16"}})";
  std::string err;
  const std::string cmd = fmt::format("'{}' convert '{}' --precision int8 --calib '{}' --layer-error-samples 0 -o '{}' --mixed-config '{}'",
                                      test::npuconvBinary(), model.string(), x.string(), (dir / "out").string(),
                                      (dir / "mix.json").string());
  ASSERT_EQ(test::runCommand(cmd, nullptr, &err), 0) << cmd << "\n" << err;
  auto blob = readBlob(dir / "out/model.npub");
  ASSERT_TRUE(blob.hasValue()) << blob.status().toString();
  EXPECT_GT(blob->program.cpuOps(), 0u);
  auto interp = device::Interpreter::create(blob->program);
  ASSERT_TRUE(interp.hasValue()) << interp.status().toString();
  auto xs = readNpy(x);
  ASSERT_TRUE(xs.hasValue());
  const auto& d = (*xs)->dims();
  Tensor x0 = Tensor::fromValues<float>(DType::F32, {d[1], d[2]}, (*xs)->as<float>().subspan(0, static_cast<size_t>(d[1] * d[2])));
  auto got = (*interp)->run({x0});
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  auto qdq = readOnnx(dir / "out/model.onnx");
  ASSERT_TRUE(qdq.hasValue());
  auto exec = Executor::create(*qdq, {.threads = 1});
  ASSERT_TRUE(exec.hasValue());
  auto want = (*exec)->runOrdered({x0});
  ASSERT_TRUE(want.hasValue());
  auto a = (*want)[0].span<float>(), b = (*got)[0].span<float>();
  ASSERT_EQ(a.size(), b.size());
  double s = 0, n = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * a[i], n += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  EXPECT_GE(n == 0 ? 999 : 10 * std::log10(s / n), 30.0);
}

}  // namespace
}  // namespace npuconv
