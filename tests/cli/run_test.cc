// `npuconv run`: runs the built binary on ONNX conformance models and checks the files it
// writes (.npy per output, one HDF5 file), timing output, and error exit codes.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

#include "converter/exec/kernel.h"
#include "converter/support/status.h"
#include "formats/hdf5/hdf5.h"
#include "formats/npy/npy.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "formats/onnx/tensor_file.h"
#include "tests/cli/two_layer_model.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

fs::path addCase() { return test::onnxTestdataRoot() / "node" / "test_add"; }

/// Element-wise comparison at the conformance suite's tolerance.
void expectClose(const TensorData& got, const TensorData& want) {
  ASSERT_EQ(got.dtype(), want.dtype());
  ASSERT_EQ(got.dims(), want.dims());
  for (int64_t i = 0; i < want.numElements(); ++i)
    ASSERT_NEAR(got.elementAsDouble(i), want.elementAsDouble(i), 1e-7 + 1e-3 * std::fabs(want.elementAsDouble(i)))
        << "element " << i;
}

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

class RunCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::onnxTestdataRoot().empty()) GTEST_SKIP() << "libonnx-testdata is not installed";
    if (!KernelRegistry::global().supports("", "Add")) GTEST_SKIP() << "no Add kernel yet";
    auto m = readOnnx(addCase() / "model.onnx");
    ASSERT_TRUE(m.hasValue()) << m.status().toString();
    for (const Value* v : m->graph->inputs()) inputNames.push_back(v->name());
    outputName = m->graph->outputs()[0]->name();
    ASSERT_EQ(inputNames.size(), 2u);
    dir = test::tempDir("run_cli");
    for (int i = 0; i < 2; ++i) {
      auto t = readTensorProtoFile(addCase() / "test_data_set_0" / fmt::format("input_{}.pb", i));
      ASSERT_TRUE(t.hasValue()) << t.status().toString();
      inputs.push_back(*t);
      ASSERT_TRUE(writeNpy(dir / fmt::format("in{}.npy", i), **t).isOk());
    }
    auto want = readTensorProtoFile(addCase() / "test_data_set_0" / "output_0.pb");
    ASSERT_TRUE(want.hasValue());
    expected = *want;
  }
  std::string base() const {
    return test::npuconvBinary() + " run " + q(addCase() / "model.onnx") + " --input " + inputNames[0] + "=" +
           q(dir / "in0.npy") + " --input " + inputNames[1] + "=" + q(dir / "in1.npy");
  }
  std::vector<std::string> inputNames;
  std::string outputName;
  fs::path dir;
  std::vector<TensorRef> inputs;
  TensorRef expected;
};

TEST_F(RunCommandTest, WritesNpyOutputs) {
  std::string out, err;
  int rc = test::runCommand(base() + " --output-dir " + q(dir / "out") + " --threads 2", &out, &err);
  ASSERT_EQ(rc, 0) << err;
  auto got = readNpy(dir / "out" / (outputName + ".npy"));
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  expectClose(**got, *expected);
  EXPECT_NE(out.find(outputName), std::string::npos) << out;
}

TEST_F(RunCommandTest, WritesAndReadsHdf5) {
  ASSERT_TRUE(writeHdf5(dir / "in.h5", {{inputNames[0], inputs[0]}, {inputNames[1], inputs[1]}}).isOk());
  std::string err;
  int rc = test::runCommand(test::npuconvBinary() + " run " + q(addCase() / "model.onnx") + " --inputs " +
                                q(dir / "in.h5") + " -o " + q(dir / "out.h5"),
                            nullptr, &err);
  ASSERT_EQ(rc, 0) << err;
  auto got = readHdf5(dir / "out.h5");
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].first, outputName);
  expectClose(*(*got)[0].second, *expected);
}

