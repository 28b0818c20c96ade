// `npuconv convert --input-shape NAME=A,B` (several frozen shapes in one blob, docs/blob-format.md
// 1.2): a tiny two-layer model with a dynamic row count converted at 2 and 3 rows into one blob;
// `run` picks the variant by the input's shape and gives the bytes of the single-shape blob of
// that shape (int8: calibrated so both single-shape conversions see the same ranges; fp16), the
// weights are stored once, a shape no variant takes and bad shape lists end in one-line errors
// (exit 2), `inspect` lists the variants. And the shipped encoder at sequence 32 and 64.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/blob/blob_format.h"
#include "formats/blob/blob_reader.h"
#include "formats/npy/npy.h"
#include "formats/onnx/onnx_writer.h"
#include "tests/cli/two_layer_model.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

struct Built {
  fs::path dir, model, multi, single2, single3, fp16Multi, fp16Single2, fp16Single3, x2, x3, x4;
};

const Built& built() {
  static const Built b = [] {
    Built r;
    r.dir = test::tempDir("multishape_cli");
    r.model = test::writeRowModel(r.dir);
    // 12 samples of 2 rows; the same samples with their first row repeated (3 rows).
    const std::vector<float> c2 = test::pseudoFloats(12 * 2 * 16, 5, 500.0f);
    std::vector<float> c3;
    for (size_t s = 0; s < 12; ++s) {
      c3.insert(c3.end(), c2.begin() + static_cast<long>(s * 32), c2.begin() + static_cast<long>(s * 32 + 32));
      c3.insert(c3.end(), c2.begin() + static_cast<long>(s * 32), c2.begin() + static_cast<long>(s * 32 + 16));
    }
    EXPECT_TRUE(writeNpy(r.dir / "cal2.npy", DType::F32, std::vector<int64_t>{12, 2, 16}, c2.data()).isOk());
    EXPECT_TRUE(writeNpy(r.dir / "cal3.npy", DType::F32, std::vector<int64_t>{12, 3, 16}, c3.data()).isOk());
    for (int64_t rows : {2, 3, 4}) {
      const std::vector<float> x = test::pseudoFloats(static_cast<size_t>(rows * 16), 9, 500.0f);
      const fs::path p = r.dir / fmt::format("x{}.npy", rows);
      EXPECT_TRUE(writeNpy(p, DType::F32, std::vector<int64_t>{rows, 16}, x.data()).isOk());
      (rows == 2 ? r.x2 : rows == 3 ? r.x3 : r.x4) = p;
    }
    auto convert = [&](const std::string& options, const std::string& out) {
      std::string o, e;
      EXPECT_EQ(test::runNpuconv(fmt::format("convert '{}' -q {} -o '{}'", r.model.string(), options, (r.dir / out).string()), &o, &e), 0)
          << out << ": " << e;
      return r.dir / out / "model.npub";
    };
    const std::string int8 = "--precision int8 --calib-method minmax --no-bias-correction --calib ";
    r.multi = convert(int8 + "'" + (r.dir / "cal2.npy").string() + "' --input-shape x=2x16,3x16", "multi");
    r.single2 = convert(int8 + "'" + (r.dir / "cal2.npy").string() + "' --input-shape x=2x16", "single2");
    r.single3 = convert(int8 + "'" + (r.dir / "cal3.npy").string() + "' --input-shape x=3x16", "single3");
    r.fp16Multi = convert("--precision fp16 --keep-io-types --input-shape x=2x16,3x16", "fp16_multi");
    r.fp16Single2 = convert("--precision fp16 --keep-io-types --input-shape x=2x16", "fp16_single2");
    r.fp16Single3 = convert("--precision fp16 --keep-io-types --input-shape x=3x16", "fp16_single3");
    return r;
  }();
  return b;
}

/// `npuconv run BLOB --input x=X --output-dir DIR`; the bytes of y.npy.
std::string runBlob(const fs::path& blob, const fs::path& x, const std::string& out) {
  const fs::path dir = built().dir / out;
  std::string o, e;
  EXPECT_EQ(test::runNpuconv(fmt::format("run '{}' --input x='{}' --output-dir '{}'", blob.string(), x.string(), dir.string()), &o, &e), 0)
      << e;
  return test::slurp(dir / "y.npy");
}

TEST(MultiShapeCli, EachVariantRunsBitForBitAsTheSingleShapeBlob) {
  const Built& b = built();
  const std::string m2 = runBlob(b.multi, b.x2, "run_multi_2"), s2 = runBlob(b.single2, b.x2, "run_single_2");
  const std::string m3 = runBlob(b.multi, b.x3, "run_multi_3"), s3 = runBlob(b.single3, b.x3, "run_single_3");
  EXPECT_FALSE(m2.empty());
  EXPECT_EQ(m2, s2);
  EXPECT_EQ(m3, s3);
  EXPECT_NE(m2, m3);
  EXPECT_EQ(runBlob(b.fp16Multi, b.x2, "run_fp16_multi_2"), runBlob(b.fp16Single2, b.x2, "run_fp16_single_2"));
  EXPECT_EQ(runBlob(b.fp16Multi, b.x3, "run_fp16_multi_3"), runBlob(b.fp16Single3, b.x3, "run_fp16_single_3"));
}

