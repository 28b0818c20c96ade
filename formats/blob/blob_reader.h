// blob_reader.h - reads `model.npub` treating it as hostile (docs/blob-format.md, "Reader
// rules"): the size, every offset and length (overflow-checked), overlaps, indices, enums, CRCs
// and reserved fields are checked before use, each failure with its own one-line error naming the
// file and field (invalid model, exit 3). Weights are not copied: the program's weight tensors
// view the file's mmap, which they keep alive.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

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
  device::Program program;
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
