// gen_cases.cc - writes the committed binary inputs of the malformed-input corpus
// (tests/malformed/cases/) and the generated seeds of the fuzz corpora (tests/fuzz/corpus/).
// Not run by the tests: run it after changing a case, and commit what it writes.
//
//   ./build/tests/npuconv_gen_cases            (writes into the source tree it was built from)
//
// Models start from ONNX text syntax (onnx's parser) and are then broken at the protobuf level,
// where the IR cannot go: cycles, dangling names, wrong attribute types, bad dims, invalid UTF-8.
#include <onnx/defs/parser.h>
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "converter/ir/tensor.h"
#include "formats/hdf5/hdf5.h"
#include "formats/npy/npy.h"

namespace fs = std::filesystem;
using namespace npuconv;

namespace {

const fs::path kSource = NPUCONV_SOURCE_DIR;
const fs::path kCases = kSource / "tests/malformed/cases";
const fs::path kFuzz = kSource / "tests/fuzz/corpus";

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "gen_cases: %s\n", what.c_str());
  std::exit(1);
}

void writeBytes(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) die("cannot write " + p.string());
}

onnx::ModelProto parse(const std::string& text) {
  onnx::ModelProto m;
  onnx::OnnxParser parser(text.c_str());
  auto st = parser.Parse(m);
  if (!st.IsOK()) die("ONNX text: " + st.ErrorMessage() + "\n" + text);
  return m;
}

std::string bytesOf(const onnx::ModelProto& m) {
  std::string s;
  if (!m.SerializeToString(&s)) die("serialize");
  return s;
}

void writeModel(const fs::path& p, const onnx::ModelProto& m) { writeBytes(p, bytesOf(m)); }

// A small valid model with a weight: the base most cases break.
const char* kBase = R"(<ir_version: 8, opset_import: ["" : 13]>
base (float[1,4] x) => (float[1,3] y) {
  w = Constant<value = float[4,3] {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2}>()
  h = MatMul(x, w)
  y = Relu(h)
})";

onnx::ModelProto baseWithInitializer() {
  onnx::ModelProto m = parse(kBase);
  // The Constant's tensor becomes an initializer named w (raw data).
  onnx::GraphProto* g = m.mutable_graph();
  onnx::TensorProto t = g->node(0).attribute(0).t();
  t.set_name("w");
  std::string raw;
  for (float v : t.float_data()) raw.append(reinterpret_cast<const char*>(&v), sizeof v);
  t.clear_float_data();
  t.set_raw_data(raw);
  *g->add_initializer() = t;
  g->mutable_node()->DeleteSubrange(0, 1);
  return m;
}

