// Several frozen shapes in one blob (docs/blob-format.md 1.2, section VARS): the spec's minimal
// program at two spatial sizes written as one blob; each variant runs bit for bit as the
// single-shape blob of its size, the weights are stored once (WGHT as large as one variant's),
// a single-shape blob keeps the 1.1 bytes, a 1.1 reader (VARS skipped) sees variant 0, the input
// shapes select the variant, and each damage of the variant table ends in its own error. The
// damaged files are committed beside the 1.1 corpus (testdata/blobs/corrupt/vars_*.npub) and the
// 2-variant blob seeds fuzz_blob (NPUCONV_UPDATE_GOLDEN=1 rewrites them).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>

#include "converter/device/fixed_point.h"
#include "converter/device/interpreter.h"
#include "converter/support/crc32c.h"
#include "formats/blob/blob_format.h"
#include "formats/blob/blob_reader.h"
#include "formats/blob/blob_variants.h"
#include "formats/blob/blob_writer.h"
#include "tests/formats/blob_test_util.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;
using namespace device;

/// The spec's minimal program at spatial size h, without buffer reuse: x, x_q, y_q and y one
/// after the other, each 64-aligned.
Program convProgram(int64_t h) {
  test::MinimalConv c = test::minimalConvProgram(h);
  Program& p = c.program;
  uint64_t at = 0;
  for (int32_t t : {c.x, c.xq, c.yq, c.y}) {
    p.tensors[static_cast<size_t>(t)].arenaOffset = at;
    at = blob::alignUp(at + p.tensors[static_cast<size_t>(t)].byteSize(), 64);
  }
  p.memory = {at, at, at};
  return std::move(c.program);
}

std::string twoVariantBytes() {
  const Program a = convProgram(2), b = convProgram(3);
  auto s = serializeBlob(std::vector<const Program*>{&a, &b});
  EXPECT_TRUE(s.hasValue()) << s.status().toString();
  return s.hasValue() ? *s : std::string();
}

struct SectionAt {
  uint64_t entry = 0, offset = 0, size = 0;
};
SectionAt sectionOf(const std::string& s, uint32_t fourcc) {
  const uint64_t e = test::blobSectionEntry(s, fourcc);
  return {e, test::getLe(s, e + 8, 8), test::getLe(s, e + 16, 8)};
}

std::vector<npuconv::Tensor> runProgram(const Program& p, const npuconv::Tensor& x) {
  auto interp = Interpreter::create(p);
  EXPECT_TRUE(interp.hasValue()) << interp.status().toString();
  if (!interp.hasValue()) return {};
  auto out = (*interp)->run(std::vector<npuconv::Tensor>{x});
  EXPECT_TRUE(out.hasValue()) << out.status().toString();
  return out.hasValue() ? *out : std::vector<npuconv::Tensor>{};
}

npuconv::Tensor input(int64_t h) {
  std::vector<float> v;
  for (int64_t i = 0; i < h * h; ++i) v.push_back(static_cast<float>(i % 7) * 0.37f - 0.9f);
  return test::f32Tensor({1, 1, h, h}, v);
}

bool sameBytes(const npuconv::Tensor& a, const npuconv::Tensor& b) {
  return a.dims() == b.dims() && a.dtype() == b.dtype() && a.byteSize() == b.byteSize() &&
         std::memcmp(a.raw(), b.raw(), static_cast<size_t>(a.byteSize())) == 0;
}

bool updateGoldenFiles() {
  const char* e = std::getenv("NPUCONV_UPDATE_GOLDEN");
  return e && *e && std::string(e) != "0";
}

