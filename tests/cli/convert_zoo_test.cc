// `npuconv convert` of the zoo MiniLM at opset 14 (LayerNormalization and Gelu newer than the
// opset: lower-to-opset writes them decomposed, before quantization) and opset 17, in fp16,
// int8-dynamic and int8-weights, through the binary: the output passes onnx's checker, is
// byte-identical across two runs and across --threads 1 / 2, and runs in ONNX Runtime with
// outputs close to the float model's.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include "formats/onnx/onnx_reader.h"
#include "tests/quant/precisions_test_util.h"
#include "tests/support/test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

using test::slurp;

struct ZooCase {
  std::string zoo, precision;
};

class ConvertZooTest : public ::testing::TestWithParam<ZooCase> {};

TEST_P(ConvertZooTest, CheckerValidDeterministicAndRunsInOrt) {
  const ZooCase& c = GetParam();
  auto path = test::materializeZooModelOr(c.zoo);
  ASSERT_TRUE(path.hasValue()) << path.status().toString();
  fs::path dir = test::tempDir("convert_zoo_" + c.zoo + "_" + c.precision);
  std::string err;
  for (const auto& [out, threads] : {std::pair{"a", 1}, std::pair{"b", 1}, std::pair{"c", 2}}) {
    std::string cmd = fmt::format("'{}' convert '{}' -o '{}' --precision {} --threads {}", test::npuconvBinary(),
                                  path->string(), (dir / out).string(), c.precision, threads);
    ASSERT_EQ(test::runCommand(cmd, nullptr, &err), 0) << cmd << "\n" << err;
  }
  fs::path written = dir / "a/model.onnx";
  std::string a = slurp(written);
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(a == slurp(dir / "b/model.onnx")) << "two runs differ";
  EXPECT_TRUE(a == slurp(dir / "c/model.onnx")) << "--threads 1 and 2 differ";
  try {
    onnx::checker::check_model(written.string());
    onnx::shape_inference::InferShapes(written.string(), "", onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict_mode=*/1));
  } catch (const std::exception& e) {
    FAIL() << "onnx checker: " << e.what();
  }
  auto m = readOnnx(written);
  ASSERT_TRUE(m.hasValue()) << m.status().toString();
  int64_t opset = m->opsetVersion("");
  for (const Node* n : m->graph->nodes()) {
    if (opset < 17) {
      EXPECT_NE(n->opType(), "LayerNormalization");
    }
    if (opset < 20) {
      EXPECT_NE(n->opType(), "Gelu");
    }
  }
  auto r = nlohmann::json::parse(slurp(dir / "a/report.json"), nullptr, false);
  ASSERT_TRUE(r.is_object());
  std::vector<std::string> topLevel;
  for (const auto& p : r["passes"])
    if (!p.contains("group")) topLevel.push_back(p["name"]);
  ASSERT_GE(topLevel.size(), 2u);
  EXPECT_EQ(topLevel.back(), "place-on-target");  // after quantization
  EXPECT_EQ(topLevel[topLevel.size() - 2], "lower-to-opset");

  if (!fs::exists(test::sourceDir() / "node_modules/onnxruntime-node"))
    GTEST_SKIP() << "node_modules/onnxruntime-node absent: run scripts/install_ort.sh";
  if (test::runCommand("node --version") != 0) GTEST_SKIP() << "node not found";
  auto floatModel = readOnnx(*path);
  ASSERT_TRUE(floatModel.hasValue());
  NamedTensors inputs;
  for (const char* name : {"input_ids", "attention_mask", "token_type_ids"}) {
    auto t = test::makeSeededInput(name, DType::I64, {1, 32}, 5);
    ASSERT_TRUE(t.hasValue());
    inputs.emplace(name, std::move(*t));
  }
  ASSERT_TRUE(test::writeRawInputs(inputs, dir).isOk());
  auto ort = test::runOrt(written, dir, dir / "ort");
  ASSERT_TRUE(ort.hasValue()) << ort.status().toString();
  NamedTensors ref = test::runConverted(*floatModel, inputs, 2);
  for (const char* out : {"last_hidden_state", "pooler_output"}) {
    ASSERT_TRUE(ort->count(out) && ref.count(out)) << out;
    ASSERT_EQ(ort->at(out).dims(), ref.at(out).dims()) << out;
    double cos = test::cosine(test::asDoubles(ref.at(out)), test::asDoubles(ort->at(out)));
    std::printf("[ convert zoo] %s %s %s: ORT vs float32 cosine %.6f\n", c.zoo.c_str(), c.precision.c_str(), out, cos);
    EXPECT_GE(cos, 0.99) << out;
  }
}

INSTANTIATE_TEST_SUITE_P(MiniLm, ConvertZooTest,
                         ::testing::Values(ZooCase{"minilm_l6_opset14", "fp16"}, ZooCase{"minilm_l6_opset14", "int8-dynamic"},
                                           ZooCase{"minilm_l6_opset14", "int8-weights"}, ZooCase{"minilm_l6_opset17", "fp16"},
                                           ZooCase{"minilm_l6_opset17", "int8-dynamic"},
                                           ZooCase{"minilm_l6_opset17", "int8-weights"}),
                         [](const auto& info) {
                           std::string s = info.param.zoo + "_" + info.param.precision;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

}  // namespace
}  // namespace npuconv
