// tokenizer_loader.cc - BERT tokenizers from vocab.txt, HF tokenizer.json and HF model folders.
#include "formats/text/tokenizer_loader.h"

#include <nlohmann/json.hpp>

#include "formats/support/json_file.h"
#include "formats/support/mapped_file.h"

namespace npuconv {

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

// The tokens BertTokenizerFast registers as added (special) tokens, in its order.
constexpr const char* kSpecialTokens[] = {"[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"};

// A boolean field; absent or null leaves `out` at its default.
Status readBool(const Json& obj, const char* key, const std::string& where, bool& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return Status::ok();
  if (!it->is_boolean()) return Status::invalidArgument("{}.{}: expected true or false", where, key);
  out = it->get<bool>();
  return Status::ok();
}

Status applyBertNormalizer(const Json& n, const std::string& where, BertTokenizerConfig& cfg) {
  NPU_TRY(readBool(n, "clean_text", where, cfg.cleanText));
  NPU_TRY(readBool(n, "handle_chinese_chars", where, cfg.handleChineseChars));
  NPU_TRY(readBool(n, "lowercase", where, cfg.lowercase));
  if (auto it = n.find("strip_accents"); it != n.end() && !it->is_null()) {
    bool s = false;
    NPU_TRY(readBool(n, "strip_accents", where, s));
    cfg.stripAccents = s;
  }
  return Status::ok();
}

std::string typeOf(const Json& j) {
  auto it = j.find("type");
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string("(none)");
}

// The id of `token` in the vocab, else among the added tokens.
std::optional<int64_t> idOf(const std::string& token,
                            const std::unordered_map<std::string, int64_t>& vocab,
                            const std::vector<std::pair<std::string, int64_t>>& added) {
  if (auto it = vocab.find(token); it != vocab.end()) return it->second;
  for (const auto& [t, id] : added)
    if (t == token) return id;
  return std::nullopt;
}

// [CLS] and [SEP] from the post-processor: BertProcessing {cls: [tok, id], sep: [tok, id]} or
// TemplateProcessing whose `single` is exactly [special, $A, special].
Status readPostProcessor(const Json& pp, const std::string& file, int64_t& cls, int64_t& sep) {
  std::string type = typeOf(pp);
  auto pairId = [&](const char* key, int64_t& id) -> Status {
    auto it = pp.find(key);
    if (it == pp.end() || !it->is_array() || it->size() != 2 || !(*it)[1].is_number_integer())
      return Status::invalidArgument("{}: post_processor.{}: expected [token, id]", file, key);
    id = (*it)[1].get<int64_t>();
    return Status::ok();
  };
  if (type == "BertProcessing") {
    NPU_TRY(pairId("cls", cls));
    return pairId("sep", sep);
  }
  if (type != "TemplateProcessing")
    return Status::unsupported("{}: post_processor.type \"{}\": only BertProcessing and "
                               "TemplateProcessing are supported", file, type);
  auto single = pp.find("single");
  auto specials = pp.find("special_tokens");
  auto specialId = [&](const Json& item, int64_t& id) -> bool {
    auto s = item.find("SpecialToken");
    if (s == item.end() || !s->contains("id") || !(*s)["id"].is_string()) return false;
    std::string name = (*s)["id"].get<std::string>();
    if (specials == pp.end() || !specials->is_object() || !specials->contains(name)) return false;
    const Json& special = (*specials)[name];
    if (!special.is_object() || !special.contains("ids")) return false;
    const Json& ids = special["ids"];
    if (!ids.is_array() || ids.size() != 1 || !ids[0].is_number_integer()) return false;
    id = ids[0].get<int64_t>();
    return true;
  };
  if (single == pp.end() || !single->is_array() || single->size() != 3 ||
      !specialId((*single)[0], cls) || !(*single)[1].contains("Sequence") ||
      !specialId((*single)[2], sep))
    return Status::unsupported("{}: post_processor.single: only [CLS] $A [SEP] (one special "
                               "token, the sequence, one special token) is supported", file);
  return Status::ok();
}

}  // namespace

