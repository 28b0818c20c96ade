#include "formats/support/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace npuconv {

void MappedFile::releasePages(size_t offset, size_t size) const {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  size_t begin = (offset + page - 1) / page * page, end = std::min(offset + size, size_) / page * page;
  if (data_ && begin < end) ::madvise(const_cast<std::byte*>(data_) + begin, end - begin, MADV_DONTNEED);
}

Expected<std::shared_ptr<const MappedFile>> MappedFile::open(const std::filesystem::path& path, bool keepOpen) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::io("{}: cannot open: {}", path.string(), std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::io("{}: not a regular file", path.string());
  }
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->size_ = static_cast<size_t>(st.st_size);
  if (m->size_ > 0) {
    void* p = ::mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      return Status::io("{}: cannot map: {}", path.string(), std::strerror(err));
    }
    m->data_ = static_cast<const std::byte*>(p);
  }
  if (keepOpen) m->fd_ = fd;
  else ::close(fd);
  return std::shared_ptr<const MappedFile>(std::move(m));
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
}

Expected<std::unique_ptr<AtomicFile>> AtomicFile::create(const std::filesystem::path& target) {
  std::unique_ptr<AtomicFile> f(new AtomicFile());
  f->target_ = target;
  std::filesystem::path dir = target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path();
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    return Status::io("{}: output folder {} does not exist", target.string(), dir.string());
  // Unique per process and call, so concurrent writers of one target never share a temp file.
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  std::string tmpName = "." + target.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
                        std::to_string(counter++) + "." + std::to_string(rd());
  f->temp_ = dir / tmpName;
  f->fd_ = ::open(f->temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (f->fd_ < 0) return Status::io("{}: cannot create {}: {}", target.string(), f->temp_.string(), std::strerror(errno));
  f->buffer_.reserve(1 << 20);
  return f;
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(temp_.c_str());
  }
}

Status AtomicFile::flushBuffer() {
  const char* p = buffer_.data();
  size_t left = buffer_.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::io("{}: write failed: {}", target_.string(), std::strerror(errno));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  buffer_.clear();
  return Status::ok();
}

Status AtomicFile::write(const void* data, size_t size) {
  written_ += size;
  const char* p = static_cast<const char*>(data);
  if (buffer_.size() + size <= buffer_.capacity()) {
    buffer_.append(p, size);
    return Status::ok();
  }
  NPU_TRY(flushBuffer());
  if (size < buffer_.capacity()) {
    buffer_.append(p, size);
    return Status::ok();
  }
  while (size > 0) {  // large blocks go straight to the file
    ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::io("{}: write failed: {}", target_.string(), std::strerror(errno));
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return Status::ok();
}

Status AtomicFile::write(const void* data, size_t size, std::optional<FileRange> source) {
  if (!source || size < kCopyRangeMinBytes || !copyRangeWorks_) return write(data, size);
  NPU_TRY(flushBuffer());
  auto off = static_cast<loff_t>(source->offset);
  size_t left = size;
  while (left > 0) {
    ssize_t n = ::copy_file_range(source->fd, &off, fd_, nullptr, left, 0);
    if (n > 0) {
      left -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // Not supported between these files (another file system, an old kernel) or a source that
    // got shorter: the rest goes through the mapping, and this file stops trying.
    copyRangeWorks_ = false;
    break;
  }
  written_ += size - left;
  return left ? write(static_cast<const std::byte*>(data) + (size - left), left) : Status::ok();
}

Status AtomicFile::writeZeros(size_t size) {
  static const char kZeros[64] = {};
  while (size > 0) {
    size_t n = std::min(size, sizeof kZeros);
    NPU_TRY(write(kZeros, n));
    size -= n;
  }
  return Status::ok();
}

Status AtomicFile::commit() {
  NPU_TRY(flushBuffer());
  if (::fsync(fd_) != 0) return Status::io("{}: fsync failed: {}", target_.string(), std::strerror(errno));
  if (::close(fd_) != 0) {
    fd_ = -1;
    ::unlink(temp_.c_str());
    return Status::io("{}: close failed: {}", target_.string(), std::strerror(errno));
  }
  fd_ = -1;
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    int err = errno;
    ::unlink(temp_.c_str());
    return Status::io("{}: cannot move the finished file into place: {}", target_.string(), std::strerror(err));
  }
  return Status::ok();
}

Expected<std::string> readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io("{}: cannot open: {}", path.string(), std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status writeFileAtomically(const std::filesystem::path& path, std::string_view bytes) {
  NPU_ASSIGN_OR_RETURN(auto f, AtomicFile::create(path));
  NPU_TRY(f->write(bytes.data(), bytes.size()));
  return f->commit();
}

}  // namespace npuconv
