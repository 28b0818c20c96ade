// Regression tests for what fuzzing and the malformed corpus found (issue 13 sections 2 and 3).
// The crashing inputs themselves are in tests/fuzz/corpus/<target>/crash-*, replayed by
// tests/fuzz/run_fuzzers.sh; these tests pin each fix in the normal suite.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>
#include <zlib.h>

#include "formats/npy/npy.h"
#include "formats/npz/npz.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "formats/target/target_json.h"
#include "formats/text/tokenizer_loader.h"
#include "passes/registry.h"
#include "quant/calibration.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

using Json = nlohmann::json;

// A valid calibration file with one tensor; tests break one field.
Json calibFile() {
  return Json::parse(R"({"dataKey":"d","format":"npuconv-calibration","histogram":{"mantissaBits":7},
    "modelKey":"m","observed":"all","samples":1,"shards":{"count":1,"indices":[0]},
    "tensors":{"x":{"count":3,"max":"0x1p+0","min":"-0x1p+0","nan":0,
      "negHist":{"counts":[1],"origin":16256},"negInf":0,
      "posHist":{"counts":[1,-2,1],"origin":16250},"posInf":0,"samples":1,"zeros":0}},"version":1})");
}

Status calibStatus(const Json& j) {
  try {
    auto s = calibStatsFromJson(j);
    return s.status();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw " << e.what();
    return Status::internal("threw");
  }
}

TEST(CalibJsonHostile, ValidFileParses) { EXPECT_TRUE(calibStatus(calibFile()).isOk()); }

TEST(CalibJsonHostile, FieldsOfTheWrongTypeAreErrorsNotExceptions) {
  // json::value() threw type_error on these: an exception out of the library (exit 70).
  for (auto [key, value] : {std::pair{"format", Json(5)}, std::pair{"histogram", Json(7)},
                            std::pair{"histogram", Json::array({1})}}) {
    Json j = calibFile();
    j[key] = value;
    Status s = calibStatus(j);
    EXPECT_FALSE(s.isOk()) << key;
    EXPECT_NE(s.code(), StatusCode::Internal) << s.toString();
  }
  Json j = calibFile();
  j["shards"]["indices"] = 0;
  EXPECT_NE(calibStatus(j).message().find("\"indices\" must be a list"), std::string::npos) << calibStatus(j).message();
}

TEST(CalibJsonHostile, HugeEmptyRunsAreRefusedBeforeAllocating) {
  // -k stands for k empty buckets: -2^62 asked for 2^65 bytes, INT64_MIN overflowed on negation.
  for (int64_t k : {-(int64_t(1) << 62), INT64_MIN, int64_t(-40000)}) {
    Json j = calibFile();
    j["tensors"]["x"]["posHist"]["counts"] = Json::array({1, k, 1});
    Status s = calibStatus(j);
    EXPECT_EQ(s.code(), StatusCode::InvalidArgument) << k;
    EXPECT_NE(s.message().find("histogram run longer than"), std::string::npos) << s.message();
  }
}

TEST(CalibJsonHostile, CountsThatWouldOverflowAreRefused) {
  Json j = calibFile();
  j["tensors"]["x"]["posHist"]["counts"] = Json::array({INT64_MAX, -2, INT64_MAX});
  j["tensors"]["x"]["count"] = 1;
  EXPECT_NE(calibStatus(j).message().find("negative or above 2^46"), std::string::npos) << calibStatus(j).message();
  Json n = calibFile();
  n["tensors"]["x"]["nan"] = -5;
  EXPECT_FALSE(calibStatus(n).isOk());
  Json m = calibFile();
  m["tensors"]["x"]["max"] = "0x1p+2000";  // inf
  EXPECT_FALSE(calibStatus(m).isOk());
}

class TokenizerJsonHostile : public ::testing::Test {
 protected:
  Json base() {
    return Json::parse(R"({"model":{"type":"WordPiece","unk_token":"[UNK]","vocab":{"[PAD]":0,"[UNK]":1,"[CLS]":2,"[SEP]":3,"a":4}},
      "normalizer":{"type":"BertNormalizer"},"pre_tokenizer":{"type":"BertPreTokenizer"},
      "post_processor":{"type":"TemplateProcessing",
        "single":[{"SpecialToken":{"id":"[CLS]"}},{"Sequence":{"id":"A"}},{"SpecialToken":{"id":"[SEP]"}}],
        "special_tokens":{"[CLS]":{"ids":[2]},"[SEP]":{"ids":[3]}}}})");
  }
  Expected<BertTokenizer> load(const Json& j) {
    auto p = test::tempDir("tokenizer_json_hostile") / "tokenizer.json";
    std::ofstream(p) << j.dump();
    try {
      return loadTokenizerJson(p);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "threw " << e.what();
      return Status::internal("threw");
    }
  }
};

