#include "formats/calib/dataset_list.h"

#include <algorithm>
#include <sstream>

#include "formats/image/image.h"
#include "formats/support/mapped_file.h"

namespace npuconv {

Expected<std::vector<DatasetListLine>> readDatasetList(const std::filesystem::path& list) {
  NPU_ASSIGN_OR_RETURN(std::string text, readFile(list));
  std::filesystem::path base = list.parent_path();
  std::vector<DatasetListLine> out;
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    DatasetListLine l;
    l.line = n;
    std::istringstream fields(line);
    for (std::string f; fields >> f;) {
      l.paths.push_back(std::filesystem::path(f).is_absolute() ? std::filesystem::path(f) : base / f);
      l.fields.push_back(std::move(f));
    }
    out.push_back(std::move(l));
  }
  return out;
}

Expected<std::vector<std::filesystem::path>> imagesInFolder(const std::filesystem::path& dir) {
  std::error_code ec;
  std::vector<std::filesystem::path> out;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    if (isImagePath(it->path()) && it->is_regular_file(ec)) out.push_back(it->path());
  if (ec) return Status::io("{}: cannot list the folder: {}", dir.string(), ec.message());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.filename().string() < b.filename().string(); });
  return out;
}

}  // namespace npuconv
