// content_key.h - content keys (xxHash64, 16 hex digits) of bytes and files: the calibration
// cache and the reports name a model or data set by what it holds, not by its path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "converter/support/status.h"
#include "formats/support/sha256.h"

namespace npuconv {

/// Streams bytes into one key; parts fed in order (feed a separator or length when part
/// boundaries matter: addPart does).
class ContentHasher {
 public:
  ContentHasher();
  ~ContentHasher();
  ContentHasher(const ContentHasher&) = delete;
  ContentHasher& operator=(const ContentHasher&) = delete;
  void add(const void* data, size_t size);
  void add(std::string_view bytes) { add(bytes.data(), bytes.size()); }
  /// A length-prefixed part: ("ab", "c") and ("a", "bc") give different keys.
  void addPart(std::string_view bytes);
  /// The bytes of a file (memory-mapped), length-prefixed; errors name the file. `alsoSha256`
  /// gets the same bytes (without the length prefix) from the same pass: a multi-GiB model is
  /// read once for its key and its SHA-256.
  Status addFile(const std::filesystem::path& path, Sha256Hasher* alsoSha256 = nullptr);
  std::string hex() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// xxHash64 of `bytes`, as 16 lowercase hex digits.
std::string contentKey(std::string_view bytes);
/// The key of a file's bytes.
Expected<std::string> fileContentKey(const std::filesystem::path& path);

}  // namespace npuconv
