// Several shapes in one blob calibrated on images (pipeline/calib_follows_shape.h): images are
// resized to each variant's frozen height and width, so the later variant is calibrated on the
// same images at its own shape, as text is tokenized again at its sequence length. A small conv
// model with a dynamic H and W at 8x8 and 16x16 with an image folder (and a dataset list of
// images): the 16x16 variant's activation parameters differ from the 8x8 variant's and are those
// of a one-shape conversion at 16x16, its outputs bit for bit, no warning, the int8 weights once.
// A dataset list of .npy tensors (one shape) still gives the first variant's ranges and a warning.
// Weights the lowering widens for a big bias (by the input scale) stay one copy too.
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

/// y = Conv1x1(Relu(Conv3x3(x))), x [1,3,h,w] -> y [1,2,h,w]; `secondBias`: "B2" gives the
/// second Conv the bias {0, secondBias} (file conv_hw_bias.onnx).
fs::path writeImageConvModel(const fs::path& dir, double secondBias = 0) {
  std::string text = fmt::format(R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[1,3,h,w] x) => (float[1,2,h,w] y) {{
      W1 = Constant<value = float[4,3,3,3] {{{0}}}>()
      B1 = Constant<value = float[4] {{{1}}}>()
      W2 = Constant<value = float[2,4,1,1] {{{2}}}>()
      B2 = Constant<value = float[2] {{0.0, {3:.9e}}}>()
      c = Conv<pads = [1, 1, 1, 1]>(x, W1, B1)
      r = Relu(c)
      y = Conv(r, W2{4})
    }})", test::pseudoFloatList(108, 11, 2000), test::pseudoFloatList(4, 12, 4000), test::pseudoFloatList(8, 13, 1000),
                                 secondBias, secondBias != 0 ? ", B2" : "");
  Model m = test::parseModel(text);
  fs::path p = dir / (secondBias != 0 ? "conv_hw_bias.onnx" : "conv_hw.onnx");
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

/// The int8 weight [2,4,1,1] (the second Conv's) of a variant.
const device::Tensor* secondConvWeight(const device::Program& p) {
  for (const device::Tensor& t : p.tensors)
    if (t.storage == device::Storage::Weight && t.dtype == DType::I8 && t.dims == std::vector<int64_t>{2, 4, 1, 1}) return &t;
  return nullptr;
}

// A bias too large for the accumulator at s_in * s_w widens that channel's weight scale when the
// blob is lowered (pipeline/lower_to_device.cc), by the input scale: the variants' own input
// scales would requantize the weights differently and store them twice. They widen at the
// smallest input scale of the variants, so the int8 weights stay one copy.
TEST(MultiShapeImageCalib, WeightsWidenedForABigBiasStayOneCopy) {
  const ImageVariantsBuilt& b = imageVariantsBuilt();
  const LoadedBlob plain = loadVariantBlob(b.folderMulti);
  const auto at8 = activationParams(plain.variant(0)), at16 = activationParams(plain.variant(1));
  ASSERT_TRUE(at8.count("r_QuantizeLinear_Output") && at16.count("r_QuantizeLinear_Output"));
  const double s8 = at8.at("r_QuantizeLinear_Output").scales[0], s16 = at16.at("r_QuantizeLinear_Output").scales[0];
  ASSERT_GT(std::max(s8, s16), 1.005 * std::min(s8, s16)) << "the variants' input scales must differ for this test";
  const device::Tensor* w = secondConvWeight(plain.variant(0));
  ASSERT_NE(w, nullptr);
  ASSERT_GE(w->quant, 0);
  const double sw = plain.variant(0).quant[static_cast<size_t>(w->quant)].scales[1];
  // b / (s_in * s_w) = 1.2 * 2^30 at the larger input scale: over the accumulator's 2^30 bound in
  // both variants, so the lowering widens channel 1 to ~1.2 times its step (times s_16 / s_8 at
  // the smaller input scale): its weights stay nonzero and would differ by the input scale.
  const fs::path model = writeImageConvModel(b.dir, 1.2 * std::max(s8, s16) * sw * 1073741824.0);
  convertHw(model, "--calib '" + test::testdata("calib/folder").string() + "' --input-shape x=1x3x8x8,1x3x16x16",
            b.dir / "bias_multi");
  const LoadedBlob multi = loadVariantBlob(b.dir / "bias_multi");
  ASSERT_EQ(multi.variantCount(), 2u);
  const device::Tensor *w0 = secondConvWeight(multi.variant(0)), *w1 = secondConvWeight(multi.variant(1));
  ASSERT_NE(w0, nullptr);
  ASSERT_NE(w1, nullptr);
  EXPECT_GT(multi.variant(0).quant[static_cast<size_t>(w0->quant)].scales[1], 1.1 * sw) << "channel 1 was not widened";
  // At the smallest scale of this Conv's own input, not of another Conv's (x's scale 1 is below
  // r's). The passes name the first Conv here (Conv_1); with two unnamed Convs a key by node
  // name pooled their input scales (the key is the node's first original name).
  const double expected = 1.2 * sw * std::max(s8, s16) / std::min(s8, s16);
  EXPECT_NEAR(multi.variant(0).quant[static_cast<size_t>(w0->quant)].scales[1], expected, 1e-3 * expected);
  const std::string bytes0(reinterpret_cast<const char*>(w0->weight->bytes()), w0->weight->byteSize());
  const std::string bytes1(reinterpret_cast<const char*>(w1->weight->bytes()), w1->weight->byteSize());
  EXPECT_TRUE(bytes0 == bytes1) << "the widened weights differ between the variants";
  EXPECT_NE(bytes0.substr(4), std::string(4, '\0')) << "channel 1's widened weights are all zero: the test proves nothing";
}

}  // namespace
}  // namespace npuconv
