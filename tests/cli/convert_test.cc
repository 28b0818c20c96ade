// `npuconv convert` end to end through the binary: fp32 output computes what the input computes,
// passes onnx's checker, runs in ONNX Runtime, and is byte-identical across runs and thread
// counts; the report lists every pass run (inner fixpoint runs too); option errors exit with
// the documented codes on one line naming the option or file.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <onnx/checker.h>

#include "converter/exec/executor.h"
#include "formats/onnx/onnx_reader.h"
#include "tests/support/test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

using test::slurp;

int convert(const fs::path& model, const fs::path& out, const std::string& args, std::string* err = nullptr,
            const std::string& command = "convert") {
  return test::runCommand(fmt::format("'{}' {} '{}' -o '{}' {}", test::npuconvBinary(), command, model.string(),
                                      out.string(), args),
                          nullptr, err);
}

NamedTensors runModel(const fs::path& p, const NamedTensors& in) {
  auto m = readOnnx(p);
  EXPECT_TRUE(m.hasValue()) << m.status().toString();
  if (!m) return {};
  auto exec = Executor::create(*m, ExecOptions{.threads = 1});
  EXPECT_TRUE(exec.hasValue()) << exec.status().toString();
  if (!exec) return {};
  auto out = (*exec)->run(in);
  EXPECT_TRUE(out.hasValue()) << out.status().toString();
  return out ? std::move(*out) : NamedTensors{};
}

const fs::path kTinyCnn = test::testdata("models/tiny_cnn.onnx");

TEST(ConvertCli, Fp32MatchesInputAndIsDeterministic) {
  fs::path dir = test::tempDir("convert_fp32");
  std::string err;
  ASSERT_EQ(convert(kTinyCnn, dir / "a", "--precision fp32 --threads 1", &err), 0) << err;
  ASSERT_EQ(convert(kTinyCnn, dir / "b", "--precision fp32 --threads 2", &err), 0) << err;
  ASSERT_EQ(convert(kTinyCnn, dir / "c", "", &err), 0) << err;
  std::string a = slurp(dir / "a/model.onnx");
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a, slurp(dir / "b/model.onnx"));
  EXPECT_EQ(a, slurp(dir / "c/model.onnx"));
  try {
    onnx::checker::check_model((dir / "a/model.onnx").string());
  } catch (const std::exception& e) {
    FAIL() << "onnx checker: " << e.what();
  }

  auto x = test::makeSeededInput("input", DType::F32, {2, 3, 32, 32}, 11);
  ASSERT_TRUE(x.hasValue());
  NamedTensors in;
  in.emplace("input", std::move(*x));
  NamedTensors want = runModel(kTinyCnn, in), got = runModel(dir / "a/model.onnx", in);
  ASSERT_EQ(got.size(), 1u);
  const Tensor& w = want.at("logits");
  const Tensor& g = got.at("logits");
  ASSERT_EQ(g.dims(), w.dims());
  double maxDiff = 0, maxAbs = 0;
  for (int64_t i = 0; i < w.numElements(); ++i) {
    maxDiff = std::max(maxDiff, double(std::abs(w.data<float>()[i] - g.data<float>()[i])));
    maxAbs = std::max(maxAbs, double(std::abs(w.data<float>()[i])));
  }
  EXPECT_GT(maxAbs, 0.0);
  EXPECT_LE(maxDiff, 1e-5 * std::max(1.0, maxAbs));

  // O2 folded both BatchNormalizations; the report says so, run by run.
  auto m = readOnnx(dir / "a/model.onnx");
  ASSERT_TRUE(m.hasValue());
  for (const Node* n : m->graph->nodes()) EXPECT_NE(n->opType(), "BatchNormalization");
  auto r = nlohmann::json::parse(slurp(dir / "a/report.json"), nullptr, false);
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["precision"], "fp32");
  EXPECT_EQ(r["options"]["pipeline"], "O2");
  EXPECT_EQ(r["options"]["threads"], 1);
  EXPECT_EQ(r["input"]["key"].get<std::string>().size(), 16u);
  int foldBnRuns = 0, foldBnChanged = 0;
  std::vector<std::string> topLevel;
  for (const auto& p : r["passes"]) {
    if (!p.contains("group")) topLevel.push_back(p["name"]);
    if (p["name"] == "fold-conv-bn") {
      EXPECT_EQ(p["group"], "fixpoint(11 passes)");
      EXPECT_GE(p["round"].get<int>(), 1);
      ++foldBnRuns;
      foldBnChanged += p["changed"].get<bool>();
    }
  }
  EXPECT_GE(foldBnRuns, 2);  // round 1 folds, round 2 finds the fixpoint
  EXPECT_EQ(foldBnChanged, 1);
  ASSERT_GE(topLevel.size(), 3u);
  EXPECT_EQ(topLevel[topLevel.size() - 3], "lower-nhwc-to-onnx");
  EXPECT_EQ(topLevel[topLevel.size() - 2], "lower-to-opset");  // before quantization
  EXPECT_EQ(topLevel.back(), "place-on-target");              // sees the quantized graph
  EXPECT_TRUE(r.contains("placement"));
  EXPECT_EQ(r["output"]["model_bytes"].get<size_t>(), a.size());
}

