// Calibration data from images and dataset lists: decode + resize + normalize + layout against
// tensors computed with PIL and numpy by scripts/gen_calib_fixtures.py, folder order, lists of
// .npy and images for multi-input models, and the errors.
#include <gtest/gtest.h>

#include <fstream>

#include "formats/calib/calib_data.h"
#include "formats/npy/npy.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

Tensor onlySample(const CalibDataOptions& o, const ModelInputSpec& in) {
  auto s = openCalibData(o, {in});
  EXPECT_TRUE(s.hasValue()) << s.status().toString();
  if (!s) return {};
  EXPECT_EQ((*s)->size(), 1u);
  auto n = (*s)->next();
  EXPECT_TRUE(n.hasValue() && *n) << n.status().toString();
  if (!n || !*n) return {};
  return (**n).at(in.name);
}

/// The tensor must equal the fixture's expected .npy (float32 within 1e-4 of 0..255-scale values:
/// the script and the C++ code both interpolate in float64; uint8 exactly).
void expectMatches(const Tensor& t, const std::string& expected) {
  auto e = readNpy(test::testdata("calib/" + expected));
  ASSERT_TRUE(e.hasValue()) << e.status().toString();
  ASSERT_EQ(t.dims(), (*e)->dims()) << expected;
  ASSERT_EQ(t.dtype(), (*e)->dtype()) << expected;
  for (int64_t i = 0; i < t.numElements(); ++i) {
    if (t.dtype() == DType::U8)
      ASSERT_EQ(t.data<uint8_t>()[i], (*e)->as<uint8_t>()[static_cast<size_t>(i)]) << expected << " element " << i;
    else
      ASSERT_NEAR(t.data<float>()[i], (*e)->as<float>()[static_cast<size_t>(i)], 1e-4) << expected << " element " << i;
  }
}

CalibDataOptions images(std::vector<std::string> names, std::vector<float> mean = {}, std::vector<float> std = {},
                        bool bgr = false) {
  CalibDataOptions o;
  for (auto& n : names) o.paths.push_back(test::testdata("calib/" + n));
  o.mean = std::move(mean);
  o.std = std::move(std);
  o.bgr = bgr;
  return o;
}

TEST(CalibImageTest, PngResizedNormalizedNchw) {
  expectMatches(onlySample(images({"rgb.png"}, {10, 20, 30}, {2, 4, 8}), {"img", DType::F32, {1, 3, 4, 10}}),
                "rgb_nchw_expected.npy");
}

TEST(CalibImageTest, BgrNhwcWithDynamicBatch) {
  expectMatches(onlySample(images({"rgb.png"}, {10, 20, 30}, {2, 4, 8}, true), {"img", DType::F32, {-1, 4, 10, 3}}),
                "rgb_nhwc_bgr_expected.npy");
}

TEST(CalibImageTest, GreyRgbaPaletteAndChannelConversions) {
  expectMatches(onlySample(images({"grey.png"}), {"img", DType::F32, {1, 3, 3, 3}}), "grey_as_rgb_expected.npy");
  expectMatches(onlySample(images({"rgb.png"}, {128}, {64}), {"img", DType::F32, {1, 1, 3, 5}}), "rgb_as_grey_expected.npy");
  expectMatches(onlySample(images({"rgba.png"}), {"img", DType::F32, {1, 3, 5, 5}}), "rgba_expected.npy");
  expectMatches(onlySample(images({"palette.png"}), {"img", DType::F32, {1, 8, 8, 3}}), "palette_expected.npy");
}

TEST(CalibImageTest, SixteenBitPngScaledToEightBits) {
  // Same size, NHWC, raw values: the tensor is the scaled pixels themselves.
  Tensor t = onlySample(images({"rgb16.png"}), {"img", DType::U8, {1, 4, 6, 3}});
  expectMatches(Tensor::alias(t, {4, 6, 3}), "rgb16_expected.npy");
}

TEST(CalibImageTest, JpegToUint8AndFloat) {
  expectMatches(onlySample(images({"photo.jpg"}), {"img", DType::U8, {1, 4, 10, 3}}), "jpeg_u8_nhwc_expected.npy");
  expectMatches(onlySample(images({"photo.jpg"}, {127.5f}, {127.5f}), {"img", DType::F32, {1, 3, 16, 5}}),
                "jpeg_nchw_expected.npy");
}

