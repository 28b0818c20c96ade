// The pass manager's instrumentation reaches inside fixpoint groups: --verify-each verifies
// after every inner pass and names it with its round, --print-ir-after fires for an inner pass,
// and the records list every inner run (name, group, round, changed, node counts) after the
// group's own record. The emit stage honours --disable and runs its cleanup only after a
// lowering.
#include <gtest/gtest.h>

#include <sstream>

#include "converter/ir/verifier.h"
#include "passes/fixpoint.h"
#include "passes/registry.h"
#include "tests/passes/pass_test_util.h"

namespace npuconv {
namespace {

const char* kModel = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3] x) => (float[2,3] y) {
      a = Identity(x)
      b = Identity(a)
      y = Relu(b)
    })";

/// Breaks the IR on its `breakOnRun`-th run: makes the graph output an unproduced value.
class BreakingPass final : public Pass {
 public:
  explicit BreakingPass(int breakOnRun) : breakOnRun_(breakOnRun) {}
  std::string_view name() const override { return "break-ir"; }
  Status run(Model& m, PassContext&) override {
    if (++runs_ == breakOnRun_) m.graph->setOutput(0, m.graph->findValue("a"));
    return Status::ok();
  }

 private:
  int breakOnRun_, runs_ = 0;
};

std::unique_ptr<Pass> group(std::vector<std::unique_ptr<Pass>> passes, int rounds = 4) {
  return std::make_unique<FixpointPass>("fixpoint(test)", std::move(passes), rounds);
}

TEST(PassInstrumentation, RecordsEveryInnerRunAfterItsGroup) {
  Model m = test::buildModel(kModel);
  PassManager pm;
  std::vector<std::unique_ptr<Pass>> inner;
  inner.push_back(createPass("eliminate-identity"));
  inner.push_back(createPass("eliminate-dead-code"));
  pm.add(group(std::move(inner)));
  pm.add(createPass("eliminate-dead-code"));
  PassContext ctx;
  ASSERT_TRUE(pm.run(m, ctx).isOk());
  const auto& r = pm.records();
  // group, round 1 (identity changes: 3 -> 1 node), round 2 (nothing), then the top-level DCE.
  ASSERT_EQ(r.size(), 6u);
  EXPECT_EQ(r[0].name, "fixpoint(test)");
  EXPECT_TRUE(r[0].group.empty());
  EXPECT_EQ(r[0].nodesBefore, 3u);
  EXPECT_EQ(r[0].nodesAfter, 1u);
  EXPECT_TRUE(r[0].changed);
  EXPECT_EQ(r[1].name, "eliminate-identity");
  EXPECT_EQ(r[1].group, "fixpoint(test)");
  EXPECT_EQ(r[1].round, 1);
  EXPECT_TRUE(r[1].changed);
  EXPECT_EQ(r[1].nodesBefore, 3u);
  EXPECT_EQ(r[1].nodesAfter, 1u);
  EXPECT_EQ(r[2].name, "eliminate-dead-code");
  EXPECT_EQ(r[2].round, 1);
  EXPECT_EQ(r[3].name, "eliminate-identity");
  EXPECT_EQ(r[3].round, 2);
  EXPECT_FALSE(r[3].changed);
  EXPECT_EQ(r[4].round, 2);
  EXPECT_EQ(r[5].name, "eliminate-dead-code");
  EXPECT_TRUE(r[5].group.empty());
  EXPECT_GE(r[0].millis, r[1].millis + r[2].millis + r[3].millis + r[4].millis - 1e-9);
  EXPECT_EQ(ctx.stats["fixpoint(test).rounds"], 2);
}

TEST(PassInstrumentation, VerifyEachCatchesAnInnerPassAndNamesItsRound) {
  for (bool verify : {true, false}) {
    Model m = test::buildModel(kModel);
    PassManager pm;
    std::vector<std::unique_ptr<Pass>> inner;
    inner.push_back(createPass("eliminate-identity"));
    inner.push_back(std::make_unique<BreakingPass>(2));
    inner.push_back(createPass("eliminate-identity"));  // would not notice the broken output
    pm.add(group(std::move(inner)));
    pm.setVerifyEach(verify);
    PassContext ctx;
    Status s = pm.run(m, ctx);
    if (verify) {
      ASSERT_FALSE(s.isOk());
      EXPECT_EQ(s.code(), StatusCode::Internal);
      EXPECT_NE(s.message().find("after pass break-ir (round 2 of fixpoint(test))"), std::string::npos) << s.message();
    } else {
      EXPECT_TRUE(s.isOk()) << s.toString();  // nothing checks: the broken IR goes through
      EXPECT_FALSE(verifyModel(m).isOk());
    }
  }
}

