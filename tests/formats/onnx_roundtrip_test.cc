// Lossless ONNX round trip: for every model of ONNX's conformance suite and of testdata/,
// re-importing the written model gives the same IR, onnx's checker accepts the output wherever
// it accepted the input, and writing twice gives identical bytes.
#include <gtest/gtest.h>

#include <onnx/checker.h>

#include <fstream>
#include <sstream>

#include "converter/ir/printer.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "tests/support/test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

using test::slurp;

bool checkerAccepts(const fs::path& p, std::string* why = nullptr) {
  try {
    onnx::checker::check_model(p.string());
    return true;
  } catch (const std::exception& e) {
    if (why) *why = e.what();
    return false;
  }
}

std::vector<fs::path> allModels() {
  std::vector<fs::path> out;
  if (fs::path root = test::onnxTestdataRoot(); !root.empty())
    for (const char* suite : {"node", "pytorch-converted", "pytorch-operator", "simple"})
      for (const auto& e : fs::directory_iterator(root / suite))
        if (fs::exists(e.path() / "model.onnx")) out.push_back(e.path() / "model.onnx");
  for (const auto& e : fs::recursive_directory_iterator(test::testdata("")))
    if (e.path().extension() == ".onnx" && e.path().string().find("/testdata/zoo/") == std::string::npos) out.push_back(e.path());
  // Zoo graphs come without their weights: round-trip the materialized copies.
  for (const std::string& name : test::zooModelNames()) {
    fs::path p = test::materializeZooModel(name);
    EXPECT_FALSE(p.empty()) << name;
    if (!p.empty()) out.push_back(p);
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(OnnxRoundTrip, EveryModelSurvivesLosslessly) {
  auto models = allModels();
  ASSERT_FALSE(models.empty());
  fs::path dir = test::tempDir("roundtrip");
  PrintOptions full;
  full.full = true;
  full.maxInlineElements = 0;  // compare constants by content hash
  int checked = 0, checkerBoth = 0;
  for (const fs::path& p : models) {
    SCOPED_TRACE(p.string());
    auto m1 = readOnnx(p);
    if (!m1) {
      // testdata may hold deliberately broken models under testdata/bad/.
      EXPECT_NE(p.string().find("/bad/"), std::string::npos) << m1.status().toString();
      continue;
    }
    fs::path a = dir / "a.onnx", b = dir / "b.onnx";
    ASSERT_TRUE(writeOnnx(*m1, a).hasValue());
    ASSERT_TRUE(writeOnnx(*m1, b).hasValue());
    ASSERT_EQ(slurp(a), slurp(b)) << "writing twice gave different bytes";
    auto m2 = readOnnx(a);
    ASSERT_TRUE(m2.hasValue()) << m2.status().toString();
    ASSERT_EQ(toText(*m1, full), toText(*m2, full));
    if (checkerAccepts(p)) {
      std::string why;
      EXPECT_TRUE(checkerAccepts(a, &why)) << why;
      ++checkerBoth;
    }
    ++checked;
  }
  std::printf("round trip: %d models, %d checked by onnx's checker\n", checked, checkerBoth);
  EXPECT_GT(checked, 1000);
}

TEST(OnnxRoundTrip, ExternalDataIsWrittenAndReadBack) {
  fs::path dir = test::tempDir("extdata");
  Model m;
  m.opsetImports = {{"", 13}};
  Graph& g = *m.graph;
  g.setName("mlp");
  Value* x = g.addInput("X", TensorType{DType::F32, shapeOf({2, 512}), {}, {}});
  std::vector<float> w(512 * 1024);
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(i % 97) * 0.25f;
  Value* wv = g.addInitializer("W", std::make_shared<TensorData>(TensorData::fromValues<float>(DType::F32, {512, 1024}, w)));
  Node* mm = g.createNode("MatMul", {x, wv}, 1, nullptr, "mm");
  mm->setProvenance({"mm"});  // as the importer gives a named node (created nodes start with none)
  mm->result()->setType(TensorType{DType::F32, shapeOf({2, 1024}), {}, {}});
  g.addOutput(mm->result());
  WriteOptions wo;
  wo.externalData = true;
  wo.externalThreshold = 1024;
  fs::path out = dir / "model.onnx";
  auto r = writeOnnx(m, out, wo);
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  EXPECT_EQ(r->externalFile, "model.onnx.data");
  EXPECT_EQ(fs::file_size(dir / "model.onnx.data"), w.size() * 4);
  EXPECT_LT(fs::file_size(out), 4096u);
  OnnxFileInfo info;
  auto back = readOnnx(out, {}, &info);
  ASSERT_TRUE(back.hasValue()) << back.status().toString();
  EXPECT_EQ(info.externalTensors, 1);
  PrintOptions full;
  full.full = true;
  full.maxInlineElements = 0;
  EXPECT_EQ(toText(m, full), toText(*back, full));
  std::string why;
  EXPECT_TRUE(checkerAccepts(out, &why)) << why;
}

/// Resident pages of mapped files (kB), from /proc/self/status.
int64_t rssFileKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("RssFile:", 0) == 0) return std::stoll(line.substr(8));
  return -1;
}

// A weight read from external data views the mapped file: releasePages() (what the weight
// converters call once a weight is converted) takes its pages out of the process's RSS, and
// reading it again gives the same bytes (they come back from the file).
TEST(OnnxRoundTrip, ReleasedExternalDataPagesReadBackUnchanged) {
  fs::path dir = test::tempDir("extdata_release");
  Model m;
  m.opsetImports = {{"", 13}};
  Graph& g = *m.graph;
  Value* x = g.addInput("X", TensorType{DType::F32, shapeOf({1, 1024}), {}, {}});
  std::vector<float> w(1024 * 2048);
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(i % 1013) * 0.5f;
  Value* wv = g.addInitializer("W", std::make_shared<TensorData>(TensorData::fromValues<float>(DType::F32, {1024, 2048}, w)));
  Node* mm = g.createNode("MatMul", {x, wv}, 1, nullptr, "mm");
  mm->result()->setType(TensorType{DType::F32, shapeOf({1, 2048}), {}, {}});
  g.addOutput(mm->result());
  WriteOptions wo;
  wo.externalData = true;
  ASSERT_TRUE(writeOnnx(m, dir / "model.onnx", wo).hasValue());
  auto back = readOnnx(dir / "model.onnx");
  ASSERT_TRUE(back.hasValue()) << back.status().toString();
  TensorRef t = back->graph->findValue("W")->initializer();
  ASSERT_TRUE(t->buffer());
  auto sum = [&] {
    double s = 0;
    for (float v : t->as<float>()) s += v;
    return s;
  };
  double expected = 0;
  for (float v : w) expected += v;
  EXPECT_EQ(sum(), expected);  // all 8 MiB resident now
  int64_t before = rssFileKb();
  t->releasePages();
  int64_t after = rssFileKb();
  EXPECT_GE(before - after, 6 * 1024) << "RssFile " << before << " kB -> " << after << " kB";
  EXPECT_EQ(sum(), expected);
  EXPECT_TRUE(std::equal(w.begin(), w.end(), t->as<float>().begin()));
}

}  // namespace
}  // namespace npuconv
