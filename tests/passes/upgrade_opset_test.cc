// upgrade-opset: raising the default-domain opset rewrites the ops whose form changed (attributes
// that became inputs, Softmax's axis) so that the model computes the same thing; ops that cannot
// keep their meaning are refused, naming the node, and the model is left as it was.
#include "passes/lower/upgrade_opset.h"

#include "passes/match.h"
#include "tests/passes/pass_test_util.h"

namespace npuconv {
namespace {

// PaddleOCR's exporters write opset 9 and 10: Clip bounds and Slice ranges as attributes.
constexpr const char* kOpset9 = R"(<ir_version: 5, opset_import: ["" : 9]>
  g (float[2,8] x) => (float[2,1,3] y, float[2,8] z, float[2,12] p) {
    c = Clip<min = -0.5, max = 0.5>(x)
    s = Slice<starts = [1], ends = [4], axes = [1]>(c)
    y = Unsqueeze<axes = [1]>(s)
    z = Softmax(x)
    p = Pad<pads = [0, 2, 0, 2], value = 0.25>(x)
  })";

TEST(UpgradeOpset, Opset9AttributesBecomeInputsAndKeepTheirMeaning) {
  Model after;
  test::expectEquivalentAfter("upgrade-opset", kOpset9,
                              {.expectOps = {{"Clip", 1}, {"Slice", 1}, {"Unsqueeze", 1}, {"Softmax", 1}, {"Pad", 1}},
                               .options = {{"opset", "13"}}},
                              &after);
  EXPECT_EQ(after.opsetVersion(""), 13);
  for (const Node* n : after.graph->nodes()) {
    if (n->is("Clip")) {
      EXPECT_EQ(n->numOperands(), 3u);
      EXPECT_FALSE(n->attrs().has("min"));
      EXPECT_EQ(m::constScalar(n->operand(2)), 0.5);
    }
    if (n->is("Slice")) {
      EXPECT_EQ(n->numOperands(), 4u);
      EXPECT_EQ(m::constInts(n->operand(3)), std::vector<int64_t>{1});
    }
    if (n->is("Unsqueeze")) {
      EXPECT_EQ(m::constInts(n->operand(1)), std::vector<int64_t>{1});
    }
    if (n->is("Softmax")) {
      EXPECT_EQ(n->attrs().getInt("axis", 0), -1);
    }
    if (n->is("Pad")) {
      EXPECT_EQ(m::constScalar(n->operand(2)), 0.25);
    }
  }
}

TEST(UpgradeOpset, WithoutATargetAboveTheModelNothingChanges) {
  test::expectEquivalentAfter("upgrade-opset", kOpset9, {.expectChange = false});
}

TEST(UpgradeOpset, RefusesASoftmaxOverAMiddleAxisAndLeavesTheModel) {
  Model m = test::buildModel(R"(<ir_version: 7, opset_import: ["" : 11]>
    g (float[2,3,4] x) => (float[2,3,4] y) { y = Softmax<axis = 1>(x) })");
  Status s = upgradeOpset(m, 13);
  EXPECT_EQ(s.code(), StatusCode::Unsupported);
  EXPECT_NE(s.message().find("Softmax"), std::string::npos) << s.toString();
  EXPECT_NE(s.message().find("flattens"), std::string::npos) << s.toString();
  EXPECT_EQ(m.opsetVersion(""), 11);
  // A Softmax over the last axis is the same at 13.
  Model last = test::buildModel(R"(<ir_version: 7, opset_import: ["" : 11]>
    g (float[2,3,4] x) => (float[2,3,4] y) { y = Softmax<axis = 2>(x) })");
  EXPECT_TRUE(upgradeOpset(last, 13).isOk());
  EXPECT_EQ(last.opsetVersion(""), 13);
}

}  // namespace
}  // namespace npuconv
