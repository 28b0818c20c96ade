// The device program end to end on the zoo resnet18 (random weights): `npuconv convert
// --precision int8` writes the QDQ model; its lowering runs on the device interpreter with integer
// kernels, and the result is compared with the QDQ model and the float model on the reference
// executor (SQNR; goal >= 15 dB against QDQ), for thread-count-independent bits.
#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>

#include "converter/device/interpreter.h"
#include "converter/exec/executor.h"
#include "formats/npy/npy.h"
#include "formats/onnx/onnx_reader.h"
#include "pipeline/lower_to_device.h"
#include "tests/support/test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

double sqnr(const Tensor& ref, const Tensor& got) {
  double s = 0, n = 0;
  auto a = ref.span<float>(), b = got.span<float>();
  for (size_t i = 0; i < a.size(); ++i) {
    s += double(a[i]) * a[i];
    n += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  }
  return n == 0 ? 999 : 10 * std::log10(s / n);
}

TEST(DeviceResnet18, IntegerBlobTracksQdqModel) {
  auto path = test::materializeZooModelOr("resnet18");
  ASSERT_TRUE(path.hasValue()) << path.status().toString();
  const fs::path dir = test::tempDir("device_resnet18");
  test::SplitMix64 rng(7);
  std::vector<float> x(4 * 3 * 224 * 224);
  for (float& v : x) v = static_cast<float>(rng.uniform() * 2 - 1);
  const std::vector<int64_t> dims = {4, 1, 3, 224, 224};
  ASSERT_TRUE(writeNpy(dir / "x.npy", DType::F32, dims, x.data()).isOk());
  std::string err;
  const std::string cmd = fmt::format("'{}' convert '{}' -o '{}' --precision int8 --calib '{}' --layer-error-samples 0 --threads 1",
                                      test::npuconvBinary(), path->string(), (dir / "out").string(), (dir / "x.npy").string());
  ASSERT_EQ(test::runCommand(cmd, nullptr, &err), 0) << cmd << "\n" << err;
  auto qdq = readOnnx(dir / "out/model.onnx");
  ASSERT_TRUE(qdq.hasValue()) << qdq.status().toString();
  auto program = lowerToDevice(*qdq, {});
  ASSERT_TRUE(program.hasValue()) << program.status().toString();
  EXPECT_GE(program->npuOps(), 20u);
  EXPECT_LE(program->memory.arenaBytes, program->memory.maxLiveBytes * 11 / 10) << "plan within 10% of the bound";
  auto interp = device::Interpreter::create(*program);
  ASSERT_TRUE(interp.hasValue()) << interp.status().toString();

  Tensor input = Tensor::fromValues<float>(DType::F32, {1, 3, 224, 224}, std::span<const float>(x.data(), 3 * 224 * 224));
  auto got = (*interp)->run({input});
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  auto qexec = Executor::create(*qdq, {.threads = 1});
  ASSERT_TRUE(qexec.hasValue());
  auto want = (*qexec)->runOrdered({input});
  ASSERT_TRUE(want.hasValue());
  auto floatModel = readOnnx(*path);
  ASSERT_TRUE(floatModel.hasValue());
  auto fexec = Executor::create(*floatModel, {.threads = 1});
  ASSERT_TRUE(fexec.hasValue());
  auto ref = (*fexec)->runOrdered({input});
  ASSERT_TRUE(ref.hasValue());
  const double vsQdq = sqnr((*want)[0], (*got)[0]), vsFloat = sqnr((*ref)[0], (*got)[0]);
  const double qdqVsFloat = sqnr((*ref)[0], (*want)[0]);
  std::printf("resnet18 blob: SQNR vs QDQ %.2f dB, vs float %.2f dB (QDQ vs float %.2f dB); arena %llu, activations %llu, "
              "max live %llu bytes; %zu NPU ops, %zu CPU ops\n",
              vsQdq, vsFloat, qdqVsFloat, (unsigned long long)program->memory.arenaBytes,
              (unsigned long long)program->memory.activationBytes, (unsigned long long)program->memory.maxLiveBytes,
              program->npuOps(), program->cpuOps());
  EXPECT_GE(vsQdq, 15.0);
}

}  // namespace
}  // namespace npuconv
