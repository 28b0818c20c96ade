// `npuconv calibrate` runs convert's calibration step (pipeline/calibrate.h): the same passes,
// observed values and cache key. Real processes on a tiny model and .npz/.npy data the test
// writes: three shards merged equal one calibrate run and the cache `convert` writes with
// direct calibration, byte for byte; that file is a cache hit for convert (the data is not
// decoded) and gives byte for byte the int8 model of direct calibration, a partial shard file is refused, and the statistics are keyed by the names of the
// optimized graph.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/npy/npy.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "pipeline/calib_stage.h"
#include "tests/cli/two_layer_model.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

using test::slurp;

/// y = Tanh(Relu(MatMul(x, W) + b) + z): O2 turns MatMul + Add into one op, so the observed
/// names of the optimized graph differ from the file's.
fs::path writeModel(const fs::path& dir) {
  std::string text = fmt::format(R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[1,8] x, float[1,8] z) => (float[1,8] y) {{
      W = Constant<value = float[8,8] {{{}}}>()
      b = Constant<value = float[8] {{{}}}>()
      m = MatMul(x, W)
      a = Add(m, b)
      r = Relu(a)
      s = Add(r, z)
      y = Tanh(s)
    }})", test::pseudoFloatList(64, 1, 700.0), test::pseudoFloatList(8, 2, 700.0));
  Model m = test::parseModel(text);
  fs::path p = dir / "model.onnx";
  EXPECT_TRUE(writeOnnx(m, p).hasValue());
  return p;
}

/// calib.npz with x and z, 9 samples each ([9,1,8] stacks), stored by Python's zipfile (numpy's
/// layout: one NAME.npy member per array).
fs::path writeNpz(const fs::path& dir) {
  for (const auto& [name, seed] : {std::pair{"x", 11u}, std::pair{"z", 12u}}) {
    const std::vector<float> v = test::pseudoFloats(9 * 8, seed, 400.0f);
    std::vector<int64_t> dims = {9, 1, 8};
    EXPECT_TRUE(writeNpy(dir / (std::string(name) + ".npy"), DType::F32, dims, v.data()).isOk());
  }
  fs::path npz = dir / "calib.npz";
  std::string cmd = fmt::format(
      "cd '{}' && python3 -c \"import zipfile; z = zipfile.ZipFile('calib.npz', 'w'); z.write('x.npy'); "
      "z.write('z.npy'); z.close()\"",
      dir.string());
  EXPECT_EQ(test::runCommand(cmd), 0) << cmd;
  return npz;
}

