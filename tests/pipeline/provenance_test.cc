// Provenance holds the user's original ONNX node names only: after O2 and npu (+NHWC) and the
// emit stage, on the zoo and testdata/models, every provenance entry of every node is a node
// name of the original file (or the first output of an unnamed node, also in the file), and
// no node of a quantizable op type has empty provenance (mixed-precision configs and every
// report key on these names).
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include <onnx/onnx_pb.h>

#include "formats/onnx/onnx_reader.h"
#include "passes/registry.h"
#include "pipeline/pass_pipeline.h"
#include "tests/support/test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

void collectNames(const onnx::GraphProto& g, std::set<std::string>& names) {
  for (const onnx::NodeProto& n : g.node()) {
    if (!n.name().empty()) {
      names.insert(n.name());
    } else {
      for (const std::string& o : n.output())
        if (!o.empty()) {
          names.insert(o);
          break;
        }
    }
    for (const onnx::AttributeProto& a : n.attribute()) {
      if (a.has_g()) collectNames(a.g(), names);
      for (const onnx::GraphProto& sub : a.graphs()) collectNames(sub, names);
    }
  }
}

/// The names the user's file gives its nodes, read with protobuf (not with our importer).
std::set<std::string> originalNames(const fs::path& file) {
  onnx::ModelProto proto;
  std::ifstream in(file, std::ios::binary);
  EXPECT_TRUE(proto.ParseFromIstream(&in)) << file;
  std::set<std::string> names;
  collectNames(proto.graph(), names);
  for (const onnx::FunctionProto& f : proto.functions())
    for (const onnx::NodeProto& n : f.node())
      if (!n.name().empty()) names.insert(n.name());
  return names;
}

const std::set<std::string> kQuantizable = {
    "Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Mul", "Concat", "MaxPool", "AveragePool",
    "GlobalAveragePool", "Resize", "Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu",
    "Gelu", "LayerNormalization", "Softmax"};

void checkGraph(const Graph& g, const std::set<std::string>& names, const std::string& where, int& checked) {
  for (const Node* n : g.nodes()) {
    for (const std::string& p : n->provenance())
      EXPECT_TRUE(names.count(p)) << where << ": " << n->describe() << ": provenance \"" << p
                                  << "\" is no node of the original file";
    if (kQuantizable.count(n->opType())) {
      EXPECT_FALSE(n->provenance().empty()) << where << ": " << n->describe() << " has no provenance";
      ++checked;
    }
    for (const Graph* sub : n->subgraphs()) checkGraph(*sub, names, where, checked);
  }
}

/// --input-shape for every dynamic input: a leading dynamic dim 1, any other 256 (sequences).
std::vector<std::string> staticInputShapes(const Model& m) {
  std::vector<std::string> out;
  for (const Value* v : m.graph->inputs()) {
    if (v->isInitializer() || !v->shape() || isStaticShape(*v->shape())) continue;
    std::string spec = v->name() + "=";
    for (size_t i = 0; i < v->shape()->size(); ++i) {
      const Dim& d = (*v->shape())[i];
      spec += (i ? "x" : "") + std::to_string(d.isStatic() ? d.value() : (i == 0 ? 1 : 32));
    }
    out.push_back(spec);
  }
  return out;
}

std::vector<fs::path> modelFiles() {
  std::vector<fs::path> files;
  for (const std::string& z : test::zooModelNames()) {
    fs::path p = test::materializeZooModel(z);
    if (!p.empty()) files.push_back(p);
  }
  for (const auto& e : fs::recursive_directory_iterator(test::testdata("models")))
    if (e.path().extension() == ".onnx") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

TEST(Provenance, OnlyOriginalNamesAfterO2AndNpu) {
  std::vector<fs::path> files = modelFiles();
  ASSERT_GE(files.size(), 3u);
  int checked = 0;
  for (const fs::path& file : files) {
    std::set<std::string> names = originalNames(file);
    for (const char* pipeline : {"O2", "npu"}) {
      std::string where = file.filename().string() + " " + pipeline;
      auto m = readOnnx(file);
      ASSERT_TRUE(m.hasValue()) << m.status().toString();
      // freeze-shapes runs the model, and the executor does not call model-local functions.
      if (std::string(pipeline) == "npu" && !m->functions.empty()) continue;
      PassOptions po;
      po.pipeline = pipeline;
      if (std::string(pipeline) == "npu") {
        po.inputShapes = staticInputShapes(*m);
        po.passOptions = {"target.static-shapes=0"};  // models with data-dependent shapes too
        po.layout = "nhwc";
      }
      auto pp = PassPipeline::create(po);
      ASSERT_TRUE(pp.hasValue()) << pp.status().toString();
      Status s = (*pp)->runToStandardOps(*m, where);
      ASSERT_TRUE(s.isOk()) << s.toString();
      // Between the phases, as the quantizers see it, and after emission.
      checkGraph(*m->graph, names, where + " (standard ops)", checked);
      s = (*pp)->runFinal(*m, where);
      ASSERT_TRUE(s.isOk()) << s.toString();
      checkGraph(*m->graph, names, where, checked);
    }
  }
  EXPECT_GT(checked, 500);
}

TEST(Provenance, ImporterAndCreatedNodes) {
  // Named nodes are known by their name, unnamed ones by their first output; nodes a pass
  // creates start with none.
  auto m = parseOnnxText(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2] x) => (float[2] y) {
      a = Relu(x)
      y = Neg(a)
    })");
  ASSERT_TRUE(m.hasValue());
  std::vector<Node*> nodes = m->graph->nodeList();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0]->provenance(), std::vector<std::string>{"a"});
  Node* created = m->graph->createNode("Relu", {m->graph->findValue("x")}, 1);
  EXPECT_FALSE(created->name().empty());
  EXPECT_TRUE(created->provenance().empty());
}

TEST(Provenance, FoldIfIdentityStandsForTheIf) {
  // The branch returns an outer value, so the If's output name needs an Identity: it carries
  // the If's provenance (the If is unnamed: its first output), not a generated name.
  auto m = parseOnnxText(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[4] x) => (float[4] y) {
      c = Constant<value = bool {1}>()
      y = If(c) <then_branch = then_g () => (float[4] x) {},
                 else_branch = else_g () => (float[4] e) { e = Neg(x) }>
    })");
  ASSERT_TRUE(m.hasValue()) << m.status().toString();
  auto pm = buildPassManager("", "fold-constants,fold-if", {});
  ASSERT_TRUE(pm.hasValue());
  PassContext ctx;
  ASSERT_TRUE(pm->run(*m, ctx).isOk());
  std::vector<Node*> nodes = m->graph->nodeList();
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0]->opType(), "Identity");
  EXPECT_EQ(nodes[0]->provenance(), std::vector<std::string>{"y"});
}

}  // namespace
}  // namespace npuconv
