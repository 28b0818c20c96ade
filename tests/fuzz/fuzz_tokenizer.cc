// fuzz_tokenizer.cc - the BERT WordPiece tokenizer on arbitrary text, with BERT's uncased vocab
// (testdata/text/bert_uncased_vocab.txt). The first input byte picks the normalizer switches
// and the second the encode length; the rest is the text (invalid UTF-8 is the caller's to
// refuse: firstInvalidUtf8 must find it).
#include <array>
#include <cstdint>
#include <memory>

#include "formats/text/bert_tokenizer.h"
#include "formats/text/tokenizer_loader.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

const npuconv::BertTokenizer& tokenizerFor(uint8_t flags) {
  static std::array<std::unique_ptr<npuconv::BertTokenizer>, 16> cache;
  auto& t = cache[flags & 15];
  if (!t) {
    npuconv::BertTokenizerConfig cfg;
    cfg.lowercase = flags & 1;
    if (flags & 2) cfg.stripAccents = (flags & 4) != 0;
    cfg.handleChineseChars = flags & 8;
    auto loaded = npuconv::loadVocabTxt(NPUCONV_SOURCE_DIR "/testdata/text/bert_uncased_vocab.txt", cfg);
    if (!loaded) npuconv::fuzz::fail("cannot load the vocab", loaded.status());
    t = std::make_unique<npuconv::BertTokenizer>(std::move(*loaded));
  }
  return *t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace npuconv;
  using namespace npuconv::fuzz;
  if (size < 2) return 0;
  const BertTokenizer& tok = tokenizerFor(data[0]);
  size_t maxLen = data[1];
  std::string_view text = asText(data + 2, size - 2);
  if (firstInvalidUtf8(text)) return 0;
  std::vector<int64_t> ids = tok.tokenize(text);
  for (int64_t id : ids)
    if (id < 0 || static_cast<size_t>(id) >= tok.vocabSize()) fail("token id outside the vocab");
  std::vector<int64_t> enc = tok.encode(text, maxLen);
  if (enc.size() < 2 || enc.front() != tok.clsId() || enc.back() != tok.sepId())
    fail("encode: not [CLS] ... [SEP]");
  if (maxLen >= 2 && enc.size() > maxLen) fail("encode: longer than maxLen");
  return 0;
}
