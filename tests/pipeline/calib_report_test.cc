// The report's "calibration" section (pipeline/calib_stage.h): method, percentile, samples,
// observed tensors, time, the data and the cache state; on a cache hit the data is described
// from the options (it is not opened) and "cache" says "hit".
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "formats/npy/npy.h"
#include "formats/onnx/onnx_writer.h"
#include "pipeline/calib_stage.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

TEST(CalibReport, MissThenHitDescribeTheData) {
  fs::path dir = test::tempDir("calib_report");
  Model src = test::parseModel(R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[1,4] x) => (float[1,4] y) {
      r = Relu(x)
      y = Tanh(r)
    })");
  ASSERT_TRUE(writeOnnx(src, dir / "m.onnx").hasValue());
  std::vector<float> v;
  for (int i = 0; i < 5 * 4; ++i) v.push_back(float(i % 7) - 3.0f);
  std::vector<int64_t> dims = {5, 1, 4};
  ASSERT_TRUE(writeNpy(dir / "x.npy", DType::F32, dims, v.data()).isOk());

  PassOptions po;
  po.pipeline = "O2";
  auto opt = readAndOptimize(dir / "m.onnx", po);
  ASSERT_TRUE(opt.hasValue()) << opt.status().toString();
  CalibStageOptions c;
  c.data.paths = {dir / "x.npy"};
  c.model = dir / "m.onnx";
  c.passes = po;
  c.threads = 1;
  c.cacheFile = dir / "cache.json";
  c.diagnostics = nullptr;
  c.calibrate.method = CalibMethod::Percentile;
  c.calibrate.percentile = 99.9;
  auto miss = runCalibStage(c, opt->model, opt->modelKey);
  ASSERT_TRUE(miss.hasValue()) << miss.status().toString();
  const auto& s = miss->summary;
  EXPECT_EQ(s["method"], "percentile");
  EXPECT_EQ(s["percentile"], 99.9);
  EXPECT_EQ(s["samples"], 5);
  EXPECT_EQ(s["tensors"], 3u);  // x, r, y
  EXPECT_GE(s["millis"].get<double>(), 0.0);
  EXPECT_EQ(s["data"], (dir / "x.npy").string() + " (1 input, 5 samples)");
  EXPECT_EQ(s["cache"], "miss");
  EXPECT_EQ(s["cache_file"], (dir / "cache.json").string());
  EXPECT_FALSE(miss->cacheHit);
  EXPECT_EQ(miss->stream, nullptr);  // closed: no one reads it again

  c.calibrate.method = CalibMethod::MinMax;  // the method is not part of the key
  auto hit = runCalibStage(c, opt->model, opt->modelKey);
  ASSERT_TRUE(hit.hasValue()) << hit.status().toString();
  const auto& h = hit->summary;
  EXPECT_TRUE(hit->cacheHit);
  EXPECT_EQ(h["cache"], "hit");
  EXPECT_EQ(h["method"], "minmax");
  EXPECT_FALSE(h.contains("percentile"));
  EXPECT_EQ(h["samples"], 5);
  EXPECT_EQ(h["tensors"], 3u);
  EXPECT_EQ(h["data"], (dir / "x.npy").string() + " (5 samples, not read: cache hit)");
  EXPECT_EQ(h["data_key"], s["data_key"]);
  EXPECT_EQ(h["cache_key"], s["cache_key"]);
  EXPECT_EQ(hit->ranges.at("r").hi, 3.0f);  // minmax over the cached statistics: exact max
  EXPECT_EQ(hit->ranges.at("r").lo, 0.0f);

  c.cacheFile.clear();
  auto none = runCalibStage(c, opt->model, opt->modelKey);
  ASSERT_TRUE(none.hasValue());
  EXPECT_EQ(none->summary["cache"], "none");
}

}  // namespace
}  // namespace npuconv
