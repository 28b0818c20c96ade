// convert-layout-nhwc on the zoo CNNs after O2: Transposes left at region boundaries only,
// outputs bit-identical to the O2 model on the executor, and `npuconv optimize --layout nhwc`
// writing an ONNX model that onnx's checker accepts and ONNX Runtime runs with the same
// results as the O2 model without the layout change.
#include <onnx/checker.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "formats/onnx/onnx_reader.h"
#include "tests/passes/layout_test_util.h"
#include "tests/support/test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

struct ZooLayoutCase {
  std::string model;
  int64_t transposes;  // after O2 + convert-layout-nhwc, io-layout nchw
};

std::string readAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

NamedTensors zooInputs(const Model& m) {
  NamedTensors in;
  for (const Value* v : m.graph->inputs()) {
    if (v->isInitializer()) continue;
    auto t = test::makeSeededInput(v->name(), v->dtype(), staticDims(*v->type().shape), 1234);
    EXPECT_TRUE(t.hasValue());
    if (t) in[v->name()] = *t;
  }
  return in;
}

class ZooLayout : public ::testing::TestWithParam<ZooLayoutCase> {};

TEST_P(ZooLayout, O2ThenNhwcIsIdentical) {
  const ZooLayoutCase& c = GetParam();
  auto path = test::materializeZooModelOr(c.model);
  if (!path) GTEST_SKIP() << "zoo model unavailable: " << path.status().toString();
  auto original = readOnnx(*path);
  ASSERT_TRUE(original.hasValue()) << original.status().toString();
  test::LayoutRun o2 = test::runPassesOn(std::move(*original), "pipeline=O2", {});
  NamedTensors in = zooInputs(o2.model);
  int64_t transposesBefore = test::countOps(o2.model, "Transpose");
  int64_t convs = test::countOps(o2.model, "Conv");

  auto m1 = readOnnx(*path);
  ASSERT_TRUE(m1.hasValue());
  test::LayoutRun nhwc = test::runPassesOn(std::move(*m1), "pipeline=O2,convert-layout-nhwc,eliminate-dead-code", {});
  int64_t transposes = test::countOps(nhwc.model, "Transpose");
  std::printf("[ layout   ] %s: %lld Conv -> %lld NHWC ops, Transposes %lld -> %lld, nodes %zu -> %zu\n",
              c.model.c_str(), static_cast<long long>(convs), static_cast<long long>(test::countNhwcOps(nhwc.model)),
              static_cast<long long>(transposesBefore), static_cast<long long>(transposes), countNodes(*o2.model.graph),
              countNodes(*nhwc.model.graph));
  EXPECT_EQ(test::countOps(nhwc.model, "Conv"), 0);
  EXPECT_EQ(transposes, c.transposes);
  test::expectIdentical(o2.model, nhwc.model, false, in, 2);

  auto m2 = readOnnx(*path);
  ASSERT_TRUE(m2.hasValue());
  test::LayoutRun io =
      test::runPassesOn(std::move(*m2), "pipeline=O2,convert-layout-nhwc,eliminate-dead-code", {{"io-layout", "nhwc"}});
  EXPECT_EQ(test::countOps(io.model, "Transpose"), c.transposes - 1);  // the input's is gone
  EXPECT_EQ(io.model.graph->inputs()[0]->type().toString(), "f32[1,224,224,3]");
  test::expectIdentical(o2.model, io.model, true, in, 2);
}

/// Runs `model` in ONNX Runtime on `in` (written to `dir`); outputs by name.
std::map<std::string, std::vector<float>> runOrt(const fs::path& model, const NamedTensors& in, const fs::path& dir) {
  std::map<std::string, std::vector<float>> out;
  fs::create_directories(dir);
  Status w = test::writeRawInputs(in, dir);
  EXPECT_TRUE(w.isOk()) << w.toString();
  std::string cmd = fmt::format("node '{}' --model '{}' --inputs '{}' --outdir '{}' --threads 2",
                                (test::sourceDir() / "tests/oracle/ort_run.js").string(), model.string(),
                                (dir / "inputs.json").string(), (dir / "ort").string());
  std::string so, se;
  EXPECT_EQ(test::runCommand(cmd, &so, &se), 0) << cmd << "\n" << se;
  auto manifest = nlohmann::json::parse(readAll(dir / "ort" / "manifest.json"), nullptr, false);
  if (manifest.is_discarded()) return out;
  for (const auto& o : manifest["outputs"]) {
    std::string bytes = readAll(dir / "ort" / o["file"].get<std::string>());
    std::vector<float> v(bytes.size() / sizeof(float));
    std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
    out[o["name"].get<std::string>()] = std::move(v);
  }
  return out;
}

