// `npuconv convert --auto-mixed`: real processes on the tiny two-layer model. The chosen config
// is deterministic (the same bytes for any thread count), names layers by their original ONNX
// names, and is reusable: fed back with --mixed-config on the same calibration samples it
// rebuilds the very same model.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "converter/ir/model.h"
#include "formats/npy/npy.h"
#include "formats/onnx/onnx_writer.h"
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

// Bias correction runs after the search, which scored its candidates without it. A layer whose int8
// weights all round the same way (one element per column sets the scale, the others are 1.4
// steps and round down) errs by a known mean: on the calibration samples (mostly positive
// inputs) bias correction removes it, on the held-out ones (mostly negative) it doubles it. The
// target is the search's own int8 score: the corrected model misses it, so the model is written
// as the search measured it (exit 0, report "bias_correction": dropped), not with exit 1.
TEST(AutoMixedCli, BiasCorrectionThatCostsTheTargetIsDropped) {
  fs::path dir = test::tempDir("auto_mixed_bias");
  std::string w;
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 8; ++j) w += fmt::format("{}{}", i + j ? ", " : "", i == j ? 1.0 : 1.4 / 127);
  Model m = test::parseModel(fmt::format(R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[1,16] x) => (float[1,8] y) {{
      W = Constant<value = float[16,8] {{{}}}>()
      b = Constant<value = float[8] {{0.1, -0.1, 0.2, -0.2, 0.1, -0.1, 0.2, -0.2}}>()
      m = MatMul(x, W)
      y = Add(m, b)
    }})", w));
  fs::path model = dir / "model.onnx";
  ASSERT_TRUE(writeOnnx(m, model).hasValue());
  // 12 samples: the first 10 (ranges, bias correction) in [-0.3, 1], the last 2 (held out) in
  // [-1, 0.3]; sample 0 is all -1, so the input and output ranges cover the held-out values.
  std::vector<float> x;
  uint32_t seed = 9;
  for (int k = 0; k < 12; ++k)
    for (int i = 0; i < 16; ++i) {
      seed = seed * 1664525u + 1013904223u;
      const float u = static_cast<float>(seed >> 8) / 16777216.0f;
      x.push_back(k < 10 ? -0.3f + 1.3f * u : -1.0f + 1.3f * u);
    }
  std::fill(x.begin(), x.begin() + 16, -1.0f);
  ASSERT_TRUE(writeNpy(dir / "x.npy", DType::F32, std::vector<int64_t>{12, 1, 16}, x.data()).isOk());
  const std::string base = fmt::format("convert '{}' --precision int8 --calib '{}' --layer-error-samples 0 --holdout-samples 2",
                                       model.string(), (dir / "x.npy").string());
  std::string err;
  ASSERT_EQ(test::runNpuconv(fmt::format("{} --no-bias-correction --target-sqnr 1 -o '{}'", base, (dir / "plain").string()), nullptr, &err), 0)
      << err;
  const double int8Db =
      nlohmann::json::parse(test::slurp(dir / "plain/report.json"))["auto_mixed"]["int8"]["sqnr_db"].get<double>();
  const double target = int8Db - 0.5;
  ASSERT_EQ(test::runNpuconv(fmt::format("{} --target-sqnr {:.2f} -o '{}'", base, target, (dir / "bc").string()), nullptr, &err), 0) << err;
  auto j = nlohmann::json::parse(test::slurp(dir / "bc/report.json"))["auto_mixed"];
  ASSERT_TRUE(j.contains("bias_correction")) << j.dump();
  EXPECT_EQ(j["bias_correction"]["dropped"], true);
  EXPECT_LT(j["bias_correction"]["with_it"]["sqnr_db"].get<double>(), target) << "the test lost its biased layer";
  EXPECT_GE(j["verified"]["sqnr_db"].get<double>(), target) << j.dump();
  EXPECT_EQ(j["verified"]["met"], true);
  EXPECT_NE(err.find("bias correction lowers the held-out score"), std::string::npos) << err;
}

}  // namespace
}  // namespace npuconv
