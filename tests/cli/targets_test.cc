// `npuconv targets` and `npuconv optimize --target/--target-file`: listing, printing, errors
// with exit codes, and the placement summary and report sections end to end.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/onnx/onnx_writer.h"
#include "formats/target/target_json.h"
#include "tests/passes/pass_test_util.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }
std::string bin() { return test::npuconvBinary(); }

TEST(TargetsCommand, ListsBuiltinProfilesFromAnyDirectory) {
  std::string out, err;
  // From a folder without targets/: the profiles are embedded in the binary.
  int rc = test::runCommand("cd " + q(test::tempDir("targets_cwd")) + " && " + bin() + " targets", &out, &err);
  ASSERT_EQ(rc, 0) << err;
  for (const std::string& n : builtinTargetNames()) EXPECT_NE(out.find(n + " "), std::string::npos) << n << "\n" << out;
  EXPECT_NE(out.find("int8-sym"), std::string::npos);
  EXPECT_NE(out.find("nhwc"), std::string::npos);
}

TEST(TargetsCommand, PrintsOneProfileAsTextAndJson) {
  std::string out, err;
  ASSERT_EQ(test::runCommand(bin() + " targets rk3588", &out, &err), 0) << err;
  EXPECT_NE(out.find("kernel<=31"), std::string::npos) << out;
  ASSERT_EQ(test::runCommand(bin() + " targets rk3588 --json", &out, &err), 0) << err;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["name"], "rk3588");
  EXPECT_EQ(j["ops"]["Conv"]["max_kernel"], 31);
  auto reparsed = parseTargetProfile(out, "stdout");
  ASSERT_TRUE(reparsed.hasValue()) << reparsed.status().toString();
  auto builtin = builtinTarget("rk3588");
  ASSERT_TRUE(builtin.hasValue());
  EXPECT_TRUE(*reparsed == *builtin);
}

TEST(TargetsCommand, ErrorsHaveExitCodes) {
  std::string out, err;
  EXPECT_EQ(test::runCommand(bin() + " targets rk9999", &out, &err), 2);
  EXPECT_NE(err.find("unknown target \"rk9999\""), std::string::npos) << err;
  fs::path dir = test::tempDir("targets_cli_errors");
  std::ofstream(dir / "typo.json") << R"({"name": "typo", "description": "d", "requires_static_shapes": true,
    "preferred_layout": "nhwc", "quantization": {"int8_symmetric": true}, "ops": {"Conv": {"max_kernel": "5"}}})";
  EXPECT_EQ(test::runCommand(bin() + " targets --target-file " + q(dir / "typo.json"), &out, &err), 2);
  EXPECT_NE(err.find("typo.json: ops.Conv.max_kernel: expected an integer"), std::string::npos) << err;
  EXPECT_EQ(test::runCommand(bin() + " targets --target-file " + q(dir / "absent.json"), &out, &err), 5);
  EXPECT_NE(err.find("absent.json"), std::string::npos) << err;
}

class OptimizeTarget : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = test::tempDir("optimize_target");
    Model m = test::buildModel(R"(<ir_version: 8, opset_import: ["" : 13]>
      g (float[1,3,16,16] x, float[8,3,7,7] w7, float[8,8,3,3] w3) => (float[1,8,8,8] y) {
        a = Conv(x, w7)
        r = Relu(a)
        y = Conv(r, w3)
      })",
                               {{"w7", {}}, {"w3", {}}});
    model = dir / "m.onnx";
    ASSERT_TRUE(writeOnnx(m, model).hasValue());
  }
  std::string optimize(const std::string& extra) const {
    return bin() + " optimize " + q(model) + " -o " + q(dir / "out.onnx") + " " + extra;
  }
  fs::path dir, model;
};

TEST_F(OptimizeTarget, ReportHasTargetAndPlacement) {
  std::string out, err;
  fs::path report = dir / "r.json";
  ASSERT_EQ(test::runCommand(optimize("--pipeline O2 --target rk3588 --report " + q(report)), &out, &err), 0) << err;
  EXPECT_NE(err.find("placement on rk3588: all 3 nodes on the NPU"), std::string::npos) << err;
  std::ifstream in(report);
  auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["target"]["name"], "rk3588");
  EXPECT_EQ(j["target"]["requires_static_shapes"], true);
  EXPECT_EQ(j["target"]["preferred_layout"], "nhwc");
  EXPECT_EQ(j["placement"]["target"], "rk3588");
  EXPECT_EQ(j["placement"]["node_count"], 3);
  EXPECT_EQ(j["placement"]["on_npu"], 3);
  ASSERT_EQ(j["placement"]["nodes"].size(), 3u);
  const auto& conv = j["placement"]["nodes"][0];
  EXPECT_EQ(conv["op"], "Conv");
  EXPECT_EQ(conv["device"], "npu");
  EXPECT_EQ(conv["original_names"][0], conv["name"]);
  bool convRow = false;
  for (const auto& row : j["placement"]["ops"])
    if (row["op"] == "Conv") {
      convRow = true;
      EXPECT_EQ(row["npu"], 2);
      EXPECT_EQ(row["cpu"], 0);
    }
  EXPECT_TRUE(convRow);
  EXPECT_TRUE(j.contains("passes"));
}

TEST_F(OptimizeTarget, UserProfileAndDefault) {
  std::ofstream(dir / "small.json") << R"({"name": "small", "description": "5x5 kernels at most",
    "requires_static_shapes": true, "preferred_layout": "nchw", "quantization": {"fp16": true},
    "ops": {"Conv": {"max_kernel": 5}, "Relu": {}}})";
  std::string out, err;
  fs::path report = dir / "small_report.json";
  ASSERT_EQ(test::runCommand(optimize("--target-file " + q(dir / "small.json") + " --report " + q(report)), &out, &err), 0)
      << err;
  EXPECT_NE(err.find("placement on small: 2 of 3 nodes on the NPU; 1 on the CPU: see " + report.string()),
            std::string::npos)
      << err;
  std::ifstream in(report);
  auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["placement"]["nodes"][0]["device"], "cpu");
  EXPECT_EQ(j["placement"]["nodes"][0]["reason"], "kernel 7x7 exceeds max 5x5");
  // Without --target: the generic NPU profile, in the report; the stderr line only when
  // compiling for a target (the npu pipeline or an explicit profile).
  fs::path report2 = dir / "default_report.json";
  ASSERT_EQ(test::runCommand(optimize("--report " + q(report2)), &out, &err), 0) << err;
  EXPECT_EQ(err.find("placement on"), std::string::npos) << err;
  std::ifstream in2(report2);
  auto j2 = nlohmann::json::parse(in2);
  EXPECT_EQ(j2["target"]["name"], "generic_npu");
  EXPECT_TRUE(j2["placement"]["nodes"].is_array());
}

TEST_F(OptimizeTarget, BadTargetOptionsFail) {
  std::string out, err;
  EXPECT_EQ(test::runCommand(optimize("--target nope"), &out, &err), 2);
  EXPECT_NE(err.find("unknown target \"nope\""), std::string::npos) << err;
  EXPECT_EQ(test::runCommand(optimize("--target rk3588 --target-file x.json"), &out, &err), 2);
  EXPECT_EQ(test::runCommand(optimize("--target-file " + q(dir / "missing.json")), &out, &err), 5);
  EXPECT_FALSE(fs::exists(dir / "out.onnx")) << "no output written when the target is bad";
}

}  // namespace
}  // namespace npuconv