TEST(CalibImageTest, FolderIsSortedByNameSkipsOtherFilesAndRewinds) {
  CalibDataOptions o;
  o.paths = {test::testdata("calib/folder")};
  auto s = openCalibData(o, {{"img", DType::F32, {1, 3, 4, 4}}});
  ASSERT_TRUE(s.hasValue()) << s.status().toString();
  EXPECT_EQ((*s)->size(), 3u);
  auto e = readNpy(test::testdata("calib/folder_expected.npy"));
  ASSERT_TRUE(e.hasValue());
  for (int round = 0; round < 2; ++round) {
    for (int64_t k = 0; k < 3; ++k) {
      auto n = (*s)->next();
      ASSERT_TRUE(n.hasValue() && *n) << n.status().toString();
      const Tensor& t = (**n).at("img");
      auto want = (*e)->as<float>().subspan(static_cast<size_t>(k * 48), 48);
      for (size_t i = 0; i < 48; ++i) ASSERT_NEAR(t.data<float>()[i], want[i], 1e-4) << "sample " << k << " element " << i;
    }
    auto end = (*s)->next();
    ASSERT_TRUE(end.hasValue());
    EXPECT_FALSE(*end);
    ASSERT_TRUE((*s)->rewind().isOk());
  }
}

TEST(CalibImageTest, SeveralImagePathsKeepTheirOrder) {
  CalibDataOptions o = images({"rgb.png", "photo.jpg"});
  o.maxSamples = 5;
  auto s = openCalibData(o, {{"img", DType::U8, {1, 4, 10, 3}}});
  ASSERT_TRUE(s.hasValue()) << s.status().toString();
  EXPECT_EQ((*s)->size(), 2u);
  ASSERT_TRUE((*s)->next().hasValue());
  auto second = (*s)->next();
  ASSERT_TRUE(second.hasValue() && *second);
  expectMatches((**second).at("img"), "jpeg_u8_nhwc_expected.npy");
}

TEST(CalibImageTest, ErrorsNameTheFileAndInput) {
  auto err = [](CalibDataOptions o, ModelInputSpec in) {
    auto s = openCalibData(o, {in});
    EXPECT_FALSE(s.hasValue());
    return s ? std::string() : s.status().message();
  };
  std::string png = test::testdata("calib/rgb.png").string();
  EXPECT_EQ(err(images({"rgb.png"}), {"img", DType::F32, {1, 3, -1, -1}}),
            png + ": input \"img\" is f32[1,3,?,?]: images are resized to the input's height and width, which are "
                  "dynamic; freeze them with --input-shape img=...");
  EXPECT_EQ(err(images({"rgb.png"}, {1, 2}), {"img", DType::F32, {1, 3, 4, 4}}),
            png + ": input \"img\": 2 --mean values for 3 channels (give 1 or 3)");
  EXPECT_EQ(err(images({"rgb.png"}, {0}, {255}), {"img", DType::U8, {1, 3, 4, 4}}),
            png + ": input \"img\" is uint8: it takes the raw 0..255 pixels, so --mean and --std cannot apply (the model "
                  "normalizes itself)");
  EXPECT_EQ(err(images({"rgb.png"}), {"img", DType::F32, {1, 5, 4, 4}}),
            png + ": input \"img\" is f32[1,5,4,4]: images fill [N,3,H,W], [N,H,W,3] (or 1 channel, grey): no axis of 1 or 3 "
                  "channels next to H and W");
  std::string m = err(images({"rgb.png", "missing.png"}), {"img", DType::F32, {1, 3, 4, 4}});
  EXPECT_EQ(m, test::testdata("calib/missing.png").string() + ": no such file or folder");

  fs::path dir = test::tempDir("calib_image_errors");
  std::ofstream(dir / "broken.png") << "\x89PNG\r\n\x1a\nnot really";
  CalibDataOptions o;
  o.paths = {dir / "broken.png"};
  auto s = openCalibData(o, {{"img", DType::F32, {1, 3, 4, 4}}});
  ASSERT_TRUE(s.hasValue()) << s.status().toString();
  auto n = (*s)->next();
  ASSERT_FALSE(n.hasValue());
  EXPECT_EQ(n.status().message().rfind((dir / "broken.png").string() + ": input \"img\": unreadable PNG: ", 0), 0u)
      << n.status().message();
}

