// fuzz_util.h - shared by the libFuzzer targets: the input as a file for readers that take a
// path (an anonymous memfd, reached through /proc/self/fd), and the checks that turn a wrong
// answer into a crash libFuzzer reports.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "converter/support/status.h"
#include "converter/support/utf8.h"

namespace npuconv::fuzz {

/// The fuzz input as a file: `path()` names it, it is closed (and gone) on destruction.
class MemFile {
 public:
  MemFile(const uint8_t* data, size_t size, const char* name = "fuzz") {
    fd_ = memfd_create(name, 0);
    if (fd_ < 0) std::abort();
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::write(fd_, data + done, size - done);
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  int fd_ = -1;
  std::filesystem::path path_;
};

/// Aborts with `what` (and the status) when an invariant of the code under test fails.
[[noreturn]] inline void fail(std::string_view what, const Status& s = Status::ok()) {
  std::fprintf(stderr, "fuzz invariant: %.*s: %s\n", static_cast<int>(what.size()), what.data(),
               s.toString().c_str());
  std::abort();
}

/// What an error from hostile input must be: a message (the CLI prints it as one line through
/// oneLineMessage), and not Internal (that code means a bug of ours).
inline void checkError(const Status& s) {
  if (s.isOk()) return;
  if (s.message().empty()) fail("an error without a message", s);
  if (s.code() == StatusCode::Internal) fail("internal error on input", s);
  for (char c : oneLineMessage(s.message()))
    if (static_cast<unsigned char>(c) < 0x20) fail("oneLineMessage left a control character", s);
}

inline std::string_view asText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace npuconv::fuzz
