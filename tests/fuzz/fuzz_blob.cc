// fuzz_blob.cc - the device blob reader (docs/blob-format.md, "Reader rules"): parseBlob on
// hostile bytes and on the same bytes as a mapped file must agree; an accepted blob must survive
// the inspector (text and JSON), the interpreter's op checks (when its arena is small) on every
// shape variant, and a write-back that the reader accepts again with as many variants.
#include <cstdint>

#include "converter/device/interpreter.h"
#include "formats/blob/blob_dump.h"
#include "formats/blob/blob_reader.h"
#include "formats/blob/blob_writer.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

/// Programs cheap enough to run in a fuzz iteration: a small arena, small weights, small pooling
/// windows and integer ops only (float ops are the executor's, fuzzed through fuzz_onnx).
bool small(const npuconv::device::Program& p) {
  using namespace npuconv::device;
  if (p.memory.arenaBytes > 16384) return false;
  uint64_t weights = 0;
  for (const Tensor& t : p.tensors)
    if (t.storage == Storage::Weight) weights += t.byteSize();
  if (weights > 4096) return false;
  for (const Op& op : p.ops) {
    if (op.code == OpCode::FloatOp) return false;
    const std::vector<int64_t> k = op.attrInts("kernel_shape");
    if (k.size() == 2 && k[0] * k[1] > 64) return false;
  }
  return true;
}

}  // namespace

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
  // Every shape variant (format 1.2) passes the same op checks and runs as variant 0 does.
  for (size_t v = 0; v < parsed->variantCount(); ++v) {
    const device::Program& p = parsed->variant(v);
    if (p.memory.arenaBytes <= (uint64_t{16} << 20)) {
      auto interp = device::Interpreter::create(p);
      checkError(interp.status());
      if (interp.hasValue() && small(p)) {
        // Run the integer kernels on zero inputs: hostile shapes and parameters that passed the
        // checks must not read or write out of bounds or overflow.
        std::vector<Tensor> inputs;
        for (const device::IoBinding& b : p.inputs) {
          const device::Tensor& t = p.tensors[static_cast<size_t>(b.tensor)];
          inputs.emplace_back(t.dtype, t.dims);
        }
        checkError((*interp)->run(inputs).status());
      }
    }
  }
  std::vector<const device::Program*> variants;
  for (size_t v = 0; v < parsed->variantCount(); ++v) variants.push_back(&parsed->variant(v));
  auto bytes = serializeBlob(variants);
  checkError(bytes.status());
  if (bytes.hasValue()) {
    auto again = parseBlob(nullptr, reinterpret_cast<const std::byte*>(bytes->data()), bytes->size(), "rewritten.npub");
    if (!again.hasValue()) fail("a blob the reader accepted, written back, is rejected", again.status());
    if (again->variantCount() != parsed->variantCount()) fail("the written-back blob has another number of shape variants", again.status());
  }
  return 0;
}