TEST(ConvertCli, NhwcTargetRunsInOnnxRuntime) {
  fs::path dir = test::tempDir("convert_ort");
  std::string err;
  ASSERT_EQ(convert(kTinyCnn, dir / "out", "--pipeline npu --input-shape input=1x3x32x32 --target rk3588", &err), 0)
      << err;
  auto m = readOnnx(dir / "out/model.onnx");
  ASSERT_TRUE(m.hasValue());
  for (const Node* n : m->graph->nodes()) EXPECT_TRUE(n->domain().empty()) << n->describe();
  try {
    onnx::checker::check_model((dir / "out/model.onnx").string());
  } catch (const std::exception& e) {
    FAIL() << "onnx checker: " << e.what();
  }
  if (!fs::exists(test::sourceDir() / "node_modules/onnxruntime-node"))
    GTEST_SKIP() << "node_modules/onnxruntime-node absent: run scripts/install_ort.sh";
  if (test::runCommand("node --version") != 0) GTEST_SKIP() << "node not found";
  auto x = test::makeSeededInput("input", DType::F32, {1, 3, 32, 32}, 5);
  ASSERT_TRUE(x.hasValue());
  NamedTensors in;
  in.emplace("input", std::move(*x));
  ASSERT_TRUE(test::writeRawInputs(in, dir).isOk());
  std::string cmd = fmt::format("node '{}' --model '{}' --inputs '{}' --outdir '{}'",
                                (test::sourceDir() / "tests/oracle/ort_run.js").string(),
                                (dir / "out/model.onnx").string(), (dir / "inputs.json").string(), (dir / "ort").string());
  ASSERT_EQ(test::runCommand(cmd, nullptr, &err), 0) << cmd << "\n" << err;
  auto manifest = nlohmann::json::parse(slurp(dir / "ort/manifest.json"), nullptr, false);
  ASSERT_EQ(manifest["outputs"].size(), 1u);
  std::string bytes = slurp(dir / "ort" / manifest["outputs"][0]["file"].get<std::string>());
  NamedTensors want = runModel(kTinyCnn, in);
  const Tensor& w = want.at("logits");
  ASSERT_EQ(bytes.size(), w.byteSize());
  const float* ort = reinterpret_cast<const float*>(bytes.data());
  for (int64_t i = 0; i < w.numElements(); ++i) EXPECT_NEAR(ort[i], w.data<float>()[i], 1e-4) << i;
}

