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
#include "converter/device/int_gemm.h"
#include "converter/device/interpreter.h"
#include "converter/support/crc32c.h"
#include "formats/blob/blob_dump.h"
#include "formats/blob/blob_format.h"
#include "formats/blob/blob_reader.h"
#include "formats/blob/blob_writer.h"
#include "tests/formats/blob_test_util.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;
using namespace device;

/// The spec's minimal blob (test::minimalConvProgram at 2x2) with the spec's arena plan: x_q and y
/// reuse the bytes of x and y_q.
Program minimalProgram() {
  test::MinimalConv c = test::minimalConvProgram(2);
  Program& p = c.program;
  p.memory = {128, 192, 128};
  p.tensors[static_cast<size_t>(c.x)].arenaOffset = 0;
  p.tensors[static_cast<size_t>(c.xq)].arenaOffset = 64;
  p.tensors[static_cast<size_t>(c.yq)].arenaOffset = 0;
  p.tensors[static_cast<size_t>(c.y)].arenaOffset = 64;
  return std::move(c.program);
}

std::string minimalBytes() {
  auto b = serializeBlob(minimalProgram());
  EXPECT_TRUE(b.hasValue()) << b.status().toString();
  return b.hasValue() ? *b : std::string();
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
  auto blob = test::parseBlobBytes(a);
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
  auto now = test::parseBlobBytes(minimalBytes());
  ASSERT_TRUE(now.hasValue());
  EXPECT_EQ(now->versionMinor, blob::kVersionMinorSingleRounding);
  // Before 1.3 every blob rounded twice; it still does.
  EXPECT_EQ(old->program.requantRounding, device::Rounding::Double);
  EXPECT_EQ(now->program.requantRounding, device::Rounding::Single);
  EXPECT_TRUE(Interpreter::create(old->program).hasValue());
}

TEST(BlobFormat, HeaderFlagSelectsTheRequantizationRounding) {
  // Channel 0 of the minimal Conv with M = 0.0024998 (multiplier 1374279584, shift -8): x = 0.02
  // quantizes to 129, acc = 500 + 100 * 1 = 600, 600 * M = 1.49988. Rounded once: 1 (y = 0.05);
  // twice, the high multiply gives 384 = 1.5 * 2^8, which rounds away to 2 (y = 0.1). The flag
  // travels through the file into every ISA's kernels.
  auto program = [](device::Rounding r) {
    Program p = minimalProgram();
    const FixedMultiplier m0 = quantizeMultiplier(0.0024998), m1 = quantizeMultiplier(0.02 * 0.005 / 0.05);
    for (Attr& a : p.ops[1].attrs) {
      if (a.name == "multiplier") a.ints = {m0.multiplier, m1.multiplier};
      if (a.name == "shift") a.ints = {m0.shift, m1.shift};
    }
    p.requantRounding = r;
    return p;
  };
  for (device::Rounding r : {device::Rounding::Single, device::Rounding::Double}) {
    auto bytes = serializeBlob(program(r));
    ASSERT_TRUE(bytes.hasValue()) << bytes.status().toString();
    auto loaded = test::parseBlobBytes(*bytes);
    ASSERT_TRUE(loaded.hasValue()) << loaded.status().toString();
    EXPECT_EQ(loaded->program.requantRounding, r);
    for (Int8Isa isa : {Int8Isa::Scalar, Int8Isa::Avx2, Int8Isa::AvxVnni, Int8Isa::Avx512Vnni}) {
      if (!device::int8IsaAvailable(isa)) continue;
      SCOPED_TRACE(fmt::format("{} rounding, {}", device::roundingName(r), device::int8IsaName(isa)));
      InterpreterOptions o;
      o.isa = isa;
      auto interp = Interpreter::create(loaded->program, o);
      ASSERT_TRUE(interp.hasValue()) << interp.status().toString();
      std::vector<float> xv = {0.02f, 0, 0, 0};
      auto out = (*interp)->run({npuconv::Tensor::fromValues<float>(DType::F32, {1, 1, 2, 2}, std::span<const float>(xv))});
      ASSERT_TRUE(out.hasValue()) << out.status().toString();
      EXPECT_FLOAT_EQ((*out)[0].span<float>()[0], r == device::Rounding::Single ? 0.05f : 0.1f);
    }
  }
}

TEST(BlobFormat, MultiLineProvenanceValueIsShownLineByLine) {
  // PROV source_external_data_sha256 holds sha256sum's lines, one per external data file.
  Program p = minimalProgram();
  p.provenance.push_back({"source_external_data_sha256", "aa  a.bin\nbb  w/b.bin"});
  auto loaded = test::parseBlobBytes(*serializeBlob(p));
  ASSERT_TRUE(loaded.hasValue()) << loaded.status().toString();
  const std::string text = renderBlob(*loaded);
  EXPECT_NE(text.find("  source_model: minimal.onnx\n  source_external_data_sha256:\n    aa  a.bin\n    bb  w/b.bin\n"),
            std::string::npos) << text;
  EXPECT_EQ(blobToJson(*loaded)["provenance"]["source_external_data_sha256"], "aa  a.bin\nbb  w/b.bin");
}

