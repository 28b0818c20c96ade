// calib_key.cc - calibDataKey: xxHash64 over every byte the data sources would read, the
// file names in their order, and the options that change the samples. Files are streamed
// through the hash, never loaded whole.
#include <xxhash.h>

#include <cstdio>
#include <memory>

#include "formats/calib/calib_data.h"
#include "formats/calib/dataset_list.h"
#include "formats/image/image.h"

namespace npuconv {

namespace {

class Hasher {
 public:
  Hasher() : state_(XXH64_createState(), XXH64_freeState) { XXH64_reset(state_.get(), 0); }
  void bytes(const void* p, size_t n) { XXH64_update(state_.get(), p, n); }
  /// Length-prefixed, so ("ab","c") and ("a","bc") differ.
  void str(std::string_view s) {
    u64(s.size());
    bytes(s.data(), s.size());
  }
  void u64(uint64_t v) { bytes(&v, sizeof v); }
  void floats(const std::vector<float>& v) {
    u64(v.size());
    bytes(v.data(), v.size() * sizeof(float));
  }
  Status file(const std::filesystem::path& p, std::string_view name) {
    str(name);
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(p.c_str(), "rb"), std::fclose);
    if (!f) return Status::io("{}: cannot open", p.string());
    std::vector<char> buf(1 << 20);
    uint64_t total = 0;
    for (size_t n; (n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0;) {
      bytes(buf.data(), n);
      total += n;
    }
    if (std::ferror(f.get())) return Status::io("{}: read error", p.string());
    u64(total);
    return Status::ok();
  }
  std::string hex() const { return fmt::format("{:016x}", XXH64_digest(state_.get())); }

 private:
  std::unique_ptr<XXH64_state_t, XXH_errorcode (*)(XXH64_state_t*)> state_;
};

Status hashPath(Hasher& h, const std::filesystem::path& p) {
  std::error_code ec;
  if (std::filesystem::is_directory(p, ec)) {
    NPU_ASSIGN_OR_RETURN(auto files, imagesInFolder(p));
    h.str("folder");
    h.u64(files.size());
    for (const auto& f : files) NPU_TRY(h.file(f, f.filename().string()));
    return Status::ok();
  }
  if (!std::filesystem::is_regular_file(p, ec)) return Status::io("{}: no such file or folder", p.string());
  NPU_TRY(h.file(p, p.filename().string()));
  if (p.extension() == ".txt") {
    NPU_ASSIGN_OR_RETURN(auto lines, readDatasetList(p));
    for (const auto& l : lines)
      for (size_t i = 0; i < l.paths.size(); ++i) NPU_TRY(h.file(l.paths[i], l.fields[i]));
  }
  return Status::ok();
}

}  // namespace

Expected<std::string> calibDataKey(const CalibDataOptions& opt) {
  Hasher h;
  h.str("npuconv calibration data v1");
  h.u64(opt.paths.size());
  for (const auto& p : opt.paths) NPU_TRY(hashPath(h, p));
  h.floats(opt.mean);
  h.floats(opt.std);
  h.u64(opt.bgr);
  h.u64(static_cast<uint64_t>(opt.maxSamples));
  h.u64(static_cast<uint64_t>(opt.skipSamples));
  h.u64(static_cast<uint64_t>(opt.seqLen));
  h.u64(opt.padToSeqLen ? 1 : 0);
  if (!opt.textFile.empty()) {
    NPU_TRY(h.file(opt.textFile, "text"));
    if (!opt.tokenizer.empty()) {
      NPU_TRY(h.file(opt.tokenizer, "tokenizer"));
    } else {
      // The tokenizer found beside the model: every file the lookup may read.
      for (const char* name : {"tokenizer.json", "tokenizer_config.json", "vocab.txt"}) {
        std::error_code ec;
        auto p = opt.modelDir / name;
        if (!opt.modelDir.empty() && std::filesystem::is_regular_file(p, ec)) NPU_TRY(h.file(p, name));
      }
    }
  }
  return h.hex();
}

}  // namespace npuconv
