// freeze-shapes and check-static-shapes: binding input shapes and symbolic dims, static types
// everywhere by evaluation, Shape arithmetic folded away afterwards, and errors that name the
// tensor and node that keep a shape dynamic.
#include "converter/ir/verifier.h"
#include "passes/registry.h"
#include "tests/passes/pass_test_util.h"

namespace npuconv {
namespace {

// Flattens the last two dims with Shape arithmetic, as exporters write it for dynamic axes.
constexpr const char* kFlatten = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[batch, seq, 4] x) => (float[batch, n] y) {
      s = Shape(x)
      i0 = Constant<value_ints = [0]>()
      i1 = Constant<value_ints = [1]>()
      i2 = Constant<value_ints = [2]>()
      b = Gather<axis = 0>(s, i0)
      t = Gather<axis = 0>(s, i1)
      f = Gather<axis = 0>(s, i2)
      tf = Mul(t, f)
      shp = Concat<axis = 0>(b, tf)
      r = Reshape(x, shp)
      y = Relu(r)
    })";

Status runPasses(Model& m, const std::string& passes, const std::map<std::string, std::string>& options) {
  auto pm = buildPassManager("", passes, {});
  if (!pm) return pm.status();
  pm->setVerifyEach(true);
  PassContext ctx;
  ctx.options = options;
  return pm->run(m, ctx);
}

void expectAllStatic(const Model& m) {
  for (const Value* v : m.graph->valueList()) {
    if (v->isInitializer() || !(v->producer() || v->isGraphInput())) continue;
    EXPECT_TRUE(v->type().hasStaticShape()) << v->name() << " is " << v->type().toString();
  }
}

TEST(FreezeShapes, FreezesInputAndFoldsShapeArithmetic) {
  Model after;
  test::expectEquivalentAfter("freeze-shapes,fold-constants,eliminate-dead-code", kFlatten,
                              {.expectOps = {{"Shape", 0}, {"Gather", 0}, {"Concat", 0}, {"Mul", 0}, {"Reshape", 1}},
                               .options = {{"freeze.input-shapes", "x=2x3x4"}}},
                              &after);
  EXPECT_EQ(after.graph->inputs()[0]->type().toString(), "f32[2,3,4]");
  EXPECT_EQ(after.graph->outputs()[0]->type().toString(), "f32[2,12]");
  expectAllStatic(after);
}

TEST(FreezeShapes, LeavesADynamicModelAloneWithoutShapes) {
  test::expectEquivalentAfter("freeze-shapes", kFlatten, {.expectOps = {{"Shape", 1}}, .expectChange = false});
}

TEST(FreezeShapes, KeepsWorkingWhenShapesAreAlreadyStatic) {
  Model after;
  std::string text = kFlatten;
  text.replace(text.find("float[batch, seq, 4] x"), 22, "float[2, 5, 4] x");
  test::expectEquivalentAfter("freeze-shapes,fold-constants,eliminate-dead-code", text,
                              {.expectOps = {{"Shape", 0}, {"Reshape", 1}}}, &after);
  EXPECT_EQ(after.graph->findValue("r")->type().toString(), "f32[2,20]");
}

TEST(FreezeShapes, DimsBindEverySymbol) {
  Model m = test::buildModel(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[batch, seq] a, float[batch, seq] b) => (float[batch, seq] y) {
      y = Add(a, b)
    })");
  Status s = runPasses(m, "freeze-shapes", {{"freeze.dims", "batch=1;seq=7"}});
  ASSERT_TRUE(s.isOk()) << s.toString();
  EXPECT_EQ(m.graph->inputs()[0]->type().toString(), "f32[1,7]");
  EXPECT_EQ(m.graph->inputs()[1]->type().toString(), "f32[1,7]");
  EXPECT_EQ(m.graph->outputs()[0]->type().toString(), "f32[1,7]");
}

TEST(FreezeShapes, InputShapeBindsItsSymbolsInOtherInputs) {
  Model m = test::buildModel(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[batch, seq] a, float[batch, seq] b) => (float[batch, seq] y) {
      y = Add(a, b)
    })");
  Status s = runPasses(m, "freeze-shapes", {{"freeze.input-shapes", "a=3x5"}, {"target.static-shapes", "1"}});
  ASSERT_TRUE(s.isOk()) << s.toString();
  EXPECT_EQ(m.graph->inputs()[1]->type().toString(), "f32[3,5]");
}