TEST(BlobVariants, EachVariantRunsBitForBitAsItsSingleShapeBlob) {
  const std::string two = twoVariantBytes();
  auto multi = test::parseBlobBytes(two);
  ASSERT_TRUE(multi.hasValue()) << multi.status().toString();
  ASSERT_EQ(multi->variantCount(), 2u);
  EXPECT_EQ(multi->versionMinor, blob::kVersionMinorSingleRounding);
  for (int64_t h : {2, 3}) {
    SCOPED_TRACE(h);
    auto single = test::parseBlobBytes(*serializeBlob(convProgram(h)));
    ASSERT_TRUE(single.hasValue()) << single.status().toString();
    EXPECT_EQ(single->versionMinor, blob::kVersionMinorSingleRounding);
    EXPECT_EQ(single->variantCount(), 1u);
    auto v = selectBlobVariant(*multi, {{"x", {1, 1, h, h}}});
    ASSERT_TRUE(v.hasValue()) << v.status().toString();
    EXPECT_EQ(*v, static_cast<size_t>(h - 2));
    const std::vector<npuconv::Tensor> a = runProgram(multi->variant(*v), input(h));
    const std::vector<npuconv::Tensor> b = runProgram(single->program, input(h));
    ASSERT_EQ(a.size(), 1u);
    ASSERT_EQ(b.size(), 1u);
    EXPECT_TRUE(sameBytes(a[0], b[0]));
  }
}

TEST(BlobVariants, WeightsAreStoredOnce) {
  const std::string two = twoVariantBytes();
  const std::string one = *serializeBlob(convProgram(2));
  EXPECT_EQ(sectionOf(two, blob::kWeights).size, sectionOf(one, blob::kWeights).size);
  auto multi = test::parseBlobBytes(two);
  ASSERT_TRUE(multi.hasValue()) << multi.status().toString();
  // The same bytes of the file, not copies.
  EXPECT_EQ(multi->variant(0).tensors[2].weight->rawBytes(), multi->variant(1).tensors[2].weight->rawBytes());
  EXPECT_EQ(multi->variant(0).tensors[3].weight->rawBytes(), multi->variant(1).tensors[3].weight->rawBytes());
  // The second variant adds its VARS section only: far less than a second copy of every section.
  EXPECT_LT(two.size(), 2 * one.size());
  EXPECT_EQ(multi->program.quant.size(), multi->variant(1).quant.size()) << "quantization records shared";
}

TEST(BlobVariants, DeterministicAndASingleShapeKeepsThe11Bytes) {
  EXPECT_EQ(twoVariantBytes(), twoVariantBytes());
  Program p = convProgram(2);
  EXPECT_EQ(*serializeBlob(std::vector<const Program*>{&p}), *serializeBlob(p));
  // A program that rounds once is a 1.3 file; one that rounds twice keeps the bytes of 1.1 (one
  // shape) and 1.2 (several).
  EXPECT_EQ(test::getLe(*serializeBlob(p), blob::kOffMinor, 2), blob::kVersionMinorSingleRounding);
  EXPECT_EQ(test::getLe(twoVariantBytes(), blob::kOffMinor, 2), blob::kVersionMinorSingleRounding);
  p.requantRounding = device::Rounding::Double;
  const std::string one = *serializeBlob(p);
  EXPECT_EQ(test::getLe(one, blob::kOffMinor, 2), blob::kVersionMinor);
  EXPECT_EQ(test::getLe(one, blob::kOffFlags, 4), blob::kHeaderFlagHasDebugNames);
  Program q = convProgram(3);
  q.requantRounding = device::Rounding::Double;
  const std::string two = *serializeBlob(std::vector<const Program*>{&p, &q});
  EXPECT_EQ(test::getLe(two, blob::kOffMinor, 2), blob::kVersionMinorVariants);
  // The rounding is one header flag: variants must agree on it.
  q.requantRounding = device::Rounding::Single;
  EXPECT_FALSE(serializeBlob(std::vector<const Program*>{&p, &q}).hasValue());
  // VARS is optional (not critical) and follows the 1.1 sections.
  const SectionAt vars = sectionOf(two, blob::kVariants);
  EXPECT_EQ(test::getLe(two, vars.entry + 4, 4), 0u);
}

