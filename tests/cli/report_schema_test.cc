// docs/report.schema.json describes what `npuconv convert` really writes: every precision, with
// and without validation, a target's placement, --auto-mixed and an fp16 fallback; and
// `npuconv validate --json` matches the schema's "validation" definition. The schema checker
// itself must reject a report that lost a required section.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "tests/cli/two_layer_model.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

TEST(ReportSchema, EveryKindOfConvertReportMatchesIt) {
  const fs::path dir = test::tempDir("report_schema");
  const fs::path model = test::writeTwoLayerModel(dir);
  const fs::path x = test::writeTwoLayerInputs(dir);
  const std::string in = fmt::format("convert '{}' --layer-error-samples 4", model.string());
  const std::string calib = fmt::format(" --calib '{}'", x.string());
  const std::string validation = fmt::format(" --validate-inputs '{}'", x.string());
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"fp32", " --precision fp32"},
      {"fp16", " --precision fp16" + validation},
      {"int8", " --precision int8 --target rk3588" + calib + validation + " --min-cosine 0.9"},
      {"int8_weights", " --precision int8-weights"},
      {"int8_dynamic", " --precision int8-dynamic"},
      {"auto_mixed", " --precision int8 --no-bias-correction --target-sqnr 45 --holdout-samples 2" + calib},
      {"fallback", " --precision int8" + calib + validation + " --min-sqnr 60 --fallback fp16"},
  };
  std::string out, err;
  for (const auto& [name, options] : runs) {
    SCOPED_TRACE(name);
    const int rc = test::runNpuconv(fmt::format("{}{} -o '{}'", in, options, (dir / name).string()), &out, &err);
    ASSERT_TRUE(rc == 0 || (name == "fallback" && rc == 9)) << rc << ": " << err;
    test::expectMatchesReportSchema(dir / name / "report.json");
  }
  // The sections that apply are there (the schema makes them optional).
  const auto int8 = nlohmann::json::parse(test::slurp(dir / "int8" / "report.json"));
  for (const char* key : {"calibration", "layer_error", "device_blob", "validation", "precisions", "placement"})
    EXPECT_TRUE(int8.contains(key)) << key;
  EXPECT_TRUE(nlohmann::json::parse(test::slurp(dir / "fallback" / "report.json")).contains("fallback"));
  EXPECT_TRUE(nlohmann::json::parse(test::slurp(dir / "auto_mixed" / "report.json")).contains("auto_mixed"));

  // validate --json prints the schema's "validation" object.
  ASSERT_EQ(test::runNpuconv(fmt::format("validate '{}' --reference-model '{}' --inputs '{}' --json",
                                (dir / "int8" / "model.npub").string(), model.string(), x.string()),
                    &out, &err), 0) << err;
  std::ofstream(dir / "validate.json") << out;
  test::expectMatchesReportSchema(dir / "validate.json", "validation");

  // The checker can fail: a report without its passes does not match.
  auto broken = nlohmann::json::parse(test::slurp(dir / "fp32" / "report.json"));
  broken.erase("passes");
  std::ofstream(dir / "broken.json") << broken.dump();
  const std::string check = fmt::format("NODE_PATH=/usr/share/nodejs node '{}' '{}' '{}'",
                                        (test::sourceDir() / "tests/support/check_json_schema.js").string(),
                                        (test::sourceDir() / "docs/report.schema.json").string(),
                                        (dir / "broken.json").string());
  EXPECT_EQ(test::runCommand(check, &out, &err), 1) << out << err;
  EXPECT_NE(out.find("'passes'"), std::string::npos) << out;
}

}  // namespace
}  // namespace npuconv