TEST(CalibListTest, MultiInputListOfImagesAndNpy) {
  fs::path dir = test::tempDir("calib_list");
  fs::create_directories(dir / "img");
  fs::copy_file(test::testdata("calib/rgb.png"), dir / "img" / "rgb.png");
  fs::copy_file(test::testdata("calib/photo.jpg"), dir / "img" / "photo.jpg");
  float m0[2] = {1.5f, -2}, m1[2] = {3, 4};
  ASSERT_TRUE(writeNpy(dir / "m0.npy", DType::F32, std::vector<int64_t>{1, 2}, m0).isOk());
  ASSERT_TRUE(writeNpy(dir / "m1.npy", DType::F32, std::vector<int64_t>{2}, m1).isOk());  // rank r: one sample
  std::ofstream(dir / "dataset.txt") << "# image, meta\n\nimg/rgb.png m0.npy\r\n  img/photo.jpg\tm1.npy\n";
  CalibDataOptions o;
  o.paths = {dir / "dataset.txt"};
  o.mean = {10, 20, 30};
  o.std = {2, 4, 8};
  std::vector<ModelInputSpec> inputs = {{"img", DType::F32, {1, 3, 4, 10}}, {"meta", DType::F32, {2}}};
  auto s = openCalibData(o, inputs);
  ASSERT_TRUE(s.hasValue()) << s.status().toString();
  EXPECT_EQ((*s)->size(), 2u);
  EXPECT_EQ((*s)->describe(), (dir / "dataset.txt").string() + " (2 inputs, 2 samples)");
  auto a = (*s)->next();
  ASSERT_TRUE(a.hasValue() && *a) << a.status().toString();
  expectMatches((**a).at("img"), "rgb_nchw_expected.npy");
  EXPECT_EQ((**a).at("meta").dims(), (std::vector<int64_t>{2}));
  EXPECT_EQ((**a).at("meta").span<float>()[1], -2.0f);
  auto b = (*s)->next();
  ASSERT_TRUE(b.hasValue() && *b);
  EXPECT_EQ((**b).at("meta").span<float>()[0], 3.0f);
  auto end = (*s)->next();
  ASSERT_TRUE(end.hasValue());
  EXPECT_FALSE(*end);
}

TEST(CalibListTest, ErrorsNameTheLineInputAndFile) {
  fs::path dir = test::tempDir("calib_list_errors");
  float m[2] = {1, 2};
  ASSERT_TRUE(writeNpy(dir / "m.npy", DType::F32, std::vector<int64_t>{2}, m).isOk());
  ASSERT_TRUE(writeNpy(dir / "two.npy", DType::F32, std::vector<int64_t>{2, 2}, std::vector<float>{1, 2, 3, 4}.data()).isOk());
  std::vector<ModelInputSpec> inputs = {{"a", DType::F32, {2}}, {"b", DType::F32, {2}}};
  auto err = [&](const std::string& text, bool atOpen = true) {
    std::ofstream(dir / "l.txt", std::ios::trunc) << text;
    CalibDataOptions o;
    o.paths = {dir / "l.txt"};
    auto s = openCalibData(o, inputs);
    if (atOpen) {
      EXPECT_FALSE(s.hasValue());
      return s ? std::string() : s.status().message();
    }
    EXPECT_TRUE(s.hasValue()) << s.status().toString();
    if (!s) return std::string();
    auto n = (*s)->next();
    EXPECT_FALSE(n.hasValue());
    return n ? std::string() : n.status().message();
  };
  std::string l = (dir / "l.txt").string();
  EXPECT_EQ(err("m.npy m.npy\nm.npy\n"), l + ":2: 1 path for 2 model inputs (one per input, in order: a b)");
  EXPECT_EQ(err("m.npy gone.npy\n"), l + ":1: input \"b\": " + (dir / "gone.npy").string() + ": no such file");
  std::ofstream(dir / "m.bin") << "x";
  EXPECT_EQ(err("m.npy m.bin\n"), l + ":1: input \"b\": " + (dir / "m.bin").string() +
                                       ": unknown extension \".bin\" (a list names .npy files or .png/.jpg/.jpeg images)");
  EXPECT_EQ(err("# nothing\n\n"), l + ": no calibration samples (0 in the data)");
  EXPECT_EQ(err("m.npy two.npy\n", false), l + ":1: " + (dir / "two.npy").string() +
                                                 ": input \"b\": f32[2,2] holds 2 samples; a dataset list names one sample "
                                                 "per input and line");
}

}  // namespace
}  // namespace npuconv
