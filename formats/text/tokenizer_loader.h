// tokenizer_loader.h - reads a BERT tokenizer from a vocab.txt, a HuggingFace tokenizer.json,
// or a model folder in HuggingFace layout.
#pragma once

#include <filesystem>

#include "converter/support/status.h"
#include "formats/text/bert_tokenizer.h"

namespace npuconv {

/// vocab.txt: one token per line, id = line number (from 0). [UNK], [CLS], [SEP] and [PAD] must
/// be in it; a duplicate token is an error naming the line.
Expected<BertTokenizer> loadVocabTxt(const std::filesystem::path& path,
                                     const BertTokenizerConfig& cfg);

/// tokenizer.json of HF tokenizers with a WordPiece model, BertNormalizer (alone or in a
/// Sequence), BertPreTokenizer and a BertProcessing or TemplateProcessing post-processor;
/// anything else is Unsupported naming the field.
Expected<BertTokenizer> loadTokenizerJson(const std::filesystem::path& path);

/// `tokenizer` when given (.json: tokenizer.json; anything else: vocab.txt, read with the
/// tokenizer_config.json beside it when there is one); else `modelDir`'s tokenizer.json, else its
/// vocab.txt with tokenizer_config.json's do_lower_case (default true).
Expected<BertTokenizer> loadTokenizer(const std::filesystem::path& tokenizer,
                                      const std::filesystem::path& modelDir);

}  // namespace npuconv
