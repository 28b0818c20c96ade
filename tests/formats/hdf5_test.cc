// HDF5 tensor files: round trips for every dtype (float16 as a 16-bit IEEE float), names with
// groups, scalars and empty tensors; the type on disk; errors.
#include "formats/hdf5/hdf5.h"

#include <gtest/gtest.h>
#include <hdf5.h>

#include <fstream>

#include "formats/hdf5/hdf5_reader.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

TensorData patterned(DType t, std::vector<int64_t> dims, uint32_t seed) {
  size_t bytes = static_cast<size_t>(elementCount(dims)) * dtypeSize(t);
  std::vector<std::byte> b(bytes);
  uint32_t s = seed;
  for (size_t i = 0; i < bytes; ++i) {
    s = s * 1103515245u + 12345u;
    b[i] = static_cast<std::byte>((s >> 16) & 0xff);
  }
  if (t == DType::Bool)
    for (auto& x : b) x = static_cast<std::byte>(static_cast<uint8_t>(x) & 1);
  // Keep floats finite and non-NaN so content comparison is exact.
  if (t == DType::F16 || t == DType::BF16)
    for (size_t i = 1; i < bytes; i += 2) b[i] = static_cast<std::byte>(static_cast<uint8_t>(b[i]) & 0x3f);
  if (t == DType::F32)
    for (size_t i = 3; i < bytes; i += 4) b[i] = static_cast<std::byte>(static_cast<uint8_t>(b[i]) & 0x3f);
  if (t == DType::F64)
    for (size_t i = 7; i < bytes; i += 8) b[i] = static_cast<std::byte>(static_cast<uint8_t>(b[i]) & 0x3f);
  return TensorData(t, std::move(dims), Buffer::fromVector(std::move(b)));
}

TEST(Hdf5Test, RoundTripsEveryDtype) {
  fs::path dir = test::tempDir("h5_roundtrip");
  const DType all[] = {DType::F16, DType::BF16, DType::F32, DType::F64, DType::I8,  DType::I16, DType::I32,
                       DType::I64, DType::U8,   DType::U16, DType::U32, DType::U64, DType::Bool};
  NamedTensorList list;
  uint32_t seed = 1;
  for (DType t : all) {
    list.emplace_back(std::string(dtypeName(t)), std::make_shared<const TensorData>(patterned(t, {3, 4}, seed++)));
    list.emplace_back(std::string("scalar/") + std::string(dtypeName(t)),
                      std::make_shared<const TensorData>(patterned(t, {}, seed++)));
  }
  list.emplace_back("empty", std::make_shared<const TensorData>(patterned(DType::F32, {0, 3}, 9)));
  list.emplace_back("deep/er/name", std::make_shared<const TensorData>(patterned(DType::I32, {2, 1, 2}, 10)));
  fs::path p = dir / "all.h5";
  Status st = writeHdf5(p, list);
  ASSERT_TRUE(st.isOk()) << st.toString();
  auto got = readHdf5(p);
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  ASSERT_EQ(got->size(), list.size());
  std::map<std::string, TensorRef> byName(got->begin(), got->end());
  for (const auto& [name, want] : list) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(byName.count(name));
    const TensorRef& g = byName[name];
    EXPECT_EQ(g->dtype(), want->dtype());
    EXPECT_EQ(g->dims(), want->dims());
    EXPECT_TRUE(g->sameContent(*want));
  }
  // Sorted by name.
  for (size_t i = 1; i < got->size(); ++i) EXPECT_LT((*got)[i - 1].first, (*got)[i].first);
}

TEST(Hdf5Test, Float16IsA16BitIeeeFloatOnDisk) {
  fs::path dir = test::tempDir("h5_f16");
  const uint16_t halves[] = {0x3c00, 0xc000, 0x3800, 0x7bff};  // 1, -2, 0.5, 65504
  fs::path p = dir / "h.h5";
  auto t = std::make_shared<const TensorData>(TensorData::fromValues<uint16_t>(DType::F16, {4}, halves));
  ASSERT_TRUE(writeHdf5(p, {{"h", t}}).isOk());
  // Independently: HDF5 converts the stored type to native double.
  hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t ds = H5Dopen2(f, "h", H5P_DEFAULT);
  hid_t type = H5Dget_type(ds);
  EXPECT_EQ(H5Tget_class(type), H5T_FLOAT);
  EXPECT_EQ(H5Tget_size(type), 2u);
  EXPECT_EQ(H5Tget_ebias(type), 15u);
  double d[4] = {};
  EXPECT_GE(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, d), 0);
  EXPECT_EQ(d[0], 1.0);
  EXPECT_EQ(d[1], -2.0);
  EXPECT_EQ(d[2], 0.5);
  EXPECT_EQ(d[3], 65504.0);
  H5Tclose(type);
  H5Dclose(ds);
  H5Fclose(f);
}