TEST(FreezeShapes, BadSpecsAreOneLineErrorsNamingTheInput) {
  struct Case {
    std::map<std::string, std::string> options;
    StatusCode code;
    std::string mention;
  };
  std::vector<Case> cases = {
      {{{"freeze.input-shapes", "nope=1x2x4"}}, StatusCode::InvalidArgument, "no input \"nope\" (inputs: x)"},
      {{{"freeze.input-shapes", "x=1x2"}}, StatusCode::InvalidArgument, "rank 3"},
      {{{"freeze.input-shapes", "x=1x2x5"}}, StatusCode::InvalidArgument, "static dim 2 = 4"},
      {{{"freeze.input-shapes", "x=1xax4"}}, StatusCode::InvalidArgument, "not a list of sizes"},
      {{{"freeze.dims", "sequence=4"}}, StatusCode::InvalidArgument, "no symbolic dim \"sequence\" (symbolic dims: batch, n, seq)"},
      {{{"freeze.dims", "batch=1"}, {"freeze.input-shapes", "x=2x3x4"}}, StatusCode::InvalidArgument, "given as 2 and as 1"},
      {{{"freeze.dims", "batch=1"}, {"target.static-shapes", "1"}}, StatusCode::InvalidArgument,
       "input \"x\" has the dynamic shape f32[1,seq,4]"},
  };
  for (const Case& c : cases) {
    Model m = test::buildModel(kFlatten);
    Status s = runPasses(m, "freeze-shapes", c.options);
    EXPECT_EQ(s.code(), c.code) << s.toString();
    EXPECT_NE(s.message().find(c.mention), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
  }
}

// NonZero's result size depends on the data; so does everything computed from it.
constexpr const char* kNonZero = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[n] x) => (float[m] y, float[n] z) {
      nz = NonZero(x)
      f = Flatten<axis = 0>(nz)
      y = Cast<to = 1>(f)
      z = Relu(x)
    })";

TEST(FreezeShapes, DataDependentShapeIsNamedWhenTheTargetNeedsStaticShapes) {
  Model m = test::buildModel(kNonZero);
  Status s = runPasses(m, "freeze-shapes",
                       {{"freeze.input-shapes", "x=6"}, {"target.static-shapes", "1"}, {"target", "rk3588"}});
  EXPECT_EQ(s.code(), StatusCode::Unsupported);
  EXPECT_NE(s.message().find("tensor \"nz\""), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("NonZero"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("rk3588 needs static shapes"), std::string::npos) << s.message();
}

TEST(FreezeShapes, DataDependentShapesStayDynamicOtherwise) {
  Model m = test::buildModel(kNonZero);
  Status s = runPasses(m, "freeze-shapes", {{"freeze.input-shapes", "x=6"}});
  ASSERT_TRUE(s.isOk()) << s.toString();
  EXPECT_EQ(m.graph->findValue("z")->type().toString(), "f32[6]");
  EXPECT_FALSE(m.graph->findValue("nz")->type().hasStaticShape());
  EXPECT_FALSE(m.graph->findValue("y")->type().hasStaticShape());
}

TEST(FreezeShapes, ReshapeToDataIsDynamic) {
  Model m = test::buildModel(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[6] x, int64[2] shp) => (float[a, b] y) {
      y = Reshape(x, shp)
    })");
  Status s = runPasses(m, "freeze-shapes,check-static-shapes", {{"freeze.input-shapes", "shp=2"}});
  EXPECT_EQ(s.code(), StatusCode::Unsupported);
  EXPECT_NE(s.message().find("tensor \"y\" of node"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("shape operand \"shp\" depends on input values"), std::string::npos) << s.message();
}

TEST(CheckStaticShapes, PassesStaticModelsAndFillsTypes) {
  Model m = test::buildModel(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 3] x) => (float[2, 3] y) {
      r = Relu(x)
      y = Neg(r)
    })");
  Status s = runPasses(m, "check-static-shapes", {});
  ASSERT_TRUE(s.isOk()) << s.toString();
  EXPECT_EQ(m.graph->findValue("r")->type().toString(), "f32[2,3]");
}

TEST(CheckStaticShapes, NamesADynamicInput) {
  Model m = test::buildModel(kFlatten);
  Status s = runPasses(m, "check-static-shapes", {});
  EXPECT_EQ(s.code(), StatusCode::InvalidArgument);
  EXPECT_NE(s.message().find("--input-shape x="), std::string::npos) << s.message();
  Model m2 = test::buildModel(kFlatten);
  EXPECT_TRUE(runPasses(m2, "check-static-shapes", {{"target.static-shapes", "0"}}).isOk());
}

TEST(FreezeShapes, NpuPipelineLeavesNoShapeOps) {
  Model m = test::buildModel(kFlatten);
  auto pm = buildPassManager("npu", "", {});
  ASSERT_TRUE(pm.hasValue());
  pm->setVerifyEach(true);
  PassContext ctx;
  ctx.options = {{"freeze.input-shapes", "x=1x8x4"}};
  Status s = pm->run(m, ctx);
  ASSERT_TRUE(s.isOk()) << s.toString();
  EXPECT_EQ(test::countOps(m, "Shape"), 0);
  expectAllStatic(m);
  EXPECT_EQ(m.graph->outputs()[0]->type().toString(), "f32[1,32]");
}

}  // namespace
}  // namespace npuconv
