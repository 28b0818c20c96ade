// Import-time op checks (formats/onnx/schema_check.h): malformed uses of an op are refused with
// one line naming the node (and the file), before a pass or kernel reads them; unknown ops and
// opsets newer than onnx's registry pass.
#include <gtest/gtest.h>

#include <onnx/defs/parser.h>

#include <fstream>

#include "formats/onnx/onnx_reader.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

struct SchemaCase {
  const char* what;
  const char* graph;    // the body of g, ONNX text syntax
  const char* message;  // the error must contain this
};

std::string model(const std::string& body, int opset = 13) {
  return fmt::format("<ir_version: 8, opset_import: [\"\" : {}]>\n{}", opset, body);
}

// Each is malformed in one way.
const SchemaCase kBad[] = {
    {"perm repeats an axis", R"(g (float[2,3] x) => (float[3,2] y) { y = Transpose<perm = [0, 0]>(x) })",
     "perm [0,0] is not a permutation"},
    {"perm past the rank", R"(g (float[2,3] x) => (float[3,2] y) { y = Transpose<perm = [0, 5]>(x) })",
     "is not a permutation"},
    {"perm of another rank", R"(g (float[2,3,4] x) => (float[3,2] y) { y = Transpose<perm = [1, 0]>(x) })",
     "2 entries for an input of rank 3"},
    {"perm given as floats", R"(g (float[2,3] x) => (float[3,2] y) { y = Transpose<perm = [1.0, 0.0]>(x) })",
     "attribute \"perm\" is FLOATS, the op takes INTS"},
    {"ConvTranspose group does not divide the channels",
     R"(g (float[1,4,5,5] x, float[4,1,3,3] w) => (float[1,3,7,7] y) { y = ConvTranspose<group = 3>(x, w) })",
     "group 3 does not divide the 4 input channels"},
    {"Conv group zero", R"(g (float[1,4,5,5] x, float[4,4,3,3] w) => (float[1,4,3,3] y) { y = Conv<group = 0>(x, w) })",
     "group 0 is not positive"},
    {"Conv weights for other channels",
     R"(g (float[1,4,5,5] x, float[4,1,3,3] w) => (float[1,4,3,3] y) { y = Conv<group = 2>(x, w) })",
     "weights for 1 x 2 input channels, the input has 4"},
    {"strides for another rank",
     R"(g (float[1,4,5,5] x, float[4,4,3,3] w) => (float[1,4,3,3] y) { y = Conv<strides = [1]>(x, w) })",
     "strides [1] has 1 values for 2 spatial axes"},
    {"negative pads",
     R"(g (float[1,4,5,5] x, float[4,4,3,3] w) => (float[1,4,3,3] y) { y = Conv<pads = [-1, 0, 0, 0]>(x, w) })",
     "pads [-1,0,0,0] has a value below 0"},
    {"pads and kernel_shape disagree",
     R"(g (float[1,4,5,5] x) => (float[1,4,4,4] y) { y = MaxPool<kernel_shape = [2, 2], pads = [0, 0]>(x) })",
     "pads [0,0] has 2 values for 2 spatial axes"},
    {"zero kernel", R"(g (float[1,4,5,5] x) => (float[1,4,4,4] y) { y = MaxPool<kernel_shape = [0, 2]>(x) })",
     "kernel_shape [0,2] has a value below 1"},
    {"Gather axis", R"(g (float[2,3] x, int64[1] i) => (float[2] y) { y = Gather<axis = 2>(x, i) })",
     "axis 2 is out of range for rank 2"},
    {"Concat axis", R"(g (float[2,3] x) => (float[4,3] y) { y = Concat<axis = -3>(x, x) })",
     "axis -3 is out of range for rank 2"},
    {"Softmax axis", R"(g (float[2,3] x) => (float[2,3] y) { y = Softmax<axis = 2>(x) })",
     "axis 2 is out of range for rank 2"},
    {"too many inputs", R"(g (float[2] x) => (float[2] y) { y = Relu(x, x) })", "has 2 inputs, Relu-"},
    {"required attribute missing", R"(g (float[2] x) => (int64[2] y) { y = Cast(x) })",
     "required attribute \"to\" is missing"},
};

