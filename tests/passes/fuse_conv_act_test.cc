// fuse-conv-act: Conv + Relu / Clip / SiLU become adjacent, recorded fusion groups with the
// math unchanged; a Conv whose result has another user is not grouped.
#include <algorithm>

#include "passes/fuse/fusion_groups.h"
#include "tests/passes/pass_test_util.h"

namespace npuconv {
namespace {

TEST(FuseConvAct, GroupsReluClipAndSilu) {
  Model after;
  test::expectEquivalentAfter("fuse-conv-act", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,6,6] x, float[4,3,3,3] w) => (float[1,4,4,4] a, float[1,4,4,4] b, float[1,4,4,4] c) {
      c1 = Conv(x, w)
      n = Neg(x)
      a = Relu(c1)
      c2 = Conv(n, w)
      lo = Constant<value_float = 0.0>()
      hi = Constant<value_float = 6.0>()
      b = Clip(c2, lo, hi)
      c3 = Conv(x, w)
      sg = Sigmoid(c3)
      c = Mul(c3, sg)
    })",
                              {.consts = {{"w", {}}}, .expectOps = {{"Conv", 3}, {"Relu", 1}, {"Clip", 1}, {"Mul", 1}}},
                              &after);
  std::vector<FusionGroup> groups = fusionGroups(after);
  ASSERT_EQ(groups.size(), 3u);
  for (const FusionGroup& g : groups) EXPECT_EQ(g.kind, "conv-act");
  EXPECT_EQ(groups[2].nodes.size(), 3u);  // Conv, Sigmoid, Mul
  // Adjacent: each group's nodes follow one another in node order.
  std::vector<std::string> order;
  for (const Node* n : after.graph->nodes()) order.push_back(n->name());
  for (const FusionGroup& g : groups) {
    auto it = std::find(order.begin(), order.end(), g.nodes[0]);
    ASSERT_NE(it, order.end());
    for (size_t i = 1; i < g.nodes.size(); ++i) EXPECT_EQ(*(it + static_cast<long>(i)), g.nodes[i]);
  }
}

TEST(FuseConvAct, SkipsSharedConvResult) {
  Model after;
  test::expectEquivalentAfter("fuse-conv-act", R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,6,6] x, float[4,3,3,3] w) => (float[1,4,4,4] a, float[1,4,4,4] b) {
      c = Conv(x, w)
      a = Relu(c)
      b = Neg(c)
    })",
                              {.consts = {{"w", {}}}, .expectOps = {{"Conv", 1}, {"Relu", 1}}, .expectChange = false}, &after);
  EXPECT_TRUE(fusionGroups(after).empty());
}

}  // namespace
}  // namespace npuconv
