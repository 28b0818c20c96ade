// bert_tokenizer.cc - BERT WordPiece tokenization as HuggingFace's `tokenizers` library does it:
// added tokens split out of the raw text, then BertNormalizer (clean text, CJK spacing, accent
// stripping, lower-casing), BertPreTokenizer (whitespace and punctuation), WordPiece.
// Where HF's slow Python BertTokenizer differs from the fast one (final sigma, an NFC pass before
// tokenizing) this follows the fast one; docs/text-calibration.md lists the differences.
#include "formats/text/bert_tokenizer.h"

#include <utf8proc.h>

#include <fmt/format.h>

namespace npuconv {

namespace {

// HF tokenizers: is_control = any "C*" category but \t \n \r (counted as whitespace).
bool isControl(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CS:
      return true;
    default:
      return false;
  }
}

// Rust's char::is_whitespace: the Unicode White_Space property (utf8proc has no accessor for
// it; the list has not changed since Unicode 6.3).
bool isWhitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// BERT's _is_punctuation: all non-alphanumeric ASCII plus the Unicode P* categories.
bool isPunctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126))
    return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

// BERT's _is_chinese_char: the CJK Unified Ideographs blocks (not Hangul, kana).
bool isChineseChar(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

std::vector<char32_t> decode(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  auto n = static_cast<utf8proc_ssize_t>(s.size());
  while (n > 0) {
    utf8proc_int32_t c = 0;
    utf8proc_ssize_t len = utf8proc_iterate(p, n, &c);
    if (len <= 0) {  // callers pass valid UTF-8; skip a stray byte rather than loop
      c = 0xFFFD;
      len = 1;
    }
    out.push_back(static_cast<char32_t>(c));
    p += len;
    n -= len;
  }
  return out;
}

void appendUtf8(std::string& s, char32_t c) {
  utf8proc_uint8_t buf[4];
  utf8proc_ssize_t n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(c), buf);
  s.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

// NFD of the whole string (canonical order of marks included), then the Mn marks dropped.
std::vector<char32_t> stripAccents(const std::vector<char32_t>& cps) {
  std::string utf8;
  for (char32_t c : cps) appendUtf8(utf8, c);
  std::vector<utf8proc_int32_t> buf(cps.size() * 2 + 8);
  auto decompose = [&] {
    return utf8proc_decompose(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()),
                              static_cast<utf8proc_ssize_t>(utf8.size()), buf.data(),
                              static_cast<utf8proc_ssize_t>(buf.size()),
                              static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE));
  };
  utf8proc_ssize_t n = decompose();
  if (n > static_cast<utf8proc_ssize_t>(buf.size())) {
    buf.resize(static_cast<size_t>(n));
    n = decompose();
  }
  std::vector<char32_t> out;
  if (n < 0) return cps;  // cannot happen on valid input
  out.reserve(static_cast<size_t>(n));
  for (utf8proc_ssize_t i = 0; i < n; ++i)
    if (utf8proc_category(buf[static_cast<size_t>(i)]) != UTF8PROC_CATEGORY_MN)
      out.push_back(static_cast<char32_t>(buf[static_cast<size_t>(i)]));
  return out;
}

}  // namespace

BertTokenizer::BertTokenizer(BertTokenizerConfig cfg, std::unordered_map<std::string, int64_t> vocab,
                             std::vector<std::pair<std::string, int64_t>> addedTokens,
                             int64_t clsId, int64_t sepId, int64_t padId, int64_t unkId,
                             std::string source)
    : cfg_(std::move(cfg)),
      vocab_(std::move(vocab)),
      addedTokens_(std::move(addedTokens)),
      clsId_(clsId),
      sepId_(sepId),
      padId_(padId),
      unkId_(unkId),
      source_(std::move(source)) {}

std::string BertTokenizer::describe() const {
  bool strip = cfg_.stripAccents.value_or(cfg_.lowercase);
  return fmt::format("{} ({} tokens, {}{})", source_, vocab_.size(),
                     cfg_.lowercase ? "uncased" : "cased",
                     strip == cfg_.lowercase ? "" : strip ? ", accents stripped" : ", accents kept");
}

