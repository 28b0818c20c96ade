// fuzz_vocab.cc - vocab.txt loading (formats/text/tokenizer_loader.h): one token per line,
// duplicates and invalid UTF-8 refused; a vocab that loads then tokenizes a few sentences.
#include <cstdint>

#include "formats/text/tokenizer_loader.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace npuconv;
  using namespace npuconv::fuzz;
  MemFile file(data, size, "vocab.txt");
  BertTokenizerConfig cfg;
  cfg.lowercase = size % 2 == 0;
  auto tok = loadVocabTxt(file.path(), cfg);
  if (!tok) {
    checkError(tok.status());
    return 0;
  }
  for (const char* text : {"Hello, world! unaffable [SEP] naïve 北京 ##x", "", "   ", "[UNK][CLS]a"}) {
    for (int64_t id : tok->tokenize(text))
      if (id < 0 || static_cast<size_t>(id) >= tok->vocabSize()) fail("token id outside the vocab");
    (void)tok->encode(text, 8);
  }
  return 0;
}
