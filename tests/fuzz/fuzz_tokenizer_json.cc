// fuzz_tokenizer_json.cc - HuggingFace tokenizer.json loading (formats/text/tokenizer_loader.h);
// a tokenizer that loads then tokenizes a few sentences.
#include <cstdint>

#include "formats/text/tokenizer_loader.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace npuconv;
  using namespace npuconv::fuzz;
  MemFile file(data, size, "tokenizer.json");
  auto tok = loadTokenizerJson(file.path());
  if (!tok) {
    checkError(tok.status());
    return 0;
  }
  for (const char* text : {"Hello, world! unaffable [SEP] naïve 北京 ##x", "", "   ", "[UNK][CLS]a"})
    (void)tok->encode(text, 8);
  return 0;
}