TEST(MultiShapeCli, TheWeightsAreStoredOnce) {
  const Built& b = built();
  auto multi = readBlob(b.multi);
  auto single = readBlob(b.single2);
  ASSERT_TRUE(multi.hasValue()) << multi.status().toString();
  ASSERT_TRUE(single.hasValue()) << single.status().toString();
  EXPECT_EQ(multi->variantCount(), 2u);
  // npuconv writes 1.3 (requantization rounds once) with or without VARS.
  EXPECT_EQ(multi->versionMinor, blob::kVersionMinorSingleRounding);
  EXPECT_EQ(single->versionMinor, blob::kVersionMinorSingleRounding);
  EXPECT_EQ(multi->program.requantRounding, device::Rounding::Single);
  auto sectionSize = [](const LoadedBlob& l, const std::string& f) {
    for (const BlobSectionInfo& s : l.sections)
      if (s.fourcc == f) return s.size;
    return uint64_t{0};
  };
  EXPECT_EQ(sectionSize(*multi, "WGHT"), sectionSize(*single, "WGHT"));
  // The report lists the variants, and still matches its schema.
  test::expectMatchesReportSchema(b.multi.parent_path() / "report.json");
  const auto r = nlohmann::json::parse(test::slurp(b.multi.parent_path() / "report.json"));
  ASSERT_EQ(r["device_blob"]["variants"].size(), 2u);
  EXPECT_EQ(r["device_blob"]["variants"][1]["input_shapes"], "x=3x16");
  EXPECT_EQ(r["device_blob"]["variants"][1]["calibration"], "ranges of the first variant (calibration data of one shape)");
  // ...and the reuse is a warning, in the report and on stderr, naming both shapes.
  bool warned = false;
  for (const auto& w : r["warnings"])
    warned |= w["message"].get<std::string>().find("shape variant x=3x16 takes the activation ranges calibrated at x=2x16") !=
              std::string::npos;
  EXPECT_TRUE(warned) << r["warnings"].dump();
  EXPECT_GT(sectionSize(*multi, "WGHT"), 0u);
  // The rest grows by the second variant's tensor, op and I/O tables only.
  EXPECT_LT(multi->fileSize, single->fileSize + sectionSize(*single, "TENS") + sectionSize(*single, "OPS ") + 1024);
}

TEST(MultiShapeCli, AShapeNoVariantTakesIsOneLineListingTheShapes) {
  const Built& b = built();
  std::string o, e;
  EXPECT_EQ(test::runNpuconv(fmt::format("run '{}' --input x='{}'", b.multi.string(), b.x4.string()), &o, &e), 2) << e;
  EXPECT_NE(e.find("no shape variant of the blob takes x=4x16: it takes x=2x16 | x=3x16"), std::string::npos) << e;
  EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 1) << e;
}

TEST(MultiShapeCli, BadShapeListsAreUsageErrors) {
  const Built& b = built();
  struct Case {
    std::string options, error;
  };
  const std::vector<Case> cases = {
      {"--precision fp16 --input-shape x=2x16,3x16 --input-shape z=1,2,3",
       "\"x\" gives 2 shapes, \"z\" gives 3: give every input the same number of shapes, or one shape for all variants"},
      {"--precision fp16 --input-shape x=2x16,", "an empty shape in the list"},
      {"--precision fp16 --input-shape x=2x16,2x16", "shape variants 1 and 2 are the same"},
      {"--precision fp32 --input-shape x=2x16,3x16", "only with --precision int8 or fp16"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.options);
    std::string o, e;
    EXPECT_EQ(test::runNpuconv(fmt::format("convert '{}' -q {} -o '{}'", b.model.string(), c.options, (b.dir / "bad").string()), &o, &e), 2);
    EXPECT_NE(e.find(c.error), std::string::npos) << e;
    EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 1) << e;
  }
}

TEST(MultiShapeCli, InspectListsTheVariants) {
  const Built& b = built();
  std::string o, e;
  ASSERT_EQ(test::runNpuconv(fmt::format("inspect '{}'", b.multi.string()), &o, &e), 0) << e;
  EXPECT_NE(o.find("shape variants: 2"), std::string::npos) << o;
  EXPECT_NE(o.find("x=2x16"), std::string::npos) << o;
  EXPECT_NE(o.find("x=3x16"), std::string::npos) << o;
  ASSERT_EQ(test::runNpuconv(fmt::format("inspect '{}' --json", b.multi.string()), &o, &e), 0) << e;
  const auto j = nlohmann::json::parse(o);
  ASSERT_TRUE(j.contains("variants")) << o;
  ASSERT_EQ(j["variants"].size(), 2u);
  EXPECT_EQ(j["variants"][1]["input_shapes"], "x=3x16");
}

