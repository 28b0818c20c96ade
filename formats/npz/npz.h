// npz.h - numpy .npz archives (np.savez / np.savez_compressed): one .npy per array name.
// Headers are read when the archive opens; the data of a member is read on demand through a
// stream, so a deflated archive is inflated a sample at a time, never whole.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "formats/npy/npy.h"
#include "formats/npz/zip_archive.h"

namespace npuconv {

struct NpzArray {
  std::string name;  // the member name without ".npy" (numpy's key)
  NpyHeader header;
  ZipMember member;
};

/// Reads the data bytes of one array (offsets count from its first data byte).
class NpzArrayReader {
 public:
  NpzArrayReader(std::unique_ptr<ZipMemberReader> r, size_t dataOffset) : r_(std::move(r)), dataOffset_(dataOffset) {}
  Status read(uint64_t offset, size_t n, void* out) {
    if (r_->position() != dataOffset_ + offset) NPU_TRY(r_->seek(dataOffset_ + offset));
    return r_->read(out, n);
  }

 private:
  std::unique_ptr<ZipMemberReader> r_;
  size_t dataOffset_;
};

class NpzArchive {
 public:
  static Expected<std::unique_ptr<NpzArchive>> open(const std::filesystem::path& path);
  /// The arrays in archive order.
  const std::vector<NpzArray>& arrays() const { return arrays_; }
  const NpzArray* find(const std::string& name) const;
  std::unique_ptr<NpzArrayReader> openArray(const NpzArray& a) const;
  const std::string& fileName() const { return zip_->fileName(); }

 private:
  std::unique_ptr<ZipArchive> zip_;
  std::vector<NpzArray> arrays_;
};

}  // namespace npuconv
