// The device blob end to end on zoo CNNs (random weights): `npuconv convert --precision int8`
// writes model.onnx (QDQ) and model.npub, byte-identical for --threads 1 and 2; the blob runs on
// the device interpreter (integer kernels, float fallback for the rest), bit-identical across
// runs, and its output is compared with the QDQ model and the float model on the reference
// executor (SQNR; goal >= 15 dB against QDQ). The memory plan is within 10% of its lower bound.
#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "converter/device/interpreter.h"
#include "converter/exec/executor.h"
#include "formats/blob/blob_reader.h"
#include "formats/npy/npy.h"
#include "formats/onnx/onnx_reader.h"
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

class DeviceZoo : public ::testing::TestWithParam<std::string> {};

TEST_P(DeviceZoo, BlobTracksQdqModel) {
  const std::string name = GetParam();
  auto path = test::materializeZooModelOr(name);
  ASSERT_TRUE(path.hasValue()) << path.status().toString();
  const fs::path dir = test::tempDir("device_zoo_" + name);
  test::SplitMix64 rng(7);
  std::vector<float> x(4 * 3 * 224 * 224);
  for (float& v : x) v = static_cast<float>(rng.uniform() * 2 - 1);
  const std::vector<int64_t> dims = {4, 1, 3, 224, 224};
  ASSERT_TRUE(writeNpy(dir / "x.npy", DType::F32, dims, x.data()).isOk());
  std::string err;
  for (int threads : {1, 2}) {
    const std::string cmd = fmt::format("'{}' convert '{}' -o '{}' --precision int8 --calib '{}' --layer-error-samples 0 --threads {}",
                                        test::npuconvBinary(), path->string(), (dir / fmt::format("out{}", threads)).string(),
                                        (dir / "x.npy").string(), threads);
    ASSERT_EQ(test::runCommand(cmd, nullptr, &err), 0) << cmd << "\n" << err;
  }
  const std::string blobBytes = test::slurp(dir / "out1/model.npub");
  ASSERT_FALSE(blobBytes.empty());
  EXPECT_TRUE(blobBytes == test::slurp(dir / "out2/model.npub")) << "--threads 1 and 2 wrote different blobs";
  auto report = nlohmann::json::parse(test::slurp(dir / "out1/report.json"));
  EXPECT_TRUE(report["device_blob"]["written"].get<bool>());

  auto blob = readBlob(dir / "out1/model.npub");
  ASSERT_TRUE(blob.hasValue()) << blob.status().toString();
  const device::Program& p = blob->program;
  EXPECT_LE(p.memory.arenaBytes, p.memory.maxLiveBytes * 11 / 10)
      << "plan within 10% of the bound: arena " << p.memory.arenaBytes << ", bound " << p.memory.maxLiveBytes;
  // The plan's invariant: tensors live at the same time never share arena bytes.
  {
    std::vector<std::pair<int64_t, int64_t>> life(p.tensors.size(), {-1, -1});
    auto touch = [&](int32_t t, int64_t step) {
      if (t < 0 || p.tensors[static_cast<size_t>(t)].storage != device::Storage::Activation) return;
      auto& l = life[static_cast<size_t>(t)];
      if (l.first < 0) l.first = step;
      l.second = std::max(l.second, step);
    };
    for (const auto& b : p.inputs) touch(b.tensor, 0);
    for (size_t s = 0; s < p.ops.size(); ++s)
      for (const auto* list : {&p.ops[s].inputs, &p.ops[s].outputs})
        for (int32_t t : *list) touch(t, static_cast<int64_t>(s));
    for (const auto& b : p.outputs) touch(b.tensor, static_cast<int64_t>(p.ops.size()));
    int64_t clashes = 0;
    for (size_t a = 0; a < p.tensors.size(); ++a)
      for (size_t b = a + 1; b < p.tensors.size(); ++b) {
        if (life[a].first < 0 || life[b].first < 0 || life[a].second < life[b].first || life[b].second < life[a].first) continue;
        const auto& ta = p.tensors[a];
        const auto& tb = p.tensors[b];
        clashes += ta.arenaOffset < tb.arenaOffset + tb.byteSize() && tb.arenaOffset < ta.arenaOffset + ta.byteSize();
      }
    EXPECT_EQ(clashes, 0) << "live tensors overlap in the arena";
  }
  auto interp = device::Interpreter::create(p);
  ASSERT_TRUE(interp.hasValue()) << interp.status().toString();
  Tensor input = Tensor::fromValues<float>(DType::F32, {1, 3, 224, 224}, std::span<const float>(x.data(), 3 * 224 * 224));
  auto got = (*interp)->run({input});
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  auto again = (*interp)->run({input});
  ASSERT_TRUE(again.hasValue());
  EXPECT_EQ(std::memcmp((*got)[0].raw(), (*again)[0].raw(), (*got)[0].byteSize()), 0) << "two runs differ";

  auto qdq = readOnnx(dir / "out1/model.onnx");
  ASSERT_TRUE(qdq.hasValue()) << qdq.status().toString();
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
  std::printf("%s blob: SQNR vs QDQ %.2f dB, vs float %.2f dB (QDQ vs float %.2f dB); %zu bytes; arena %llu, "
              "activations %llu, max live %llu bytes; %zu NPU ops, %zu CPU ops\n",
              name.c_str(), vsQdq, vsFloat, qdqVsFloat, blobBytes.size(), (unsigned long long)p.memory.arenaBytes,
              (unsigned long long)p.memory.activationBytes, (unsigned long long)p.memory.maxLiveBytes, p.npuOps(), p.cpuOps());
  EXPECT_GE(vsQdq, 15.0);

  // `npuconv inspect --json` and `npuconv run` on the blob.
  std::string out;
  ASSERT_EQ(test::runCommand(fmt::format("'{}' inspect '{}' --json", test::npuconvBinary(), (dir / "out1/model.npub").string()), &out, &err), 0) << err;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["ops_npu"].get<size_t>(), p.npuOps());
  EXPECT_EQ(j["memory"]["arena_bytes"].get<uint64_t>(), p.memory.arenaBytes);
  ASSERT_TRUE(writeNpy(dir / "x1.npy", DType::F32, std::vector<int64_t>{1, 3, 224, 224}, x.data()).isOk());
  ASSERT_EQ(test::runCommand(fmt::format("'{}' run '{}' --input '{}' --output-dir '{}'", test::npuconvBinary(),
                                         (dir / "out1/model.npub").string(), (dir / "x1.npy").string(), (dir / "run").string()),
                             &out, &err), 0) << err;
  auto cli = readNpy(dir / "run" / (p.outputs[0].name + ".npy"));
  ASSERT_TRUE(cli.hasValue()) << cli.status().toString();
  ASSERT_EQ((*cli)->byteSize(), (*got)[0].byteSize());
  EXPECT_EQ(std::memcmp((*cli)->bytes(), (*got)[0].raw(), (*got)[0].byteSize()), 0) << "npuconv run differs";
}

INSTANTIATE_TEST_SUITE_P(Zoo, DeviceZoo, ::testing::Values("resnet18", "mobilenet_v3_small"));

}  // namespace
}  // namespace npuconv
