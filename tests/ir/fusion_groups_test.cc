// converter/ir/fusion_groups.h: the metadata record the fusion passes write and the quantizers
// and lower-to-opset edit: parsing, dropping a node (an "-act" group loses its suffix, a single
// node is no group), dropping whole groups, and no change (no touch) when nothing is named.
#include <gtest/gtest.h>

#include "converter/ir/fusion_groups.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

Model withGroups(const std::string& text) {
  Model m = test::parseModel(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2] x) => (float[2] y) {
      y = Relu(x)
    })");
  m.metadata.emplace_back("other", "kept");
  m.metadata.emplace_back(std::string(kFusionGroupsKey), text);
  return m;
}

TEST(FusionGroupsIr, ParsesAndDropsNodes) {
  Model m = withGroups("linear-act: Gemm_1 Add_2 Relu_3\nconv-act: Conv_4 Relu_5\nlayer-norm: A B C");
  auto groups = fusionGroups(m);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0], (FusionGroup{"linear-act", {"Gemm_1", "Add_2", "Relu_3"}}));
  EXPECT_TRUE(inFusionGroup(m, "Conv_4"));
  EXPECT_FALSE(inFusionGroup(m, "Conv"));

  dropFromFusionGroups(m, "Relu_3");  // linear-act -> linear, still two nodes
  dropFromFusionGroups(m, "Relu_5");  // conv-act -> conv with one node: gone
  EXPECT_EQ(m.metadata[1].second, "linear: Gemm_1 Add_2\nlayer-norm: A B C");

  dropFusionGroupsNaming(m, {"B", "unrelated"});
  EXPECT_EQ(m.metadata[1].second, "linear: Gemm_1 Add_2");
  dropFusionGroupsNaming(m, {"Add_2"});
  ASSERT_EQ(m.metadata.size(), 1u);  // the entry goes with its last group
  EXPECT_EQ(m.metadata[0].first, "other");
}

TEST(FusionGroupsIr, NamingNoMemberChangesNothing) {
  Model m = withGroups("conv-act: Conv_4 Relu_5");
  uint64_t before = m.graph->epoch();
  dropFusionGroupsNaming(m, {"X"});
  dropFromFusionGroups(m, "Y");
  EXPECT_EQ(m.metadata[1].second, "conv-act: Conv_4 Relu_5");
  EXPECT_EQ(m.graph->epoch(), before);
}

}  // namespace
}  // namespace npuconv
