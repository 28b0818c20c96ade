// The device blob format (docs/blob-format.md): CRC-32C check value, the worked requantization
// number, writer determinism and round trip, the minimal blob against its committed golden file
// and the spec's hex dump (NPUCONV_UPDATE_GOLDEN=1 rewrites both from the writer), and the
// corrupted-blob corpus: each damage ends in its own defined error.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "converter/device/fixed_point.h"
#include "converter/device/interpreter.h"
#include "converter/support/crc32c.h"
#include "formats/blob/blob_dump.h"
#include "formats/blob/blob_format.h"
#include "formats/blob/blob_reader.h"
#include "formats/blob/blob_writer.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;
using namespace device;

/// The spec's minimal blob: x f32[1,1,2,2] -> Quantize -> 1x1 QConv (2 weights, per-channel,
/// fused Relu) -> Dequantize -> y f32[1,2,2,2].
Program minimalProgram() {
  Program p;
  const int32_t qx = p.addQuant({-1, {0.02f}, {128}});
  const int32_t qw = p.addQuant({0, {0.01f, 0.005f}, {0, 0}});
  const int32_t qb = p.addQuant({0, {0.0002f, 0.0001f}, {0, 0}});
  const int32_t qy = p.addQuant({-1, {0.05f}, {0}});
  const int32_t x = p.addTensor({"x", DType::F32, {1, 1, 2, 2}, Layout::NCHW, -1, Storage::Activation, 0, nullptr});
  const int32_t xq = p.addTensor({"x_q", DType::U8, {1, 1, 2, 2}, Layout::NCHW, qx, Storage::Activation, 0, nullptr});
  const std::vector<int8_t> wv = {100, -50};
  const int32_t w = p.addTensor({"conv.weight", DType::I8, {2, 1, 1, 1}, Layout::OIHW, qw, Storage::Weight, 0,
                                 std::make_shared<const TensorData>(TensorData::fromValues<int8_t>(DType::I8, {2, 1, 1, 1}, std::span<const int8_t>(wv)))});
  const std::vector<int32_t> bv = {500, -250};
  const int32_t b = p.addTensor({"conv.bias", DType::I32, {2}, Layout::Any, qb, Storage::Weight, 0,
                                 std::make_shared<const TensorData>(TensorData::fromValues<int32_t>(DType::I32, {2}, std::span<const int32_t>(bv)))});
  const int32_t yq = p.addTensor({"y_q", DType::U8, {1, 2, 2, 2}, Layout::NCHW, qy, Storage::Activation, 0, nullptr});
  const int32_t y = p.addTensor({"y", DType::F32, {1, 2, 2, 2}, Layout::NCHW, -1, Storage::Activation, 0, nullptr});
  Op quant;
  quant.code = OpCode::Quantize;
  quant.type = "Quantize";
  quant.inputs = {x};
  quant.outputs = {xq};
  quant.name = "x_QuantizeLinear";
  Op conv;
  conv.code = OpCode::Conv;
  conv.type = "QConv";
  conv.inputs = {xq, w, b};
  conv.outputs = {yq};
  conv.name = "conv";
  conv.provenance = {"conv", "relu"};
  conv.act = FusedActivation::Relu;
  conv.actMin = 0;
  conv.actMax = 255;
  const FixedMultiplier m0 = quantizeMultiplier(0.02 * 0.01 / 0.05), m1 = quantizeMultiplier(0.02 * 0.005 / 0.05);
  conv.attrs = {{"strides", AttrKind::Ints, {1, 1}, {}, {}},
                {"pads", AttrKind::Ints, {0, 0, 0, 0}, {}, {}},
                {"dilations", AttrKind::Ints, {1, 1}, {}, {}},
                {"group", AttrKind::Int, {1}, {}, {}},
                {"multiplier", AttrKind::Ints, {m0.multiplier, m1.multiplier}, {}, {}},
                {"shift", AttrKind::Ints, {m0.shift, m1.shift}, {}, {}}};
  Op deq;
  deq.code = OpCode::Dequantize;
  deq.type = "Dequantize";
  deq.inputs = {yq};
  deq.outputs = {y};
  deq.name = "y_DequantizeLinear";
  p.ops = {quant, conv, deq};
  p.inputs = {{x, "x", false}};
  p.outputs = {{y, "y", false}};
  p.memory = {128, 192, 128};
  p.tensors[static_cast<size_t>(x)].arenaOffset = 0;
  p.tensors[static_cast<size_t>(xq)].arenaOffset = 64;
  p.tensors[static_cast<size_t>(yq)].arenaOffset = 0;
  p.tensors[static_cast<size_t>(y)].arenaOffset = 64;
  p.onnxOpset = 17;
  p.provenance = {{"npuconv_version", "0.1.0"}, {"source_model", "minimal.onnx"}};
  return p;
}