TEST(BlobVariants, A11ReaderSkippingVarsSeesVariant0) {
  // What a 1.1 reader does: VARS is an unknown optional section to it.
  std::string s = twoVariantBytes();
  test::putLe(s, sectionOf(s, blob::kVariants).entry, blob::fourcc('X', 'A', 'R', 'S'), 4);
  test::resealBlobCrcs(s);
  auto r = test::parseBlobBytes(s);
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  EXPECT_EQ(r->variantCount(), 1u);
  EXPECT_EQ(r->skippedSections, std::vector<std::string>{"XARS"});
  const std::vector<npuconv::Tensor> a = runProgram(r->program, input(2));
  const std::vector<npuconv::Tensor> b = runProgram(convProgram(2), input(2));
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_TRUE(sameBytes(a[0], b[0]));
}

TEST(BlobVariants, AShapeNoVariantTakesIsOneLineListingTheShapes) {
  auto multi = test::parseBlobBytes(twoVariantBytes());
  ASSERT_TRUE(multi.hasValue()) << multi.status().toString();
  auto v = selectBlobVariant(*multi, {{"x", {1, 1, 4, 4}}});
  ASSERT_FALSE(v.hasValue());
  EXPECT_EQ(v.status().code(), StatusCode::InvalidArgument);
  EXPECT_EQ(v.status().message(), "no shape variant of the blob takes x=1x1x4x4: it takes x=1x1x2x2 | x=1x1x3x3");
}

TEST(BlobVariants, TooManyVariantsIsAnError) {
  std::vector<Program> ps;
  for (int64_t h = 1; h <= static_cast<int64_t>(blob::kMaxVariants) + 1; ++h) ps.push_back(convProgram(h));
  std::vector<const Program*> ptrs;
  for (const Program& p : ps) ptrs.push_back(&p);
  auto s = serializeBlob(ptrs);
  ASSERT_FALSE(s.hasValue());
  EXPECT_EQ(s.status().code(), StatusCode::InvalidArgument);
}

// --- damaged variant tables ---------------------------------------------------------------------

struct VarsDamage {
  std::string name;
  std::function<void(std::string&, uint64_t vars)> apply;  // vars: the VARS payload's offset
  std::string error;
};

/// Offsets inside VARS: the count at 0, record v at 8 + 88 v; a record's parts at +8 (TENS),
/// +24 (OPS), +40 (IOSG), +56 (DBUG), each offset then size.
constexpr uint64_t kRec1 = 8 + blob::kVariantRecordSize;

