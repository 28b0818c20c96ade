// BERT WordPiece tokenizer: ids compared with HuggingFace tokenizers' on every committed sentence
// (testdata/text/tokenizer_golden.json, made by scripts/gen_tokenizer_golden.js), through
// vocab.txt and tokenizer.json; loader errors; HuggingFace-folder discovery.
#include "formats/text/tokenizer_loader.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

const Json& golden() {
  static const Json j = [] {
    std::ifstream in(test::testdata("text/tokenizer_golden.json"));
    std::stringstream ss;
    ss << in.rdbuf();
    return Json::parse(ss.str());
  }();
  return j;
}

void writeFile(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}

// Compares every sentence of one golden case; returns the number of sentences that matched.
size_t compareCase(const BertTokenizer& tok, const Json& c, const std::string& via) {
  const Json& sentences = golden()["sentences"];
  size_t matched = 0;
  for (size_t i = 0; i < sentences.size(); ++i) {
    std::string text = sentences[i].get<std::string>();
    std::vector<int64_t> want = c["ids"][i].get<std::vector<int64_t>>();
    std::vector<int64_t> got = tok.encode(text, 0);
    EXPECT_EQ(got, want) << c["name"].get<std::string>() << " via " << via << ", sentence " << i
                         << ": \"" << text << "\"";
    matched += got == want;
  }
  return matched;
}

TEST(BertTokenizerGolden, EverySentenceMatchesHuggingFaceViaVocabTxt) {
  ASSERT_GE(golden()["sentences"].size(), 60u);
  ASSERT_EQ(golden()["cases"].size(), 5u);
  for (const Json& c : golden()["cases"]) {
    BertTokenizerConfig cfg;
    cfg.lowercase = c["lowercase"].get<bool>();
    cfg.stripAccents = c["strip_accents"].get<bool>();
    auto tok = loadVocabTxt(test::testdata("text/" + c["vocab"].get<std::string>()), cfg);
    ASSERT_TRUE(tok) << tok.status().toString();
    EXPECT_EQ(compareCase(*tok, c, "vocab.txt"), golden()["sentences"].size());
  }
}

TEST(BertTokenizerGolden, EverySentenceMatchesHuggingFaceViaTokenizerJson) {
  size_t cases = 0;
  for (const Json& c : golden()["cases"]) {
    if (c["tokenizer_json"].is_null()) continue;
    auto tok = loadTokenizerJson(test::testdata("text/" + c["tokenizer_json"].get<std::string>()));
    ASSERT_TRUE(tok) << tok.status().toString();
    EXPECT_EQ(tok->config().lowercase, c["lowercase"].get<bool>());
    EXPECT_EQ(compareCase(*tok, c, "tokenizer.json"), golden()["sentences"].size());
    ++cases;
  }
  EXPECT_EQ(cases, 3u);
}

TEST(BertTokenizer, KnownBertBaseUncasedIds) {
  BertTokenizerConfig cfg;
  auto tok = loadVocabTxt(test::testdata("text/bert_uncased_vocab.txt"), cfg);
  ASSERT_TRUE(tok) << tok.status().toString();
  // The ids bert-base-uncased is documented with; [CLS] 101, [SEP] 102, [PAD] 0, [UNK] 100.
  EXPECT_EQ(tok->encode("I like strawberries", 0),
            (std::vector<int64_t>{101, 1045, 2066, 13137, 20968, 102}));
  EXPECT_EQ(tok->padId(), 0);
  EXPECT_EQ(tok->unkId(), 100);
  // Truncation keeps [CLS] and [SEP]: at most 4 ids in all.
  EXPECT_EQ(tok->encode("I like strawberries", 4), (std::vector<int64_t>{101, 1045, 2066, 102}));
  // 101 characters: one [UNK]; 100: split into pieces.
  EXPECT_EQ(tok->tokenize(std::string(101, 'a')), (std::vector<int64_t>{100}));
  EXPECT_GT(tok->tokenize(std::string(100, 'a')).size(), 1u);
  // Special tokens written in the text are those tokens; lower-case ones are not.
  EXPECT_EQ(tok->tokenize("[MASK]"), (std::vector<int64_t>{103}));
  EXPECT_EQ(tok->tokenize("[mask]").size(), 3u);
}