Expected<BertTokenizer> loadVocabTxt(const fs::path& path, const BertTokenizerConfig& cfg) {
  NPU_ASSIGN_OR_RETURN(std::string text, readFile(path));
  const std::string file = path.string();
  if (text.empty()) return Status::invalidArgument("{}: empty vocab", file);
  std::unordered_map<std::string, int64_t> vocab;
  size_t pos = 0;
  int64_t id = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string::npos ? text.size() : nl;
    std::string token = text.substr(pos, end - pos);
    if (!token.empty() && token.back() == '\r') token.pop_back();
    if (firstInvalidUtf8(token))
      return Status::invalidArgument("{}:{}: invalid UTF-8", file, id + 1);
    auto [it, inserted] = vocab.emplace(token, id);
    if (!inserted)
      return Status::invalidArgument("{}:{}: token \"{}\" repeats line {}", file, id + 1, token,
                                     it->second + 1);
    ++id;
    pos = end + 1;
  }
  std::vector<std::pair<std::string, int64_t>> added;
  for (const char* special : kSpecialTokens) {
    auto it = vocab.find(special);
    if (it == vocab.end()) {
      if (std::string_view(special) == "[MASK]") continue;  // only pre-training needs it
      return Status::invalidArgument("{}: no {} token", file, special);
    }
    added.emplace_back(special, it->second);
  }
  auto unk = vocab.find(cfg.unkToken);
  if (unk == vocab.end()) return Status::invalidArgument("{}: no {} token", file, cfg.unkToken);
  int64_t unkId = unk->second, cls = vocab.at("[CLS]"), sep = vocab.at("[SEP]"),
          pad = vocab.at("[PAD]");
  return BertTokenizer(cfg, std::move(vocab), std::move(added), cls, sep, pad, unkId,
                       path.filename().string());
}

Expected<BertTokenizer> loadTokenizerJson(const fs::path& path) {
  NPU_ASSIGN_OR_RETURN(Json j, readJsonFile(path));
  const std::string file = path.string();
  if (!j.is_object()) return Status::invalidArgument("{}: not a JSON object", file);
  BertTokenizerConfig cfg;

  // model
  auto model = j.find("model");
  if (model == j.end() || !model->is_object())
    return Status::invalidArgument("{}: no \"model\" object", file);
  if (typeOf(*model) != "WordPiece")
    return Status::unsupported("{}: model.type \"{}\": only WordPiece (BERT) is supported", file,
                               typeOf(*model));
  auto vocabJson = model->find("vocab");
  if (vocabJson == model->end() || !vocabJson->is_object() || vocabJson->empty())
    return Status::invalidArgument("{}: model.vocab: expected a non-empty token -> id map", file);
  std::unordered_map<std::string, int64_t> vocab;
  for (auto it = vocabJson->begin(); it != vocabJson->end(); ++it) {
    if (!it.value().is_number_integer())
      return Status::invalidArgument("{}: model.vocab[\"{}\"]: id is not an integer", file,
                                     it.key());
    vocab.emplace(it.key(), it.value().get<int64_t>());
  }
  if (auto it = model->find("unk_token"); it != model->end() && it->is_string())
    cfg.unkToken = it->get<std::string>();
  if (auto it = model->find("continuing_subword_prefix"); it != model->end() && it->is_string())
    cfg.continuingPrefix = it->get<std::string>();
  if (auto it = model->find("max_input_chars_per_word");
      it != model->end() && it->is_number_unsigned())
    cfg.maxInputCharsPerWord = it->get<size_t>();

  // normalizer: BertNormalizer, alone or as the only member of a Sequence
  auto norm = j.find("normalizer");
  if (norm == j.end() || norm->is_null())
    return Status::unsupported("{}: normalizer: null; only BertNormalizer is supported", file);
  if (typeOf(*norm) == "Sequence") {
    auto list = norm->find("normalizers");
    if (list == norm->end() || !list->is_array())
      return Status::invalidArgument("{}: normalizer.normalizers: expected a list", file);
    size_t n = 0;
    for (size_t i = 0; i < list->size(); ++i) {
      std::string where = fmt::format("{}: normalizer.normalizers[{}]", file, i);
      if (typeOf((*list)[i]) != "BertNormalizer")
        return Status::unsupported("{}.type \"{}\": only BertNormalizer is supported", where,
                                   typeOf((*list)[i]));
      NPU_TRY(applyBertNormalizer((*list)[i], where, cfg));
      ++n;
    }
    if (n != 1)
      return Status::unsupported("{}: normalizer: a Sequence needs exactly one BertNormalizer",
                                 file);
  } else if (typeOf(*norm) == "BertNormalizer") {
    NPU_TRY(applyBertNormalizer(*norm, file + ": normalizer", cfg));
  } else {
    return Status::unsupported("{}: normalizer.type \"{}\": only BertNormalizer is supported",
                               file, typeOf(*norm));
  }

  // pre_tokenizer
  auto pre = j.find("pre_tokenizer");
  if (pre == j.end() || pre->is_null() || typeOf(*pre) != "BertPreTokenizer")
    return Status::unsupported("{}: pre_tokenizer.type \"{}\": only BertPreTokenizer is supported",
                               file, pre == j.end() || pre->is_null() ? "null" : typeOf(*pre));

  // added tokens, matched in the raw text
  std::vector<std::pair<std::string, int64_t>> added;
  if (auto list = j.find("added_tokens"); list != j.end() && list->is_array()) {
    for (size_t i = 0; i < list->size(); ++i) {
      const Json& t = (*list)[i];
      if (!t.contains("content") || !t["content"].is_string() || !t.contains("id") ||
          !t["id"].is_number_integer())
        return Status::invalidArgument("{}: added_tokens[{}]: needs content and id", file, i);
      for (const char* flag : {"normalized", "lstrip", "rstrip", "single_word"})
        if (auto f = t.find(flag); f != t.end() && !f->is_null() && !f->is_boolean())
          return Status::invalidArgument("{}: added_tokens[{}].{}: expected true or false", file, i, flag);
        else if (f != t.end() && f->is_boolean() && f->get<bool>())
          return Status::unsupported("{}: added_tokens[{}] (\"{}\"): {} is not supported", file,
                                     i, t["content"].get<std::string>(), flag);
      added.emplace_back(t["content"].get<std::string>(), t["id"].get<int64_t>());
    }
  }

  // post_processor: the [CLS] / [SEP] ids
  auto pp = j.find("post_processor");
  if (pp == j.end() || pp->is_null())
    return Status::unsupported("{}: post_processor: null; BertProcessing or TemplateProcessing "
                               "([CLS] $A [SEP]) is needed", file);
  int64_t cls = -1, sep = -1;
  NPU_TRY(readPostProcessor(*pp, file, cls, sep));

  auto unk = idOf(cfg.unkToken, vocab, added);
  if (!unk) return Status::invalidArgument("{}: model.unk_token \"{}\" is not in the vocab", file,
                                           cfg.unkToken);
  std::optional<int64_t> pad;
  if (auto p = j.find("padding"); p != j.end() && p->is_object() && p->contains("pad_id") &&
                                  (*p)["pad_id"].is_number_integer())
    pad = (*p)["pad_id"].get<int64_t>();
  if (!pad) pad = idOf("[PAD]", vocab, added);
  if (!pad) return Status::invalidArgument("{}: no [PAD] token (vocab, added_tokens, padding)", file);
  return BertTokenizer(cfg, std::move(vocab), std::move(added), cls, sep, *pad, *unk,
                       path.filename().string());
}

