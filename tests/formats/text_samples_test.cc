// Text calibration samples: shapes, dtypes, ids, masks, static padding vs true length, truncation,
// int32 inputs, input-name aliases, skip/max/rewind, and errors naming file:line or the input.
#include "formats/text/text_samples.h"

#include <gtest/gtest.h>

#include <fstream>

#include "formats/text/tokenizer_loader.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

fs::path writeText(const std::string& name, const std::string& text) {
  fs::path p = test::tempDir("text_samples_" + name) / (name + ".txt");
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

std::vector<ModelInputSpec> bertInputs(int64_t seq, DType t = DType::I64) {
  return {{"input_ids", t, {1, seq}}, {"attention_mask", t, {1, seq}},
          {"token_type_ids", t, {1, seq}}};
}

CalibDataOptions textOptions(const fs::path& file) {
  CalibDataOptions opt;
  opt.textFile = file;
  opt.tokenizer = test::testdata("text/bert_uncased_vocab.txt");
  return opt;
}

std::vector<NamedTensors> readAll(SampleStream& s) {
  std::vector<NamedTensors> out;
  while (true) {
    auto n = s.next();
    EXPECT_TRUE(n) << n.status().toString();
    if (!n || !n->has_value()) break;
    out.push_back(std::move(**n));
  }
  return out;
}

std::vector<int64_t> values(const Tensor& t) { return t.toInt64s(); }

TEST(TextSamples, StaticSequencePadsWithPadAndMaskZero) {
  auto file = writeText("static", "I like strawberries\nHello, world!\n");
  auto s = openTextSamples(textOptions(file), bertInputs(8));
  ASSERT_TRUE(s) << s.status().toString();
  EXPECT_EQ((*s)->size(), 2u);
  auto samples = readAll(**s);
  ASSERT_EQ(samples.size(), 2u);
  const NamedTensors& a = samples[0];
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a.at("input_ids").dims(), (std::vector<int64_t>{1, 8}));
  EXPECT_EQ(a.at("input_ids").dtype(), DType::I64);
  EXPECT_EQ(values(a.at("input_ids")),
            (std::vector<int64_t>{101, 1045, 2066, 13137, 20968, 102, 0, 0}));
  EXPECT_EQ(values(a.at("attention_mask")), (std::vector<int64_t>{1, 1, 1, 1, 1, 1, 0, 0}));
  EXPECT_EQ(values(a.at("token_type_ids")), (std::vector<int64_t>(8, 0)));
  EXPECT_EQ(values(samples[1].at("input_ids")),
            (std::vector<int64_t>{101, 7592, 1010, 2088, 999, 102, 0, 0}));
  // The model's static dim is used when --seq-len is absent; describe says so.
  EXPECT_NE((*s)->describe().find("padded to 8"), std::string::npos) << (*s)->describe();
}

TEST(TextSamples, DynamicSequenceKeepsTrueLengthUnlessAskedToPad) {
  auto file = writeText("dynamic", "I like strawberries\nHello, world! How are you today?\n");
  CalibDataOptions opt = textOptions(file);
  opt.seqLen = 9;
  auto s = openTextSamples(opt, bertInputs(-1));
  ASSERT_TRUE(s) << s.status().toString();
  auto samples = readAll(**s);
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].at("input_ids").dims(), (std::vector<int64_t>{1, 6}));
  EXPECT_EQ(values(samples[0].at("attention_mask")), (std::vector<int64_t>(6, 1)));
  // The second is 12 tokens: truncated to 9 keeping [SEP].
  EXPECT_EQ(values(samples[1].at("input_ids")),
            (std::vector<int64_t>{101, 7592, 1010, 2088, 999, 2129, 2024, 2017, 102}));

  opt.padToSeqLen = true;
  s = openTextSamples(opt, bertInputs(-1));
  ASSERT_TRUE(s) << s.status().toString();
  samples = readAll(**s);
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].at("input_ids").dims(), (std::vector<int64_t>{1, 9}));
  EXPECT_EQ(values(samples[0].at("attention_mask")),
            (std::vector<int64_t>{1, 1, 1, 1, 1, 1, 0, 0, 0}));

  // Without --seq-len a dynamic model cannot be fed.
  opt.seqLen = 0;
  auto e = openTextSamples(opt, bertInputs(-1));
  ASSERT_FALSE(e);
  EXPECT_NE(e.status().message().find("--seq-len is needed"), std::string::npos);
}

TEST(TextSamples, Int32InputsAliasesAndSubsetOfInputs) {
  auto file = writeText("alias", "\xEF\xBB\xBFHello, world!\r\n");  // BOM and CRLF
  std::vector<ModelInputSpec> inputs = {{"input_ids:0", DType::I32, {-1, 6}},
                                        {"input_mask", DType::I32, {-1, 6}},
                                        {"segment_ids", DType::I32, {-1, 6}}};
  auto s = openTextSamples(textOptions(file), inputs);
  ASSERT_TRUE(s) << s.status().toString();
  auto samples = readAll(**s);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].at("input_ids:0").dtype(), DType::I32);
  EXPECT_EQ(values(samples[0].at("input_ids:0")),
            (std::vector<int64_t>{101, 7592, 1010, 2088, 999, 102}));
  EXPECT_EQ(values(samples[0].at("input_mask")), (std::vector<int64_t>(6, 1)));
  EXPECT_EQ(values(samples[0].at("segment_ids")), (std::vector<int64_t>(6, 0)));

  // A model with input_ids only gets input_ids only.
  auto one = openTextSamples(textOptions(file), {{"input_ids", DType::I64, {1, 6}}});
  ASSERT_TRUE(one) << one.status().toString();
  samples = readAll(**one);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].size(), 1u);
}

