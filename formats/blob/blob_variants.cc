// blob_variants.cc - see blob_variants.h.
#include "formats/blob/blob_variants.h"

#include <fmt/format.h>

namespace npuconv {
namespace {

std::string variantDimsText(const std::vector<int64_t>& d) {
  std::string s;
  for (int64_t v : d) s += (s.empty() ? "" : "x") + std::to_string(v);
  return s.empty() ? "scalar" : s;
}

}  // namespace

std::string variantInputShapes(const device::Program& p) {
  std::string s;
  for (const device::IoBinding& b : p.inputs)
    s += (s.empty() ? "" : " ") + b.name + "=" + variantDimsText(p.tensors[static_cast<size_t>(b.tensor)].dims);
  return s;
}

Expected<size_t> selectBlobVariant(const LoadedBlob& b, const std::map<std::string, std::vector<int64_t>>& dims) {
  for (size_t v = 0; v < b.variantCount(); ++v) {
    const device::Program& p = b.variant(v);
    bool match = true;
    for (const device::IoBinding& io : p.inputs) {
      auto it = dims.find(io.name);
      if (it != dims.end() && it->second != p.tensors[static_cast<size_t>(io.tensor)].dims) match = false;
    }
    if (match) return v;
  }
  std::string given, takes;
  for (const auto& [name, d] : dims) given += (given.empty() ? "" : " ") + name + "=" + variantDimsText(d);
  for (size_t v = 0; v < b.variantCount(); ++v) takes += (takes.empty() ? "" : " | ") + variantInputShapes(b.variant(v));
  return Status::invalidArgument("no shape variant of the blob takes {}: it takes {}", given, takes);
}

}  // namespace npuconv