std::string minimalBytes() {
  auto b = serializeBlob(minimalProgram());
  EXPECT_TRUE(b.hasValue()) << b.status().toString();
  return b.hasValue() ? *b : std::string();
}

Expected<LoadedBlob> parse(const std::string& bytes) {
  auto owner = std::make_shared<std::string>(bytes);
  return parseBlob(owner, reinterpret_cast<const std::byte*>(owner->data()), owner->size(), "blob");
}

bool updateGolden() {
  const char* e = std::getenv("NPUCONV_UPDATE_GOLDEN");
  return e && std::string(e) == "1";
}

TEST(BlobFormat, Crc32cCheckValue) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  EXPECT_EQ(crc32c("56789", 5, crc32c("1234", 4)), 0xE3069283u);  // continues
}

TEST(BlobFormat, WorkedRequantNumber) {
  // docs/blob-format.md, "Requantization": M = 0.02 * 0.01 / 0.05 = 0.004.
  const FixedMultiplier f = quantizeMultiplier(0.004);
  EXPECT_EQ(f.multiplier, 1099511628);
  EXPECT_EQ(f.shift, -7);
  EXPECT_EQ(multiplyByQuantizedMultiplier(1234, f), 5);    // 4.936
  EXPECT_EQ(multiplyByQuantizedMultiplier(-1234, f), -5);
  EXPECT_EQ(multiplyByQuantizedMultiplier(1000, f), 4);
  EXPECT_EQ(multiplyByQuantizedMultiplier(7, quantizeMultiplier(1.0)), 7);
  EXPECT_EQ(multiplyByQuantizedMultiplier(5, quantizeMultiplier(2.5)), 13);  // 12.5 rounds away from zero
}

TEST(BlobFormat, DeterministicRoundTrip) {
  const std::string a = minimalBytes(), b = minimalBytes();
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a, b);
  auto blob = parse(a);
  ASSERT_TRUE(blob.hasValue()) << blob.status().toString();
  const Program& p = blob->program;
  const Program want = minimalProgram();
  ASSERT_EQ(p.tensors.size(), want.tensors.size());
  for (size_t i = 0; i < p.tensors.size(); ++i) {
    EXPECT_EQ(p.tensors[i].name, want.tensors[i].name);
    EXPECT_EQ(p.tensors[i].dims, want.tensors[i].dims);
    EXPECT_EQ(p.tensors[i].quant, want.tensors[i].quant);
  }
  EXPECT_EQ(p.quant, want.quant);
  ASSERT_EQ(p.ops.size(), 3u);
  EXPECT_EQ(p.ops[1].attrs, want.ops[1].attrs);
  EXPECT_EQ(p.ops[1].provenance, want.ops[1].provenance);
  EXPECT_EQ(p.provenance, want.provenance);
  EXPECT_EQ(p.memory.arenaBytes, 128u);
  EXPECT_EQ(p.memory.maxLiveBytes, 128u);
  // No weight copy: the weight views the parsed bytes.
  auto owner = std::make_shared<std::string>(a);
  auto viewed = parseBlob(owner, reinterpret_cast<const std::byte*>(owner->data()), owner->size(), "blob");
  ASSERT_TRUE(viewed.hasValue());
  const std::byte* w = viewed->program.tensors[2].weight->bytes();
  EXPECT_TRUE(w >= reinterpret_cast<const std::byte*>(owner->data()) && w < reinterpret_cast<const std::byte*>(owner->data()) + owner->size());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w) % 64, reinterpret_cast<uintptr_t>(owner->data()) % 64);
  auto again = serializeBlob(p);
  ASSERT_TRUE(again.hasValue());
  EXPECT_EQ(*again, a) << "read then written back: the same bytes";
  // It runs: x = [-1, 0, 0.5, 1] -> q = [78, 128, 153, 178].
  auto interp = Interpreter::create(p);
  ASSERT_TRUE(interp.hasValue()) << interp.status().toString();
  std::vector<float> xv = {-1, 0, 0.5f, 1};
  auto out = (*interp)->run({npuconv::Tensor::fromValues<float>(DType::F32, {1, 1, 2, 2}, std::span<const float>(xv))});
  ASSERT_TRUE(out.hasValue()) << out.status().toString();
  auto y = (*out)[0].span<float>();
  // Channel 0: acc = 500 + 100 (q - 128); y = relu(acc * 0.0002) snapped to 0.05 steps.
  EXPECT_FLOAT_EQ(y[0], 0.0f);          // acc -4500 -> clamped at zp 0
  EXPECT_FLOAT_EQ(y[1], 0.1f);          // acc 500 -> 0.1
  EXPECT_FLOAT_EQ(y[3], 0.05f * 22);    // acc 5500 -> 1.1
  EXPECT_FLOAT_EQ(y[4], 0.25f);         // channel 1: acc 2250 -> 4.5 rounds away from zero to 5
  EXPECT_FLOAT_EQ(y[5], 0.0f);          // acc -250 -> -0.5 -> relu 0
}

