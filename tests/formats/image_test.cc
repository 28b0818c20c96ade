// Image decoding and the bilinear resize: cv2 INTER_LINEAR's grid on hand-computed values,
// PIL's channel conversions, and decode errors.
#include "formats/image/image.h"

#include <gtest/gtest.h>

#include "formats/npy/npy.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

Image row(std::vector<uint8_t> px) {
  Image img;
  img.width = static_cast<int>(px.size());
  img.height = 1;
  img.channels = 1;
  img.pixels = std::move(px);
  return img;
}

TEST(ImageResizeTest, HalfPixelCentresClampAtBothEnds) {
  // Width 2 -> 4, scale 0.5: source x = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
  auto out = resizeBilinear(row({0, 100}), 1, 4);
  EXPECT_EQ(out, (std::vector<float>{0, 25, 75, 100}));
  // Width 4 -> 2, scale 2: source x = 0.5 and 2.5, no antialiasing.
  out = resizeBilinear(row({0, 10, 20, 30}), 1, 2);
  EXPECT_EQ(out, (std::vector<float>{5, 25}));
  // Width 3 -> 3 is the identity.
  out = resizeBilinear(row({7, 200, 3}), 1, 3);
  EXPECT_EQ(out, (std::vector<float>{7, 200, 3}));
}

TEST(ImageResizeTest, RowsAndColumnsInterpolateTogether) {
  Image img;
  img.width = img.height = 2;
  img.channels = 1;
  img.pixels = {0, 100, 200, 40};
  // 2x2 -> 4x4; the centre taps are at 0.25/0.75 of both axes.
  auto out = resizeBilinear(img, 4, 4);
  ASSERT_EQ(out.size(), 16u);
  // (y=1, x=1): top = 0*0.75 + 100*0.25 = 25, bottom = 200*0.75 + 40*0.25 = 160, 25*0.75 + 160*0.25 = 58.75.
  EXPECT_FLOAT_EQ(out[5], 58.75f);
  EXPECT_FLOAT_EQ(out[15], 40.0f);
  EXPECT_FLOAT_EQ(out[12], 200.0f);
}

TEST(ImageDecodeTest, ConvertsChannelsAsPil) {
  auto rgb = readImage(test::testdata("calib/rgb.png"), 3);
  ASSERT_TRUE(rgb.hasValue()) << rgb.status().toString();
  EXPECT_EQ(rgb->width, 7);
  EXPECT_EQ(rgb->height, 5);
  auto grey = readImage(test::testdata("calib/rgb.png"), 1);
  ASSERT_TRUE(grey.hasValue());
  ASSERT_EQ(grey->pixels.size(), 35u);
  for (size_t i = 0; i < 35; ++i) {
    const uint8_t* p = &rgb->pixels[3 * i];
    EXPECT_EQ(grey->pixels[i], (19595u * p[0] + 38470u * p[1] + 7471u * p[2] + 0x8000u) >> 16);
  }
  auto g3 = readImage(test::testdata("calib/grey.png"), 3);
  ASSERT_TRUE(g3.hasValue());
  EXPECT_EQ(g3->pixels[3], g3->pixels[4]);
  EXPECT_EQ(g3->pixels[4], g3->pixels[5]);
  auto p16 = readImage(test::testdata("calib/rgb16.png"), 3);
  ASSERT_TRUE(p16.hasValue());
  auto want = readNpy(test::testdata("calib/rgb16_expected.npy"));
  ASSERT_TRUE(want.hasValue());
  auto w = (*want)->as<uint8_t>();
  EXPECT_EQ(p16->pixels, std::vector<uint8_t>(w.begin(), w.end()));
}

TEST(ImageDecodeTest, BadBytesAreErrorsNamingTheFile) {
  auto e = decodeImage("GIF89a....", 3, "x.gif");
  ASSERT_FALSE(e.hasValue());
  EXPECT_EQ(e.status().message(), "x.gif: not a PNG or JPEG image");
  e = decodeImage(std::string("\xff\xd8\xff\xe0 truncated", 15), 3, "t.jpg");
  ASSERT_FALSE(e.hasValue());
  EXPECT_EQ(e.status().message().rfind("t.jpg: unreadable JPEG: ", 0), 0u) << e.status().message();
  e = decodeImage(std::string("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16), 3, "t.png");
  ASSERT_FALSE(e.hasValue());
  EXPECT_EQ(e.status().message().rfind("t.png: unreadable PNG: ", 0), 0u) << e.status().message();
}

}  // namespace
}  // namespace npuconv