void malformedModels() {
  const std::string valid = bytesOf(baseWithInitializer());
  writeBytes(kCases / "valid_base.onnx", valid);

  // Truncated: the last 40% of the file gone.
  writeBytes(kCases / "truncated.onnx", valid.substr(0, valid.size() * 6 / 10));
  writeBytes(kCases / "empty.onnx", "");
  writeBytes(kCases / "not_protobuf.onnx", "this is a text file, not an ONNX model\n");

  // Bit flips: the first byte (the ir_version tag becomes another field's), and the length of
  // the graph field (its top varint byte: the graph claims more bytes than the file has).
  {
    std::string b = valid;
    b[0] = static_cast<char>(b[0] ^ 0x40);
    writeBytes(kCases / "bitflip_tag.onnx", b);
  }
  {
    std::string b = valid;
    size_t pos = b.find('\x3a');  // field 7 (graph), wire type 2
    if (pos == std::string::npos || pos + 1 >= b.size()) die("no graph field");
    b.insert(pos + 2, "\xff\xff\xff\x0f");  // length varint continues: ~2^35 bytes claimed
    b[pos + 1] = static_cast<char>(b[pos + 1] | 0x80);
    writeBytes(kCases / "bitflip_length.onnx", b);
  }

  // A cycle: a = Relu(b), b = Relu(a).
  {
    onnx::ModelProto m = parse(R"(<ir_version: 8, opset_import: ["" : 13]>
cyc (float[2] x) => (float[2] y) {
  a = Add(x, b)
  b = Relu(a)
  y = Identity(b)
})");
    writeModel(kCases / "cycle.onnx", m);
  }
  // A node input nobody defines, and a graph output nobody produces.
  {
    onnx::ModelProto m = baseWithInitializer();
    m.mutable_graph()->mutable_node(0)->set_input(1, "ghost");
    writeModel(kCases / "dangling_input.onnx", m);
    onnx::ModelProto o = baseWithInitializer();
    o.mutable_graph()->mutable_output(0)->set_name("nowhere");
    writeModel(kCases / "dangling_output.onnx", o);
  }
  // Wrong attribute type: Transpose's perm as a float list.
  {
    onnx::ModelProto m = parse(R"(<ir_version: 8, opset_import: ["" : 13]>
tr (float[2,3] x) => (float[3,2] y) {
  y = Transpose<perm = [1, 0]>(x)
})");
    onnx::AttributeProto* a = m.mutable_graph()->mutable_node(0)->mutable_attribute(0);
    a->clear_ints();
    a->add_floats(1.0f);
    a->add_floats(0.0f);
    a->set_type(onnx::AttributeProto::FLOATS);
    writeModel(kCases / "wrong_attr_type.onnx", m);
  }
  // Too few inputs for the op.
  {
    onnx::ModelProto m = baseWithInitializer();
    m.mutable_graph()->mutable_node(0)->mutable_input()->RemoveLast();
    writeModel(kCases / "missing_input.onnx", m);
  }
  // Negative and huge dims.
  {
    onnx::ModelProto m = baseWithInitializer();
    onnx::TensorProto* t = m.mutable_graph()->mutable_initializer(0);
    t->set_dims(0, -4);
    t->set_dims(1, -3);
    writeModel(kCases / "negative_dim.onnx", m);
    onnx::ModelProto h = baseWithInitializer();
    t = h.mutable_graph()->mutable_initializer(0);
    t->set_dims(0, int64_t(1) << 62);
    t->set_dims(1, 4);
    t->clear_raw_data();
    writeModel(kCases / "huge_dims.onnx", h);
    onnx::ModelProto in = baseWithInitializer();
    in.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_value(-7);
    writeModel(kCases / "negative_input_dim.onnx", in);
  }
  // An allocation bomb: a model of a few hundred bytes whose initializer claims 1 TiB
  // (2^38 float32), with 16 bytes of data inline; and the same claim against an external file.
  {
    onnx::ModelProto m = baseWithInitializer();
    onnx::TensorProto* t = m.mutable_graph()->mutable_initializer(0);
    t->clear_dims();
    t->add_dims(int64_t(1) << 38);
    t->set_raw_data(std::string(16, '\0'));
    writeModel(kCases / "bomb_1tb.onnx", m);
    onnx::ModelProto e = baseWithInitializer();
    t = e.mutable_graph()->mutable_initializer(0);
    t->clear_dims();
    t->add_dims(int64_t(1) << 38);
    t->clear_raw_data();
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto kv = [&](const char* k, const std::string& v) {
      auto* p = t->add_external_data();
      p->set_key(k);
      p->set_value(v);
    };
    kv("location", "bomb_1tb_external.bin");
    kv("offset", "0");
    kv("length", std::to_string(int64_t(1) << 40));
    writeModel(kCases / "bomb_1tb_external.onnx", e);
    writeBytes(kCases / "bomb_1tb_external.bin", std::string(48, '\0'));
    // Data claimed past the end of the file: offset beyond it.
    onnx::ModelProto past = baseWithInitializer();
    t = past.mutable_graph()->mutable_initializer(0);
    t->clear_raw_data();
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    kv("location", "bomb_1tb_external.bin");
    kv("offset", "4096");
    kv("length", "48");
    writeModel(kCases / "external_past_end.onnx", past);
  }
  // External data that escapes the model's folder: `..` and an absolute path. (Symlinks are
  // made by the test at run time: external_symlink.onnx names weights.bin.)
  for (auto [name, location] : {std::pair{"external_dotdot.onnx", "../../../../../../etc/passwd"},
                                std::pair{"external_absolute.onnx", "/etc/passwd"},
                                std::pair{"external_symlink.onnx", "weights.bin"},
                                std::pair{"external_symlink_dir.onnx", "sub/weights.bin"}}) {
    onnx::ModelProto m = baseWithInitializer();
    onnx::TensorProto* t = m.mutable_graph()->mutable_initializer(0);
    t->clear_raw_data();
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto* p = t->add_external_data();
    p->set_key("location");
    p->set_value(location);
    writeModel(kCases / name, m);
  }
  // Versions: an opset and an IR version newer than npuconv knows; an unknown dtype.
  {
    onnx::ModelProto m = baseWithInitializer();
    m.mutable_opset_import(0)->set_version(99);
    writeModel(kCases / "opset_too_new.onnx", m);
    onnx::ModelProto ir = baseWithInitializer();
    ir.set_ir_version(99);
    writeModel(kCases / "ir_version_too_new.onnx", ir);
    onnx::ModelProto dt = baseWithInitializer();
    dt.mutable_graph()->mutable_initializer(0)->set_data_type(99);
    writeModel(kCases / "unknown_dtype.onnx", dt);
  }
  // Names that are not valid UTF-8: a node name, and a value name (used consistently).
  {
    onnx::ModelProto m = baseWithInitializer();
    m.mutable_graph()->mutable_node(0)->set_name("mat\xff\xfe" "mul");
    writeModel(kCases / "bad_utf8_node_name.onnx", m);
    onnx::ModelProto v = baseWithInitializer();
    std::string bad = "h\xc3\x28";
    v.mutable_graph()->mutable_node(0)->set_output(0, bad);
    v.mutable_graph()->mutable_node(1)->set_input(0, bad);
    writeModel(kCases / "bad_utf8_value_name.onnx", v);
  }
}

