// fuzz_blob.cc - the device blob reader (docs/blob-format.md, "Reader rules"): parseBlob on
// hostile bytes and on the same bytes as a mapped file must agree; an accepted blob must survive
// the inspector (text and JSON), the interpreter's op checks (when its arena is small) and a
// write-back that the reader accepts again.
#include <cstdint>

#include "converter/device/interpreter.h"
#include "formats/blob/blob_dump.h"
#include "formats/blob/blob_reader.h"
#include "formats/blob/blob_writer.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace npuconv;
  using namespace npuconv::fuzz;
  auto parsed = parseBlob(nullptr, reinterpret_cast<const std::byte*>(data), size, "fuzz.npub");
  checkError(parsed.status());
  MemFile file(data, size, "fuzz.npub");
  auto read = readBlob(file.path());
  checkError(read.status());
  if (read.hasValue() != parsed.hasValue()) fail("readBlob and parseBlob disagree", read.status());
  if (!parsed.hasValue()) return 0;
  (void)renderBlob(*parsed);
  (void)blobToJson(*parsed).dump();
  const device::Program& p = parsed->program;
  if (p.memory.arenaBytes <= (uint64_t{16} << 20)) {
    auto interp = device::Interpreter::create(p);
    checkError(interp.status());
  }
  auto bytes = serializeBlob(p);
  checkError(bytes.status());
  if (bytes.hasValue()) {
    auto again = parseBlob(nullptr, reinterpret_cast<const std::byte*>(bytes->data()), bytes->size(), "rewritten.npub");
    if (!again.hasValue()) fail("a blob the reader accepted, written back, is rejected", again.status());
  }
  return 0;
}