TEST(BlobFormat, MinimalBlobMatchesGoldenFileAndSpecHexDump) {
  const std::string bytes = minimalBytes();
  const fs::path golden = test::sourceDir() / "testdata/blobs/minimal.npub";
  const fs::path spec = test::sourceDir() / "docs/blob-format.md";
  const std::string hex = hexDump(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size());
  const std::string begin = "<!-- minimal-blob-hexdump:begin (tests/formats/blob_test.cc writes this) -->\n```\n";
  const std::string end = "```\n<!-- minimal-blob-hexdump:end -->";
  std::string doc = test::slurp(spec);
  size_t b = doc.find(begin), e = doc.find(end);
  ASSERT_NE(b, std::string::npos) << "docs/blob-format.md lacks the hex dump markers";
  ASSERT_NE(e, std::string::npos);
  if (updateGolden()) {
    std::ofstream(golden, std::ios::binary) << bytes;
    doc = doc.substr(0, b + begin.size()) + hex + doc.substr(e);
    std::ofstream(spec, std::ios::binary) << doc;
    e = doc.find(end);
  }
  EXPECT_EQ(test::slurp(golden), bytes) << "the writer changed: NPUCONV_UPDATE_GOLDEN=1 and review the diff";
  EXPECT_EQ(doc.substr(b + begin.size(), e - b - begin.size()), hex) << "docs/blob-format.md's hex dump drifted";
  std::string printed, err;
  ASSERT_EQ(test::runCommand(fmt::format("'{}' inspect '{}' --hex", test::npuconvBinary(), golden.string()), &printed, &err), 0) << err;
  EXPECT_EQ(printed, hex) << "npuconv inspect --hex differs from the spec's dump";
  auto loaded = readBlob(golden);
  ASSERT_TRUE(loaded.hasValue()) << loaded.status().toString();
  EXPECT_NE(renderBlob(*loaded).find("conv  <- conv, relu"), std::string::npos) << renderBlob(*loaded);
  EXPECT_EQ(blobToJson(*loaded)["ops"][1]["placement"], "npu");
}

TEST(BlobFormat, Version1_0BlobStillReads) {
  // minimal.npub as the 1.0 writer wrote it (minor 0, no SHA-256 in PROV): minor versions are
  // additive, so this reader takes it and it runs as before.
  auto old = readBlob(test::sourceDir() / "testdata/blobs/minimal_v1_0.npub");
  ASSERT_TRUE(old.hasValue()) << old.status().toString();
  EXPECT_EQ(old->versionMinor, 0);
  EXPECT_EQ(old->program.provenance, minimalProgram().provenance);
  auto now = parse(minimalBytes());
  ASSERT_TRUE(now.hasValue());
  EXPECT_EQ(now->versionMinor, blob::kVersionMinor);
  EXPECT_TRUE(Interpreter::create(old->program).hasValue());
}

