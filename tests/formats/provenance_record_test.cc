// Provenance survives npuconv's write and read (converter/ir/provenance_record.h): a fused node
// still stands for the user's original names, generated nodes stay without, and the record does
// not pile up in the metadata.
#include <gtest/gtest.h>

#include "converter/ir/provenance_record.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

TEST(ProvenanceRecord, SurvivesWriteAndRead) {
  Model m = test::parseModel(R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[2] x) => (float[2] y) { a = Relu(x)  y = Neg(a) })");
  Node* relu = nullptr;
  Node* neg = nullptr;
  for (Node* n : m.graph->nodes()) (n->is("Relu") ? relu : neg) = n;
  relu->setName("fused");
  relu->setProvenance({"conv_1", "bn_1", "relu_1"});
  neg->setName("made_here");
  neg->setProvenance({});
  Model back = *parseOnnxBytes(serializeModel(m), "", "<test>");
  for (const Node* n : back.graph->nodes()) {
    if (n->name() == "fused") {
      EXPECT_EQ(n->provenance(), (std::vector<std::string>{"conv_1", "bn_1", "relu_1"}));
    } else if (n->name() == "made_here") {
      EXPECT_EQ(n->provenance(), std::vector<std::string>{"made_here"}) << "as the file names it";
    }
  }
  for (const auto& [k, v] : back.metadata) EXPECT_NE(k, kProvenanceKey) << "the record is applied, not kept";
  // Written again: one record, not two.
  std::string again = serializeModel(back);
  EXPECT_EQ(again.find(std::string(kProvenanceKey)), again.rfind(std::string(kProvenanceKey)));
  EXPECT_NE(again.find("conv_1\tbn_1\trelu_1"), std::string::npos);
}

}  // namespace
}  // namespace npuconv