// A model for calibration cases: one float input x[1,4]; and a text model with BERT's three
// int64 inputs.
void calibrationCases() {
  writeModel(kCases / "calib_model.onnx", baseWithInitializer());
  onnx::ModelProto text = parse(R"(<ir_version: 8, opset_import: ["" : 13]>
text (int64[1,8] input_ids, int64[1,8] attention_mask, int64[1,8] token_type_ids) => (float[1,8] y) {
  a = Add(input_ids, token_type_ids)
  f = Cast<to = 1>(a)
  m = Cast<to = 1>(attention_mask)
  p = Mul(f, m)
  w = Constant<value = float[8,8] {1,0,0,0,0,0,0,0, 0,1,0,0,0,0,0,0, 0,0,1,0,0,0,0,0, 0,0,0,1,0,0,0,0,
                                   0,0,0,0,1,0,0,0, 0,0,0,0,0,1,0,0, 0,0,0,0,0,0,1,0, 0,0,0,0,0,0,0,1}>()
  y = MatMul(p, w)
})");
  writeModel(kCases / "text_model.onnx", text);
  std::vector<float> f(3 * 5, 0.5f);
  if (!writeNpy(kCases / "calib_wrong_shape.npy", DType::F32, std::vector<int64_t>{3, 5}, f.data()))
    die("npy");
  std::vector<int32_t> i(2 * 4, 1);
  if (!writeNpy(kCases / "calib_wrong_dtype.npy", DType::I32, std::vector<int64_t>{2, 1, 4}, i.data()))
    die("npy");
  std::vector<float> good(2 * 4, 0.25f);
  if (!writeNpy(kCases / "calib_good.npy", DType::F32, std::vector<int64_t>{2, 1, 4}, good.data())) die("npy");
  std::string npy = *npyHeader(DType::F32, std::vector<int64_t>{2, 1, 4}) + std::string(12, '\0');
  writeBytes(kCases / "calib_truncated.npy", npy);
}

