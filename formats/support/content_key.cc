// content_key.cc - see content_key.h.
#include "formats/support/content_key.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>

#include "formats/support/mapped_file.h"

namespace npuconv {

struct ContentHasher::State {
  XXH64_state_t* s = XXH64_createState();
  ~State() { XXH64_freeState(s); }
};

ContentHasher::ContentHasher() : state_(std::make_unique<State>()) { XXH64_reset(state_->s, 0); }
ContentHasher::~ContentHasher() = default;

void ContentHasher::add(const void* data, size_t size) {
  if (size > 0) XXH64_update(state_->s, data, size);
}

void ContentHasher::addPart(std::string_view bytes) {
  uint64_t n = bytes.size();
  add(&n, sizeof n);
  add(bytes);
}

Status ContentHasher::addFile(const std::filesystem::path& path, Sha256Hasher* alsoSha256) {
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return Status::io("{}: {}", path.string(), ec.message());
  add(&size, sizeof size);
  if (size == 0) return Status::ok();  // mmap refuses empty files
  NPU_ASSIGN_OR_RETURN(auto mapped, MappedFile::open(path));
  // In 64 MiB steps, each dropped once hashed: mapped pages count as resident, so hashing a
  // 2.4 GiB external-data file whole would add its size to the peak RSS of the conversion.
  constexpr size_t kStep = size_t(64) << 20;
  for (size_t at = 0; at < mapped->size(); at += kStep) {
    size_t n = std::min(kStep, mapped->size() - at);
    add(mapped->data() + at, n);
    if (alsoSha256) alsoSha256->add(mapped->data() + at, n);
    mapped->releasePages(at, n);
  }
  return Status::ok();
}

std::string ContentHasher::hex() const { return fmt::format("{:016x}", XXH64_digest(state_->s)); }

std::string contentKey(std::string_view bytes) {
  return fmt::format("{:016x}", XXH64(bytes.data(), bytes.size(), 0));
}

Expected<std::string> fileContentKey(const std::filesystem::path& path) {
  ContentHasher h;
  NPU_TRY(h.addFile(path));
  return h.hex();
}

}  // namespace npuconv
