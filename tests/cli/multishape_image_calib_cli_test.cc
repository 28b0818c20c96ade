// Several shapes in one blob calibrated on images (pipeline/calib_follows_shape.h): images are
// resized to each variant's frozen height and width, so the later variant is calibrated on the
// same images at its own shape, as text is tokenized again at its sequence length. A small conv
// model with a dynamic H and W at 8x8 and 16x16 with an image folder (and a dataset list of
// images): the 16x16 variant's activation parameters differ from the 8x8 variant's and are those
// of a one-shape conversion at 16x16, its outputs bit for bit, no warning, the int8 weights once.
// A dataset list of .npy tensors (one shape) still gives the first variant's ranges and a warning.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/blob/blob_reader.h"
#include "formats/npy/npy.h"
#include "formats/onnx/onnx_writer.h"
#include "tests/cli/two_layer_model.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

struct ImageVariantsBuilt {
  fs::path dir, model, folderMulti, listMulti, single16, npyMulti, x16;
};

/// y = Conv1x1(Relu(Conv3x3(x))), x [1,3,h,w] -> y [1,2,h,w].
fs::path writeImageConvModel(const fs::path& dir) {
  std::string text = fmt::format(R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[1,3,h,w] x) => (float[1,2,h,w] y) {{
      W1 = Constant<value = float[4,3,3,3] {{{0}}}>()
      B1 = Constant<value = float[4] {{{1}}}>()
      W2 = Constant<value = float[2,4,1,1] {{{2}}}>()
      c = Conv<pads = [1, 1, 1, 1]>(x, W1, B1)
      r = Relu(c)
      y = Conv(r, W2)
    }})", test::pseudoFloatList(108, 11, 2000), test::pseudoFloatList(4, 12, 4000), test::pseudoFloatList(8, 13, 1000));
  Model m = test::parseModel(text);
  fs::path p = dir / "conv_hw.onnx";
  EXPECT_TRUE(writeOnnx(m, p).hasValue());
  return p;
}

std::string convertHw(const fs::path& model, const std::string& options, const fs::path& out) {
  std::string o, e;
  EXPECT_EQ(test::runNpuconv(fmt::format("convert '{}' -q --precision int8 --calib-method minmax --no-bias-correction "
                                         "--layer-error-samples 0 {} -o '{}'",
                                         model.string(), options, out.string()),
                             &o, &e),
            0)
      << out << ": " << e;
  return e;
}

const ImageVariantsBuilt& imageVariantsBuilt() {
  static const ImageVariantsBuilt b = [] {
    ImageVariantsBuilt r;
    r.dir = test::tempDir("multishape_image_calib");
    r.model = writeImageConvModel(r.dir);
    const fs::path folder = test::testdata("calib/folder");  // 10.png, a.jpg, b.png (and notes.txt, skipped)
    {
      std::ofstream list(r.dir / "images.txt");
      for (const char* f : {"10.png", "a.jpg", "b.png"}) list << (folder / f).string() << "\n";
    }
    {
      std::ofstream list(r.dir / "tensors.txt");
      for (int s = 0; s < 3; ++s) {
        const std::vector<float> v = test::pseudoFloats(3 * 8 * 8, 20 + static_cast<uint32_t>(s), 400.0f);
        const fs::path p = r.dir / fmt::format("s{}.npy", s);
        EXPECT_TRUE(writeNpy(p, DType::F32, std::vector<int64_t>{1, 3, 8, 8}, v.data()).isOk());
        list << p.string() << "\n";
      }
    }
    const std::vector<float> x = test::pseudoFloats(3 * 16 * 16, 7, 400.0f);
    r.x16 = r.dir / "x16.npy";
    EXPECT_TRUE(writeNpy(r.x16, DType::F32, std::vector<int64_t>{1, 3, 16, 16}, x.data()).isOk());
    const std::string two = " --input-shape x=1x3x8x8,1x3x16x16";
    convertHw(r.model, "--calib '" + folder.string() + "'" + two, r.dir / "folder_multi");
    convertHw(r.model, "--calib '" + (r.dir / "images.txt").string() + "'" + two, r.dir / "list_multi");
    convertHw(r.model, "--calib '" + folder.string() + "' --input-shape x=1x3x16x16", r.dir / "single16");
    convertHw(r.model, "--calib '" + (r.dir / "tensors.txt").string() + "'" + two, r.dir / "npy_multi");
    r.folderMulti = r.dir / "folder_multi";
    r.listMulti = r.dir / "list_multi";
    r.single16 = r.dir / "single16";
    r.npyMulti = r.dir / "npy_multi";
    return r;
  }();
  return b;
}

LoadedBlob loadVariantBlob(const fs::path& out) {
  auto b = readBlob(out / "model.npub");
  EXPECT_TRUE(b.hasValue()) << b.status().toString();
  return b.hasValue() ? std::move(*b) : LoadedBlob{};
}