TEST(CalibratePipeline, ShardsMergedEqualOneRunAndConvertsCache) {
  if (test::runCommand("python3 -c 'import zipfile'") != 0) GTEST_SKIP() << "python3 not found (writes the .npz)";
  fs::path dir = test::tempDir("calibrate_pipeline");
  fs::path model = writeModel(dir), npz = writeNpz(dir);
  const std::string common = fmt::format("'{}' --calib '{}'", model.string(), npz.string());
  std::string err;
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(test::runNpuconv(fmt::format("calibrate {} --threads 1 --shard {}/3 -q -o '{}'", common, i, (dir / fmt::format("s{}.json", i)).string()), nullptr, &err), 0) << err;
  ASSERT_EQ(test::runNpuconv(fmt::format("calibrate merge '{0}/s0.json' '{0}/s1.json' '{0}/s2.json' -o '{0}/all.json'", dir.string()), nullptr, &err), 0) << err;
  ASSERT_EQ(test::runNpuconv(fmt::format("calibrate {} --threads 2 -q -o '{}'", common, (dir / "whole.json").string()), nullptr, &err), 0) << err;
  const std::string all = slurp(dir / "all.json");
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all, slurp(dir / "whole.json"));

  // convert with direct calibration writes its cache before quantizing: the same bytes.
  int rc = test::runNpuconv(fmt::format("convert {} -o '{}' --precision int8 --calib-cache '{}'", common, (dir / "direct").string(),
                               (dir / "direct.json").string()), nullptr, &err);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_EQ(slurp(dir / "direct.json"), all);
  ASSERT_EQ(test::runNpuconv(fmt::format("convert {} -o '{}' --precision int8 --threads 2", common, (dir / "nocache").string()), nullptr, &err), 0) << err;
  const std::string direct = slurp(dir / "direct/model.onnx");
  ASSERT_NE(direct.find("QuantizeLinear"), std::string::npos);  // int8 QDQ was emitted
  EXPECT_TRUE(direct == slurp(dir / "nocache/model.onnx")) << "a cache file changes the model";

  // The merged file is a cache hit: the statistics are not recomputed, the file not rewritten.
  auto before = fs::last_write_time(dir / "all.json");
  rc = test::runNpuconv(fmt::format("convert {} -o '{}' --precision int8 --calib-cache '{}'", common, (dir / "cached").string(),
                           (dir / "all.json").string()), nullptr, &err);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_NE(err.find("statistics of 9 samples from " + (dir / "all.json").string() + " (cache hit)"), std::string::npos) << err;
  EXPECT_EQ(fs::last_write_time(dir / "all.json"), before);
  // The shards merged on "other machines" give the model direct calibration gives, byte for byte.
  EXPECT_TRUE(slurp(dir / "cached/model.onnx") == direct) << "merged shards give another model";
  auto report = nlohmann::json::parse(slurp(dir / "cached/report.json"), nullptr, false);
  ASSERT_TRUE(report.is_object());
  EXPECT_EQ(report["calibration"]["cache"], "hit");
  EXPECT_EQ(report["calibration"]["samples"], 9);
  EXPECT_NE(report["calibration"]["data"].get<std::string>().find("calib.npz"), std::string::npos);
  // The per-layer table: the fused MatMul + Add + Relu, fed its float input, on 8 samples.
  EXPECT_EQ(report["layer_error"]["samples"], 8);
  EXPECT_EQ(report["layer_error"]["summary"]["layers"], 1);
  EXPECT_GT(report["layer_error"]["summary"]["min_sqnr_db"].get<double>(), 25.0) << report["layer_error"].dump();
  EXPECT_NE(err.find("layer error over 8 samples: 1 layer,"), std::string::npos) << err;

  // Another calibration method reuses the same statistics (they are histograms); another pass
  // pipeline is a miss (other graph, other names).
  EXPECT_EQ(test::runNpuconv(fmt::format("convert {} -o '{}' --precision int8 --calib-method entropy --calib-cache '{}'", common,
                                (dir / "entropy").string(), (dir / "all.json").string()), nullptr, &err), 0) << err;
  EXPECT_NE(err.find("(cache hit)"), std::string::npos) << err;
  fs::copy_file(dir / "all.json", dir / "other.json");
  test::runNpuconv(fmt::format("convert {} -o '{}' --precision int8 --pipeline none --calib-cache '{}'", common,
                      (dir / "none").string(), (dir / "other.json").string()), nullptr, &err);
  EXPECT_EQ(err.find("(cache hit)"), std::string::npos) << err;
  EXPECT_NE(slurp(dir / "other.json"), all);

  // One shard is not the statistics of the data: refused, naming the file, exit 2.
  EXPECT_EQ(test::runNpuconv(fmt::format("convert {} -o '{}' --precision int8 --calib-cache '{}'", common,
                                (dir / "partial").string(), (dir / "s1.json").string()), nullptr, &err), 2);
  EXPECT_NE(err.find((dir / "s1.json").string() + ": calibration cache: holds 1 of 3 shards"), std::string::npos) << err;

  // Shards of other options do not merge.
  ASSERT_EQ(test::runNpuconv(fmt::format("calibrate {} --pipeline none --shard 1/3 -q -o '{}'", common, (dir / "n1.json").string()), nullptr, &err), 0) << err;
  EXPECT_EQ(test::runNpuconv(fmt::format("calibrate merge '{0}/s0.json' '{0}/n1.json' -o '{0}/bad.json'", dir.string()), nullptr, &err), 2);
  EXPECT_NE(err.find("not a shard of the same model, data and options"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir / "bad.json"));
}

TEST(CalibratePipeline, ObservesTheOptimizedGraph) {
  if (test::runCommand("python3 -c 'import zipfile'") != 0) GTEST_SKIP() << "python3 not found (writes the .npz)";
  fs::path dir = test::tempDir("calibrate_names");
  fs::path model = writeModel(dir), npz = writeNpz(dir);
  std::string err;
  ASSERT_EQ(test::runNpuconv(fmt::format("calibrate '{}' --calib '{}' -q -o '{}'", model.string(), npz.string(), (dir / "c.json").string()), nullptr, &err), 0) << err;
  auto j = nlohmann::json::parse(slurp(dir / "c.json"), nullptr, false);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["key"].get<std::string>().size(), 16u);
  EXPECT_EQ(j["stats"]["samples"], 9);
  PassOptions po;
  po.pipeline = "O2";
  auto opt = readAndOptimize(model, po);
  ASSERT_TRUE(opt.hasValue()) << opt.status().toString();
  std::set<std::string> names;
  for (const Node* n : opt->model.graph->nodes())
    for (size_t i = 0; i < n->numResults(); ++i) names.insert(n->result(i)->name());
  for (const Value* v : opt->model.graph->inputs()) names.insert(v->name());
  ASSERT_FALSE(j["stats"]["tensors"].empty());
  for (const auto& [name, stats] : j["stats"]["tensors"].items()) EXPECT_TRUE(names.count(name)) << name;
  EXPECT_FALSE(names.count("m"));  // MatMul + Add became one op: "m" is not a value of the optimized graph
  EXPECT_FALSE(j["stats"]["tensors"].contains("m"));
  EXPECT_TRUE(j["stats"]["tensors"].contains("x"));

  // --precision other than int8 uses no statistics: exit 2 naming it.
  EXPECT_EQ(test::runNpuconv(fmt::format("calibrate '{}' --calib '{}' --precision fp16 -o '{}'", model.string(), npz.string(),
                                (dir / "f.json").string()), nullptr, &err), 2);
  EXPECT_NE(err.find("--precision fp16: calibrate collects the statistics of --precision int8 only"), std::string::npos) << err;
}

}  // namespace
}  // namespace npuconv
