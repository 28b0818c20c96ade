// The README's main job (scripts/demo.sh) as a test: the shipped BERT-style encoder, calibrated
// on the shipped text, converted to int8 ONNX plus blob and validated against the outputs PyTorch
// saved (testdata/models/encoder/gen_encoder.py). If this fails, the first README command does.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

TEST(MainJob, EncoderConvertsToInt8AndMeetsItsReferenceOutputs) {
  const fs::path enc = test::testdata("models/encoder");
  const fs::path out = test::tempDir("main_job") / "encoder";
  const std::string cmd = fmt::format(
      "'{}' convert '{}' -o '{}' --precision int8 --dim batch=1 --dim sequence=32 --calib-text '{}' --seq-len 32 "
      "--validate-inputs '{}' --reference-outputs '{}' --min-cosine 0.99 --fallback fp16",
      test::npuconvBinary(), (enc / "encoder.onnx").string(), out.string(),
      test::testdata("text/calib_sentences.txt").string(), (enc / "validate/inputs.npz").string(),
      (enc / "validate/reference.npz").string());
  std::string stdoutText, err;
  ASSERT_EQ(test::runCommand(cmd, &stdoutText, &err), 0) << err;
  for (const char* f : {"model.onnx", "model.npub", "report.json"}) EXPECT_TRUE(fs::exists(out / f)) << f;
  EXPECT_NE(err.find("  layers: MatMul 12 int8"), std::string::npos) << err;

  test::expectMatchesReportSchema(out / "report.json");
  const auto r = nlohmann::json::parse(test::slurp(out / "report.json"));
  EXPECT_EQ(r["precision"], "int8");
  EXPECT_FALSE(r.contains("fallback"));
  for (const char* artifact : {"model.onnx", "model.npub"}) {
    const auto& e = r["validation"][artifact]["aggregate"]["outputs"]["sentence_embedding"];
    EXPECT_EQ(e["samples"], 16) << artifact;
    // Measured 2026-12-06: cosine 0.99990, SQNR 37.0 dB for both artifacts against PyTorch.
    EXPECT_GT(e["cosine"].get<double>(), 0.9995) << artifact;
    EXPECT_GT(e["sqnr_db"].get<double>(), 30) << artifact;
  }

  // The second run of the container start-up: nothing to do.
  ASSERT_EQ(test::runCommand(cmd, &stdoutText, &err), 0) << err;
  EXPECT_NE(err.find("is up to date"), std::string::npos) << err;
}

}  // namespace
}  // namespace npuconv
