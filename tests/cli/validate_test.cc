// `npuconv validate`: real processes on the two-layer model. Reference outputs saved the way
// PyTorch users save them (a folder of OUTPUT.npy, HDF5 in float64), or the reference model run
// on the same inputs; several input sets give per-set and aggregate figures; thresholds (allclose
// atol/rtol, cosine, SQNR, per output) fail with the accuracy exit code after printing the report.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "converter/exec/executor.h"
#include "formats/hdf5/hdf5.h"
#include "formats/npy/npy.h"
#include "formats/onnx/onnx_reader.h"
#include "tests/cli/two_layer_model.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

const int kAccuracy = exitCodeFor(StatusCode::AccuracyFailed);

/// The float model's y for samples [first, first + count) of x: [count, 1, 8].
std::vector<float> referenceY(const fs::path& model, const fs::path& x, int first, int count) {
  auto m = readOnnx(model);
  EXPECT_TRUE(m.hasValue());
  auto e = Executor::create(*m);
  auto xs = readNpy(x);
  std::vector<float> y;
  for (int i = first; i < first + count; ++i) {
    std::vector<float> row(xs.value()->as<float>().begin() + i * 16, xs.value()->as<float>().begin() + (i + 1) * 16);
    NamedTensors in{{"x", Tensor::fromValues<float>(DType::F32, {1, 16}, row)}};
    auto out = e.value()->run(in);
    EXPECT_TRUE(out.hasValue());
    auto s = out->at("y").span<float>();
    y.insert(y.end(), s.begin(), s.end());
  }
  return y;
}

void writeSlice(const fs::path& x, int first, int count, const fs::path& to) {
  auto xs = readNpy(x);
  std::vector<int64_t> dims = {count, 1, 16};
  fs::create_directories(to.parent_path());
  ASSERT_TRUE(writeNpy(to, DType::F32, dims, xs.value()->as<float>().data() + first * 16).isOk());
}

void writeYh5(const std::vector<float>& y, const fs::path& to, const std::string& name = "y") {
  std::vector<double> d(y.begin(), y.end());  // torch float64 tensors saved as they are
  auto t = std::make_shared<TensorData>(TensorData::fromValues<double>(DType::F64, {int64_t(y.size() / 8), 1, 8}, d));
  ASSERT_TRUE(writeHdf5(to, {{name, t}}).isOk());
}