TEST(SchemaCheck, RefusesMalformedNodesNamingThem) {
  for (const SchemaCase& c : kBad) {
    SCOPED_TRACE(c.what);
    std::string text = model(c.graph);
    auto m = parseOnnxText(text);
    ASSERT_FALSE(m.hasValue()) << "accepted";
    EXPECT_EQ(m.status().code(), StatusCode::InvalidModel) << m.status().toString();
    EXPECT_NE(m.status().message().find(c.message), std::string::npos) << m.status().message();
    EXPECT_NE(m.status().message().find("node \""), std::string::npos) << m.status().message();
    EXPECT_EQ(m.status().message().find('\n'), std::string::npos) << m.status().message();
  }
}

TEST(SchemaCheck, RefusesAnEmptyRequiredInput) {
  onnx::ModelProto proto;
  onnx::OnnxParser parser(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2] x) => (float[2] y) { y = Add(x, x) })");
  ASSERT_TRUE(parser.Parse(proto).IsOK());
  proto.mutable_graph()->mutable_node(0)->set_input(1, "");  // the text syntax cannot leave it empty
  auto m = parseOnnxBytes(proto.SerializeAsString(), ".", "m.onnx");
  ASSERT_FALSE(m.hasValue());
  EXPECT_NE(m.status().message().find("m.onnx: node \""), std::string::npos) << m.status().message();
  EXPECT_NE(m.status().message().find("required input 1 (B) is empty"), std::string::npos) << m.status().message();
}

TEST(SchemaCheck, ChecksSubgraphNodes) {
  auto m = parseOnnxText(model(R"(g (bool c, float[2,3] x) => (float[3,2] y) {
      y = If(c) <then_branch = t () => (float[3,2] a) { a = Transpose<perm = [1, 1]>(x) },
                 else_branch = e () => (float[3,2] b) { b = Transpose<perm = [1, 0]>(x) }>
    })"));
  ASSERT_FALSE(m.hasValue());
  EXPECT_NE(m.status().message().find("subgraph \"t\""), std::string::npos) << m.status().message();
  EXPECT_NE(m.status().message().find("perm [1,1]"), std::string::npos) << m.status().message();
}

TEST(SchemaCheck, AcceptsWhatItCannotJudge) {
  // An op the registry does not know; unknown ranks and dims (an undeclared intermediate value); an opset newer than the registry's, where
  // ReduceMean takes its axes as an input (opset 18), which the older schema would refuse.
  const std::string good[] = {
      model(R"(g (float[2] x) => (float[2] y) { y = NotAnOnnxOp<whatever = 1>(x, x, x) })"),
      model(R"(g (float[2,3,4] x) => (float[4,2,3] y) { a = Relu(x) y = Transpose<perm = [2, 0, 1]>(a) })"),
      model(R"(g (float[1,4,5,5] x, float[3,2,3,3] w) => (float[1,3,3,3] y) { a = Relu(x) y = Conv<group = 3>(a, w) })"),
      model(R"(g (float[2,3] x) => (float[2,1] y) { ax = Constant<value_ints = [1]>() y = ReduceMean(x, ax) })",
            18),
      model(R"(g (float[2,3] x) => (float[3,2] y) { y = Transpose<perm = [1, 0]>(x) })"),
  };
  for (const std::string& text : good) {
    auto m = parseOnnxText(text);
    EXPECT_TRUE(m.hasValue()) << text << "\n" << m.status().toString();
  }
}

// Through the binary on a file written by onnx itself: exit 3, one line naming file and node.
TEST(SchemaCheck, CliExitsWithInvalidModel) {
  fs::path dir = test::tempDir("schema_check");
  onnx::ModelProto proto;
  onnx::OnnxParser parser(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,4,5,5] x, float[4,1,3,3] w) => (float[1,3,7,7] y) { y = ConvTranspose<group = 3>(x, w) })");
  ASSERT_TRUE(parser.Parse(proto).IsOK());
  proto.mutable_graph()->mutable_node(0)->set_name("deconv1");
  fs::path p = dir / "m.onnx";
  std::ofstream(p, std::ios::binary) << proto.SerializeAsString();
  for (const char* cmd : {" inspect ", " run "}) {
    std::string err;
    int rc = test::runCommand(test::npuconvBinary() + cmd + p.string(), nullptr, &err);
    EXPECT_EQ(rc, exitCodeFor(StatusCode::InvalidModel)) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_NE(err.find(p.string()), std::string::npos) << err;
    EXPECT_NE(err.find("node \"deconv1\" (ConvTranspose)"), std::string::npos) << err;
  }
}

}  // namespace
}  // namespace npuconv