TEST_F(RunCommandTest, RepeatReportsLatencyAsJson) {
  std::string out, err;
  int rc = test::runCommand(base() + " --repeat 5 --warmup 3 --json --threads 1", &out, &err);
  ASSERT_EQ(rc, 0) << err;
  ASSERT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_EQ(j["repeat"], 5);
  EXPECT_EQ(j["threads"], 1);
  double median = j["median_ms"], mn = j["min_ms"], mx = j["max_ms"];
  EXPECT_GE(mn, 0.0);
  EXPECT_LE(mn, median);
  EXPECT_LE(median, mx);
  EXPECT_EQ(j["outputs"][0]["name"], outputName);
  // Text form.
  rc = test::runCommand(base() + " --repeat 3", &out, &err);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_NE(out.find("median"), std::string::npos) << out;
}

void expectOneLineError(int rc, const std::string& err, StatusCode code, const std::string& needle) {
  EXPECT_EQ(rc, exitCodeFor(code)) << err;
  EXPECT_EQ(err.rfind("npuconv: error: ", 0), 0u) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find(needle), std::string::npos) << err;
}

TEST_F(RunCommandTest, Errors) {
  std::string err;
  // Missing input.
  int rc = test::runCommand(test::npuconvBinary() + " run " + q(addCase() / "model.onnx") + " --input " +
                                inputNames[0] + "=" + q(dir / "in0.npy"),
                            nullptr, &err);
  expectOneLineError(rc, err, StatusCode::InvalidArgument, "missing input \"" + inputNames[1] + "\"");
  // Wrong dtype: float64 data for a float32 input; the message names input and file.
  std::vector<double> d(static_cast<size_t>(inputs[1]->numElements()), 1.0);
  ASSERT_TRUE(writeNpy(dir / "f64.npy", DType::F64, inputs[1]->dims(), d.data()).isOk());
  rc = test::runCommand(test::npuconvBinary() + " run " + q(addCase() / "model.onnx") + " --input " +
                            inputNames[0] + "=" + q(dir / "in0.npy") + " --input " + inputNames[1] + "=" +
                            q(dir / "f64.npy"),
                        nullptr, &err);
  expectOneLineError(rc, err, StatusCode::InvalidArgument, "input \"" + inputNames[1] + "\"");
  EXPECT_NE(err.find("f64.npy"), std::string::npos) << err;
  EXPECT_NE(err.find("f64["), std::string::npos) << err;
  // Unknown input name.
  rc = test::runCommand(base() + " --input nosuch=" + q(dir / "in0.npy"), nullptr, &err);
  expectOneLineError(rc, err, StatusCode::InvalidArgument, "\"nosuch\" is not an input");
  // A truncated .npy.
  {
    std::string bytes;
    std::ifstream in(dir / "in0.npy", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
    std::ofstream(dir / "cut.npy", std::ios::binary) << bytes.substr(0, bytes.size() - 3);
  }
  rc = test::runCommand(test::npuconvBinary() + " run " + q(addCase() / "model.onnx") + " --input " +
                            inputNames[0] + "=" + q(dir / "cut.npy") + " --input " + inputNames[1] + "=" +
                            q(dir / "in1.npy"),
                        nullptr, &err);
  expectOneLineError(rc, err, StatusCode::InvalidArgument, "truncated");
  // A missing model file.
  rc = test::runCommand(test::npuconvBinary() + " run " + q(dir / "nope.onnx"), nullptr, &err);
  expectOneLineError(rc, err, StatusCode::Io, "nope.onnx");
  // A bad option value.
  rc = test::runCommand(base() + " --threads -3", nullptr, &err);
  EXPECT_EQ(rc, exitCodeFor(StatusCode::InvalidArgument)) << err;
}

TEST(RunCommandNamesTest, OutputNamesAreSanitized) {
  // Two outputs whose names clash once '/' is replaced: a/b and a_b.
  const char* op = nullptr;
  for (const char* candidate : {"Neg", "Relu", "Abs", "Identity"})
    if (KernelRegistry::global().supports("", candidate)) {
      op = candidate;
      break;
    }
  if (!op) GTEST_SKIP() << "no unary kernel yet";
  Model m = test::parseModel(fmt::format(R"(
<ir_version: 8, opset_import: ["" : 17]>
g (float[2, 3] x) => (float[2, 3] y1, float[2, 3] y2) {{
  y1 = {0}(x)
  y2 = {0}(x)
}}
)", op));
  m.graph->renameValue(m.graph->outputs()[0], "a/b");
  m.graph->renameValue(m.graph->outputs()[1], "a_b");
  fs::path dir = test::tempDir("run_names");
  ASSERT_TRUE(writeOnnx(m, dir / "m.onnx").hasValue());
  std::vector<float> xv = {-1.5f, 2, -3, 4, 0, -0.25f};
  ASSERT_TRUE(writeNpy(dir / "x.npy", DType::F32, std::vector<int64_t>{2, 3}, xv.data()).isOk());
  std::string err;
  // A bare file feeds the only input.
  int rc = test::runCommand(test::npuconvBinary() + " run " + q(dir / "m.onnx") + " --input " + q(dir / "x.npy") +
                                " --output-dir " + q(dir / "out"),
                            nullptr, &err);
  ASSERT_EQ(rc, 0) << err;
  std::string o(op);
  for (const char* file : {"a_b.npy", "a_b_1.npy"}) {
    auto t = readNpy(dir / "out" / file);
    ASSERT_TRUE(t.hasValue()) << file << ": " << t.status().toString();
    std::vector<float> got = (*t)->toFloats();
    for (size_t i = 0; i < xv.size(); ++i) {
      float x = xv[i];
      float want = o == "Neg" ? -x : o == "Relu" ? std::max(x, 0.0f) : o == "Abs" ? std::fabs(x) : x;
      EXPECT_EQ(got[i], want) << file << " element " << i;
    }
  }
}

TEST(RunCommandProfileTest, ProfilesFusedKernelCalls) {
  // Conv -> residual Add -> Relu runs as one kernel call: one "Conv+Add+Relu" entry.
  Model m = test::parseModel(R"(
<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 4, 8, 8] x) => (float[1, 4, 8, 8] y) <float[4, 4, 3, 3] w = {
  1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0,
  0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1,
  0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1}> {
  c = Conv <pads = [1, 1, 1, 1]> (x, w)
  s = Add (c, x)
  y = Relu (s)
}
)");
  fs::path dir = test::tempDir("run_profile");
  ASSERT_TRUE(writeOnnx(m, dir / "m.onnx").hasValue());
  std::vector<float> xv(256);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = float(int(i % 7) - 3);
  ASSERT_TRUE(writeNpy(dir / "x.npy", DType::F32, std::vector<int64_t>{1, 4, 8, 8}, xv.data()).isOk());
  std::string out, err;
  int rc = test::runCommand(test::npuconvBinary() + " run " + q(dir / "m.onnx") + " --input " + q(dir / "x.npy") +
                                " --repeat 3 --profile --profile-top 1 --json",
                            &out, &err);
  ASSERT_EQ(rc, 0) << err;
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  ASSERT_TRUE(j["profile"].contains("Conv+Add+Relu")) << out;
  EXPECT_EQ(j["profile"]["Conv+Add+Relu"]["nodes"], 1) << out;
  EXPECT_EQ(j["profile"].size(), 1u) << out;
  ASSERT_EQ(j["slowest_nodes"].size(), 1u) << out;
  EXPECT_EQ(j["slowest_nodes"][0]["op"], "Conv+Add+Relu") << out;
  EXPECT_GE(j["slowest_nodes"][0]["ms_per_run"].get<double>(), 0.0);
  // Text form.
  rc = test::runCommand(test::npuconvBinary() + " run " + q(dir / "m.onnx") + " --input " + q(dir / "x.npy") +
                            " --repeat 2 --profile",
                        &out, &err);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_NE(out.find("Conv+Add+Relu"), std::string::npos) << out;
  EXPECT_NE(out.find("slowest nodes"), std::string::npos) << out;
}