TEST(BlobFormat, MultiLineProvenanceValueIsShownLineByLine) {
  // PROV source_external_data_sha256 holds sha256sum's lines, one per external data file.
  Program p = minimalProgram();
  p.provenance.push_back({"source_external_data_sha256", "aa  a.bin\nbb  w/b.bin"});
  auto loaded = parse(*serializeBlob(p));
  ASSERT_TRUE(loaded.hasValue()) << loaded.status().toString();
  const std::string text = renderBlob(*loaded);
  EXPECT_NE(text.find("  source_model: minimal.onnx\n  source_external_data_sha256:\n    aa  a.bin\n    bb  w/b.bin\n"),
            std::string::npos) << text;
  EXPECT_EQ(blobToJson(*loaded)["provenance"]["source_external_data_sha256"], "aa  a.bin\nbb  w/b.bin");
}

// --- the corrupted-blob corpus ------------------------------------------------------------------

uint64_t getLe(const std::string& s, size_t off, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t(uint8_t(s[off + static_cast<size_t>(i)])) << (8 * i);
  return v;
}
/// Recomputes every section CRC and the header CRC: damage that the CRCs must not hide.
void refreshCrcs(std::string& s) {
  const uint32_t count = static_cast<uint32_t>(getLe(s, blob::kOffSectionCount, 4));
  const uint64_t table = getLe(s, blob::kOffSectionTable, 8);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t e = table + size_t{i} * 32;
    const uint64_t off = getLe(s, e + 8, 8), size = getLe(s, e + 16, 8);
    if (off + size <= s.size()) test::putLe(s, e + 24, crc32c(s.data() + off, size), 4);
  }
  test::putLe(s, blob::kOffHeaderCrc, 0, 4);
  test::putLe(s, blob::kOffHeaderCrc, crc32c(s.data(), table + size_t{count} * 32), 4);
}
size_t sectionEntry(const std::string& s, uint32_t fourcc) {
  const uint64_t table = getLe(s, blob::kOffSectionTable, 8);
  for (size_t i = 0;; ++i)
    if (getLe(s, table + i * 32, 4) == fourcc) return table + i * 32;
}

struct Damage {
  std::string name;
  std::function<void(std::string&)> apply;
  std::string error;  // a substring of the defined error
};