TEST_F(TokenizerJsonHostile, ValidFileLoads) { EXPECT_TRUE(load(base()).hasValue()) << load(base()).status().toString(); }

TEST_F(TokenizerJsonHostile, SpecialTokenWithoutIdsIsAnError) {
  // A const json operator[] on a missing key: undefined behaviour (an assert in debug builds).
  Json j = base();
  j["post_processor"]["special_tokens"]["[SEP]"] = Json::object();
  EXPECT_EQ(load(j).status().code(), StatusCode::Unsupported);
  j["post_processor"]["special_tokens"]["[SEP]"] = 5;
  EXPECT_EQ(load(j).status().code(), StatusCode::Unsupported);
  j["post_processor"]["special_tokens"] = Json::array();
  EXPECT_EQ(load(j).status().code(), StatusCode::Unsupported);
}

TEST_F(TokenizerJsonHostile, AddedTokenFlagOfTheWrongTypeIsAnError) {
  Json j = base();
  j["added_tokens"] = Json::array({{{"id", 0}, {"content", "[PAD]"}, {"lstrip", "yes"}}});
  auto t = load(j);
  EXPECT_EQ(t.status().code(), StatusCode::InvalidArgument);
  EXPECT_NE(t.status().message().find("added_tokens[0].lstrip: expected true or false"), std::string::npos)
      << t.status().message();
}

TEST(JsonHostile, NumberPastDoubleRangeIsAnErrorNotAnException) {
  // fuzz_tokenizer_json: nlohmann throws out_of_range (not parse_error) for 1e999; only
  // parse_error was caught, so the exception left the library (tests/fuzz/corpus/
  // fuzz_tokenizer_json/crash-number-overflow.json).
  const std::string text = R"({"name": "x", "max_rank": 1e999})";
  try {
    auto p = parseTargetProfile(text, "t.json");
    EXPECT_EQ(p.status().code(), StatusCode::InvalidArgument);
    EXPECT_NE(p.status().message().find("t.json: invalid JSON: number overflow"), std::string::npos)
        << p.status().message();
    auto path = test::tempDir("json_hostile") / "tokenizer.json";
    std::ofstream(path) << text;
    auto t = loadTokenizerJson(path);
    EXPECT_EQ(t.status().code(), StatusCode::InvalidArgument);
    EXPECT_NE(t.status().message().find("invalid JSON: number overflow"), std::string::npos) << t.status().message();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw " << e.what();
  }
}

TEST(OnnxReaderHostile, OpsetNewerThanKnownIsUnsupportedNamingIt) {
  auto m = parseOnnxText(R"(<ir_version: 10, opset_import: ["" : 22]> g (float[2] x) => (float[2] y) { y = Relu(x) })");
  ASSERT_FALSE(m.hasValue());
  EXPECT_EQ(m.status().code(), StatusCode::Unsupported);
  EXPECT_NE(m.status().message().find("opset 22"), std::string::npos) << m.status().message();
  EXPECT_TRUE(parseOnnxText(R"(<ir_version: 10, opset_import: ["" : 21]> g (float[2] x) => (float[2] y) { y = Relu(x) })")
                  .hasValue());
}

TEST(OnnxPipelineHostile, PadBeforeAConvWithWeightsOfAnotherRankIsNotFolded) {
  // tests/fuzz/corpus/fuzz_onnx/crash-pad-into-conv-weight-rank: x [1,1,3,3] -> Pad -> Conv with
  // weights [1,3,3]. Import cannot tell (the Pad's result has no shape), but folding the Pad gave
  // the Conv x's known shape and O1 wrote a model that no longer read back.
  const std::filesystem::path f = test::sourceDir() / "tests/fuzz/corpus/fuzz_onnx/crash-pad-into-conv-weight-rank";
  const std::string bytes = test::slurp(f);
  auto m = parseOnnxBytes(bytes, f.parent_path(), "crash.onnx");
  ASSERT_TRUE(m.hasValue()) << m.status().toString();
  auto pm = buildPassManager("O1", "", {});
  ASSERT_TRUE(pm.hasValue()) << pm.status().toString();
  ASSERT_TRUE(appendEmitStage(*pm, EmitPhase::StandardOps, {}).isOk());
  PassContext ctx;
  ctx.options["target.static-shapes"] = "0";
  if (!pm->run(*m, ctx)) return;  // a clean error is fine; what it writes must read back
  auto again = parseOnnxBytes(serializeModel(*m), f.parent_path(), "again.onnx");
  EXPECT_TRUE(again.hasValue()) << again.status().toString();
}