TEST(PassInstrumentation, PrintIrAfterFiresForAnInnerPass) {
  Model m = test::buildModel(kModel);
  PassManager pm;
  std::vector<std::unique_ptr<Pass>> inner;
  inner.push_back(createPass("eliminate-identity"));
  inner.push_back(createPass("eliminate-dead-code"));
  pm.add(group(std::move(inner)));
  std::ostringstream os;
  pm.setPrintIrAfter({"eliminate-identity"}, &os);
  PassContext ctx;
  ASSERT_TRUE(pm.run(m, ctx).isOk());
  std::string text = os.str();
  EXPECT_NE(text.find("// IR after eliminate-identity (round 1 of fixpoint(test))"), std::string::npos) << text;
  EXPECT_NE(text.find("// IR after eliminate-identity (round 2 of fixpoint(test))"), std::string::npos) << text;
  EXPECT_EQ(text.find("eliminate-dead-code"), std::string::npos) << text;
  EXPECT_EQ(text.find("Identity("), std::string::npos) << text;  // printed after the removal
}

TEST(PassInstrumentation, InnerFailureNamesTheInnerPassOnce) {
  class Failing final : public Pass {
   public:
    std::string_view name() const override { return "fail-here"; }
    Status run(Model&, PassContext&) override { return Status::invalidModel("node \"n\": bad"); }
  };
  for (bool managed : {true, false}) {
    Model m = test::buildModel(kModel);
    std::vector<std::unique_ptr<Pass>> inner;
    inner.push_back(std::make_unique<Failing>());
    auto g = group(std::move(inner));
    PassContext ctx;
    Status s;
    if (managed) {
      PassManager pm;
      pm.add(std::move(g));
      s = pm.run(m, ctx);
      EXPECT_TRUE(pm.records().empty());
    } else {
      s = g->run(m, ctx);
    }
    EXPECT_EQ(s.message(), "pass fail-here: node \"n\": bad");
  }
}

TEST(EmitStage, EntriesHaveReasonsAndHonourDisable) {
  for (const EmitEntry& e : emitStage()) {
    EXPECT_FALSE(e.reason.empty()) << e.name;
    if (!e.hook) {
      EXPECT_NE(createPass(e.name), nullptr) << e.name;
    }
  }
  PassManager pm;
  ASSERT_TRUE(appendEmitStage(pm, EmitPhase::StandardOps, {}).isOk());
  EXPECT_EQ(pm.names(), (std::vector<std::string>{"lower-nhwc-to-onnx", "fold-transpose-chains", "eliminate-dead-code"}));
  PassManager final;
  ASSERT_TRUE(appendEmitStage(final, EmitPhase::Final, {"lower-to-opset"}).isOk());
  EXPECT_TRUE(final.names().empty());  // no hook given for place-on-target, lower-to-opset disabled
  // The disable list accepts the hook's name.
  EXPECT_TRUE(buildPassManager("O2", "", {"place-on-target", "lower-nhwc-to-onnx"}).hasValue());
}

TEST(EmitStage, CleanupRunsOnlyAfterALowering) {
  // A model with a Transpose pair and no NHWC op: the emit stage must leave it as it is (the
  // cleanup is for what the lowering leaves, and `--pipeline none` is a lossless round trip).
  Model m = test::buildModel(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,2,3,4] x) => (float[1,2,3,4] y) {
      t = Transpose<perm = [0, 2, 3, 1]>(x)
      y = Transpose<perm = [0, 3, 1, 2]>(t)
    })");
  PassManager pm;
  ASSERT_TRUE(appendEmitStage(pm, EmitPhase::StandardOps, {}).isOk());
  PassContext ctx;
  ASSERT_TRUE(pm.run(m, ctx).isOk());
  EXPECT_EQ(test::countOps(m, "Transpose"), 2);
  ASSERT_EQ(pm.records().size(), 1u);
  EXPECT_EQ(pm.records()[0].name, "lower-nhwc-to-onnx");
  EXPECT_FALSE(pm.records()[0].changed);
  // The same model after convert-layout-nhwc of a Conv does get the cleanup (see
  // tests/cli/convert_test.cc and tests/passes/layout_*).
}

}  // namespace
}  // namespace npuconv
