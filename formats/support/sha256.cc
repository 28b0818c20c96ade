// sha256.cc - see sha256.h.
#include "formats/support/sha256.h"

#include <fmt/format.h>
#include <openssl/evp.h>

namespace npuconv {

struct Sha256Hasher::State {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1;
  bool finished = false;
  ~State() { EVP_MD_CTX_free(ctx); }
};

Sha256Hasher::Sha256Hasher() : state_(std::make_unique<State>()) {}
Sha256Hasher::~Sha256Hasher() = default;

void Sha256Hasher::add(const void* data, size_t size) {
  if (size > 0 && state_->ok && !state_->finished) state_->ok = EVP_DigestUpdate(state_->ctx, data, size) == 1;
}

Expected<std::string> Sha256Hasher::hex() {
  if (state_->finished) return Status::internal("SHA-256: digest already taken");
  state_->finished = true;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!state_->ok || EVP_DigestFinal_ex(state_->ctx, md, &n) != 1 || n != 32)
    return Status::internal("SHA-256: OpenSSL libcrypto failed (out of memory, or SHA-256 disabled by its configuration)");
  std::string s;
  s.reserve(64);
  for (unsigned int i = 0; i < n; ++i) s += fmt::format("{:02x}", md[i]);
  return s;
}

Expected<std::string> sha256Hex(std::string_view bytes) {
  Sha256Hasher h;
  h.add(bytes);
  return h.hex();
}

std::string sha256sumLine(std::string_view hex, std::string_view name) {
  std::string escaped;
  bool escape = false;
  for (char c : name) {
    switch (c) {
      case '\\': escaped += "\\\\"; escape = true; break;
      case '\n': escaped += "\\n"; escape = true; break;
      case '\r': escaped += "\\r"; escape = true; break;
      default: escaped += c;
    }
  }
  return fmt::format("{}{}  {}", escape ? "\\" : "", hex, escaped);
}

}  // namespace npuconv