TEST(NpyHostile, HeaderWithControlCharactersIsAnError) {
  // fuzz_npy: a header quoting a newline made a two-line error; the CLI prints errors through
  // oneLineMessage now, and the reader still refuses it.
  std::string bytes = std::string("\x93NUMPY\x01\x00\x20\x00", 10) + "{'descr': '<f4'\n, 'shape': (1,)}";
  bytes.resize(10 + 0x20, ' ');
  bytes.back() = '\n';
  auto t = parseNpy(bytes, "x.npy");
  EXPECT_EQ(t.status().code(), StatusCode::InvalidArgument) << t.status().toString();
}

// A one-member zip archive whose member is deflated and claims `claimedSize` bytes.
std::string zipWithDeflatedMember(const std::string& name, const std::string& content, uint32_t claimedSize) {
  std::string deflated(compressBound(static_cast<uLong>(content.size())) + 64, '\0');
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(content.data()));
  z.avail_in = static_cast<uInt>(content.size());
  z.next_out = reinterpret_cast<Bytef*>(deflated.data());
  z.avail_out = static_cast<uInt>(deflated.size());
  deflate(&z, Z_FINISH);
  deflated.resize(z.total_out);
  deflateEnd(&z);
  auto u16 = [](std::string& s, uint32_t v) { s.push_back(char(v & 255)); s.push_back(char((v >> 8) & 255)); };
  auto u32 = [&](std::string& s, uint32_t v) { u16(s, v & 0xffff); u16(s, v >> 16); };
  uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(content.data()), static_cast<uInt>(content.size())));
  std::string out;
  u32(out, 0x04034b50); u16(out, 20); u16(out, 0); u16(out, 8); u16(out, 0); u16(out, 0);
  u32(out, crc); u32(out, static_cast<uint32_t>(deflated.size())); u32(out, claimedSize);
  u16(out, static_cast<uint32_t>(name.size())); u16(out, 0);
  out += name;
  out += deflated;
  uint32_t cd = static_cast<uint32_t>(out.size());
  u32(out, 0x02014b50); u16(out, 20); u16(out, 20); u16(out, 0); u16(out, 8); u16(out, 0); u16(out, 0);
  u32(out, crc); u32(out, static_cast<uint32_t>(deflated.size())); u32(out, claimedSize);
  u16(out, static_cast<uint32_t>(name.size())); u16(out, 0); u16(out, 0); u16(out, 0); u16(out, 0); u32(out, 0); u32(out, 0);
  out += name;
  uint32_t cdSize = static_cast<uint32_t>(out.size()) - cd;
  u32(out, 0x06054b50); u16(out, 0); u16(out, 0); u16(out, 1); u16(out, 1); u32(out, cdSize); u32(out, cd); u16(out, 0);
  return out;
}

TEST(NpzHostile, HugeNpyHeaderLengthIsNotAllocated) {
  // A deflated member claiming 4 GiB whose .npy (version 2) header claims 4 GiB - 256 bytes:
  // the header was read whole, a 4 GiB allocation from a 100-byte file.
  std::string npy = std::string("\x93NUMPY\x02\x00", 8) + std::string("\x00\xff\xff\xff", 4) + "{'descr': '<f4'";
  auto p = test::tempDir("npz_hostile") / "bomb.npz";
  std::ofstream(p, std::ios::binary) << zipWithDeflatedMember("x.npy", npy, 0xfffffff0u);
  auto npz = NpzArchive::open(p);
  ASSERT_FALSE(npz.hasValue());
  EXPECT_EQ(npz.status().code(), StatusCode::InvalidArgument);
  EXPECT_NE(npz.status().message().find(".npy header of 4294967052 bytes"), std::string::npos) << npz.status().message();
}

}  // namespace
}  // namespace npuconv
