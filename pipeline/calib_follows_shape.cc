// calib_follows_shape.cc - see calib_follows_shape.h.
#include "pipeline/calib_follows_shape.h"

#include <algorithm>
#include <cctype>

#include "formats/calib/dataset_list.h"
#include "formats/image/image.h"

namespace npuconv {

Expected<bool> calibDataFollowsShape(const CalibDataOptions& d) {
  if (!d.textFile.empty()) return true;
  if (d.paths.empty()) return false;
  for (const std::filesystem::path& p : d.paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec) || isImagePath(p)) continue;  // a folder is read for its images
    // openCalibData takes a dataset list only alone; one .npy entry fixes that input's shape.
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (d.paths.size() != 1 || ext != ".txt") return false;
    NPU_ASSIGN_OR_RETURN(std::vector<DatasetListLine> lines, readDatasetList(p));
    for (const DatasetListLine& l : lines)
      for (const std::filesystem::path& entry : l.paths)
        if (!isImagePath(entry)) return false;
    return !lines.empty();
  }
  return true;
}

}  // namespace npuconv
