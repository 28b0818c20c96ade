// Bad input: every broken model gets a one-line error naming the file and the node or tensor
// at fault, the documented exit code, and no output file.
#include <gtest/gtest.h>

#include <onnx/onnx_pb.h>

#include <fstream>

#include "formats/onnx/onnx_reader.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

void writeBytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

/// A valid model: Y = X + W with W an initializer of 16 floats.
onnx::ModelProto goodModel() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("g");
  auto addVi = [](onnx::ValueInfoProto* vi, const char* name) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_value(16);
  };
  addVi(g->add_input(), "X");
  addVi(g->add_output(), "Y");
  auto* w = g->add_initializer();
  w->set_name("W");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(16);
  w->set_raw_data(std::string(64, '\0'));
  auto* n = g->add_node();
  n->set_name("add0");
  n->set_op_type("Add");
  n->add_input("X");
  n->add_input("W");
  n->add_output("Y");
  return m;
}

struct ErrorCase {
  const char* name;
  StatusCode code;
  const char* mentions;  // the message must name the offender
};

class BadModel : public ::testing::Test {
 protected:
  fs::path dir = test::tempDir("bad-models");

  fs::path save(const onnx::ModelProto& m, const char* file = "model.onnx") {
    fs::path p = dir / file;
    writeBytes(p, m.SerializeAsString());
    return p;
  }

  /// Imports through the library and through the CLI, checking code, message and no output.
  void expectRejected(const fs::path& model, StatusCode code, const std::string& mentions) {
    auto m = readOnnx(model);
    ASSERT_FALSE(m.hasValue());
    EXPECT_EQ(m.status().code(), code) << m.status().toString();
    EXPECT_NE(m.status().message().find(model.string()), std::string::npos) << m.status().message();
    EXPECT_NE(m.status().message().find(mentions), std::string::npos) << m.status().message();
    fs::path out = dir / "out.onnx";
    fs::remove(out);
    std::string err;
    int rc = test::runCommand(test::npuconvBinary() + " optimize " + model.string() + " -o " + out.string() +
                                  " --passes none",
                              nullptr, &err);
    EXPECT_EQ(rc, exitCodeFor(code)) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_NE(err.find(mentions), std::string::npos) << err;
    EXPECT_FALSE(fs::exists(out));
    for (const auto& e : fs::directory_iterator(dir))  // no temp file left behind either
      EXPECT_EQ(e.path().filename().string().find(".out.onnx.tmp"), std::string::npos) << e.path();
  }
};

TEST_F(BadModel, GoodModelLoads) { EXPECT_TRUE(readOnnx(save(goodModel())).hasValue()); }

TEST_F(BadModel, NotAProtobuf) {
  fs::path p = dir / "text.onnx";
  writeBytes(p, "this is a text file, not a model\n");
  expectRejected(p, StatusCode::InvalidModel, "not");
}

TEST_F(BadModel, MissingFile) { expectRejected(dir / "absent.onnx", StatusCode::Io, "cannot open"); }

TEST_F(BadModel, Truncated) {
  std::string bytes = goodModel().SerializeAsString();
  fs::path p = dir / "truncated.onnx";
  writeBytes(p, bytes.substr(0, bytes.size() * 2 / 3));
  expectRejected(p, StatusCode::InvalidModel, "truncated");
}

TEST_F(BadModel, UnsupportedIrVersion) {
  auto m = goodModel();
  m.set_ir_version(99);
  expectRejected(save(m), StatusCode::Unsupported, "IR version 99");
}

TEST_F(BadModel, UnknownDtype) {
  auto m = goodModel();
  m.mutable_graph()->mutable_initializer(0)->set_data_type(77);
  expectRejected(save(m), StatusCode::InvalidModel, "\"W\"");
}

TEST_F(BadModel, WrongInitializerSize) {
  auto m = goodModel();
  m.mutable_graph()->mutable_initializer(0)->set_raw_data(std::string(10, '\0'));
  expectRejected(save(m), StatusCode::InvalidModel, "\"W\"");
}

