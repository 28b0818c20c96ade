// `npuconv convert --mixed-config`: real processes on a tiny two-layer model. The config's
// layers get their precision (reported in report.json's "precisions" by original name), the
// written model passes onnx's checker, keys that name nothing and int16 on a target without
// 16-bit activations are one-line errors with their exit codes and no output.
#include <gtest/gtest.h>

#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <onnx/checker.h>

#include "tests/cli/two_layer_model.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

fs::path writeText(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
  return p;
}

TEST(MixedCli, ConfigPrecisionsReportedByOriginalName) {
  fs::path dir = test::tempDir("mixed_cli");
  fs::path model = test::writeTwoLayerModel(dir), x = test::writeTwoLayerInputs(dir);
  fs::path cfg = writeText(dir / "mix.json", R"({"nodes": {"second_matmul": "int16", "first_bias": "fp16"}})");
  std::string err;
  const std::string base = fmt::format("convert '{}' --precision int8 --calib '{}' --layer-error-samples 0", model.string(), x.string());
  ASSERT_EQ(test::runNpuconv(fmt::format("{} -o '{}' --mixed-config '{}'", base, (dir / "a").string(), cfg.string()), nullptr, &err), 0)
      << err;
  try {
    onnx::checker::check_model((dir / "a/model.onnx").string());
  } catch (const std::exception& e) {
    FAIL() << "onnx checker: " << e.what();
  }
  auto r = nlohmann::json::parse(test::slurp(dir / "a/report.json"));
  const auto& p = r["precisions"];
  ASSERT_EQ(p["layers"].size(), 2u) << p.dump();
  // O2 fused first_matmul + first_bias into one Gemm: it takes first_bias's fp16.
  EXPECT_EQ(p["layers"][0]["node"], "first_matmul");
  EXPECT_EQ(p["layers"][0]["precision"], "fp16") << p.dump();
  EXPECT_EQ(p["layers"][1]["node"], "second_matmul");
  EXPECT_EQ(p["layers"][1]["precision"], "int16");
  EXPECT_EQ(p["config"]["nodes"]["second_matmul"], "int16");
  EXPECT_EQ(r["options"]["mixed_config"], cfg.string());
  // Deterministic: the same command writes the same bytes.
  ASSERT_EQ(test::runNpuconv(fmt::format("{} -o '{}' --mixed-config '{}' --threads 1", base, (dir / "b").string(), cfg.string()), nullptr, &err), 0);
  EXPECT_EQ(test::slurp(dir / "a/model.onnx"), test::slurp(dir / "b/model.onnx"));
}

TEST(MixedCli, ErrorsNameTheKeyAndLeaveNoOutput) {
  fs::path dir = test::tempDir("mixed_cli_errors");
  fs::path model = test::writeTwoLayerModel(dir), x = test::writeTwoLayerInputs(dir);
  const std::string base = fmt::format("convert '{}' --precision int8 --calib '{}'", model.string(), x.string());
  std::string err;
  fs::path typo = writeText(dir / "typo.json", R"({"nodes": {"second_matmull": "int16"}})");
  EXPECT_EQ(test::runNpuconv(fmt::format("{} -o '{}' --mixed-config '{}'", base, (dir / "o1").string(), typo.string()), nullptr, &err), 2);
  EXPECT_NE(err.find("second_matmull"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir / "o1/model.onnx"));
  fs::path bad = writeText(dir / "bad.json", R"({"nodes": {"second_matmul": "int4"}})");
  EXPECT_EQ(test::runNpuconv(fmt::format("{} -o '{}' --mixed-config '{}'", base, (dir / "o2").string(), bad.string()), nullptr, &err), 2);
  EXPECT_NE(err.find("int4"), std::string::npos) << err;
  EXPECT_EQ(test::runNpuconv(fmt::format("{} -o '{}' --mixed-config '{}'", base, (dir / "o3").string(), (dir / "none.json").string()), nullptr, &err), 5);
  // int16 for a target without 16-bit activations: unsupported (4), naming the target.
  fs::path wide = writeText(dir / "wide.json", R"({"default": "int16"})");
  EXPECT_EQ(test::runNpuconv(fmt::format("{} -o '{}' --mixed-config '{}' --target rk3588", base, (dir / "o4").string(), wide.string()), nullptr, &err), 4);
  EXPECT_NE(err.find("rk3588"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir / "o4/model.onnx"));
  // Only int8 takes a config.
  EXPECT_EQ(test::runNpuconv(fmt::format("convert '{}' -o '{}' --precision fp16 --mixed-config '{}'", model.string(),
                                (dir / "o5").string(), wide.string()), nullptr, &err), 2);
  EXPECT_NE(err.find("--mixed-config"), std::string::npos) << err;
}

}  // namespace
}  // namespace npuconv
