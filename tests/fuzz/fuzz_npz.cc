// fuzz_npz.cc - the .npz reader: the ZIP directory (stored, deflated, zip64), each member's
// .npy header, then the data of every array read in pieces (the first 4 MiB of each: a
// deflated member may legitimately expand a thousandfold).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "formats/npz/npz.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace npuconv;
  using namespace npuconv::fuzz;
  MemFile file(data, size, "fuzz.npz");
  auto npz = NpzArchive::open(file.path());
  if (!npz) {
    checkError(npz.status());
    return 0;
  }
  std::vector<char> buf(64 * 1024);
  for (const NpzArray& a : (*npz)->arrays()) {
    if ((*npz)->find(a.name) == nullptr) fail("NpzArchive::find misses an array it lists");
    auto r = (*npz)->openArray(a);
    uint64_t total = std::min<uint64_t>(a.header.dataBytes, 4u << 20);
    for (uint64_t off = 0; off < total;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), total - off));
      Status s = r->read(off, n, buf.data());
      checkError(s);
      if (!s) break;
      off += n;
    }
    // Back to the start: a deflated member inflates again from its first byte.
    if (total > 0) checkError(r->read(0, static_cast<size_t>(std::min<uint64_t>(total, 16)), buf.data()));
  }
  return 0;
}