// Dims whose byte size wraps past 2^64 used to make "needs 0 bytes" match empty raw_data: the
// model was accepted by inspect and written back by optimize.
TEST_F(BadModel, InitializerDimsOverflowWithEmptyData) {
  auto m = goodModel();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_dims();
  w->add_dims(int64_t(1) << 62);
  w->set_raw_data("");
  fs::path p = save(m);
  expectRejected(p, StatusCode::InvalidModel, "\"W\"");
  std::string err;
  int rc = test::runCommand(test::npuconvBinary() + " inspect " + p.string(), nullptr, &err);
  EXPECT_EQ(rc, exitCodeFor(StatusCode::InvalidModel)) << err;
  EXPECT_NE(err.find("\"W\""), std::string::npos) << err;
  // Dims that do not wrap but claim more data than there is, in each place data can be.
  w->set_data_type(onnx::TensorProto::UINT8);
  expectRejected(save(m), StatusCode::InvalidModel, "\"W\"");
  w->clear_raw_data();
  expectRejected(save(m), StatusCode::InvalidModel, "\"W\"");  // typed field (int32_data) empty
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->clear_dims();
  w->add_dims(4);
  w->add_float_data(1.0f);
  expectRejected(save(m), StatusCode::InvalidModel, "\"W\"");  // 1 float for 4
}

TEST_F(BadModel, UndefinedInput) {
  auto m = goodModel();
  m.mutable_graph()->mutable_node(0)->set_input(1, "nowhere");
  expectRejected(save(m), StatusCode::InvalidModel, "\"nowhere\"");
}

TEST_F(BadModel, DuplicateValueName) {
  auto m = goodModel();
  auto* n = m.mutable_graph()->add_node();
  *n = m.graph().node(0);
  n->set_name("add1");
  expectRejected(save(m), StatusCode::InvalidModel, "duplicate value name \"Y\"");
}

TEST_F(BadModel, Cycle) {
  auto m = goodModel();
  auto* g = m.mutable_graph();
  g->mutable_node(0)->set_input(1, "Z");  // Y = X + Z, Z = Relu(Y)
  auto* n = g->add_node();
  n->set_name("relu0");
  n->set_op_type("Relu");
  n->add_input("Y");
  n->add_output("Z");
  expectRejected(save(m), StatusCode::InvalidModel, "cycle");
}

onnx::ModelProto withExternal(const std::string& location, int64_t offset, int64_t length) {
  auto m = goodModel();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_raw_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto add = [w](const char* k, const std::string& v) {
    auto* kv = w->add_external_data();
    kv->set_key(k);
    kv->set_value(v);
  };
  add("location", location);
  add("offset", std::to_string(offset));
  add("length", std::to_string(length));
  return m;
}

TEST_F(BadModel, ExternalDataLoads) {
  writeBytes(dir / "w.bin", std::string(128, '\0'));
  EXPECT_TRUE(readOnnx(save(withExternal("w.bin", 64, 64))).hasValue());
}

TEST_F(BadModel, ExternalDataMissing) {
  expectRejected(save(withExternal("absent.bin", 0, 64)), StatusCode::Io, "absent.bin");
}

TEST_F(BadModel, ExternalDataTooShort) {
  writeBytes(dir / "short.bin", std::string(100, '\0'));
  expectRejected(save(withExternal("short.bin", 64, 64)), StatusCode::InvalidModel, "too short");
}

TEST_F(BadModel, ExternalDataLengthDoesNotMatchDims) {
  writeBytes(dir / "w.bin", std::string(128, '\0'));
  expectRejected(save(withExternal("w.bin", 0, 128)), StatusCode::InvalidModel, "\"W\"");
  auto m = withExternal("w.bin", 0, 0);
  m.mutable_graph()->mutable_initializer(0)->set_dims(0, int64_t(1) << 62);
  expectRejected(save(m), StatusCode::InvalidModel, "\"W\"");
}

TEST_F(BadModel, ExternalDataEscapesFolder) {
  fs::create_directories(dir / "sub");
  writeBytes(dir / "w.bin", std::string(64, '\0'));
  expectRejected(save(withExternal("../w.bin", 0, 64), "sub/model.onnx"), StatusCode::InvalidModel, "escapes");
  expectRejected(save(withExternal("/etc/passwd", 0, 64)), StatusCode::InvalidModel, "escapes");
  expectRejected(save(withExternal("a/../../w.bin", 0, 64), "sub/model2.onnx"), StatusCode::InvalidModel, "escapes");
}

TEST_F(BadModel, ExternalDataSymlinkOutsideFolder) {
  fs::create_directories(dir / "sub");
  writeBytes(dir / "w.bin", std::string(64, '\0'));
  fs::create_symlink(dir / "w.bin", dir / "sub" / "link.bin");
  expectRejected(save(withExternal("link.bin", 0, 64), "sub/model.onnx"), StatusCode::InvalidModel, "outside");
}

}  // namespace
}  // namespace npuconv
