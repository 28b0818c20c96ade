// dataset_list.h - the files behind calibration data paths, shared by the reader and the
// content key: RKNN-style dataset lists and image folders.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "converter/support/status.h"

namespace npuconv {

struct DatasetListLine {
  int line = 0;                                // 1-based, for errors
  std::vector<std::string> fields;             // as written
  std::vector<std::filesystem::path> paths;    // resolved against the list's folder
};

/// Reads a dataset list: one sample per line, paths separated by spaces or tabs, relative to
/// the list's folder; blank lines and lines starting with '#' skipped.
Expected<std::vector<DatasetListLine>> readDatasetList(const std::filesystem::path& list);

/// The .png/.jpg/.jpeg files directly in `dir`, sorted by name (byte order).
Expected<std::vector<std::filesystem::path>> imagesInFolder(const std::filesystem::path& dir);

}  // namespace npuconv