TEST(RunCommandProfileTest, ProfilesDeviceBlobOps) {
  // An int8 blob of Conv (+Relu) -> Conv -> residual Add: each op kind of the interpreter is a row
  // (the Convs' re-layout of their input apart), the slowest ops carry the user's ONNX node names.
  Model m = test::parseModel(fmt::format(R"(
<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 8, 16, 16] x) => (float[1, 8, 16, 16] y) <float[8, 8, 3, 3] w1 = {{{}}}, float[8, 8, 3, 3] w2 = {{{}}}> {{
  a = Conv <pads = [1, 1, 1, 1]> (x, w1)
  r = Relu (a)
  c = Conv <pads = [1, 1, 1, 1]> (r, w2)
  y = Add (c, x)
}}
)", test::pseudoFloatList(576, 3, 8000.0), test::pseudoFloatList(576, 5, 8000.0)));
  const char* names[] = {"user_conv_a", "user_relu", "user_conv_b", "user_residual_add"};
  size_t k = 0;
  for (Node* n : m.graph->nodes()) {
    n->setName(names[k % 4]);
    n->setProvenance({names[k++ % 4]});
  }
  fs::path dir = test::tempDir("run_profile_blob");
  ASSERT_TRUE(writeOnnx(m, dir / "m.onnx").hasValue());
  std::vector<float> xv(8 * 16 * 16);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = float(int(i % 13) - 6) / 4.0f;
  ASSERT_TRUE(writeNpy(dir / "x.npy", DType::F32, std::vector<int64_t>{1, 8, 16, 16}, xv.data()).isOk());
  std::string out, err;
  ASSERT_EQ(test::runNpuconv("convert " + q(dir / "m.onnx") + " --precision int8 --calib " + q(dir / "x.npy") + " -o " + q(dir / "out"),
                             &out, &err), 0) << err;
  const fs::path blob = dir / "out" / "model.npub";
  ASSERT_EQ(test::runNpuconv("run " + q(blob) + " --input " + q(dir / "x.npy") + " --repeat 5 --profile --profile-top 0 --json", &out, &err),
            0) << err;
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  const auto& prof = j["profile"];
  for (const char* kind : {"QConv", "QConv re-layout", "QAdd", "Quantize", "Dequantize"}) EXPECT_TRUE(prof.contains(kind)) << kind << ": " << out;
  EXPECT_EQ(prof["QConv"]["nodes"], 2) << out;
  EXPECT_EQ(prof["QConv re-layout"]["nodes"], 2) << out;
  EXPECT_EQ(prof["QAdd"]["nodes"], 1) << out;
  // Plausible sums: every row non-negative, together at most the run's time (medians of parts of
  // the runs; a little slack for the clock reads).
  double sum = 0;
  for (const auto& [kind, row] : prof.items()) {
    EXPECT_GE(row["ms_per_run"].get<double>(), 0.0) << kind;
    sum += row["ms_per_run"].get<double>();
  }
  EXPECT_GT(sum, 0.0) << out;
  EXPECT_LE(sum, j["max_ms"].get<double>() * 1.5 + 0.05) << out;
  // The slowest ops by the user's node names (a Conv and its fused Relu name both); --profile-top 0: all.
  std::set<std::string> seen;
  for (const auto& n : j["slowest_nodes"]) seen.insert(n["node"].get<std::string>() + " / " + n["op"].get<std::string>());
  EXPECT_TRUE(seen.count("user_conv_a+user_relu / QConv")) << out;
  EXPECT_TRUE(seen.count("user_conv_b / QConv")) << out;
  EXPECT_TRUE(seen.count("user_residual_add / QAdd")) << out;
  // Text form; without --profile no profile.
  ASSERT_EQ(test::runNpuconv("run " + q(blob) + " --input " + q(dir / "x.npy") + " --repeat 2 --profile --profile-top 2", &out, &err), 0)
      << err;
  EXPECT_NE(out.find("QConv re-layout"), std::string::npos) << out;
  EXPECT_NE(out.find("slowest nodes"), std::string::npos) << out;
  ASSERT_EQ(test::runNpuconv("run " + q(blob) + " --input " + q(dir / "x.npy") + " --repeat 2 --json", &out, &err), 0) << err;
  j = nlohmann::json::parse(out, nullptr, false);
  EXPECT_FALSE(j.contains("profile")) << out;
}

}  // namespace
}  // namespace npuconv
