// blob_reader.h - reads `model.npub` treating it as hostile (docs/blob-format.md, "Reader
// rules"): the size, every offset and length (overflow-checked), overlaps, indices, enums, CRCs
// and reserved fields are checked before use, each failure with its own one-line error naming the
// file and field (invalid model, exit 3). Weights are not copied: the program's weight tensors
// view the file's mmap, which they keep alive.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "converter/device/device_program.h"
#include "converter/ir/tensor.h"
#include "converter/support/status.h"

namespace npuconv {

/// The section table as read (for `npuconv inspect`).
struct BlobSectionInfo {
  std::string fourcc;
  uint32_t flags = 0;
  uint64_t offset = 0, size = 0;
  uint32_t crc = 0;
};

struct LoadedBlob {
  device::Program program;  // variant 0: the top-level sections
  /// Format 1.2 (section VARS): the other frozen shapes, each a whole program sharing the
  /// weights (views into WGHT), quantization records, provenance and metadata of `program`.
  std::vector<device::Program> moreVariants;
  size_t variantCount() const { return 1 + moreVariants.size(); }
  const device::Program& variant(size_t i) const { return i == 0 ? program : moreVariants[i - 1]; }
  uint16_t versionMajor = 0, versionMinor = 0;
  uint64_t fileSize = 0;
  std::vector<BlobSectionInfo> sections;
  std::vector<std::string> skippedSections;  // unknown optional sections
};

/// Parses `bytes` (kept alive by `owner`); `name` prefixes every error.
Expected<LoadedBlob> parseBlob(std::shared_ptr<const void> owner, const std::byte* bytes, size_t size,
                               const std::string& name);
/// mmaps and parses a file.
Expected<LoadedBlob> readBlob(const std::filesystem::path& path);

}  // namespace npuconv