std::vector<int64_t> BertTokenizer::tokenize(std::string_view text) const {
  std::vector<int64_t> out;
  // Added tokens: leftmost match, longest first at a position (HF's Aho-Corasick
  // LeftmostLongest), on the raw text.
  size_t start = 0, pos = 0;
  while (pos < text.size()) {
    const std::pair<std::string, int64_t>* best = nullptr;
    for (const auto& t : addedTokens_)
      if (!t.first.empty() && text.compare(pos, t.first.size(), t.first) == 0 &&
          (!best || t.first.size() > best->first.size()))
        best = &t;
    if (!best) {
      ++pos;
      continue;
    }
    tokenizeSegment(text.substr(start, pos - start), out);
    out.push_back(best->second);
    pos += best->first.size();
    start = pos;
  }
  tokenizeSegment(text.substr(start), out);
  return out;
}

std::vector<int64_t> BertTokenizer::encode(std::string_view text, size_t maxLen) const {
  std::vector<int64_t> ids = tokenize(text);
  if (maxLen >= 2 && ids.size() > maxLen - 2) ids.resize(maxLen - 2);
  ids.insert(ids.begin(), clsId_);
  ids.push_back(sepId_);
  return ids;
}

void BertTokenizer::tokenizeSegment(std::string_view text, std::vector<int64_t>& out) const {
  if (text.empty()) return;
  std::vector<char32_t> cps;
  std::vector<char32_t> in = decode(text);
  cps.reserve(in.size());
  for (char32_t c : in) {
    if (cfg_.cleanText) {
      if (c == 0 || c == 0xFFFD || isControl(c)) continue;
      if (isWhitespace(c)) c = ' ';
    }
    if (cfg_.handleChineseChars && isChineseChar(c)) {
      cps.push_back(' ');
      cps.push_back(c);
      cps.push_back(' ');
    } else {
      cps.push_back(c);
    }
  }
  if (cfg_.stripAccents.value_or(cfg_.lowercase)) cps = stripAccents(cps);
  if (cfg_.lowercase) {
    std::vector<char32_t> lower;
    lower.reserve(cps.size());
    for (char32_t c : cps) {
      // Rust's char::to_lowercase: per character (no final-sigma context); U+0130 is the one
      // character whose full lower-case mapping is two characters.
      if (c == 0x130) {
        lower.push_back('i');
        lower.push_back(0x307);
      } else {
        lower.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
      }
    }
    cps = std::move(lower);
  }
  // BertPreTokenizer: whitespace separates words, each punctuation character is a word.
  std::vector<char32_t> word;
  for (char32_t c : cps) {
    if (isWhitespace(c)) {
      wordPiece(word, out);
      word.clear();
    } else if (isPunctuation(c)) {
      wordPiece(word, out);
      word.assign(1, c);
      wordPiece(word, out);
      word.clear();
    } else {
      word.push_back(c);
    }
  }
  wordPiece(word, out);
}

void BertTokenizer::wordPiece(const std::vector<char32_t>& word, std::vector<int64_t>& out) const {
  if (word.empty()) return;
  if (word.size() > cfg_.maxInputCharsPerWord) {
    out.push_back(unkId_);
    return;
  }
  // Greedy longest match first; one unmatchable piece makes the whole word [UNK].
  size_t mark = out.size();
  std::string piece;
  for (size_t begin = 0; begin < word.size();) {
    size_t end = word.size();
    int64_t id = -1;
    for (; end > begin; --end) {
      piece = begin > 0 ? cfg_.continuingPrefix : std::string();
      for (size_t i = begin; i < end; ++i) appendUtf8(piece, word[i]);
      if (auto it = vocab_.find(piece); it != vocab_.end()) {
        id = it->second;
        break;
      }
    }
    if (id < 0) {
      out.resize(mark);
      out.push_back(unkId_);
      return;
    }
    out.push_back(id);
    begin = end;
  }
}

}  // namespace npuconv