// --- the corrupted-blob corpus ------------------------------------------------------------------

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
      {"major_2", [](std::string& s) { test::putLe(s, blob::kOffMajor, 2, 2); test::resealBlobCrcs(s); },
       fmt::format("format version 2.{}: this reader reads major version 1 only", blob::kVersionMinorSingleRounding)},
      {"header_crc", [](std::string& s) { s[blob::kHeaderSize + 24] ^= 1; }, "header CRC-32C mismatch"},
      {"reserved_header", [](std::string& s) { s[blob::kOffReserved + 3] = 1; test::resealBlobCrcs(s); }, "header reserved byte 51"},
      {"unknown_header_flag", [](std::string& s) { test::putLe(s, blob::kOffFlags, 0x80, 4); test::resealBlobCrcs(s); }, "unknown bits"},
      {"single_rounding_before_1_3", [](std::string& s) { test::putLe(s, blob::kOffMinor, 2, 2); test::resealBlobCrcs(s); },
       "header flag requant_single_rounding needs format 1.3 or later"},
      {"weight_bit_flip", [](std::string& s) { s[test::getLe(s, test::blobSectionEntry(s, blob::kWeights) + 8, 8)] ^= 0x10; }, "section WGHT: CRC-32C mismatch"},
      {"huge_tensor_count",
       [](std::string& s) { test::putLe(s, test::getLe(s, test::blobSectionEntry(s, blob::kTensors) + 8, 8), 0x00FFFFFF, 4); test::resealBlobCrcs(s); },
       "do not fit"},
      {"huge_string_count",
       [](std::string& s) { test::putLe(s, test::getLe(s, test::blobSectionEntry(s, blob::kStrings) + 8, 8), 0xFFFFFFFF, 4); test::resealBlobCrcs(s); },
       "string count 4294967295 exceeds the limit"},
      {"overlapping_sections",
       [](std::string& s) {
         const size_t ops = test::blobSectionEntry(s, blob::kOps), tens = test::blobSectionEntry(s, blob::kTensors);
         test::putLe(s, ops + 8, test::getLe(s, tens + 8, 8), 8);
         test::resealBlobCrcs(s);
       },
       "sections overlap"},
      {"section_past_end",
       [](std::string& s) { test::putLe(s, test::blobSectionEntry(s, blob::kWeights) + 16, uint64_t{1} << 62, 8); test::resealBlobCrcs(s); },
       "lies outside the file"},
      {"misaligned_section",
       [](std::string& s) { test::putLe(s, test::blobSectionEntry(s, blob::kOps) + 8, test::getLe(s, test::blobSectionEntry(s, blob::kOps) + 8, 8) + 4, 8); test::resealBlobCrcs(s); },
       "is not a multiple of 64"},
      {"unknown_critical_section",
       [](std::string& s) { test::putLe(s, test::blobSectionEntry(s, blob::kMetadata), blob::fourcc('X', 'Y', 'Z', 'W'), 4);
                            test::putLe(s, test::blobSectionEntry(s, blob::fourcc('X', 'Y', 'Z', 'W')) + 4, 1, 4); test::resealBlobCrcs(s); },
       "unknown critical section XYZW"},
      {"bad_dtype",
       [](std::string& s) { test::putLe(s, test::getLe(s, test::blobSectionEntry(s, blob::kTensors) + 8, 8) + 8 + 4, 99, 4); test::resealBlobCrcs(s); },
       "unknown dtype code 99"},
      {"tensor_index_out_of_range",
       [](std::string& s) {
         const size_t ops = test::getLe(s, test::blobSectionEntry(s, blob::kOps) + 8, 8);
         test::putLe(s, ops + 8 + 4 + 44, 77, 4);  // the first op's first input
         test::resealBlobCrcs(s);
       },
       "tensor index 77 out of range"},
      {"bad_opcode",
       [](std::string& s) { test::putLe(s, test::getLe(s, test::blobSectionEntry(s, blob::kOps) + 8, 8) + 8 + 4, 4242, 4); test::resealBlobCrcs(s); },
       "unknown op code 4242"},
      {"string_index_out_of_range",
       [](std::string& s) { test::putLe(s, test::getLe(s, test::blobSectionEntry(s, blob::kTensors) + 8, 8) + 8, 100000, 4); test::resealBlobCrcs(s); },
       "tensor name string index 100000 out of range"},
      {"debug_flag_without_dbug",
       [](std::string& s) { test::putLe(s, test::blobSectionEntry(s, blob::kDebugNames), blob::fourcc('X', 'D', 'B', 'G'), 4); test::resealBlobCrcs(s); },
       "has_debug_names disagrees"},
      {"non_zero_padding", [](std::string& s) { s[test::getLe(s, test::blobSectionEntry(s, blob::kWeights) + 8, 8) - 1] = 1; }, "padding byte"},
      {"missing_critical_section",
       [](std::string& s) {
         const size_t e = test::blobSectionEntry(s, blob::kIoSignature);
         test::putLe(s, e, blob::fourcc('i', 'o', 's', 'g'), 4);
         test::putLe(s, e + 4, 0, 4);  // optional: skipped, so IOSG is missing
         test::resealBlobCrcs(s);
       },
       "critical section IOSG is missing"},
  };
  const fs::path dir = test::sourceDir() / "testdata/blobs/corrupt";
  for (const Damage& d : corpus) {
    SCOPED_TRACE(d.name);
    std::string s = good;
    d.apply(s);
    auto r = test::parseBlobBytes(s);
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
  test::putLe(s, test::blobSectionEntry(s, blob::kMetadata), blob::fourcc('X', 'O', 'P', 'T'), 4);
  test::resealBlobCrcs(s);
  auto r = test::parseBlobBytes(s);
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  EXPECT_EQ(r->skippedSections, std::vector<std::string>{"XOPT"});
}

}  // namespace
}  // namespace npuconv