Expected<BertTokenizer> loadTokenizer(const fs::path& tokenizer, const fs::path& modelDir) {
  auto vocabWithConfig = [](const fs::path& vocab) -> Expected<BertTokenizer> {
    BertTokenizerConfig cfg;
    fs::path configPath = vocab.parent_path() / "tokenizer_config.json";
    std::error_code ec;
    if (fs::exists(configPath, ec)) {
      NPU_ASSIGN_OR_RETURN(Json c, readJsonFile(configPath));
      if (!c.is_object())
        return Status::invalidArgument("{}: not a JSON object", configPath.string());
      const std::string where = configPath.string();
      NPU_TRY(readBool(c, "do_lower_case", where, cfg.lowercase));
      NPU_TRY(readBool(c, "tokenize_chinese_chars", where, cfg.handleChineseChars));
      if (auto it = c.find("strip_accents"); it != c.end() && !it->is_null()) {
        bool s = false;
        NPU_TRY(readBool(c, "strip_accents", where, s));
        cfg.stripAccents = s;
      }
    }
    return loadVocabTxt(vocab, cfg);
  };
  if (!tokenizer.empty()) {
    if (tokenizer.extension() == ".json") return loadTokenizerJson(tokenizer);
    return vocabWithConfig(tokenizer);
  }
  std::error_code ec;
  if (fs::exists(modelDir / "tokenizer.json", ec)) return loadTokenizerJson(modelDir / "tokenizer.json");
  if (fs::exists(modelDir / "vocab.txt", ec)) return vocabWithConfig(modelDir / "vocab.txt");
  return Status::invalidArgument(
      "{}: no tokenizer: looked for tokenizer.json and vocab.txt (HuggingFace layout) there; "
      "give --tokenizer tokenizer.json|vocab.txt",
      modelDir.empty() ? std::string(".") : modelDir.string());
}

}  // namespace npuconv