TEST(Hdf5Test, ReadsFilesWrittenWithTheCApi) {
  // A big-endian float dataset and a native int dataset written directly: types convert.
  fs::path dir = test::tempDir("h5_capi");
  fs::path p = dir / "c.h5";
  hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dims[2] = {2, 2};
  hid_t space = H5Screate_simple(2, dims, nullptr);
  hid_t ds = H5Dcreate2(f, "be", H5T_IEEE_F32BE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  float v[4] = {1.5f, -2.25f, 3.0f, 1e-3f};
  H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  H5Dclose(ds);
  H5Sclose(space);
  H5Fclose(f);
  auto got = readHdf5(p);
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].first, "be");
  EXPECT_EQ((*got)[0].second->dtype(), DType::F32);
  EXPECT_EQ((*got)[0].second->toFloats(), (std::vector<float>{1.5f, -2.25f, 3.0f, 1e-3f}));
}

TEST(Hdf5Test, Errors) {
  fs::path dir = test::tempDir("h5_errors");
  auto missing = readHdf5(dir / "missing.h5");
  ASSERT_FALSE(missing.hasValue());
  EXPECT_EQ(missing.status().code(), StatusCode::Io);
  EXPECT_NE(missing.status().message().find("missing.h5"), std::string::npos);
  {
    std::ofstream(dir / "text.h5") << "not hdf5 at all";
  }
  auto text = readHdf5(dir / "text.h5");
  ASSERT_FALSE(text.hasValue());
  EXPECT_NE(text.status().message().find("not an HDF5 file"), std::string::npos) << text.status().message();
  // A string dataset is refused by name.
  fs::path p = dir / "str.h5";
  hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t st = H5Tcopy(H5T_C_S1);
  H5Tset_size(st, 4);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t ds = H5Dcreate2(f, "words", st, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(ds, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, "abcd");
  H5Dclose(ds);
  H5Sclose(space);
  H5Tclose(st);
  H5Fclose(f);
  auto s = readHdf5(p);
  ASSERT_FALSE(s.hasValue());
  EXPECT_EQ(s.status().code(), StatusCode::Unsupported);
  EXPECT_NE(s.status().message().find("\"words\""), std::string::npos) << s.status().message();
  // Duplicate names; the target is not created.
  auto t = std::make_shared<const TensorData>(TensorData::scalarF32(1.0f));
  Status w = writeHdf5(dir / "dup.h5", {{"a", t}, {"a", t}});
  EXPECT_EQ(w.code(), StatusCode::InvalidArgument);
  EXPECT_FALSE(fs::exists(dir / "dup.h5"));
}

// A dataspace whose byte size passes 2^63: its dims used to multiply into a wrapped, small
// buffer that H5Dread then overran. Chunked, so HDF5 creates it without storage.
TEST(Hdf5Test, RefusesDatasetsLargerThanInt64Bytes) {
  fs::path p = test::tempDir("h5_huge") / "huge.h5";
  hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dims[2] = {hsize_t(1) << 31, hsize_t(1) << 31}, chunk[2] = {1, 16};
  hid_t space = H5Screate_simple(2, dims, nullptr);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 2, chunk);
  hid_t ds = H5Dcreate2(f, "huge", H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  ASSERT_GE(ds, 0);
  H5Dclose(ds);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Fclose(f);
  auto got = readHdf5(p);
  ASSERT_FALSE(got.hasValue());
  EXPECT_EQ(got.status().code(), StatusCode::InvalidArgument);
  EXPECT_NE(got.status().message().find("\"huge\""), std::string::npos) << got.status().message();
  auto reader = Hdf5Reader::open(p);
  ASSERT_TRUE(reader.hasValue()) << reader.status().toString();
  auto info = (*reader)->info("huge");
  ASSERT_FALSE(info.hasValue());
  EXPECT_NE(info.status().message().find("2^63"), std::string::npos) << info.status().message();
}

}  // namespace
}  // namespace npuconv
