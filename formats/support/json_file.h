// json_file.h - a JSON file read whole: a missing file is an I/O error (exit 5), invalid JSON a
// one-line error naming the file and nlohmann's position. J = nlohmann::ordered_json keeps the
// file's key order (where order means something, as a mixed-precision config's patterns).
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "converter/support/status.h"
#include "formats/support/mapped_file.h"

namespace npuconv {

/// nlohmann's parse error without its "[json.exception.parse_error.101]" prefix.
std::string jsonParseErrorText(const nlohmann::json::exception& e);

template <class J = nlohmann::json>
Expected<J> readJsonFile(const std::filesystem::path& path) {
  NPU_ASSIGN_OR_RETURN(std::string text, readFile(path));
  try {
    return J::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number past double's range
    return Status::invalidArgument("{}: invalid JSON: {}", path.string(), jsonParseErrorText(e));
  }
}

}  // namespace npuconv