TEST(MultiShapeCli, DiffComparesTheVariants) {
  const Built& b = built();
  std::string o, e;
  EXPECT_EQ(test::runNpuconv(fmt::format("diff '{}' '{}'", b.multi.string(), b.multi.string()), &o, &e), 0) << o << e;
  EXPECT_EQ(test::runNpuconv(fmt::format("diff '{}' '{}' --json", b.single2.string(), b.multi.string()), &o, &e), 1) << o << e;
  const auto j = nlohmann::json::parse(o);
  ASSERT_TRUE(j.contains("variants")) << o;
  EXPECT_EQ(j["variants"]["a"].size(), 1u);
  EXPECT_EQ(j["variants"]["b"].size(), 2u);
}

// The shipped encoder (README's main job) at sequence 32 and 64 in one blob: both run (each
// calibrated at its own length from the text), the weights are stored once, and the first
// variant has that single-shape blob's ops.
TEST(MultiShapeCli, EncoderAtTwoSequenceLengths) {
  const fs::path enc = test::testdata("models/encoder");
  const fs::path dir = test::tempDir("multishape_encoder");
  auto convert = [&](const std::string& shapes, const std::string& out) {
    std::string o, e;
    EXPECT_EQ(test::runNpuconv(fmt::format("convert '{}' -q -o '{}' --precision int8 --no-bias-correction --no-equalize "
                                           "--calib-text '{}' --seq-len 32 {}",
                                           (enc / "encoder.onnx").string(), (dir / out).string(),
                                           test::testdata("text/calib_sentences.txt").string(), shapes),
                                &o, &e),
              0)
        << e;
    return dir / out / "model.npub";
  };
  const fs::path multi = convert(
      "--input-shape input_ids=1x32,1x64 --input-shape attention_mask=1x32,1x64 --input-shape token_type_ids=1x32,1x64", "multi");
  const fs::path single =
      convert("--input-shape input_ids=1x32 --input-shape attention_mask=1x32 --input-shape token_type_ids=1x32", "single");
  auto m = readBlob(multi);
  auto s = readBlob(single);
  ASSERT_TRUE(m.hasValue()) << m.status().toString();
  ASSERT_TRUE(s.hasValue()) << s.status().toString();
  ASSERT_EQ(m->variantCount(), 2u);
  auto wght = [](const LoadedBlob& l) {
    for (const BlobSectionInfo& x : l.sections)
      if (x.fourcc == "WGHT") return x.size;
    return uint64_t{0};
  };
  // Measured 2026-12-07: WGHT 359232 vs 339204 bytes (the int32 biases of the second variant's
  // own calibration and its 64-position embedding slice are its own), file 517680 vs 431240.
  EXPECT_LT(double(wght(*m)), 1.1 * double(wght(*s))) << wght(*m) << " vs " << wght(*s);
  EXPECT_LT(double(m->fileSize), 1.3 * double(s->fileSize)) << m->fileSize << " vs " << s->fileSize;
  EXPECT_EQ(m->program.ops.size(), s->program.ops.size());
  // Both variants run on inputs of their shape (ids 1 .. and a full mask).
  for (int64_t seq : {32, 64}) {
    std::vector<int64_t> ids, mask, types(static_cast<size_t>(seq), 0);
    for (int64_t i = 0; i < seq; ++i) {
      ids.push_back(1 + i % 50);
      mask.push_back(1);
    }
    const fs::path ip = dir / fmt::format("ids{}.npy", seq), mp = dir / fmt::format("mask{}.npy", seq),
                   tp = dir / fmt::format("types{}.npy", seq);
    ASSERT_TRUE(writeNpy(ip, DType::I64, std::vector<int64_t>{1, seq}, ids.data()).isOk());
    ASSERT_TRUE(writeNpy(mp, DType::I64, std::vector<int64_t>{1, seq}, mask.data()).isOk());
    ASSERT_TRUE(writeNpy(tp, DType::I64, std::vector<int64_t>{1, seq}, types.data()).isOk());
    std::string o, e;
    EXPECT_EQ(test::runNpuconv(fmt::format("run '{}' --input input_ids='{}' --input attention_mask='{}' --input token_type_ids='{}' --json",
                                           multi.string(), ip.string(), mp.string(), tp.string()),
                               &o, &e),
              0)
        << e;
    EXPECT_NE(o.find(fmt::format("\"index\":{}", seq == 32 ? 0 : 1)), std::string::npos) << o;
  }
}

}  // namespace
}  // namespace npuconv
