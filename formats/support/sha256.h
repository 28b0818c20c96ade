// sha256.h - SHA-256 (OpenSSL's libcrypto) as lowercase hex: what the device blob's provenance
// and the convert report give for the source model, so a user can check it with `sha256sum`.
// The fast content key (content_key.h) names files for caches; this digest is for people and
// audits, where a standard hash any tool can recompute matters more than speed.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "converter/support/status.h"

namespace npuconv {

/// Streams bytes into one SHA-256 digest.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;
  void add(const void* data, size_t size);
  void add(std::string_view bytes) { add(bytes.data(), bytes.size()); }
  /// The digest as 64 lowercase hex digits; ends the stream. Internal error if libcrypto
  /// failed anywhere (it fails only without memory or with SHA-256 disabled by its config).
  Expected<std::string> hex();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// SHA-256 of `bytes`, as 64 lowercase hex digits.
Expected<std::string> sha256Hex(std::string_view bytes);

/// One line as `sha256sum` prints it and `sha256sum -c` reads it, without the newline:
/// "<hex>  <name>"; a name holding a backslash, LF or CR is escaped as coreutils does (a
/// leading backslash, then `\\`, `\n`, `\r` in the name).
std::string sha256sumLine(std::string_view hex, std::string_view name);

}  // namespace npuconv