/// A variant's activation quantization parameters by tensor name.
std::map<std::string, device::QuantParams> activationParams(const device::Program& p) {
  std::map<std::string, device::QuantParams> out;
  for (const device::Tensor& t : p.tensors)
    if (t.storage == device::Storage::Activation && t.quant >= 0) out[t.name] = p.quant[static_cast<size_t>(t.quant)];
  return out;
}

uint64_t sectionBytes(const LoadedBlob& l, const std::string& fourcc) {
  for (const BlobSectionInfo& s : l.sections)
    if (s.fourcc == fourcc) return s.size;
  return 0;
}

nlohmann::json reportOf(const fs::path& out) { return nlohmann::json::parse(test::slurp(out / "report.json")); }

bool warnsOfReuse(const nlohmann::json& r) {
  for (const auto& w : r["warnings"])
    if (w["message"].get<std::string>().find("takes the activation ranges calibrated at") != std::string::npos) return true;
  return false;
}

TEST(MultiShapeImageCalib, TheLaterVariantIsCalibratedOnTheImagesAtItsOwnShape) {
  const ImageVariantsBuilt& b = imageVariantsBuilt();
  const LoadedBlob single = loadVariantBlob(b.single16);
  ASSERT_EQ(single.variantCount(), 1u);
  const auto want16 = activationParams(single.program);
  ASSERT_FALSE(want16.empty());
  for (const fs::path& out : {b.folderMulti, b.listMulti}) {
    SCOPED_TRACE(out.filename().string());
    const LoadedBlob multi = loadVariantBlob(out);
    ASSERT_EQ(multi.variantCount(), 2u);
    const auto at8 = activationParams(multi.variant(0)), at16 = activationParams(multi.variant(1));
    EXPECT_EQ(at16, want16);  // the one-shape conversion at 16x16, tensor for tensor
    EXPECT_NE(at8, at16);     // the images at 8x8 give other ranges: the test can tell them apart
    const nlohmann::json r = reportOf(out);
    EXPECT_EQ(r["device_blob"]["variants"][1]["calibration"], "own: 3 samples at its input shape");
    EXPECT_FALSE(warnsOfReuse(r)) << r["warnings"].dump();
  }
}

TEST(MultiShapeImageCalib, TheVariantRunsAsTheOneShapeBlobAndSharesItsWeights) {
  const ImageVariantsBuilt& b = imageVariantsBuilt();
  auto runY = [&](const fs::path& out, const std::string& name) {
    std::string o, e;
    const fs::path dir = b.dir / name;
    EXPECT_EQ(test::runNpuconv(fmt::format("run '{}' --input x='{}' --output-dir '{}'", (out / "model.npub").string(),
                                           b.x16.string(), dir.string()),
                               &o, &e),
              0)
        << e;
    return test::slurp(dir / "y.npy");
  };
  const std::string multi = runY(b.folderMulti, "run_multi16"), single = runY(b.single16, "run_single16");
  EXPECT_FALSE(multi.empty());
  EXPECT_TRUE(multi == single) << "the 16x16 variant's y differs from the one-shape blob's";
  // The int8 weights are stored once; only the later variant's int32 biases can be its own (their
  // scale is its own input scale times the weight scale; here the first Conv's input range, the
  // images' 0..255, is the same at both sizes).
  const LoadedBlob m = loadVariantBlob(b.folderMulti), s = loadVariantBlob(b.single16);
  uint64_t biasBytes = 0;
  for (const device::Tensor& t : s.program.tensors)
    if (t.storage == device::Storage::Weight && t.dtype == DType::I32) biasBytes += t.byteSize();
  ASSERT_GT(biasBytes, 0u);
  EXPECT_GE(sectionBytes(m, "WGHT"), sectionBytes(s, "WGHT"));
  EXPECT_LE(sectionBytes(m, "WGHT"), sectionBytes(s, "WGHT") + biasBytes + 64);  // + alignment
}

TEST(MultiShapeImageCalib, TensorDataStillTakesTheFirstVariantsRangesAndWarns) {
  const ImageVariantsBuilt& b = imageVariantsBuilt();
  const LoadedBlob multi = loadVariantBlob(b.npyMulti);
  ASSERT_EQ(multi.variantCount(), 2u);
  const auto at8 = activationParams(multi.variant(0)), at16 = activationParams(multi.variant(1));
  ASSERT_FALSE(at16.empty());
  size_t common = 0;
  for (const auto& [name, q] : at16) {
    if (!at8.count(name)) continue;
    ++common;
    EXPECT_EQ(q, at8.at(name)) << name;
  }
  EXPECT_GT(common, 0u);
  const nlohmann::json r = reportOf(b.npyMulti);
  EXPECT_EQ(r["device_blob"]["variants"][1]["calibration"], "ranges of the first variant (calibration data of one shape)");
  EXPECT_TRUE(warnsOfReuse(r)) << r["warnings"].dump();
}

}  // namespace
}  // namespace npuconv