TEST(BlobVariants, DamagedVariantTablesEachEndInTheirOwnError) {
  const std::string good = twoVariantBytes();
  ASSERT_FALSE(good.empty());
  const std::vector<VarsDamage> corpus = {
      {"vars_huge_count", [](std::string& s, uint64_t v) { test::putLe(s, v, 0xFFFFFFFF, 4); }, "variant count 4294967295 exceeds the limit"},
      {"vars_one_variant", [](std::string& s, uint64_t v) { test::putLe(s, v, 1, 4); }, "a VARS section holds at least 2 variants"},
      {"vars_reserved", [](std::string& s, uint64_t v) { test::putLe(s, v + 4, 7, 4); }, "reserved field reserved is 7"},
      {"vars_variant0_not_zero", [](std::string& s, uint64_t v) { test::putLe(s, v + 8 + 8, 64, 8); }, "variant 0 stands for the top-level sections"},
      {"vars_record_size", [](std::string& s, uint64_t v) { test::putLe(s, v + kRec1, 12, 4); }, "variant 1: record_size 12 out of range"},
      {"vars_part_misaligned", [](std::string& s, uint64_t v) { test::putLe(s, v + kRec1 + 24, test::getLe(s, v + kRec1 + 24, 8) + 4, 8); },
       "variant 1 OPS: offset"},
      {"vars_part_outside", [](std::string& s, uint64_t v) { test::putLe(s, v + kRec1 + 40, uint64_t{1} << 40, 8); },
       "variant 1 IOSG: [1099511627776, +"},
      {"vars_part_huge_size", [](std::string& s, uint64_t v) { test::putLe(s, v + kRec1 + 16, ~uint64_t{0}, 8); },
       "variant 1 TENS: ["},
      {"vars_part_in_table", [](std::string& s, uint64_t v) { test::putLe(s, v + kRec1 + 8, 8, 8); }, "lies outside the section's parts"},
      {"vars_parts_overlap", [](std::string& s, uint64_t v) { test::putLe(s, v + kRec1 + 24, test::getLe(s, v + kRec1 + 8, 8), 8); },
       "variant parts overlap"},
      {"vars_debug_missing", [](std::string& s, uint64_t v) { test::putLe(s, v + kRec1 + 64, 0, 8); },
       "variant 1 DBUG: present iff the header flag has_debug_names is set"},
      {"vars_tensor_count",
       [](std::string& s, uint64_t v) { test::putLe(s, v + test::getLe(s, v + kRec1 + 8, 8), 0x00FFFFFF, 4); }, "section VARS[1].TENS: "},
      {"vars_weight_outside_wght",
       [](std::string& s, uint64_t v) {
         // Tensor 2 (conv.weight) of variant 1: its offset field (record at 8 + 2 * 104, field at 88).
         test::putLe(s, v + test::getLe(s, v + kRec1 + 8, 8) + 8 + 2 * 104 + 88, 4096, 8);
       },
       "weight range [4096, +2) is misaligned or outside WGHT"},
      {"vars_op_tensor_index",
       [](std::string& s, uint64_t v) { test::putLe(s, v + test::getLe(s, v + kRec1 + 24, 8) + 8 + 4 + 44, 99, 4); },
       "tensor index 99 out of range"},
      {"vars_io_name_differs",
       [](std::string& s, uint64_t v) {
         // Variant 1's input binds the string of "y" (the output's name) instead of "x".
         const uint64_t io = v + test::getLe(s, v + kRec1 + 40, 8);
         test::putLe(s, io + 24 + 4, test::getLe(s, io + 24 + 16 + 4, 4), 4);
       },
       "variant 1 binds \"y\" unlike variant 0 (\"x\")"},
      {"vars_same_shapes",
       [](std::string& s, uint64_t v) {
         // Variant 1's x claims variant 0's dims [1,1,2,2] (sizes kept consistent: x is 36 -> 16 bytes).
         const uint64_t t = v + test::getLe(s, v + kRec1 + 8, 8) + 8;
         test::putLe(s, t + 16 + 16, 2, 8);
         test::putLe(s, t + 16 + 24, 2, 8);
         test::putLe(s, t + 96, 16, 8);
       },
       "variants 0 and 1 take the same input shapes"},
  };
  const fs::path dir = test::sourceDir() / "testdata/blobs/corrupt";
  for (const VarsDamage& d : corpus) {
    SCOPED_TRACE(d.name);
    std::string s = good;
    d.apply(s, sectionOf(s, blob::kVariants).offset);
    test::resealBlobCrcs(s);
    auto r = test::parseBlobBytes(s);
    ASSERT_FALSE(r.hasValue()) << "accepted";
    EXPECT_EQ(r.status().code(), StatusCode::InvalidModel);
    EXPECT_NE(r.status().message().find(d.error), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << "one line";
    if (updateGoldenFiles()) {
      fs::create_directories(dir);
      std::ofstream(dir / (d.name + ".npub"), std::ios::binary) << s;
    }
    EXPECT_EQ(test::slurp(dir / (d.name + ".npub")), s) << "committed corpus file differs";
  }
  const fs::path seed = test::sourceDir() / "tests/fuzz/corpus/fuzz_blob/minimal_2_variants.npub";
  if (updateGoldenFiles()) std::ofstream(seed, std::ios::binary) << good;
  EXPECT_EQ(test::slurp(seed), good) << "the fuzz seed differs from the writer's bytes";
}

}  // namespace
}  // namespace npuconv
