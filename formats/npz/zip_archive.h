// zip_archive.h - a read-only ZIP archive over a memory map (what numpy's .npz files are):
// stored and deflated members, zip64 sizes and offsets. Members are read as streams, so a
// large deflated member is inflated piece by piece as it is read, never whole.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "converter/support/status.h"
#include "formats/support/mapped_file.h"

namespace npuconv {

struct ZipMember {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflated
  uint64_t compressedSize = 0, size = 0;
  uint64_t dataOffset = 0;  // of the (compressed) bytes in the file
};

/// Sequential reader of one member's uncompressed bytes.
class ZipMemberReader {
 public:
  ZipMemberReader(std::shared_ptr<const MappedFile> file, ZipMember member, std::string where);
  ~ZipMemberReader();
  ZipMemberReader(const ZipMemberReader&) = delete;
  ZipMemberReader& operator=(const ZipMemberReader&) = delete;

  /// The next `n` bytes; an error when the member ends first or its data is corrupt.
  Status read(void* out, size_t n);
  /// Moves to byte `pos`: free for stored members; a deflated member inflates forward (and
  /// starts over from its first byte to go back), so sequential reading stays linear.
  Status seek(uint64_t pos);
  uint64_t position() const { return pos_; }
  const ZipMember& member() const { return member_; }

 private:
  Status restart();
  Status inflateInto(std::byte* out, size_t n);
  std::shared_ptr<const MappedFile> file_;
  ZipMember member_;
  std::string where_;
  uint64_t pos_ = 0;
  uint64_t consumed_ = 0;  // compressed bytes handed to zlib
  uint64_t released_ = 0;  // member bytes (as stored) whose pages were dropped
  void releaseBehind(uint64_t storedPos);
  z_stream z_{};
  bool zOpen_ = false;
};

class ZipArchive {
 public:
  static Expected<std::unique_ptr<ZipArchive>> open(const std::filesystem::path& path);
  const std::vector<ZipMember>& members() const { return members_; }
  const std::string& fileName() const { return name_; }
  /// A reader at the first byte of `m` (one of members()).
  std::unique_ptr<ZipMemberReader> openMember(const ZipMember& m) const;

 private:
  std::shared_ptr<const MappedFile> file_;
  std::string name_;
  std::vector<ZipMember> members_;
};

}  // namespace npuconv
