// mapped_file.h - read-only memory maps and atomic file output.
#pragma once

#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "converter/ir/tensor.h"
#include "converter/support/status.h"

namespace npuconv {

/// A read-only mmap of a whole file; TensorData views into it keep it alive.
class MappedFile {
 public:
  /// `keepOpen` keeps the file descriptor for fileRange() (writers copying from it in the
  /// kernel); by default it is closed once mapped, so many maps cost no descriptors.
  static Expected<std::shared_ptr<const MappedFile>> open(const std::filesystem::path& path, bool keepOpen = false);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  /// Where byte `offset` of the map lies in the open file (for Buffer views of it); nullopt
  /// unless opened with keepOpen.
  std::optional<FileRange> fileRange(uint64_t offset) const {
    return fd_ >= 0 ? std::optional<FileRange>(FileRange{fd_, offset}) : std::nullopt;
  }
  /// Drops the resident pages wholly inside [offset, offset + size) (a sequential reader
  /// done with them): resident memory stays flat however much of the file is read. Touching
  /// them again reads them back in, so this never changes what data() shows.
  void releasePages(size_t offset, size_t size) const;

 private:
  MappedFile() = default;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
  int fd_ = -1;
};

/// Writes a file atomically: bytes go to a temporary file in the same folder, which is
/// flushed and renamed over the target on commit(); destroyed without commit, it is removed.
/// A reader never sees a half-written file, and two writers racing leave one whole file.
class AtomicFile {
 public:
  static Expected<std::unique_ptr<AtomicFile>> create(const std::filesystem::path& target);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  Status write(const void* data, size_t size);
  /// write() of bytes that also lie in a file at `source`: copied file to file in the kernel
  /// (copy_file_range, no page faults on a mapping) when it can, else written from `data`.
  Status write(const void* data, size_t size, std::optional<FileRange> source);
  Status writeZeros(size_t size);
  uint64_t bytesWritten() const { return written_; }
  Status commit();
  const std::filesystem::path& target() const { return target_; }

 private:
  AtomicFile() = default;
  std::filesystem::path target_, temp_;
  int fd_ = -1;
  uint64_t written_ = 0;
  bool copyRangeWorks_ = true;
  static constexpr size_t kCopyRangeMinBytes = 64 * 1024;
  std::string buffer_;
  Status flushBuffer();
};

/// Reads a whole (small) file.
Expected<std::string> readFile(const std::filesystem::path& path);
/// Writes a whole (small) file through AtomicFile: all of `bytes` or nothing.
Status writeFileAtomically(const std::filesystem::path& path, std::string_view bytes);

}  // namespace npuconv
