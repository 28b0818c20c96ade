// Sizes past int64: a ConstantOfShape of [2^62] float32 needs 2^64 bytes, which wrapped to 0
// and crashed `optimize --pipeline O1` (fold-constants) and `run` (the executor) with a
// segmentation fault. Now fold-constants leaves it alone and the executor reports the node.
#include <gtest/gtest.h>

#include "converter/exec/executor.h"
#include "converter/ir/tensor.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "tests/passes/pass_test_util.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

constexpr const char* kHugeConstantOfShape = R"(<ir_version: 8, opset_import: ["" : 13]>
    g () => (float[?] y) {
      s = Constant<value = int64[1] {4611686018427387904}>()
      y = ConstantOfShape<value = float[1] {1.0}>(s)
    })";

TEST(CheckedSize, RefusesInsteadOfWrapping) {
  const int64_t big = int64_t(1) << 62;
  EXPECT_EQ(checkedElementCount(std::vector<int64_t>{big}), big);
  EXPECT_EQ(checkedElementCount(std::vector<int64_t>{big, 2}), std::nullopt);
  EXPECT_EQ(checkedElementCount(std::vector<int64_t>{big, 4, 0}), 0);  // empty, though its prefix overflows
  EXPECT_EQ(checkedElementCount(std::vector<int64_t>{3, -1}), std::nullopt);
  EXPECT_EQ(checkedElementCount(std::vector<int64_t>{}), 1);
  EXPECT_EQ(checkedByteSize(std::vector<int64_t>{big}, DType::U8), big);
  EXPECT_EQ(checkedByteSize(std::vector<int64_t>{big}, DType::F32), std::nullopt);
  EXPECT_EQ(checkedByteSize(std::vector<int64_t>{2, 3}, DType::F32), 24);
  EXPECT_EQ(checkedByteSize(std::vector<int64_t>{2}, DType::String), std::nullopt);
  EXPECT_EQ(checkedByteSize(-1, 4), std::nullopt);
}

TEST(OversizedTensors, ExecutorNamesTheNode) {
  Model m = test::parseModel(kHugeConstantOfShape);
  auto exec = Executor::create(*m.graph, m.opsetVersion(""), ExecOptions{1, nullptr});
  ASSERT_TRUE(exec.hasValue()) << exec.status().toString();
  auto out = (*exec)->runOrdered({});
  ASSERT_FALSE(out.hasValue());
  EXPECT_EQ(out.status().code(), StatusCode::InvalidModel);
  EXPECT_NE(out.status().message().find("ConstantOfShape"), std::string::npos) << out.status().message();
  EXPECT_NE(out.status().message().find("4611686018427387904"), std::string::npos) << out.status().message();
}

class OversizedTensorsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::tempDir("oversized");
    ASSERT_TRUE(writeOnnx(test::parseModel(kHugeConstantOfShape), dir_ / "in.onnx").hasValue());
  }
  std::string model() const { return "'" + (dir_ / "in.onnx").string() + "'"; }
  fs::path dir_;
};

TEST_F(OversizedTensorsCli, OptimizeO1LeavesItUnfolded) {
  std::string err;
  fs::path out = dir_ / "out.onnx";
  int rc = test::runCommand(test::npuconvBinary() + " optimize " + model() + " -o '" + out.string() +
                                "' --pipeline O1",
                            nullptr, &err);
  ASSERT_EQ(rc, 0) << err;
  auto m = readOnnx(out);
  ASSERT_TRUE(m.hasValue()) << m.status().toString();
  EXPECT_EQ(test::countOps(*m, "ConstantOfShape"), 1);
}

TEST_F(OversizedTensorsCli, RunFailsWithOneLineNamingTheNode) {
  std::string err;
  int rc = test::runCommand(test::npuconvBinary() + " run " + model() + " --output-dir '" +
                                (dir_ / "run").string() + "'",
                            nullptr, &err);
  EXPECT_EQ(rc, exitCodeFor(StatusCode::InvalidModel)) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("ConstantOfShape"), std::string::npos) << err;
}

}  // namespace
}  // namespace npuconv
