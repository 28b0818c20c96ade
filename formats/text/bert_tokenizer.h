// bert_tokenizer.h - the BERT WordPiece tokenizer, id for id what HuggingFace's BertTokenizerFast
// (the `tokenizers` library: BertNormalizer, BertPreTokenizer, WordPiece, BertProcessing) gives.
// Loading from vocab.txt, tokenizer.json or a model folder is in tokenizer_loader.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "converter/support/utf8.h"  // firstInvalidUtf8

namespace npuconv {

/// BertNormalizer's switches and the WordPiece model's parameters.
struct BertTokenizerConfig {
  bool cleanText = true;
  bool handleChineseChars = true;
  bool lowercase = true;
  std::optional<bool> stripAccents;  // nullopt: follows lowercase (as HF does)
  std::string unkToken = "[UNK]";
  std::string continuingPrefix = "##";
  size_t maxInputCharsPerWord = 100;
};

class BertTokenizer {
 public:
  /// `vocab` maps token -> id; the ids of [CLS], [SEP], [PAD] and the unknown token must be
  /// resolved by the loader. `addedTokens` are matched in the raw text before normalization
  /// (HF's added tokens: the special tokens, so "[SEP]" written in a sentence is one token).
  BertTokenizer(BertTokenizerConfig cfg, std::unordered_map<std::string, int64_t> vocab,
                std::vector<std::pair<std::string, int64_t>> addedTokens, int64_t clsId,
                int64_t sepId, int64_t padId, int64_t unkId, std::string source);

  /// The ids of valid UTF-8 `text` without [CLS]/[SEP].
  std::vector<int64_t> tokenize(std::string_view text) const;
  /// [CLS] ids [SEP], the ids cut so that the whole fits in maxLen (>= 2) as HF's truncation
  /// does; maxLen 0: no limit.
  std::vector<int64_t> encode(std::string_view text, size_t maxLen) const;

  int64_t clsId() const { return clsId_; }
  int64_t sepId() const { return sepId_; }
  int64_t padId() const { return padId_; }
  int64_t unkId() const { return unkId_; }
  size_t vocabSize() const { return vocab_.size(); }
  const BertTokenizerConfig& config() const { return cfg_; }
  /// "vocab.txt (30522 tokens, uncased)".
  std::string describe() const;

 private:
  void tokenizeSegment(std::string_view text, std::vector<int64_t>& out) const;
  void wordPiece(const std::vector<char32_t>& word, std::vector<int64_t>& out) const;

  BertTokenizerConfig cfg_;
  std::unordered_map<std::string, int64_t> vocab_;
  std::vector<std::pair<std::string, int64_t>> addedTokens_;
  int64_t clsId_, sepId_, padId_, unkId_;
  std::string source_;
};

}  // namespace npuconv
