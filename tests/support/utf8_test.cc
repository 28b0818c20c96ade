// UTF-8 validity and oneLineMessage: errors quote names and headers from hostile files; the CLI
// prints them as one line that cannot drive the terminal (found by fuzz_npy: a .npy header with a
// newline).
#include <gtest/gtest.h>

#include "converter/support/utf8.h"

namespace npuconv {
namespace {

TEST(Utf8, FirstInvalidByte) {
  EXPECT_EQ(firstInvalidUtf8("naïve 北京 🙂"), std::nullopt);
  EXPECT_EQ(firstInvalidUtf8(std::string("ab\xff", 3)), 2u);
  EXPECT_EQ(firstInvalidUtf8(std::string("\xe4\xb8", 2)), 0u);  // truncated
  EXPECT_EQ(firstInvalidUtf8(std::string("\xf4\x90\x80\x80", 4)), 0u);  // past U+10FFFF
}

TEST(OneLineMessage, KeepsTextAndValidUtf8) {
  EXPECT_EQ(oneLineMessage("node \"conv\": naïve 北京 🙂"), "node \"conv\": naïve 北京 🙂");
}

TEST(OneLineMessage, NewlinesAndTabsBecomeSpaces) {
  EXPECT_EQ(oneLineMessage("a\nb\r\nc\td"), "a b  c d");
}

TEST(OneLineMessage, EscapesControlsAndInvalidUtf8) {
  EXPECT_EQ(oneLineMessage(std::string("x\x1b[31my\x7f", 8)), "x\\x1b[31my\\x7f");
  EXPECT_EQ(oneLineMessage(std::string("\xff\xfe", 2)), "\\xff\\xfe");
  EXPECT_EQ(oneLineMessage(std::string("\xc3", 1)), "\\xc3");                  // truncated sequence
  EXPECT_EQ(oneLineMessage(std::string("\xc0\xaf", 2)), "\\xc0\\xaf");         // overlong '/'
  EXPECT_EQ(oneLineMessage(std::string("\xed\xa0\x80", 3)), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(oneLineMessage(std::string("\xc2\x9b", 2)), "\\xc2\\x9b");         // C1 CSI
  EXPECT_EQ(oneLineMessage(std::string("a\0b", 3)), "a\\x00b");
}

}  // namespace
}  // namespace npuconv
