// `npuconv convert` as build pipelines and containers drive it, with real processes: options
// from --config and NPUCONV_* variables in the documented precedence (command line >
// environment > config file > default), --dry-run, --json on stdout, --quiet, validation of
// both artifacts with thresholds, --fallback fp16 (exit 9), and `validate` of a device blob.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "tests/cli/two_layer_model.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

struct Fixture {
  fs::path dir, model, x;
};

Fixture setUp(const std::string& name) {
  Fixture f;
  f.dir = test::tempDir(name);
  f.model = test::writeTwoLayerModel(f.dir);
  f.x = test::writeTwoLayerInputs(f.dir);
  return f;
}

void writeText(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

nlohmann::json report(const fs::path& out) { return nlohmann::json::parse(test::slurp(out / "report.json")); }

TEST(ConvertOptionSources, CommandLineBeatsEnvironmentBeatsConfigFile) {
  Fixture f = setUp("convert_sources_precedence");
  const fs::path config = f.dir / "conv.json";
  writeText(config, fmt::format(R"({{"model": "{}", "output": "{}", "precision": "int8", "calib": ["{}"],
                                  "layer_error_samples": 0, "calib-samples": 8, "no-bias-correction": true}})",
                                f.model.string(), (f.dir / "a").string(), f.x.string()));
  std::string out, err;
  // The config file alone.
  ASSERT_EQ(test::runNpuconv(fmt::format("convert --config '{}'", config.string()), &out, &err), 0) << err;
  nlohmann::json r = report(f.dir / "a");
  EXPECT_EQ(r["options"]["precision"], "int8");
  EXPECT_EQ(r["options"]["calib_samples"], 8);
  EXPECT_EQ(r["options"]["bias_correction"], false);
  EXPECT_EQ(r["option_sources"]["calib-samples"], "config " + config.string());
  EXPECT_EQ(r["option_sources"]["config"], config.string());

  // The environment beats the file (and NPUCONV_CONFIG names it); an empty variable is unset.
  const std::string env = fmt::format("NPUCONV_CONFIG='{}' NPUCONV_CALIB_SAMPLES=6 NPUCONV_OUTPUT='{}' NPUCONV_PERCENTILE=",
                                      config.string(), (f.dir / "b").string());
  ASSERT_EQ(test::runNpuconv("convert", &out, &err, env), 0) << err;
  r = report(f.dir / "b");
  EXPECT_EQ(r["options"]["calib_samples"], 6);
  EXPECT_EQ(r["option_sources"]["calib-samples"], "NPUCONV_CALIB_SAMPLES");
  EXPECT_EQ(r["option_sources"]["precision"], "config " + config.string());
  EXPECT_FALSE(r["option_sources"].contains("percentile"));

  // The command line beats both.
  ASSERT_EQ(test::runNpuconv(fmt::format("convert -o '{}' --calib-samples 4", (f.dir / "c").string()), &out, &err, env), 0) << err;
  r = report(f.dir / "c");
  EXPECT_EQ(r["options"]["calib_samples"], 4);
  EXPECT_EQ(r["option_sources"]["calib-samples"], "command line");
  EXPECT_EQ(r["option_sources"]["output"], "command line");
  EXPECT_EQ(r["option_sources"]["model"], "config " + config.string());
  // A flag from the environment: NPUCONV_FORCE=yes rebuilds an up-to-date folder.
  ASSERT_EQ(test::runNpuconv(fmt::format("convert -o '{}' --calib-samples 4", (f.dir / "c").string()), &out, &err,
                    env + " NPUCONV_FORCE=yes"), 0) << err;
  EXPECT_EQ(err.find("up to date"), std::string::npos) << err;
}

