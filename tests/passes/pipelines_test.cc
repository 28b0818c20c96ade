// The named pipelines: every one builds; O2 folds and fuses a small CNN without changing its
// outputs; `npuconv optimize --pipeline O2` writes a model that reads back valid.
#include <algorithm>

#include "converter/ir/verifier.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "passes/fuse/fusion_groups.h"
#include "passes/registry.h"
#include "tests/passes/pass_test_util.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

const char* kCnn = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,8,8] x, float[4,3,3,3] w, float[4] s, float[4] bb, float[4] mean, float[4] var,
       float[4,5] fw, float[5] fb) => (float[1,5] y) {
      i = Identity(x)
      pz = Constant<value_ints = [0, 0, 1, 1, 0, 0, 1, 1]>()
      p = Pad(i, pz)
      c = Conv(p, w)
      b = BatchNormalization(c, s, bb, mean, var)
      r = Relu(b)
      g2 = GlobalAveragePool(r)
      sh = Constant<value_ints = [1, 4]>()
      fl = Reshape(g2, sh)
      t1 = Transpose<perm = [1, 0]>(fl)
      t2 = Transpose<perm = [1, 0]>(t1)
      n1 = Constant<value_ints = [1]>()
      sq = Unsqueeze(t2, n1)
      us = Squeeze(sq, n1)
      mm = MatMul(us, fw)
      ad = Add(mm, fb)
      r2 = Constant<value_float = 1.4142135>()
      one = Constant<value_float = 1.0>()
      half = Constant<value_float = 0.5>()
      dv = Div(ad, r2)
      er = Erf(dv)
      a1 = Add(er, one)
      hx = Mul(ad, half)
      y = Mul(hx, a1)
    })";

const std::map<std::string, test::Range> kConsts = {{"w", {}}, {"s", {0.5f, 1.5f}}, {"bb", {}}, {"mean", {}},
                                                     {"var", {0.2f, 2.0f}}, {"fw", {}}, {"fb", {}}};

TEST(Pipelines, NamesAndErrors) {
  for (const std::string& p : pipelineNames()) EXPECT_TRUE(buildPassManager(p, "", {}).hasValue()) << p;
  EXPECT_EQ(pipelinePasses("none")->size(), 0u);
  EXPECT_FALSE(buildPassManager("O3", "", {}).hasValue());
  EXPECT_FALSE(buildPassManager("", "fold-everything", {}).hasValue());
  auto o2 = buildPassManager("O2", "", {"fuse-gelu"});
  ASSERT_TRUE(o2.hasValue());
  EXPECT_GT(o2->size(), 0u);
  for (const PassInfo& p : allPasses()) EXPECT_NE(createPass(p.name), nullptr) << p.name;
  for (size_t i = 1; i < allPasses().size(); ++i) EXPECT_LT(allPasses()[i - 1].name, allPasses()[i].name);
}

TEST(Pipelines, O1FoldsSmallCnn) {
  test::expectEquivalentAfter("pipeline=O1", kCnn,
                              {.consts = kConsts,
                               .expectOps = {{"Identity", 0}, {"Pad", 0}, {"BatchNormalization", 0}, {"Transpose", 0},
                                             {"Squeeze", 0}, {"Unsqueeze", 0}, {"Constant", 0}, {"Conv", 1}, {"Erf", 1}},
                               .rtol = 1e-4});
}

TEST(Pipelines, O2FoldsAndFusesSmallCnn) {
  Model after;
  test::expectEquivalentAfter("pipeline=O2", kCnn,
                              {.consts = kConsts,
                               .expectOps = {{"Identity", 0}, {"Pad", 0}, {"BatchNormalization", 0}, {"Transpose", 0},
                                             {"Squeeze", 0}, {"Unsqueeze", 0}, {"Conv", 1}, {"Relu", 1}},
                               .rtol = 1e-4},
                              &after);
  std::vector<std::string> kinds;
  for (const FusionGroup& g : fusionGroups(after)) kinds.push_back(g.kind);
  std::sort(kinds.begin(), kinds.end());
  // Gelu is one node in the IR (written decomposed below opset 20): the linear op's activation.
  EXPECT_EQ(kinds, (std::vector<std::string>{"conv-act", "linear-act"}));
  EXPECT_EQ(test::countOps(after, "Gelu"), 1);
}

TEST(Pipelines, CliOptimizeO2) {
  Model m = test::buildModel(kCnn, kConsts);
  auto dir = test::tempDir("pipelines");
  ASSERT_TRUE(writeOnnx(m, dir / "in.onnx").hasValue());
  std::string out, err;
  int rc = test::runCommand(test::npuconvBinary() + " optimize " + (dir / "in.onnx").string() + " -o " +
                                (dir / "out.onnx").string() + " --pipeline O2 --verify-each",
                            &out, &err);
  ASSERT_EQ(rc, 0) << out << err;
  auto back = readOnnx(dir / "out.onnx");
  ASSERT_TRUE(back.hasValue()) << back.status().toString();
  EXPECT_TRUE(verifyModel(*back).isOk());
  EXPECT_EQ(test::countOps(*back, "BatchNormalization"), 0);
  // Written at the model's opset: Gelu decomposed again, its group "gelu", the linear op "linear".
  std::vector<std::string> kinds;
  for (const FusionGroup& g : fusionGroups(*back)) kinds.push_back(g.kind);
  std::sort(kinds.begin(), kinds.end());
  EXPECT_EQ(kinds, (std::vector<std::string>{"conv-act", "gelu", "linear"}));
  EXPECT_EQ(test::countOps(*back, "Gelu"), 0);
}

}  // namespace
}  // namespace npuconv
