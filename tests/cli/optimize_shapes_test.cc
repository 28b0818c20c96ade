// `npuconv optimize --input-shape/--dim`: end to end through the binary: a frozen model is
// written with static shapes and no Shape op; bad specs exit 2 with one line naming the input
// and leave no output file.
#include <gtest/gtest.h>

#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "tests/passes/pass_test_util.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDynamic = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[batch, seq, 4] x) => (float[batch, n] y) {
      s = Shape(x)
      i0 = Constant<value_ints = [0]>()
      b = Gather<axis = 0>(s, i0)
      m = Constant<value_ints = [-1]>()
      shp = Concat<axis = 0>(b, m)
      y = Reshape(x, shp)
    })";

class OptimizeShapes : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::tempDir("optimize_shapes");
    ASSERT_TRUE(writeOnnx(test::parseModel(kDynamic), dir_ / "in.onnx").hasValue());
  }
  int optimize(const std::string& args, std::string* err) {
    fs::remove(dir_ / "out.onnx");
    return test::runCommand(test::npuconvBinary() + " optimize '" + (dir_ / "in.onnx").string() + "' -o '" +
                                (dir_ / "out.onnx").string() + "' " + args,
                            nullptr, err);
  }
  fs::path dir_;
};

TEST_F(OptimizeShapes, NpuPipelineWritesStaticShapes) {
  std::string err;
  ASSERT_EQ(optimize("--pipeline npu --input-shape x=2x3x4", &err), 0) << err;
  auto m = readOnnx(dir_ / "out.onnx");
  ASSERT_TRUE(m.hasValue()) << m.status().toString();
  EXPECT_EQ(test::countOps(*m, "Shape"), 0);
  EXPECT_EQ(m->graph->inputs()[0]->type().toString(), "f32[2,3,4]");
  EXPECT_EQ(m->graph->outputs()[0]->type().toString(), "f32[2,12]");
}

TEST_F(OptimizeShapes, DimsWorkWithAnyPipeline) {
  std::string err;
  ASSERT_EQ(optimize("--pipeline O2 --dim batch=1 --dim seq=8", &err), 0) << err;
  auto m = readOnnx(dir_ / "out.onnx");
  ASSERT_TRUE(m.hasValue()) << m.status().toString();
  EXPECT_EQ(test::countOps(*m, "Shape"), 0);
  EXPECT_EQ(m->graph->outputs()[0]->type().toString(), "f32[1,32]");
}

TEST_F(OptimizeShapes, BadSpecsExit2WithOneLineAndNoOutput) {
  for (const std::string args : {"--input-shape nope=1x2x4", "--input-shape x=1x2", "--dim sequence=3",
                                 "--input-shape x=1xqx4", "--pipeline npu"}) {
    std::string err;
    EXPECT_EQ(optimize(args, &err), 2) << args << ": " << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_NE(err.find("npuconv: error: "), std::string::npos) << err;
    EXPECT_FALSE(fs::exists(dir_ / "out.onnx")) << args;
  }
}

}  // namespace
}  // namespace npuconv
