// fuzz_npy.cc - the .npy reader: header parsing, parseNpy (copying), readNpy (mapped, from a
// file). An array that reads must say what its header says.
#include <cstdint>

#include "formats/npy/npy.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace npuconv;
  using namespace npuconv::fuzz;
  std::string_view bytes = asText(data, size);
  auto header = parseNpyHeader(bytes, "fuzz.npy");
  checkError(header.status());
  auto parsed = parseNpy(bytes, "fuzz.npy");
  checkError(parsed.status());
  if (parsed.hasValue() != (header.hasValue() && header->dataOffset <= size && size - header->dataOffset == header->dataBytes))
    fail("parseNpy and parseNpyHeader disagree", parsed.status());
  MemFile file(data, size, "fuzz.npy");
  auto read = readNpy(file.path());
  checkError(read.status());
  if (read.hasValue() != parsed.hasValue()) fail("readNpy and parseNpy disagree", read.status());
  if (parsed.hasValue()) {
    const TensorData& t = **parsed;
    if (t.dtype() != header->dtype || t.dims() != header->dims) fail("parseNpy: dtype or dims differ from the header");
    if (t.byteSize() != header->dataBytes) fail("parseNpy: byte size differs from the header");
  }
  return 0;
}