TEST(TextSamples, SkipMaxAndRewindYieldTheSameSamples) {
  std::string text;
  for (int i = 0; i < 10; ++i) text += "sentence number " + std::to_string(i) + "\n";
  auto file = writeText("skip", text);
  CalibDataOptions opt = textOptions(file);
  opt.seqLen = 8;
  opt.skipSamples = 3;
  opt.maxSamples = 4;
  auto s = openTextSamples(opt, bertInputs(-1));
  ASSERT_TRUE(s) << s.status().toString();
  EXPECT_EQ((*s)->size(), 4u);
  auto first = readAll(**s);
  ASSERT_EQ(first.size(), 4u);
  // "sentence number 3": the digit's id is 1017 in bert-base-uncased (0 is 1014).
  EXPECT_EQ(values(first[0].at("input_ids"))[3], 1017);
  EXPECT_EQ(values(first[3].at("input_ids"))[3], 1020);
  ASSERT_TRUE((*s)->rewind().isOk());
  auto again = readAll(**s);
  ASSERT_EQ(again.size(), 4u);
  for (size_t i = 0; i < 4; ++i)
    EXPECT_EQ(values(first[i].at("input_ids")), values(again[i].at("input_ids")));

  opt.skipSamples = 10;
  auto none = openTextSamples(opt, bertInputs(-1));
  ASSERT_FALSE(none);
  EXPECT_NE(none.status().message().find("no samples (10 lines, 10 skipped)"), std::string::npos)
      << none.status().message();
}

// The first error the stream reports.
std::string streamError(const std::string& name, const std::string& text,
                        const std::vector<ModelInputSpec>& inputs) {
  auto file = writeText(name, text);
  CalibDataOptions opt = textOptions(file);
  auto s = openTextSamples(opt, inputs);
  if (!s) return s.status().message();
  while (true) {
    auto n = (*s)->next();
    if (!n) return n.status().message();
    if (!n->has_value()) return "";
  }
}

TEST(TextSamples, ErrorsNameFileLineOrInput) {
  EXPECT_NE(streamError("empty_line", "one\n\nthree\n", bertInputs(8)).find("empty_line.txt:2: empty line"),
            std::string::npos);
  EXPECT_NE(streamError("two_newlines", "one\n\n", bertInputs(8)).find("two_newlines.txt:2: empty line"),
            std::string::npos);
  EXPECT_EQ(streamError("no_newline", "one\ntwo", bertInputs(8)), "");
  EXPECT_NE(streamError("bad_utf8", "ok\nbad \xC3\x28 byte\n", bertInputs(8))
                .find("bad_utf8.txt:2: invalid UTF-8 at byte 5"),
            std::string::npos);
  EXPECT_NE(streamError("empty_file", "", bertInputs(8)).find("no samples"), std::string::npos);
  EXPECT_NE(streamError("other_input", "x\n", {{"input_ids", DType::I64, {1, 8}},
                                               {"pixel_values", DType::F32, {1, 8}}})
                .find("model input \"pixel_values\" is none of"),
            std::string::npos);
  EXPECT_NE(streamError("float_ids", "x\n", {{"input_ids", DType::F32, {1, 8}}})
                .find("model input \"input_ids\" is float32"),
            std::string::npos);
  EXPECT_NE(streamError("no_ids", "x\n", {{"attention_mask", DType::I64, {1, 8}}})
                .find("no input_ids"),
            std::string::npos);

  auto file = writeText("seq_mismatch", "x\n");
  CalibDataOptions opt = textOptions(file);
  opt.seqLen = 16;
  auto s = openTextSamples(opt, bertInputs(8));
  ASSERT_FALSE(s);
  EXPECT_NE(s.status().message().find("--seq-len 16 but model input \"input_ids\" has sequence dim 8"),
            std::string::npos)
      << s.status().message();

  opt.tokenizer.clear();
  opt.modelDir = test::tempDir("text_no_tokenizer");
  opt.seqLen = 0;
  s = openTextSamples(opt, bertInputs(-1));
  ASSERT_FALSE(s);
  EXPECT_NE(s.status().message().find("--seq-len"), std::string::npos);
  opt.seqLen = 8;
  s = openTextSamples(opt, bertInputs(-1));
  ASSERT_FALSE(s);
  EXPECT_NE(s.status().message().find("no tokenizer"), std::string::npos) << s.status().message();
}

TEST(TextSamples, CalibSentencesFitTheMiniLmVocab) {
  // The benchmark feeds testdata/text/calib_sentences.txt to the zoo MiniLM (1000 embedding
  // rows) with minilm_vocab.txt: every id must index that table.
  std::ifstream vocab(test::testdata("text/minilm_vocab.txt"));
  size_t lines = 0;
  for (std::string l; std::getline(vocab, l);) ++lines;
  EXPECT_LE(lines, 1000u);
  CalibDataOptions opt;
  opt.textFile = test::testdata("text/calib_sentences.txt");
  opt.tokenizer = test::testdata("text/minilm_vocab.txt");
  opt.seqLen = 128;
  auto s = openTextSamples(opt, bertInputs(-1));
  ASSERT_TRUE(s) << s.status().toString();
  EXPECT_EQ((*s)->size(), 140u);
  size_t tokens = 0, unk = 0;
  for (const NamedTensors& t : readAll(**s)) {
    for (int64_t id : values(t.at("input_ids"))) {
      EXPECT_GE(id, 0);
      EXPECT_LT(id, 1000);
      tokens += 1;
      unk += id == 1;  // [UNK] is line 2 of minilm_vocab.txt
    }
  }
  EXPECT_GT(tokens, 140u * 7);
  EXPECT_LT(static_cast<double>(unk) / static_cast<double>(tokens), 0.01);
}

}  // namespace
}  // namespace npuconv
