// SHA-256 (formats/support/sha256.h): the FIPS 180-2 test vectors, streaming in pieces gives the
// one-shot digest, a file hashed in the content key's pass gives what sha256sum prints, and
// sha256sum's line format with its escapes.
#include <gtest/gtest.h>

#include <fstream>

#include "formats/support/content_key.h"
#include "formats/support/sha256.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(*sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(*sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(*sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, StreamedInPiecesEqualsOneShot) {
  std::string bytes(100000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 + 7);
  Sha256Hasher h;
  for (size_t at = 0; at < bytes.size(); at += 777) h.add(std::string_view(bytes).substr(at, 777));
  EXPECT_EQ(*h.hex(), *sha256Hex(bytes));
  EXPECT_FALSE(h.hex().hasValue()) << "a second digest of a finished stream is an error";
}

TEST(Sha256, FileInTheContentKeyPassMatchesSha256sum) {
  const fs::path dir = test::tempDir("sha256_file");
  std::string bytes(300000, 'x');
  for (size_t i = 0; i < bytes.size(); i += 97) bytes[i] = static_cast<char>(i);
  std::ofstream(dir / "f.bin", std::ios::binary) << bytes;
  ContentHasher key, plain;
  Sha256Hasher sha;
  ASSERT_TRUE(key.addFile(dir / "f.bin", &sha).isOk());
  ASSERT_TRUE(plain.addFile(dir / "f.bin").isOk());
  EXPECT_EQ(key.hex(), plain.hex()) << "the SHA-256 sink does not change the content key";
  std::string out;
  ASSERT_EQ(test::runCommand("sha256sum '" + (dir / "f.bin").string() + "'", &out), 0);
  EXPECT_EQ(*sha.hex(), out.substr(0, 64));
}

TEST(Sha256, Sha256sumLineEscapesAsCoreutils) {
  const std::string h(64, 'a');
  EXPECT_EQ(sha256sumLine(h, "w.bin"), h + "  w.bin");
  EXPECT_EQ(sha256sumLine(h, "a\\b"), "\\" + h + "  a\\\\b");
  EXPECT_EQ(sha256sumLine(h, "a\nb\rc"), "\\" + h + "  a\\nb\\rc");
}

}  // namespace
}  // namespace npuconv
