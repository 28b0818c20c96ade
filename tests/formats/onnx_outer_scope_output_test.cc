// A subgraph output naming a value of the outer graph (legal ONNX: an If branch returning an
// outer value). The IR counted no use for it, so dead-code elimination erased its producer and
// `optimize --pipeline O2` died with std::bad_alloc (exit 70). The importer now puts an Identity
// in the branch: O2 runs, computes what the original computes, and what it writes loads in ONNX
// Runtime (which refuses the original form).
#include <gtest/gtest.h>

#include <onnx/defs/parser.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "converter/exec/executor.h"
#include "formats/onnx/onnx_reader.h"
#include "tests/passes/pass_test_util.h"
#include "tests/support/test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

// y = c ? -x : relu(x); the else branch returns the outer `a` itself, so `a` has no other use.
constexpr const char* kIfReturnsOuter = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (bool c, float[4] x) => (float[4] y) {
      a = Relu(x)
      y = If(c) <then_branch = then_g () => (float[4] t) { t = Neg(x) },
                 else_branch = else_g () => (float[4] a) { }>
    })";

/// The model as an exporter writes it: serialized straight from onnx's parser, not by npuconv.
fs::path writeRaw(const fs::path& dir) {
  onnx::ModelProto proto;
  onnx::OnnxParser parser(kIfReturnsOuter);
  EXPECT_TRUE(parser.Parse(proto).IsOK());
  fs::path p = dir / "if_outer.onnx";
  std::ofstream(p, std::ios::binary) << proto.SerializeAsString();
  return p;
}

const Graph& elseBranch(const Model& m) {
  for (const Node* n : m.graph->nodes())
    if (n->is("If")) return **n->attrs().get<GraphPtr>("else_branch");
  ADD_FAILURE() << "no If";
  return *m.graph;
}

std::vector<float> runWith(const Model& m, bool c) {
  auto exec = Executor::create(*m.graph, m.opsetVersion(""), ExecOptions{1, nullptr});
  EXPECT_TRUE(exec.hasValue()) << exec.status().toString();
  if (!exec) return {};
  uint8_t cv = c;
  const float xv[4] = {-1.5f, 2.0f, -0.25f, 3.0f};
  NamedTensors in;
  in.emplace("c", Tensor::fromValues<uint8_t>(DType::Bool, {}, std::span<const uint8_t>(&cv, 1)));
  in.emplace("x", Tensor::fromValues<float>(DType::F32, {4}, std::span<const float>(xv, 4)));
  auto out = (*exec)->run(in);
  EXPECT_TRUE(out.hasValue()) << out.status().toString();
  if (!out) return {};
  auto s = out->at("y").span<float>();
  return {s.begin(), s.end()};
}

TEST(OnnxOuterScopeOutput, ImportPutsAnIdentityInTheBranch) {
  fs::path dir = test::tempDir("outer_scope");
  auto m = readOnnx(writeRaw(dir));
  ASSERT_TRUE(m.hasValue()) << m.status().toString();
  const Graph& e = elseBranch(*m);
  ASSERT_EQ(e.outputs().size(), 1u);
  const Value* out = e.outputs()[0];
  EXPECT_EQ(out->graph(), &e);
  ASSERT_TRUE(out->producer());
  EXPECT_TRUE(out->producer()->is("Identity"));
  const Value* a = out->producer()->operand(0);
  EXPECT_EQ(a->name(), "a");
  EXPECT_EQ(a->graph(), m->graph.get());
  EXPECT_EQ(a->uses().size(), 1u);  // the Identity's use keeps Relu alive
  EXPECT_EQ(runWith(*m, false), (std::vector<float>{0.0f, 2.0f, 0.0f, 3.0f}));
  EXPECT_EQ(runWith(*m, true), (std::vector<float>{1.5f, -2.0f, 0.25f, -3.0f}));
}

TEST(OnnxOuterScopeOutput, OptimizeO2KeepsTheResultAndWritesALoadableModel) {
  fs::path dir = test::tempDir("outer_scope_o2");
  fs::path in = writeRaw(dir), out = dir / "o2.onnx";
  std::string err;
  int rc = test::runCommand(test::npuconvBinary() + " optimize '" + in.string() + "' -o '" + out.string() +
                                "' --pipeline O2 --verify-each",
                            nullptr, &err);
  ASSERT_EQ(rc, 0) << err;
  auto before = readOnnx(in);
  auto after = readOnnx(out);
  ASSERT_TRUE(before.hasValue() && after.hasValue());
  EXPECT_EQ(test::countOps(*after, "Relu"), 1);
  EXPECT_GE(test::countOps(*after, "Identity"), 1);
  for (bool c : {false, true}) EXPECT_EQ(runWith(*after, c), runWith(*before, c)) << "c = " << c;
  // The file itself (not our re-import) returns the outer value through a node of the branch.
  onnx::ModelProto proto;
  std::ifstream f(out, std::ios::binary);
  ASSERT_TRUE(proto.ParseFromIstream(&f));
  bool found = false;
  for (const auto& n : proto.graph().node())
    for (const auto& at : n.attribute())
      if (at.name() == "else_branch") {
        ASSERT_EQ(at.g().node_size(), 1);
        EXPECT_EQ(at.g().node(0).op_type(), "Identity");
        EXPECT_EQ(at.g().node(0).input(0), "a");
        EXPECT_EQ(at.g().node(0).output(0), at.g().output(0).name());
        found = true;
      }
  EXPECT_TRUE(found);

  if (!fs::exists(test::sourceDir() / "node_modules/onnxruntime-node"))
    GTEST_SKIP() << "node_modules/onnxruntime-node absent: run scripts/install_ort.sh";
  if (test::runCommand("node --version") != 0) GTEST_SKIP() << "node not found";
  NamedTensors inputs;
  uint8_t cv = 0;
  const float xv[4] = {-1.5f, 2.0f, -0.25f, 3.0f};
  inputs.emplace("c", Tensor::fromValues<uint8_t>(DType::Bool, {}, std::span<const uint8_t>(&cv, 1)));
  inputs.emplace("x", Tensor::fromValues<float>(DType::F32, {4}, std::span<const float>(xv, 4)));
  ASSERT_TRUE(test::writeRawInputs(inputs, dir).isOk());
  std::string cmd = fmt::format("node '{}' --model '{}' --inputs '{}' --outdir '{}'",
                                (test::sourceDir() / "tests/oracle/ort_run.js").string(), out.string(),
                                (dir / "inputs.json").string(), (dir / "ort").string());
  ASSERT_EQ(test::runCommand(cmd, nullptr, &err), 0) << cmd << "\n" << err;
  std::ifstream r(dir / "ort/0.bin", std::ios::binary);
  std::vector<float> got(4);
  r.read(reinterpret_cast<char*>(got.data()), 16);
  EXPECT_EQ(got, (std::vector<float>{0.0f, 2.0f, 0.0f, 3.0f}));
}

}  // namespace
}  // namespace npuconv