TEST_P(ZooLayout, OnnxOutputRunsInOnnxRuntime) {
  const ZooLayoutCase& c = GetParam();
  if (!fs::exists(test::sourceDir() / "node_modules" / "onnxruntime-node"))
    GTEST_SKIP() << "node_modules/onnxruntime-node absent: run scripts/install_ort.sh";
  if (test::runCommand("node --version") != 0) GTEST_SKIP() << "node not found";
  auto path = test::materializeZooModelOr(c.model);
  if (!path) GTEST_SKIP() << "zoo model unavailable: " << path.status().toString();
  fs::path dir = test::tempDir("layout_ort_" + c.model);
  auto optimize = [&](const std::string& flags, const std::string& out) {
    std::string cmd = fmt::format("'{}' optimize '{}' -o '{}' --pipeline O2 {}", test::npuconvBinary(), path->string(),
                                  (dir / out).string(), flags);
    std::string so, se;
    EXPECT_EQ(test::runCommand(cmd, &so, &se), 0) << cmd << "\n" << se;
    std::string why;
    try {
      onnx::checker::check_model((dir / out).string());
    } catch (const std::exception& e) {
      ADD_FAILURE() << out << ": onnx checker: " << e.what();
    }
    return dir / out;
  };
  fs::path base = optimize("", "o2.onnx");
  fs::path nhwc = optimize("--layout nhwc", "o2_nhwc.onnx");
  fs::path io = optimize("--layout nhwc --io-layout nhwc", "o2_nhwc_io.onnx");

  auto written = readOnnx(nhwc);
  ASSERT_TRUE(written.hasValue()) << written.status().toString();
  EXPECT_EQ(written->opsetVersion("ai.npuconv.nhwc"), 0);  // lowered: standard ONNX only
  auto ioModel = readOnnx(io);
  ASSERT_TRUE(ioModel.hasValue());
  EXPECT_EQ(ioModel->graph->inputs()[0]->type().toString(), "f32[1,224,224,3]");

  NamedTensors in = zooInputs(*written);
  NamedTensors inNhwc;
  for (const auto& [name, t] : in) inNhwc[name] = t.rank() == 4 ? test::permute4(t, nhwc::kToNhwc) : t;
  auto r0 = runOrt(base, in, dir / "base");
  auto r1 = runOrt(nhwc, in, dir / "nhwc");
  auto r2 = runOrt(io, inNhwc, dir / "io");
  ASSERT_FALSE(r0.empty());
  for (const auto& [name, ref] : r0) {
    for (const auto* other : {&r1, &r2}) {
      ASSERT_TRUE(other->count(name)) << name;
      const std::vector<float>& got = other->at(name);
      ASSERT_EQ(got.size(), ref.size());
      double maxDiff = 0, maxAbs = 0;
      for (size_t i = 0; i < ref.size(); ++i) {
        maxDiff = std::max(maxDiff, std::abs(static_cast<double>(got[i]) - ref[i]));
        maxAbs = std::max(maxAbs, std::abs(static_cast<double>(ref[i])));
      }
      std::printf("[ layout   ] %s %s in ORT: max|diff| vs the O2 model %.3g (max|out| %.3g)\n", c.model.c_str(),
                  other == &r1 ? "nhwc" : "nhwc+io", maxDiff, maxAbs);
      // The lowered model runs ORT's own Conv on the same NCHW data: identical.
      EXPECT_EQ(maxDiff, 0.0) << name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Passes, ZooLayout,
                         ::testing::Values(ZooLayoutCase{"resnet18", 1}, ZooLayoutCase{"mobilenet_v3_small", 1}),
                         [](const ::testing::TestParamInfo<ZooLayoutCase>& i) { return i.param.model; });

}  // namespace
}  // namespace npuconv
