// Content keys (xxHash64) and the calibration cache's key and lookup rules: a key changes with
// every part, a missing file or another key is a miss, a malformed file is an error naming it.
#include <gtest/gtest.h>

#include <fstream>

#include "formats/support/content_key.h"
#include "pipeline/calib_cache.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

void writeText(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}

TEST(ContentKey, IsXxHash64AsHex) {
  // XXH64 test vectors (seed 0).
  EXPECT_EQ(contentKey(""), "ef46db3751d8e999");
  EXPECT_EQ(contentKey("a"), "d24ec4f1a98c6e5b");
  ContentHasher h;
  h.add("a");
  EXPECT_EQ(h.hex(), "d24ec4f1a98c6e5b");
}

TEST(ContentKey, FilesAndParts) {
  fs::path dir = test::tempDir("content_key");
  writeText(dir / "a.bin", "hello");
  writeText(dir / "b.bin", "hello");
  writeText(dir / "c.bin", "hellp");
  writeText(dir / "empty.bin", "");
  EXPECT_EQ(*fileContentKey(dir / "a.bin"), *fileContentKey(dir / "b.bin"));
  EXPECT_NE(*fileContentKey(dir / "a.bin"), *fileContentKey(dir / "c.bin"));
  EXPECT_TRUE(fileContentKey(dir / "empty.bin").hasValue());
  auto missing = fileContentKey(dir / "nope.bin");
  ASSERT_FALSE(missing.hasValue());
  EXPECT_EQ(missing.status().code(), StatusCode::Io);
  EXPECT_NE(missing.status().message().find("nope.bin"), std::string::npos);
  ContentHasher p1, p2;
  p1.addPart("ab");
  p1.addPart("c");
  p2.addPart("a");
  p2.addPart("bc");
  EXPECT_NE(p1.hex(), p2.hex());
}

TEST(CalibCache, KeyDependsOnEveryPart) {
  nlohmann::ordered_json opt = {{"calib_method", "percentile"}, {"tensors", {"a", "b"}}};
  nlohmann::ordered_json opt2 = {{"calib_method", "minmax"}, {"tensors", {"a", "b"}}};
  std::string k = calibCacheKey("m1", "d1", opt);
  EXPECT_EQ(k.size(), 16u);
  EXPECT_EQ(k, calibCacheKey("m1", "d1", opt));
  EXPECT_NE(k, calibCacheKey("m2", "d1", opt));
  EXPECT_NE(k, calibCacheKey("m1", "d2", opt));
  EXPECT_NE(k, calibCacheKey("m1", "d1", opt2));
}

TEST(CalibCache, MissesAndErrors) {
  fs::path dir = test::tempDir("calib_cache");
  auto none = loadCalibCache(dir / "absent.json", "k");
  ASSERT_TRUE(none.hasValue());
  EXPECT_FALSE(none->has_value());
  writeText(dir / "other.json", R"({"key": "another", "npuconv_version": "0", "stats": {}})");
  auto other = loadCalibCache(dir / "other.json", "k");
  ASSERT_TRUE(other.hasValue()) << other.status().toString();
  EXPECT_FALSE(other->has_value());
  writeText(dir / "bad.json", "{not json");
  auto bad = loadCalibCache(dir / "bad.json", "k");
  ASSERT_FALSE(bad.hasValue());
  EXPECT_EQ(bad.status().code(), StatusCode::InvalidArgument);
  EXPECT_NE(bad.status().message().find("bad.json"), std::string::npos);
  writeText(dir / "nokey.json", R"({"stats": {}})");
  EXPECT_FALSE(loadCalibCache(dir / "nokey.json", "k").hasValue());
}

}  // namespace
}  // namespace npuconv