TEST(BertTokenizer, VocabTxtErrorsNameFileAndLine) {
  fs::path dir = test::tempDir("vocab_errors");
  BertTokenizerConfig cfg;
  writeFile(dir / "empty.txt", "");
  auto e = loadVocabTxt(dir / "empty.txt", cfg);
  ASSERT_FALSE(e);
  EXPECT_NE(e.status().message().find("empty.txt: empty vocab"), std::string::npos)
      << e.status().message();

  writeFile(dir / "dup.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\nhello\n");
  e = loadVocabTxt(dir / "dup.txt", cfg);
  ASSERT_FALSE(e);
  EXPECT_NE(e.status().message().find("dup.txt:7: token \"hello\" repeats line 5"),
            std::string::npos)
      << e.status().message();

  for (const char* missing : {"[UNK]", "[CLS]", "[SEP]", "[PAD]"}) {
    std::string text;
    for (const char* t : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"})
      if (std::string(t) != missing) text += std::string(t) + "\n";
    writeFile(dir / "missing.txt", text);
    e = loadVocabTxt(dir / "missing.txt", cfg);
    ASSERT_FALSE(e) << missing;
    EXPECT_NE(e.status().message().find(std::string("missing.txt: no ") + missing),
              std::string::npos)
        << e.status().message();
  }

  writeFile(dir / "bad.txt", "[PAD]\n[UNK]\n\xff\xfe\n");
  e = loadVocabTxt(dir / "bad.txt", cfg);
  ASSERT_FALSE(e);
  EXPECT_NE(e.status().message().find("bad.txt:3: invalid UTF-8"), std::string::npos);
}

// A tokenizer.json made from the committed one with one field replaced.
Expected<BertTokenizer> loadPatched(const std::string& name,
                                    const std::function<void(Json&)>& patch) {
  std::ifstream in(test::testdata("text/ml_uncased/tokenizer.json"));
  Json j = Json::parse(in);
  patch(j);
  fs::path p = test::tempDir("tokjson") / name;
  writeFile(p, j.dump());
  return loadTokenizerJson(p);
}

TEST(BertTokenizer, TokenizerJsonUnsupportedFieldsAreNamed) {
  struct Case {
    std::function<void(Json&)> patch;
    const char* expect;
    StatusCode code;
  };
  std::vector<Case> cases = {
      {[](Json& j) { j["model"]["type"] = "BPE"; }, "model.type \"BPE\"", StatusCode::Unsupported},
      {[](Json& j) { j["normalizer"] = Json{{"type", "NFKC"}}; }, "normalizer.type \"NFKC\"",
       StatusCode::Unsupported},
      {[](Json& j) { j["normalizer"] = Json{{"type", "Sequence"}, {"normalizers", Json::array({Json{{"type", "Lowercase"}}})}}; },
       "normalizer.normalizers[0].type \"Lowercase\"", StatusCode::Unsupported},
      {[](Json& j) { j["pre_tokenizer"] = Json{{"type", "Whitespace"}}; },
       "pre_tokenizer.type \"Whitespace\"", StatusCode::Unsupported},
      {[](Json& j) { j["post_processor"] = Json{{"type", "RobertaProcessing"}}; },
       "post_processor.type \"RobertaProcessing\"", StatusCode::Unsupported},
      {[](Json& j) { j["post_processor"] = nullptr; }, "post_processor: null",
       StatusCode::Unsupported},
      {[](Json& j) { j["model"]["unk_token"] = "<unk>"; }, "model.unk_token \"<unk>\"",
       StatusCode::InvalidArgument},
      {[](Json& j) { j["model"]["vocab"]["hello"] = "x"; }, "model.vocab[\"hello\"]",
       StatusCode::InvalidArgument},
      {[](Json& j) { j["added_tokens"][0]["lstrip"] = true; }, "added_tokens[0] (\"[PAD]\"): lstrip",
       StatusCode::Unsupported},
  };
  for (const Case& c : cases) {
    auto t = loadPatched("patched.json", c.patch);
    ASSERT_FALSE(t) << c.expect;
    EXPECT_EQ(t.status().code(), c.code) << t.status().message();
    EXPECT_NE(t.status().message().find("patched.json: " + std::string(c.expect)),
              std::string::npos)
        << t.status().message();
  }
  fs::path broken = test::tempDir("tokjson2") / "broken.json";
  writeFile(broken, "{\"model\": ");
  auto t = loadTokenizerJson(broken);
  ASSERT_FALSE(t);
  EXPECT_NE(t.status().message().find("broken.json: invalid JSON"), std::string::npos);
}

TEST(BertTokenizer, TokenizerJsonSequenceNormalizerAndTemplateProcessing) {
  // The form sentence-transformers exports: the normalizer inside a Sequence, a template.
  auto t = loadPatched("template.json", [](Json& j) {
    j["normalizer"] = Json{{"type", "Sequence"}, {"normalizers", Json::array({j["normalizer"]})}};
    j["post_processor"] = Json::parse(R"({"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
      "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [77], "tokens": ["[CLS]"]},
                         "[SEP]": {"id": "[SEP]", "ids": [78], "tokens": ["[SEP]"]}}})");
  });
  ASSERT_TRUE(t) << t.status().toString();
  std::vector<int64_t> ids = t->encode("Ünïcödé", 0);
  EXPECT_EQ(ids.front(), 77);
  EXPECT_EQ(ids.back(), 78);
  EXPECT_TRUE(t->config().lowercase);
}

TEST(BertTokenizer, DiscoveryInHuggingFaceFolder) {
  fs::path dir = test::tempDir("discovery");
  auto none = loadTokenizer({}, dir);
  ASSERT_FALSE(none);
  EXPECT_NE(none.status().message().find("looked for tokenizer.json and vocab.txt"),
            std::string::npos)
      << none.status().message();
  EXPECT_NE(none.status().message().find(dir.string()), std::string::npos);

  // vocab.txt alone: uncased (do_lower_case defaults to true).
  fs::copy_file(test::testdata("text/ml_cased/vocab.txt"), dir / "vocab.txt");
  auto v = loadTokenizer({}, dir);
  ASSERT_TRUE(v) << v.status().toString();
  EXPECT_TRUE(v->config().lowercase);
  // tokenizer_config.json says cased.
  fs::copy_file(test::testdata("text/ml_cased/tokenizer_config.json"), dir / "tokenizer_config.json");
  v = loadTokenizer({}, dir);
  ASSERT_TRUE(v) << v.status().toString();
  EXPECT_FALSE(v->config().lowercase);
  // tokenizer.json wins over vocab.txt.
  fs::copy_file(test::testdata("text/ml_uncased/tokenizer.json"), dir / "tokenizer.json");
  v = loadTokenizer({}, dir);
  ASSERT_TRUE(v) << v.status().toString();
  EXPECT_TRUE(v->config().lowercase);
  EXPECT_NE(v->describe().find("tokenizer.json"), std::string::npos);
  // An explicit --tokenizer wins over the folder.
  v = loadTokenizer(test::testdata("text/bert_uncased_vocab.txt"), dir);
  ASSERT_TRUE(v) << v.status().toString();
  EXPECT_EQ(v->vocabSize(), 30522u);
}

}  // namespace
}  // namespace npuconv