TEST(ConvertCli, OptionErrorsExitWithTheirCodes) {
  fs::path dir = test::tempDir("convert_errors");
  std::string err;
  EXPECT_EQ(convert(kTinyCnn, dir / "o1", "--precision int8", &err), 2);
  EXPECT_NE(err.find("--calib"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_FALSE(fs::exists(dir / "o1"));

  EXPECT_EQ(convert(kTinyCnn, dir / "o2", "--precision int8 --calib " + (dir / "nope.npz").string(), &err), 5);
  EXPECT_NE(err.find("nope.npz"), std::string::npos) << err;
  EXPECT_EQ(convert(kTinyCnn, dir / "o3", "--precision int8 --calib-text " + (dir / "nope.txt").string(), &err), 5);
  EXPECT_NE(err.find("nope.txt"), std::string::npos) << err;

  EXPECT_EQ(convert(kTinyCnn, dir / "o4", "--precision int4", &err), 2);
  EXPECT_EQ(convert(kTinyCnn, dir / "o5", "--calib-method median", &err), 2);
  EXPECT_NE(err.find("median"), std::string::npos) << err;
  EXPECT_EQ(convert(kTinyCnn, dir / "o6", "--bias-correction", &err), 2);
  EXPECT_NE(err.find("--bias-correction"), std::string::npos) << err;
  EXPECT_EQ(convert(kTinyCnn, dir / "o7", "--disable fold-everything", &err), 2);
  EXPECT_EQ(convert(dir / "missing.onnx", dir / "o8", "", &err), 5);
  EXPECT_NE(err.find("missing.onnx"), std::string::npos) << err;
}

TEST(ConvertCli, QuantizeAliasReportPathAndDisabledEmitEntry) {
  fs::path dir = test::tempDir("convert_alias");
  std::string err;
  ASSERT_EQ(convert(kTinyCnn, dir / "out", "--report " + (dir / "r/r.json").string() + " --disable place-on-target",
                    &err, "quantize"),
            0)
      << err;
  EXPECT_TRUE(fs::exists(dir / "out/model.onnx"));
  EXPECT_FALSE(fs::exists(dir / "out/report.json"));
  auto r = nlohmann::json::parse(slurp(dir / "r/r.json"), nullptr, false);
  ASSERT_TRUE(r.is_object());
  EXPECT_FALSE(r.contains("placement"));
  for (const auto& p : r["passes"]) EXPECT_NE(p["name"], "place-on-target");
}

TEST(ConvertCli, OptimizeEmitStageHonoursDisableAndPrintIrAfter) {
  fs::path dir = test::tempDir("optimize_emit");
  std::string err;
  std::string base = fmt::format("'{}' optimize '{}' ", test::npuconvBinary(), kTinyCnn.string());
  // The emit stage's entries print like any pass, inner fixpoint runs too.
  ASSERT_EQ(test::runCommand(base + "-o '" + (dir / "a.onnx").string() +
                                 "' --pipeline npu --input-shape input=1x3x32x32 --verify-each "
                                 "--print-ir-after fold-conv-bn,lower-nhwc-to-onnx,lower-to-opset",
                             nullptr, &err),
            0)
      << err;
  EXPECT_NE(err.find("// IR after fold-conv-bn (round 1 of fixpoint(11 passes))"), std::string::npos) << err;
  EXPECT_NE(err.find("// IR after lower-nhwc-to-onnx\n"), std::string::npos) << err;
  EXPECT_NE(err.find("// IR after lower-to-opset\n"), std::string::npos) << err;
  // Disabled, the lowering leaves the NHWC twins in the file.
  ASSERT_EQ(test::runCommand(base + "-o '" + (dir / "b.onnx").string() +
                                 "' --pipeline npu --input-shape input=1x3x32x32 --disable lower-nhwc-to-onnx",
                             nullptr, &err),
            0)
      << err;
  auto a = readOnnx(dir / "a.onnx"), b = readOnnx(dir / "b.onnx");
  ASSERT_TRUE(a.hasValue() && b.hasValue());
  auto nhwcNodes = [](const Model& m) {
    int n = 0;
    for (const Node* node : m.graph->nodes()) n += node->domain() == "ai.npuconv.nhwc";
    return n;
  };
  EXPECT_EQ(nhwcNodes(*a), 0);
  EXPECT_GT(nhwcNodes(*b), 0);
}

}  // namespace
}  // namespace npuconv