TEST(ValidateCli, ReferenceOutputsModelSetsAndThresholds) {
  fs::path dir = test::tempDir("validate_cli");
  fs::path model = test::writeTwoLayerModel(dir), x = test::writeTwoLayerInputs(dir);
  std::string out, err;
  ASSERT_EQ(test::runNpuconv(fmt::format("convert '{}' -o '{}' --precision int8 --calib '{}' --layer-error-samples 0",
                                model.string(), (dir / "q").string(), x.string()), nullptr, &err), 0) << err;
  fs::path q = dir / "q/model.onnx";
  std::vector<float> y = referenceY(model, x, 0, 12);
  std::vector<int64_t> ydims = {12, 1, 8};
  fs::create_directories(dir / "ref");
  ASSERT_TRUE(writeNpy(dir / "ref/y.npy", DType::F32, ydims, y.data()).isOk());

  // The float model against its own saved outputs: exact; a folder of OUTPUT.npy.
  ASSERT_EQ(test::runNpuconv(fmt::format("validate '{}' --reference-outputs '{}' --inputs '{}' --json --min-sqnr 90", model.string(),
                                (dir / "ref").string(), x.string()), &out, &err), 0) << err;
  auto self = nlohmann::json::parse(out);
  EXPECT_EQ(self["sets"][0]["samples"], 12);
  EXPECT_EQ(self["sets"][0]["outputs"]["y"]["sqnr_db"], 999);
  EXPECT_EQ(self["passed"], true);

  // int8 against the saved float outputs (HDF5, float64) and against the float model: the same figures.
  writeYh5(y, dir / "ref.h5");
  ASSERT_EQ(test::runNpuconv(fmt::format("validate '{}' --reference-outputs '{}' --inputs '{}' --json", q.string(),
                                (dir / "ref.h5").string(), x.string()), &out, &err), 0) << err;
  auto h5 = nlohmann::json::parse(out);
  ASSERT_EQ(test::runNpuconv(fmt::format("validate '{}' --reference-model '{}' --inputs x='{}' --json", q.string(), model.string(),
                                x.string()), &out, &err), 0) << err;
  auto rm = nlohmann::json::parse(out);
  double db = h5["sets"][0]["outputs"]["y"]["sqnr_db"].get<double>();
  EXPECT_GT(db, 20.0);
  EXPECT_LT(db, 80.0) << "int8 identical to float: nothing was compared";
  EXPECT_NEAR(rm["sets"][0]["outputs"]["y"]["sqnr_db"].get<double>(), db, 0.02);

  // A threshold int8 misses: the accuracy exit code, one line naming the output, report on stdout.
  EXPECT_EQ(test::runNpuconv(fmt::format("validate '{}' --reference-model '{}' --inputs '{}' --min-sqnr 90 --min-cosine 0.5",
                                q.string(), model.string(), x.string()), &out, &err), kAccuracy);
  EXPECT_NE(err.find("output \"y\": SQNR"), std::string::npos) << err;
  EXPECT_NE(out.find("FAIL"), std::string::npos) << out;
  // allclose: atol alone fails, a per-output atol loose enough passes.
  EXPECT_EQ(test::runNpuconv(fmt::format("validate '{}' --reference-model '{}' --inputs '{}' --atol 1e-6 --json", q.string(),
                                model.string(), x.string()), &out, &err), kAccuracy);
  auto tight = nlohmann::json::parse(out);
  EXPECT_GT(tight["sets"][0]["outputs"]["y"]["allclose"]["outside"].get<int64_t>(), 0);
  EXPECT_NE(err.find("elements outside atol 1e-06"), std::string::npos) << err;
  EXPECT_EQ(test::runNpuconv(fmt::format("validate '{}' --reference-model '{}' --inputs '{}' --atol 1e-6 --per-output y:atol=0.5",
                                q.string(), model.string(), x.string()), &out, &err), 0) << err;
  EXPECT_EQ(test::runNpuconv(fmt::format("validate '{}' --reference-model '{}' --inputs '{}' --per-output nope:atol=1", q.string(),
                                model.string(), x.string()), &out, &err), 2);
  EXPECT_NE(err.find("no output \"nope\""), std::string::npos) << err;

  // Two input sets (a folder of x.npy, an .h5), their reference outputs by set name: per-set and
  // aggregate figures; a perturbed reference in set b fails in b and in the aggregate.
  writeSlice(x, 0, 5, dir / "sets/a/x.npy");
  {
    auto xs = readNpy(x);
    std::vector<float> tail(xs.value()->as<float>().begin() + 5 * 16, xs.value()->as<float>().end());
    auto t = std::make_shared<TensorData>(TensorData::fromValues<float>(DType::F32, {7, 1, 16}, tail));
    ASSERT_TRUE(writeHdf5(dir / "sets/b.h5", {{"x", t}}).isOk());
  }
  std::vector<float> ya(y.begin(), y.begin() + 5 * 8), yb(y.begin() + 5 * 8, y.end());
  fs::create_directories(dir / "refs/a");
  std::vector<int64_t> adims = {5, 1, 8};
  ASSERT_TRUE(writeNpy(dir / "refs/a/y.npy", DType::F32, adims, ya.data()).isOk());
  yb[3] += 0.25f;
  writeYh5(yb, dir / "refs/b.h5");
  EXPECT_EQ(test::runNpuconv(fmt::format("validate '{}' --reference-outputs '{}' --inputs '{}' --atol 0.01 --json", model.string(),
                                (dir / "refs").string(), (dir / "sets").string()), &out, &err), kAccuracy);
  auto sets = nlohmann::json::parse(out);
  ASSERT_EQ(sets["sets"].size(), 2u) << out;
  EXPECT_EQ(sets["sets"][0]["name"], "a");
  EXPECT_EQ(sets["sets"][0]["samples"], 5);
  EXPECT_EQ(sets["sets"][0]["passed"], true);
  EXPECT_EQ(sets["sets"][1]["name"], "b");
  EXPECT_EQ(sets["sets"][1]["samples"], 7);
  EXPECT_EQ(sets["sets"][1]["outputs"]["y"]["allclose"]["outside"], 1);
  EXPECT_EQ(sets["sets"][1]["passed"], false);
  EXPECT_EQ(sets["aggregate"]["samples"], 12);
  EXPECT_EQ(sets["aggregate"]["outputs"]["y"]["allclose"]["outside"], 1);
  EXPECT_NE(err.find("input set \"b\": output \"y\": 1 of 56 elements outside"), std::string::npos) << err;

  // Reference sample counts must match the inputs; a missing reference array is named.
  EXPECT_EQ(test::runNpuconv(fmt::format("validate '{}' --reference-outputs '{}' --inputs '{}'", model.string(),
                                (dir / "refs/a").string(), x.string()), &out, &err), 2);
  EXPECT_NE(err.find("reference"), std::string::npos) << err;
  EXPECT_EQ(test::runNpuconv(fmt::format("validate '{}' --inputs '{}'", model.string(), x.string()), &out, &err), 2);
  EXPECT_EQ(test::runNpuconv(fmt::format("validate '{}' --reference-model '{}' --inputs '{}'", (dir / "none.onnx").string(),
                                model.string(), x.string()), &out, &err), 5);
}

}  // namespace
}  // namespace npuconv
