// `npuconv calibrate merge`: shard files written as calibrate writes them merge into the bytes of
// one run; overlapping shards are an error with exit code 2.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "quant/calibration.h"
#include "tests/quant/calib_test_util.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

const char* kTanhRelu = R"(<ir_version: 8, opset_import: ["" : 17]>
  g (float[4, 32] x) => (float[4, 32] y) {
    t = Tanh(x)
    y = Relu(t)
  })";

std::string statsFile(const std::filesystem::path& dir, const std::string& name, const Model& m,
                      const std::vector<NamedTensors>& data, int64_t shard, int64_t shards) {
  test::VectorStream stream(data);
  CalibrateOptions o;
  o.shardIndex = shard;
  o.shardCount = shards;
  auto s = collectStats(m, stream, o);
  EXPECT_TRUE(s.hasValue()) << s.status().toString();
  s->modelKey = "model";
  s->dataKey = "data";
  std::filesystem::path p = dir / name;
  std::ofstream(p) << calibStatsToJson(*s).dump() << "\n";
  return p.string();
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(CalibCli, MergeOfShardFilesEqualsOneRun) {
  Model m = test::parseModel(kTanhRelu);
  std::vector<NamedTensors> data;
  for (int k = 0; k < 9; ++k) data.push_back({{"x", test::f32Tensor({4, 32}, test::gaussian(128, 500 + k, 2.0f))}});
  auto dir = test::tempDir("calib_cli");
  std::string whole = statsFile(dir, "whole.json", m, data, 0, 1);
  std::string cmd = test::npuconvBinary() + " calibrate merge";
  for (int i = 0; i < 3; ++i) cmd += " " + statsFile(dir, "s" + std::to_string(i) + ".json", m, data, i, 3);
  std::string err;
  ASSERT_EQ(test::runCommand(cmd + " -o " + (dir / "all.json").string(), nullptr, &err), 0) << err;
  EXPECT_EQ(slurp((dir / "all.json").string()), slurp(whole));

  std::string s0 = (dir / "s0.json").string();
  EXPECT_EQ(test::runCommand(test::npuconvBinary() + " calibrate merge " + s0 + " " + s0 + " -o " +
                                 (dir / "bad.json").string(),
                             nullptr, &err),
            2);
  EXPECT_NE(err.find("counted twice"), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(dir / "bad.json"));
}

}  // namespace
}  // namespace npuconv
