// The raw_data cutter: the skeleton plus the cut payloads put back is the original message,
// byte for byte, for tensors wherever ONNX keeps them; anything it does not model makes it give
// up instead of guessing; and the IR read through it is the IR read by a plain parse.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <onnx/onnx_pb.h>

#include "converter/ir/printer.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/raw_data_cut.h"
#include "formats/onnx/onnx_writer.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

void fillTensor(onnx::TensorProto* t, const std::string& name, int elements, char fill) {
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::UINT8);
  t->add_dims(elements);
  t->set_raw_data(std::string(static_cast<size_t>(elements), fill));
}

// Tensors in every place the cutter walks: initializers (one small), a Constant's value, a
// subgraph's initializer two levels down, an attribute's tensor list, a sparse initializer.
onnx::ModelProto modelWithTensorsEverywhere() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* g = m.mutable_graph();
  g->set_name("g");
  fillTensor(g->add_initializer(), "big", 300, 'a');
  fillTensor(g->add_initializer(), "small", 3, 'b');
  auto* c = g->add_node();
  c->set_op_type("Constant");
  auto* v = c->add_attribute();
  v->set_name("value");
  v->set_type(onnx::AttributeProto::TENSOR);
  fillTensor(v->mutable_t(), "", 200, 'c');
  auto* iff = g->add_node();
  iff->set_op_type("If");
  auto* br = iff->add_attribute();
  br->set_name("then_branch");
  br->set_type(onnx::AttributeProto::GRAPH);
  auto* sub = br->mutable_g();
  fillTensor(sub->add_initializer(), "inner", 100, 'd');
  auto* loopNode = sub->add_node();
  auto* body = loopNode->add_attribute();
  body->set_name("body");
  body->set_type(onnx::AttributeProto::GRAPHS);
  fillTensor(body->add_graphs()->add_initializer(), "deep", 150, 'e');
  auto* list = iff->add_attribute();
  list->set_name("list");
  list->set_type(onnx::AttributeProto::TENSORS);
  fillTensor(list->add_tensors(), "l0", 10, 'f');
  fillTensor(list->add_tensors(), "l1", 120, 'g');
  auto* sp = g->add_sparse_initializer();
  fillTensor(sp->mutable_values(), "sv", 64, 'h');
  fillTensor(sp->mutable_indices(), "si", 64, 'i');
  sp->add_dims(1000);
  return m;
}

std::span<const std::byte> bytesOf(const std::string& s) { return {reinterpret_cast<const std::byte*>(s.data()), s.size()}; }

TEST(RawDataCut, SkeletonPlusPayloadsIsTheOriginal) {
  const std::string wire = modelWithTensorsEverywhere().SerializeAsString();
  auto cut = cutRawData(bytesOf(wire), 64);
  ASSERT_TRUE(cut.has_value());
  EXPECT_EQ(cut->payloads.size(), 7u);  // all but "small" and "l0"
  EXPECT_LT(cut->skeleton.size(), wire.size() - 1000);
  onnx::ModelProto skeleton;
  ASSERT_TRUE(skeleton.ParseFromString(cut->skeleton));
  auto tensors = cutTensors(skeleton, *cut);
  ASSERT_EQ(tensors.size(), 7u);
  for (auto& [t, span] : tensors) {
    EXPECT_FALSE(t->has_raw_data()) << t->name();
    t->set_raw_data(wire.substr(span.offset, span.size));
  }
  EXPECT_EQ(skeleton.SerializeAsString(), wire);
}

TEST(RawDataCut, GivesUpOnWhatItDoesNotModel) {
  onnx::ModelProto m = modelWithTensorsEverywhere();
  const std::string wire = m.SerializeAsString();
  // Truncated: a length prefix runs past the end.
  EXPECT_FALSE(cutRawData(bytesOf(wire.substr(0, wire.size() - 5)), 64).has_value());
  // A second `graph` field: protobuf merges the two, which the paths do not model.
  onnx::ModelProto second;
  second.mutable_graph()->set_name("again");
  EXPECT_FALSE(cutRawData(bytesOf(wire + second.SerializeAsString()), 64).has_value());
  // A group (wire type 3) at the top level.
  EXPECT_FALSE(cutRawData(bytesOf(wire + std::string("\x0b\x0c", 2)), 64).has_value());
  // Not a protobuf at all.
  EXPECT_FALSE(cutRawData(bytesOf(std::string("\xff\xff\xff\xff", 4)), 64).has_value());
}

TEST(RawDataCut, ReadingThroughTheMapGivesTheSameIrAndTheSameBytesBack) {
  // A 600-float initializer (2400 bytes) in ONNX's text syntax.
  std::vector<std::string> w;
  for (int i = 0; i < 600; ++i) w.push_back(fmt::format("{}", i * 0.25));
  auto model = parseOnnxText(fmt::format(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2,300] X) => (float[2,300] Y) <float[2,300] W = {{{}}}> {{
      Y = Add(X, W)
    }}
  )", fmt::join(w, ",")));
  ASSERT_TRUE(model.hasValue()) << model.status().toString();
  fs::path dir = test::tempDir("raw_data_cut");
  ASSERT_TRUE(writeOnnx(*model, dir / "m.onnx").hasValue());

  ImportOptions plain, mapped;
  plain.mmapRawData = false;
  mapped.mmapRawDataMinBytes = 64;
  auto a = readOnnx(dir / "m.onnx", plain), b = readOnnx(dir / "m.onnx", mapped);
  ASSERT_TRUE(a.hasValue() && b.hasValue());
  PrintOptions full;
  full.full = true;
  full.maxInlineElements = 0;
  EXPECT_EQ(toText(*a, full), toText(*b, full));
  const TensorData& t = *b->graph->findValue("W")->initializer();
  EXPECT_EQ(t.as<float>()[599], 599 * 0.25f);  // typed reads see aligned memory (UBSan checks)
  ASSERT_TRUE(writeOnnx(*b, dir / "again.onnx").hasValue());
  EXPECT_EQ(test::slurp(dir / "m.onnx"), test::slurp(dir / "again.onnx"));
}

}  // namespace
}  // namespace npuconv