TEST(ConvertOptionSources, BadSourcesAreUsageErrorsNamingThem) {
  Fixture f = setUp("convert_sources_errors");
  const fs::path config = f.dir / "conv.json";
  std::string out, err;
  writeText(config, R"({"precison": "int8"})");
  EXPECT_EQ(test::runNpuconv(fmt::format("convert '{}' -o '{}' --config '{}'", f.model.string(), (f.dir / "o").string(),
                                config.string()), &out, &err), 2);
  EXPECT_NE(err.find("\"precison\" is not an option of npuconv convert"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(f.dir / "o"));

  writeText(config, R"({"precision": "int9"})");
  EXPECT_EQ(test::runNpuconv(fmt::format("convert '{}' -o '{}' --config '{}'", f.model.string(), (f.dir / "o").string(),
                                config.string()), &out, &err), 2);
  EXPECT_NE(err.find("\"precision\""), std::string::npos) << err;

  writeText(config, R"({"force": "yes"})");
  EXPECT_EQ(test::runNpuconv(fmt::format("convert '{}' -o '{}' --config '{}'", f.model.string(), (f.dir / "o").string(),
                                config.string()), &out, &err), 2);
  EXPECT_NE(err.find("a flag takes true or false"), std::string::npos) << err;

  EXPECT_EQ(test::runNpuconv(fmt::format("convert '{}' -o '{}'", f.model.string(), (f.dir / "o").string()), &out, &err,
                    "NPUCONV_FORCE=maybe"), 2);
  EXPECT_NE(err.find("NPUCONV_FORCE=maybe"), std::string::npos) << err;

  EXPECT_EQ(test::runNpuconv(fmt::format("convert -o '{}'", (f.dir / "o").string()), &out, &err), 2);
  EXPECT_NE(err.find("model is required"), std::string::npos) << err;
  EXPECT_NE(err.find("NPUCONV_MODEL"), std::string::npos) << err;

  EXPECT_EQ(test::runNpuconv(fmt::format("convert '{}' -o '{}' --config '{}'", f.model.string(), (f.dir / "o").string(),
                                (f.dir / "missing.json").string()), &out, &err), 5);
  EXPECT_NE(err.find("missing.json"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(f.dir / "o"));
}

TEST(ConvertCli, DryRunWritesNothingAndTellsWhetherUpToDate) {
  Fixture f = setUp("convert_dry_run");
  const fs::path outDir = f.dir / "out";
  const std::string cmd = fmt::format("convert '{}' -o '{}' --precision int8 --calib '{}' --layer-error-samples 0",
                                      f.model.string(), outDir.string(), f.x.string());
  std::string out, err;
  ASSERT_EQ(test::runNpuconv(cmd + " --dry-run", &out, &err), 0) << err;
  EXPECT_FALSE(fs::exists(outDir));
  EXPECT_NE(out.find("would convert: no complete output set"), std::string::npos) << out;
  EXPECT_NE(out.find("model.npub"), std::string::npos) << out;
  EXPECT_NE(out.find("passes: "), std::string::npos) << out;

  ASSERT_EQ(test::runNpuconv(cmd + " --json", &out, &err), 0) << err;
  auto j = nlohmann::json::parse(out);  // stdout holds exactly one JSON object
  EXPECT_EQ(j["status"], "converted");
  EXPECT_EQ(j["exit_code"], 0);
  EXPECT_EQ(j["report"]["precision"], "int8");

  ASSERT_EQ(test::runNpuconv(cmd + " --dry-run --json", &out, &err), 0) << err;
  j = nlohmann::json::parse(out);
  EXPECT_EQ(j["status"], "dry_run");
  EXPECT_EQ(j["plan"]["up_to_date"], true);
  ASSERT_EQ(test::runNpuconv(cmd + " --dry-run --calib-samples 5", &out, &err), 0) << err;
  EXPECT_NE(out.find("would convert: the options"), std::string::npos) << out;

  ASSERT_EQ(test::runNpuconv(cmd + " --json --quiet", &out, &err), 0) << err;
  EXPECT_EQ(err, "") << "--quiet: nothing on stderr";
  EXPECT_EQ(nlohmann::json::parse(out)["status"], "up_to_date");

  // An error with --json is JSON on stdout too, and the one line on stderr.
  EXPECT_EQ(test::runNpuconv(fmt::format("convert '{}' -o '{}' --json", (f.dir / "nope.onnx").string(), outDir.string()), &out, &err), 5);
  j = nlohmann::json::parse(out);
  EXPECT_EQ(j["status"], "error");
  EXPECT_EQ(j["exit_code"], 5);
  EXPECT_NE(err.find("nope.onnx"), std::string::npos) << err;
}

TEST(ConvertCli, ValidatesBothArtifactsAndFallsBackToFp16) {
  Fixture f = setUp("convert_validate_fallback");
  const std::string base = fmt::format("convert '{}' --precision int8 --calib '{}' --layer-error-samples 0 --validate-inputs '{}'",
                                       f.model.string(), f.x.string(), f.x.string());
  std::string out, err;
  ASSERT_EQ(test::runNpuconv(base + fmt::format(" -o '{}' --min-cosine 0.9", (f.dir / "ok").string()), &out, &err), 0) << err;
  nlohmann::json r = report(f.dir / "ok");
  // The summary on stderr: sizes, layers per kind, the blob, both validations.
  EXPECT_NE(err.find("  size: "), std::string::npos) << err;
  EXPECT_NE(err.find("  layers: Gemm 1 int8"), std::string::npos) << err;
  EXPECT_NE(err.find("  blob: " + (f.dir / "ok" / "model.npub").string()), std::string::npos) << err;
  EXPECT_NE(err.find("validation model.npub y: cosine"), std::string::npos) << err;
  ASSERT_TRUE(r["validation"].contains("model.onnx")) << r["validation"].dump();
  ASSERT_TRUE(r["validation"].contains("model.npub")) << r["validation"].dump();
  EXPECT_EQ(r["validation"]["model.npub"]["candidate_kind"], "device blob");
  EXPECT_EQ(r["validation"]["model.onnx"]["passed"], true);
  EXPECT_EQ(r["validation"]["model.onnx"]["candidate"], (f.dir / "ok" / "model.onnx").string());
  const double int8Sqnr = r["validation"]["model.onnx"]["aggregate"]["outputs"]["y"]["sqnr_db"].get<double>();
  EXPECT_GT(int8Sqnr, 15);
  EXPECT_LT(int8Sqnr, 55) << "the fallback test below needs int8 to miss 60 dB";

  // A bar int8 misses: exit 1, outputs still written and kept.
  EXPECT_EQ(test::runNpuconv(base + fmt::format(" -o '{}' --min-sqnr 60", (f.dir / "miss").string()), &out, &err), 1);
  EXPECT_NE(err.find("validation of model.onnx: output \"y\": SQNR"), std::string::npos) << err;
  EXPECT_EQ(report(f.dir / "miss")["precision"], "int8");

  // --fallback fp16: fp16 meets it; exit 9, the report says why; a re-run is cached and says so again.
  const std::string fb = base + fmt::format(" -o '{}' --min-sqnr 60 --fallback fp16", (f.dir / "fb").string());
  EXPECT_EQ(test::runNpuconv(fb, &out, &err), 9) << err;
  r = report(f.dir / "fb");
  EXPECT_EQ(r["precision"], "fp16");
  EXPECT_EQ(r["fallback"]["requested_precision"], "int8");
  EXPECT_NE(r["fallback"]["reason"].get<std::string>().find("SQNR"), std::string::npos);
  EXPECT_EQ(r["validation"]["model.onnx"]["passed"], true);
  EXPECT_EQ(test::runNpuconv(fb, &out, &err), 9) << err;
  EXPECT_NE(err.find("up to date"), std::string::npos) << err;

  // A bar nothing meets: exit 1 naming both.
  EXPECT_EQ(test::runNpuconv(base + fmt::format(" -o '{}' --min-sqnr 400 --fallback fp16", (f.dir / "none").string()), &out, &err), 1);
  EXPECT_NE(err.find("the fp16 fallback too"), std::string::npos) << err;

  // `npuconv validate` runs a device blob on the integer interpreter.
  ASSERT_EQ(test::runNpuconv(fmt::format("validate '{}' --reference-model '{}' --inputs '{}' --min-cosine 0.9 --json",
                                (f.dir / "ok" / "model.npub").string(), f.model.string(), f.x.string()),
                    &out, &err), 0) << err;
  auto v = nlohmann::json::parse(out);
  EXPECT_EQ(v["candidate_kind"], "device blob");
  EXPECT_EQ(v["passed"], true);
}

}  // namespace
}  // namespace npuconv
