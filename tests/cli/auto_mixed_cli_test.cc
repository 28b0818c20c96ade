// `npuconv convert --auto-mixed`: real processes on the tiny two-layer model. The chosen config
// is deterministic (the same bytes for any thread count), names layers by their original ONNX
// names, and is reusable: fed back with --mixed-config on the same calibration samples it
// rebuilds the very same model.
#include <gtest/gtest.h>

#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/cli/two_layer_model.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

TEST(AutoMixedCli, ConfigIsDeterministicAndRebuildsTheSameModel) {
  fs::path dir = test::tempDir("auto_mixed_cli");
  fs::path model = test::writeTwoLayerModel(dir), x = test::writeTwoLayerInputs(dir);
  // 12 samples: ranges from the first 10, the search scores on the last 2 (--holdout-samples).
  const std::string base = fmt::format(
      "convert '{}' --precision int8 --calib '{}' --layer-error-samples 0 --no-bias-correction", model.string(),
      x.string());
  const std::string search = base + " --target-sqnr 45 --holdout-samples 2";
  std::string err;
  ASSERT_EQ(test::runNpuconv(fmt::format("{} -o '{}' --threads 1", search, (dir / "a").string()), nullptr, &err), 0) << err;
  ASSERT_EQ(test::runNpuconv(fmt::format("{} -o '{}' --threads 2", search, (dir / "b").string()), nullptr, &err), 0) << err;
  const std::string config = test::slurp(dir / "a/mixed_config.json");
  EXPECT_EQ(config, test::slurp(dir / "b/mixed_config.json"));
  EXPECT_EQ(test::slurp(dir / "a/model.onnx"), test::slurp(dir / "b/model.onnx"));

  // The target needs at least one layer above int8, keyed by an original node name.
  const std::set<std::string> kNodes = {"first_matmul", "first_bias", "first_relu", "second_matmul", "final_tanh"};
  auto cfg = nlohmann::json::parse(config);
  ASSERT_TRUE(cfg.contains("nodes")) << config;
  ASSERT_FALSE(cfg["nodes"].empty()) << config;
  for (const auto& [name, precision] : cfg["nodes"].items()) {
    EXPECT_TRUE(kNodes.count(name)) << name;
    EXPECT_NE(precision, "int8") << config;
  }
  auto report = nlohmann::json::parse(test::slurp(dir / "a/report.json"));
  EXPECT_GE(report["auto_mixed"]["verified"]["sqnr_db"].get<double>(), 45.0) << report["auto_mixed"].dump();

  // Reused on the same 10 calibration samples, the config gives the same model, byte for byte.
  ASSERT_EQ(test::runNpuconv(fmt::format("{} --calib-samples 10 -o '{}' --mixed-config '{}'", base, (dir / "c").string(),
                                (dir / "a/mixed_config.json").string()), nullptr,
                    &err),
            0)
      << err;
  EXPECT_EQ(test::slurp(dir / "a/model.onnx"), test::slurp(dir / "c/model.onnx"));
}

// A target no mix can reach (SQNR above the 999 dB of identical outputs): the outputs are still
// written, the run exits 1 (ran, below the accuracy bar) with one line naming the target.
TEST(AutoMixedCli, MissedTargetExitsOneWithOutputsWritten) {
  fs::path dir = test::tempDir("auto_mixed_missed");
  fs::path model = test::writeTwoLayerModel(dir), x = test::writeTwoLayerInputs(dir);
  std::string err;
  EXPECT_EQ(test::runNpuconv(fmt::format("convert '{}' --precision int8 --calib '{}' --layer-error-samples 0 --no-bias-correction "
                                "--target-sqnr 1000 --holdout-samples 2 -o '{}'",
                                model.string(), x.string(), (dir / "out").string()), nullptr,
                    &err),
            1)
      << err;
  EXPECT_NE(err.find("--auto-mixed: the converted model misses"), std::string::npos) << err;
  EXPECT_TRUE(fs::exists(dir / "out/model.onnx"));
  auto report = nlohmann::json::parse(test::slurp(dir / "out/report.json"));
  EXPECT_EQ(report["auto_mixed"]["verified"]["met"], false);
}

}  // namespace
}  // namespace npuconv