TEST(BlobFormat, CorruptedBlobsEachEndInTheirDefinedError) {
  const std::string good = minimalBytes();
  const std::vector<Damage> corpus = {
      {"empty", [](std::string& s) { s.clear(); }, "truncated: 0 bytes"},
      {"truncated", [](std::string& s) { s.resize(s.size() - 10); }, "file_size field says"},
      {"bad_magic", [](std::string& s) { s[3] = 'X'; }, "bad magic"},
      {"text_mode_transfer", [](std::string& s) { s.erase(4, 1); }, "bad magic"},
      {"big_endian_bom", [](std::string& s) { test::putLe(s, blob::kOffBom, blob::kByteOrderMarkSwapped, 4); }, "written big-endian"},
      {"major_2", [](std::string& s) { test::putLe(s, blob::kOffMajor, 2, 2); refreshCrcs(s); },
       fmt::format("format version 2.{}: this reader reads major version 1 only", blob::kVersionMinor)},
      {"header_crc", [](std::string& s) { s[blob::kHeaderSize + 24] ^= 1; }, "header CRC-32C mismatch"},
      {"reserved_header", [](std::string& s) { s[blob::kOffReserved + 3] = 1; refreshCrcs(s); }, "header reserved byte 51"},
      {"unknown_header_flag", [](std::string& s) { test::putLe(s, blob::kOffFlags, 0x80, 4); refreshCrcs(s); }, "unknown bits"},
      {"weight_bit_flip", [](std::string& s) { s[getLe(s, sectionEntry(s, blob::kWeights) + 8, 8)] ^= 0x10; }, "section WGHT: CRC-32C mismatch"},
      {"huge_tensor_count",
       [](std::string& s) { test::putLe(s, getLe(s, sectionEntry(s, blob::kTensors) + 8, 8), 0x00FFFFFF, 4); refreshCrcs(s); },
       "do not fit"},
      {"huge_string_count",
       [](std::string& s) { test::putLe(s, getLe(s, sectionEntry(s, blob::kStrings) + 8, 8), 0xFFFFFFFF, 4); refreshCrcs(s); },
       "string count 4294967295 exceeds the limit"},
      {"overlapping_sections",
       [](std::string& s) {
         const size_t ops = sectionEntry(s, blob::kOps), tens = sectionEntry(s, blob::kTensors);
         test::putLe(s, ops + 8, getLe(s, tens + 8, 8), 8);
         refreshCrcs(s);
       },
       "sections overlap"},
      {"section_past_end",
       [](std::string& s) { test::putLe(s, sectionEntry(s, blob::kWeights) + 16, uint64_t{1} << 62, 8); refreshCrcs(s); },
       "lies outside the file"},
      {"misaligned_section",
       [](std::string& s) { test::putLe(s, sectionEntry(s, blob::kOps) + 8, getLe(s, sectionEntry(s, blob::kOps) + 8, 8) + 4, 8); refreshCrcs(s); },
       "is not a multiple of 64"},
      {"unknown_critical_section",
       [](std::string& s) { test::putLe(s, sectionEntry(s, blob::kMetadata), blob::fourcc('X', 'Y', 'Z', 'W'), 4);
                            test::putLe(s, sectionEntry(s, blob::fourcc('X', 'Y', 'Z', 'W')) + 4, 1, 4); refreshCrcs(s); },
       "unknown critical section XYZW"},
      {"bad_dtype",
       [](std::string& s) { test::putLe(s, getLe(s, sectionEntry(s, blob::kTensors) + 8, 8) + 8 + 4, 99, 4); refreshCrcs(s); },
       "unknown dtype code 99"},
      {"tensor_index_out_of_range",
       [](std::string& s) {
         const size_t ops = getLe(s, sectionEntry(s, blob::kOps) + 8, 8);
         test::putLe(s, ops + 8 + 4 + 44, 77, 4);  // the first op's first input
         refreshCrcs(s);
       },
       "tensor index 77 out of range"},
      {"bad_opcode",
       [](std::string& s) { test::putLe(s, getLe(s, sectionEntry(s, blob::kOps) + 8, 8) + 8 + 4, 4242, 4); refreshCrcs(s); },
       "unknown op code 4242"},
      {"string_index_out_of_range",
       [](std::string& s) { test::putLe(s, getLe(s, sectionEntry(s, blob::kTensors) + 8, 8) + 8, 100000, 4); refreshCrcs(s); },
       "tensor name string index 100000 out of range"},
      {"debug_flag_without_dbug",
       [](std::string& s) { test::putLe(s, sectionEntry(s, blob::kDebugNames), blob::fourcc('X', 'D', 'B', 'G'), 4); refreshCrcs(s); },
       "has_debug_names disagrees"},
      {"non_zero_padding", [](std::string& s) { s[getLe(s, sectionEntry(s, blob::kWeights) + 8, 8) - 1] = 1; }, "padding byte"},
      {"missing_critical_section",
       [](std::string& s) {
         const size_t e = sectionEntry(s, blob::kIoSignature);
         test::putLe(s, e, blob::fourcc('i', 'o', 's', 'g'), 4);
         test::putLe(s, e + 4, 0, 4);  // optional: skipped, so IOSG is missing
         refreshCrcs(s);
       },
       "critical section IOSG is missing"},
  };
  const fs::path dir = test::sourceDir() / "testdata/blobs/corrupt";
  for (const Damage& d : corpus) {
    SCOPED_TRACE(d.name);
    std::string s = good;
    d.apply(s);
    auto r = parse(s);
    ASSERT_FALSE(r.hasValue()) << "accepted";
    EXPECT_EQ(r.status().code(), StatusCode::InvalidModel);
    EXPECT_NE(r.status().message().find(d.error), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << "one line";
    if (updateGolden()) {
      fs::create_directories(dir);
      std::ofstream(dir / (d.name + ".npub"), std::ios::binary) << s;
    }
    EXPECT_EQ(test::slurp(dir / (d.name + ".npub")), s) << "committed corpus file differs";
  }
  // An unknown optional section is skipped.
  std::string s = good;
  test::putLe(s, sectionEntry(s, blob::kMetadata), blob::fourcc('X', 'O', 'P', 'T'), 4);
  refreshCrcs(s);
  auto r = parse(s);
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  EXPECT_EQ(r->skippedSections, std::vector<std::string>{"XOPT"});
}

}  // namespace
}  // namespace npuconv
