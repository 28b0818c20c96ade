// shape_variants.cc - see shape_variants.h.
#include "pipeline/shape_variants.h"

namespace npuconv {

Expected<std::vector<std::vector<std::string>>> shapeVariants(const std::vector<std::string>& inputShapes) {
  bool anyList = false;
  for (const std::string& e : inputShapes) anyList = anyList || e.find(',') != std::string::npos;
  if (!anyList) return std::vector<std::vector<std::string>>{inputShapes};
  struct Entry {
    std::string name;
    std::vector<std::string> shapes;
  };
  std::vector<Entry> entries;
  size_t count = 1;
  const Entry* longest = nullptr;
  for (const std::string& e : inputShapes) {
    const size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0)
      return Status::invalidArgument("--input-shape \"{}\": expected NAME=DIMS or NAME=DIMS,DIMS,... (one shape per variant)", e);
    Entry x{e.substr(0, eq), {}};
    const std::string list = e.substr(eq + 1);
    for (size_t at = 0;;) {
      const size_t comma = list.find(',', at);
      std::string s = list.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
      if (s.empty()) return Status::invalidArgument("--input-shape \"{}\": an empty shape in the list", e);
      x.shapes.push_back(std::move(s));
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
    entries.push_back(std::move(x));
  }
  for (const Entry& x : entries)
    if (x.shapes.size() > 1) {
      if (count > 1 && x.shapes.size() != count)
        return Status::invalidArgument(
            "--input-shape: \"{}\" gives {} shapes, \"{}\" gives {}: give every input the same number of shapes, or one "
            "shape for all variants",
            longest->name, count, x.name, x.shapes.size());
      count = x.shapes.size();
      longest = &x;
    }
  std::vector<std::vector<std::string>> variants(count);
  for (size_t v = 0; v < count; ++v)
    for (const Entry& x : entries) variants[v].push_back(x.name + "=" + x.shapes[x.shapes.size() == 1 ? 0 : v]);
  for (size_t a = 0; a < count; ++a)
    for (size_t b = a + 1; b < count; ++b)
      if (variants[a] == variants[b]) {
        std::string shapes;
        for (const std::string& s : variants[a]) shapes += (shapes.empty() ? "" : " ") + s;
        return Status::invalidArgument("--input-shape: shape variants {} and {} are the same ({})", a + 1, b + 1, shapes);
      }
  return variants;
}

}  // namespace npuconv
