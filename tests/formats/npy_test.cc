// .npy reader/writer: round trips for every dtype, headers numpy writes, and the error cases.
#include "formats/npy/npy.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

/// A tensor whose bytes are a fixed pseudo-random pattern (valid for every dtype but bool).
TensorData patterned(DType t, std::vector<int64_t> dims) {
  size_t bytes = static_cast<size_t>(elementCount(dims)) * dtypeSize(t);
  std::vector<std::byte> b(bytes);
  uint32_t s = 12345;
  for (size_t i = 0; i < bytes; ++i) {
    s = s * 1103515245u + 12345u;
    b[i] = static_cast<std::byte>(t == DType::Bool ? (s >> 16) & 1 : (s >> 16) & 0xff);
  }
  return TensorData(t, std::move(dims), Buffer::fromVector(std::move(b)));
}

using test::slurp;

void spit(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// A .npy file as numpy 1.x writes it: v1.0 header padded to 64 bytes with '\n' at the end.
std::string npyFile(const std::string& dict, std::string_view data, int major = 1) {
  std::string h = dict;
  size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  for (size_t i = 0; i < (major == 1 ? 2u : 4u); ++i) out += static_cast<char>((h.size() >> (8 * i)) & 0xff);
  return out + h + std::string(data);
}

TEST(NpyTest, RoundTripsEveryDtype) {
  fs::path dir = test::tempDir("npy_roundtrip");
  const DType all[] = {DType::F16, DType::F32, DType::F64, DType::I8,  DType::I16,  DType::I32, DType::I64,
                       DType::U8,  DType::U16, DType::U32, DType::U64, DType::Bool, DType::C64, DType::C128};
  const std::vector<std::vector<int64_t>> shapes = {{2, 3, 5}, {7}, {}, {0, 4}};
  for (DType t : all)
    for (const auto& dims : shapes) {
      SCOPED_TRACE(fmt::format("{} {}", dtypeName(t), dims.size()));
      TensorData want = patterned(t, dims);
      fs::path p = dir / fmt::format("{}_{}.npy", dtypeShortName(t), dims.size());
      ASSERT_TRUE(writeNpy(p, want).isOk());
      std::string bytes = slurp(p);
      // The header is what numpy writes: magic, v1.0, padded so the data is 64-byte aligned.
      ASSERT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
      size_t hlen = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
      EXPECT_EQ((10 + hlen) % 64, 0u);
      EXPECT_EQ(bytes[10 + hlen - 1], '\n');
      EXPECT_NE(bytes.find("'descr': '" + npyDescr(t) + "'"), std::string::npos);
      EXPECT_EQ(bytes.size(), 10 + hlen + want.byteSize());
      auto got = readNpy(p);
      ASSERT_TRUE(got.hasValue()) << got.status().toString();
      EXPECT_EQ((*got)->dtype(), t);
      EXPECT_EQ((*got)->dims(), dims);
      EXPECT_TRUE((*got)->sameContent(want));
      auto parsed = parseNpy(bytes, "mem");
      ASSERT_TRUE(parsed.hasValue()) << parsed.status().toString();
      EXPECT_TRUE((*parsed)->sameContent(want));
    }
}

TEST(NpyTest, HeaderTextMatchesNumpy) {
  // numpy: np.save(f, np.zeros((2, 3), np.float32)) and np.save(f, np.zeros(3, np.int64)).
  auto expectDict = [](DType t, std::vector<int64_t> dims, const std::string& dict) {
    auto h = npyHeader(t, dims);
    ASSERT_TRUE(h.hasValue());
    EXPECT_EQ(h->substr(10, dict.size()), dict);
    EXPECT_EQ(h->find_first_not_of(' ', 10 + dict.size()), h->size() - 1);  // space padding, '\n'
  };
  expectDict(DType::F32, {2, 3}, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
  expectDict(DType::I64, {3}, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }");
  expectDict(DType::Bool, {}, "{'descr': '|b1', 'fortran_order': False, 'shape': (), }");
}

TEST(NpyTest, ReadsHandWrittenFiles) {
  fs::path dir = test::tempDir("npy_hand");
  // float16 values 1.0, -2.0, 0.5 (IEEE binary16 bit patterns), written as numpy does.
  const uint16_t halves[] = {0x3c00, 0xc000, 0x3800};
  spit(dir / "h.npy", npyFile("{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }",
                              std::string_view(reinterpret_cast<const char*>(halves), 6)));
  auto t = readNpy(dir / "h.npy");
  ASSERT_TRUE(t.hasValue()) << t.status().toString();
  EXPECT_EQ((*t)->dtype(), DType::F16);
  EXPECT_EQ((*t)->toFloats(), (std::vector<float>{1.0f, -2.0f, 0.5f}));
  // Version 2.0 header, double quotes, odd spacing, key order, Python 2 long dims.
  const int32_t ints[] = {1, -2, 3, -4, 5, -6};
  spit(dir / "i.npy", npyFile("{\"shape\":(2L,3L),\"fortran_order\":False,\"descr\":\"<i4\"}",
                              std::string_view(reinterpret_cast<const char*>(ints), 24), 2));
  t = readNpy(dir / "i.npy");
  ASSERT_TRUE(t.hasValue()) << t.status().toString();
  EXPECT_EQ((*t)->dims(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ((*t)->toInt64s(), (std::vector<int64_t>{1, -2, 3, -4, 5, -6}));
  // Bool.
  spit(dir / "b.npy", npyFile("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", std::string("\x01\x00", 2)));
  t = readNpy(dir / "b.npy");
  ASSERT_TRUE(t.hasValue());
  EXPECT_EQ((*t)->dtype(), DType::Bool);
  EXPECT_EQ((*t)->toInt64s(), (std::vector<int64_t>{1, 0}));
  // A 1-D array flagged Fortran order has the same layout: accepted.
  spit(dir / "f1.npy", npyFile("{'descr': '<u2', 'fortran_order': True, 'shape': (1,), }", std::string("\x07\x00", 2)));
  t = readNpy(dir / "f1.npy");
  ASSERT_TRUE(t.hasValue()) << t.status().toString();
  EXPECT_EQ((*t)->toInt64s(), (std::vector<int64_t>{7}));
}

void expectError(const fs::path& p, StatusCode code, const std::string& needle) {
  auto t = readNpy(p);
  ASSERT_FALSE(t.hasValue()) << p;
  EXPECT_EQ(t.status().code(), code) << t.status().toString();
  EXPECT_NE(t.status().message().find(needle), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find(p.filename().string()), std::string::npos) << t.status().message();
}

TEST(NpyTest, ClearErrors) {
  fs::path dir = test::tempDir("npy_errors");
  std::string f4(24, '\0');
  spit(dir / "fortran.npy", npyFile("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", f4));
  expectError(dir / "fortran.npy", StatusCode::Unsupported, "Fortran-order");
  spit(dir / "object.npy", npyFile("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", std::string(16, '\0')));
  expectError(dir / "object.npy", StatusCode::Unsupported, "object arrays");
  spit(dir / "bigendian.npy", npyFile("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", f4));
  expectError(dir / "bigendian.npy", StatusCode::Unsupported, "big-endian");
  spit(dir / "truncated.npy", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f4.substr(0, 20)));
  expectError(dir / "truncated.npy", StatusCode::InvalidArgument, "truncated");
  std::string whole = npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f4);
  spit(dir / "cut_header.npy", whole.substr(0, 40));
  expectError(dir / "cut_header.npy", StatusCode::InvalidArgument, "truncated");
  spit(dir / "unicode.npy", npyFile("{'descr': '<U5', 'fortran_order': False, 'shape': (1,), }", std::string(20, '\0')));
  expectError(dir / "unicode.npy", StatusCode::Unsupported, "string");
  spit(dir / "structured.npy",
       npyFile("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", std::string(4, '\0')));
  expectError(dir / "structured.npy", StatusCode::Unsupported, "structured");
  spit(dir / "notnpy.npy", "hello world, not an array");
  expectError(dir / "notnpy.npy", StatusCode::InvalidArgument, "not a .npy file");
  spit(dir / "badheader.npy", npyFile("{'descr': '<f4', 'shape': (2, 3), }", f4));
  expectError(dir / "badheader.npy", StatusCode::InvalidArgument, "fortran_order");
  auto missing = readNpy(dir / "missing.npy");
  ASSERT_FALSE(missing.hasValue());
  EXPECT_EQ(missing.status().code(), StatusCode::Io);
  // bfloat16 has no npy type.
  TensorData bf = patterned(DType::BF16, {2});
  Status st = writeNpy(dir / "bf.npy", bf);
  EXPECT_EQ(st.code(), StatusCode::Unsupported);
  EXPECT_FALSE(fs::exists(dir / "bf.npy"));
}

}  // namespace
}  // namespace npuconv
