// .npz archives: members of stored and deflated archives (numpy writes zip64 local headers),
// reading at any offset (a deflated member restarts to go back), and damaged archives.
#include "formats/npz/npz.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/test_util.h"

namespace npuconv {
namespace {

void expectArchive(const std::string& name, uint16_t method) {
  auto npz = NpzArchive::open(test::testdata("calib/" + name));
  ASSERT_TRUE(npz.hasValue()) << npz.status().toString();
  ASSERT_EQ((*npz)->arrays().size(), 2u);
  const NpzArray* a = (*npz)->find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->member.method, method);
  EXPECT_EQ(a->header.dtype, DType::F32);
  EXPECT_EQ(a->header.dims, (std::vector<int64_t>{5, 2, 3}));
  auto r = (*npz)->openArray(*a);
  // Element (k, i) = k * 100 + i * 0.5; read sample 3, then go back to sample 1.
  for (int64_t k : {3, 1, 4}) {
    float v[6];
    ASSERT_TRUE(r->read(static_cast<uint64_t>(k) * 24, 24, v).isOk());
    for (int i = 0; i < 6; ++i) EXPECT_EQ(v[i], static_cast<float>(k * 100) + 0.5f * static_cast<float>(i));
  }
  float past[6];
  Status s = r->read(5 * 24 - 4, 24, past);
  EXPECT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("a.npy: reading 24 bytes"), std::string::npos) << s.message();
  EXPECT_EQ((*npz)->find("c"), nullptr);
}

TEST(NpzTest, StoredArchive) { expectArchive("two_inputs_stored.npz", 0); }
TEST(NpzTest, DeflatedArchive) { expectArchive("two_inputs_deflated.npz", 8); }

TEST(NpzTest, DamagedArchivesAreErrors) {
  auto dir = test::tempDir("npz_damaged");
  std::ofstream(dir / "junk.npz") << "this is not a zip archive at all, just text";
  auto e = NpzArchive::open(dir / "junk.npz");
  ASSERT_FALSE(e.hasValue());
  EXPECT_EQ(e.status().message(), (dir / "junk.npz").string() + ": not a valid zip archive: no end of central directory record");
  // Corrupt the deflated data: the error comes when the member is read.
  std::string bytes;
  {
    std::ifstream in(test::testdata("calib/two_inputs_deflated.npz"), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto npz = NpzArchive::open(test::testdata("calib/two_inputs_deflated.npz"));
  ASSERT_TRUE(npz.hasValue());
  const ZipMember& m = (*npz)->find("a")->member;
  for (uint64_t i = m.dataOffset + 40; i < m.dataOffset + m.compressedSize; ++i) bytes[i] = static_cast<char>(0xff);
  std::ofstream(dir / "bad.npz", std::ios::binary) << bytes;
  auto bad = NpzArchive::open(dir / "bad.npz");
  Status st = bad ? Status::ok() : bad.status();
  if (bad) {
    float v[30];
    st = (*bad)->openArray(*(*bad)->find("a"))->read(0, sizeof v, v);
  }
  EXPECT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("a.npy"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace npuconv