// HDF5 calibration files whose superblock lies (formats/hdf5/hdf5_superblock.h): libhdf5 would
// trust it, so npuconv checks it first. Each starts from a valid file that writeHdf5 wrote
// (a version 0 superblock with 8-byte offsets: base at 24, EOF at 40, driver block at 48, the
// root group's object header address at 64) and changes one field.
void hdf5Cases() {
  NamedTensorList x;
  std::vector<float> v(2 * 4, 0.25f);
  x.emplace_back("x", std::make_shared<const TensorData>(DType::F32, std::vector<int64_t>{2, 1, 4},
                                                          Buffer::copyOf(v.data(), v.size() * sizeof(float))));
  fs::path good = kCases / "calib_good.h5";
  if (!writeHdf5(good, x)) die("h5");
  std::ifstream in(good, std::ios::binary);
  const std::string base((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (base.size() < 200 || base[8] != 0 || base[13] != 8) die("calib_good.h5: not a version 0 superblock");
  auto put = [](std::string b, size_t at, uint64_t value, int n) {
    for (int i = 0; i < n; ++i) b[at + i] = static_cast<char>((value >> (8 * i)) & 0xff);
    return b;
  };
  writeBytes(kCases / "calib_h5_truncated.h5", base.substr(0, 60));
  writeBytes(kCases / "calib_h5_bad_version.h5", put(base, 8, 7, 1));
  writeBytes(kCases / "calib_h5_eof_past_end.h5", put(base, 40, uint64_t(1) << 40, 8));
  writeBytes(kCases / "calib_h5_huge_root.h5", put(base, 64, uint64_t(1) << 62, 8));
  // The driver information block claims 4 GiB (what fuzzing found: libhdf5 allocates it).
  writeBytes(kCases / "calib_h5_driver_bomb.h5", put(put(put(base, 48, 96, 8), 96, 0, 1), 100, 0xffff0000u, 4));
  fs::remove(good);
}

// Fuzz seeds: small valid models over the ops the passes rewrite, and .npy / HDF5 files.
void fuzzSeeds() {
  const char* models[][2] = {
      {"conv_bn_relu", R"(<ir_version: 8, opset_import: ["" : 13]>
g (float[1,2,4,4] x) => (float[1,2,4,4] y) {
  w = Constant<value = float[2,2,1,1] {1, 0, 0, 1}>()
  b = Constant<value = float[2] {0.5, -0.5}>()
  s = Constant<value = float[2] {1, 2}>()
  m = Constant<value = float[2] {0, 1}>()
  v = Constant<value = float[2] {1, 1}>()
  c = Conv<pads = [0, 0, 0, 0]>(x, w, b)
  n = BatchNormalization(c, s, b, m, v)
  y = Relu(n)
})"},
      {"pad_conv_clip", R"(<ir_version: 8, opset_import: ["" : 13]>
g (float[1,1,3,3] x) => (float[1,1,3,3] y) {
  p = Constant<value = int64[8] {0, 0, 1, 1, 0, 0, 1, 1}>()
  xp = Pad(x, p)
  w = Constant<value = float[1,1,3,3] {1, 1, 1, 1, 1, 1, 1, 1, 1}>()
  c = Conv(xp, w)
  lo = Constant<value = float {0}>()
  hi = Constant<value = float {6}>()
  y = Clip(c, lo, hi)
})"},
      {"transpose_reshape_chain", R"(<ir_version: 8, opset_import: ["" : 13]>
g (float[2,3,4] x) => (float[4,6] y) {
  t1 = Transpose<perm = [1, 0, 2]>(x)
  t2 = Transpose<perm = [1, 0, 2]>(t1)
  s1 = Constant<value = int64[2] {6, 4}>()
  r1 = Reshape(t2, s1)
  s2 = Constant<value = int64[3] {2, 3, 4}>()
  r2 = Reshape(r1, s2)
  a = Constant<value = int64[1] {0}>()
  u = Unsqueeze(r2, a)
  q = Squeeze(u, a)
  t3 = Transpose<perm = [2, 0, 1]>(q)
  s3 = Constant<value = int64[2] {4, 6}>()
  y = Reshape(t3, s3)
})"},
      {"shape_arith", R"(<ir_version: 8, opset_import: ["" : 13]>
g (float[N,8] x) => (float[?,?] y) {
  s = Shape(x)
  i = Constant<value = int64[1] {1}>()
  d = Gather<axis = 0>(s, i)
  two = Constant<value = int64[1] {2}>()
  h = Div(d, two)
  m1 = Constant<value = int64[1] {-1}>()
  ns = Concat<axis = 0>(m1, h)
  y = Reshape(x, ns)
})"},
      {"layer_norm_gelu", R"(<ir_version: 8, opset_import: ["" : 13]>
g (float[2,4] x) => (float[2,4] y) {
  mu = ReduceMean<axes = [-1]>(x)
  d = Sub(x, mu)
  two = Constant<value = float {2}>()
  sq = Pow(d, two)
  var = ReduceMean<axes = [-1]>(sq)
  eps = Constant<value = float {1e-5}>()
  ve = Add(var, eps)
  sd = Sqrt(ve)
  n = Div(d, sd)
  g = Constant<value = float[4] {1, 1, 1, 1}>()
  ng = Mul(n, g)
  b = Constant<value = float[4] {0, 0, 0, 0}>()
  ln = Add(ng, b)
  r2 = Constant<value = float {1.4142135}>()
  q = Div(ln, r2)
  e = Erf(q)
  one = Constant<value = float {1}>()
  e1 = Add(e, one)
  xe = Mul(ln, e1)
  half = Constant<value = float {0.5}>()
  y = Mul(xe, half)
})"},
      {"matmul_add_softmax", R"(<ir_version: 8, opset_import: ["" : 13]>
g (float[2,3] x) => (float[2,2] y, int64[2] k) {
  w = Constant<value = float[3,2] {1, 2, 3, 4, 5, 6}>()
  b = Constant<value = float[2] {0.5, 0.5}>()
  m = MatMul(x, w)
  a = Add(m, b)
  y = Softmax<axis = -1>(a)
  k = ArgMax<axis = 1, keepdims = 0>(a)
})"},
      {"if_loop", R"(<ir_version: 8, opset_import: ["" : 13]>
g (bool c, float[2] x) => (float[2] y, float[2] z) {
  y = If(c) <then_branch = t () => (float[2] o) { o = Neg(x) },
             else_branch = e () => (float[2] o) { o = Identity(x) }>
  n = Constant<value = int64 {3}>()
  z = Loop(n, c, x) <body = b (int64 i, bool ci, float[2] xi) => (bool co, float[2] xo) {
      co = Identity(ci)
      xo = Add(xi, xi)
  }>
})"},
      {"constant_of_shape_expand", R"(<ir_version: 8, opset_import: ["" : 13]>
g (float[1,3] x) => (float[2,3] y) {
  s = Constant<value = int64[2] {2, 3}>()
  c = ConstantOfShape<value = float[1] {1.5}>(s)
  e = Expand(x, s)
  cs = Add(c, e)
  sl0 = Constant<value = int64[1] {0}>()
  sl1 = Constant<value = int64[1] {2}>()
  y0 = Slice(cs, sl0, sl1)
  y = Where(x, y0, cs)
})"},
      {"pool_resize_concat", R"(<ir_version: 8, opset_import: ["" : 13]>
g (float[1,2,4,4] x) => (float[1,4,4,4] y) {
  p = MaxPool<kernel_shape = [2, 2], strides = [2, 2]>(x)
  roi = Constant<value = float[0] {}>()
  sc = Constant<value = float[4] {1, 1, 2, 2}>()
  r = Resize<mode = "nearest">(p, roi, sc)
  y = Concat<axis = 1>(x, r)
})"},
  };
  for (auto& [name, text] : models) writeModel(kFuzz / "fuzz_onnx" / (std::string("gen_") + name + ".onnx"), parse(text));

  std::vector<uint8_t> buf(64);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<uint8_t>(i * 37);
  for (DType t : {DType::F32, DType::F16, DType::I64, DType::U8, DType::Bool, DType::F64, DType::C64}) {
    int64_t n = static_cast<int64_t>(16 / dtypeSize(t));
    std::vector<int64_t> dims = {2, n / 2};
    if (!writeNpy(kFuzz / "fuzz_npy" / ("gen_" + std::string(dtypeShortName(t)) + ".npy"), t, dims, buf.data())) die("npy");
  }
  if (!writeNpy(kFuzz / "fuzz_npy" / "gen_scalar.npy", DType::I32, std::vector<int64_t>{}, buf.data())) die("npy");

  NamedTensorList tensors;
  auto tensor = [&](DType t, std::vector<int64_t> dims) {
    auto b = std::make_shared<AlignedBuffer>(static_cast<size_t>(*checkedByteSize(dims, t)));
    std::memset(b->mutableData(), 1, b->size());
    return std::make_shared<const TensorData>(t, std::move(dims), std::move(b));
  };
  tensors.emplace_back("x", tensor(DType::F32, {3, 2}));
  tensors.emplace_back("group/ids", tensor(DType::I64, {2, 4}));
  tensors.emplace_back("flag", tensor(DType::Bool, {}));
  tensors.emplace_back("h", tensor(DType::F16, {1, 2, 2}));
  if (!writeHdf5(kFuzz / "fuzz_hdf5" / "gen_mixed.h5", tensors)) die("h5");
  NamedTensorList one;
  one.emplace_back("data", tensor(DType::U8, {4}));
  if (!writeHdf5(kFuzz / "fuzz_hdf5" / "gen_one.h5", one)) die("h5");
}

}  // namespace

int main() {
  malformedModels();
  calibrationCases();
  hdf5Cases();
  fuzzSeeds();
  std::printf("gen_cases: wrote %s and %s\n", kCases.c_str(), kFuzz.c_str());
  return 0;
}
