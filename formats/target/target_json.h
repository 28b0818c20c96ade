// target_json.h - target profiles in JSON (targets/*.json, `--target-file`), the built-in
// profiles embedded at build time, and placement reports as JSON.
//
// The schema is documented in docs/targets.md. Parsing is strict: an unknown key, a wrong type
// or a bad value is an error naming the file and the key path, e.g.
// `rk3588.json: ops.Conv.max_kernel: expected an integer`.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "converter/support/status.h"
#include "converter/target/target_profile.h"

namespace npuconv {

/// Parses a profile from JSON text; `origin` (a file name) prefixes every error.
/// Errors are InvalidArgument.
Expected<TargetProfile> parseTargetProfile(std::string_view text, const std::string& origin);
/// Reads and parses a profile file: an Io error when it cannot be read.
Expected<TargetProfile> loadTargetProfile(const std::filesystem::path& path);

/// The profile in the schema parseTargetProfile reads (parse(toJson(p)) == p).
nlohmann::ordered_json targetProfileToJson(const TargetProfile& p);

/// Built-in profiles, embedded from targets/*.json: file name and contents, sorted by file name.
struct BuiltinTargetFile {
  std::string_view file;
  std::string_view json;
};
const std::vector<BuiltinTargetFile>& builtinTargetFiles();
/// The names of the built-in profiles (file names without `.json`), sorted.
std::vector<std::string> builtinTargetNames();
/// A built-in profile by name: InvalidArgument listing the known names when there is none.
Expected<TargetProfile> builtinTarget(std::string_view name);
/// The name of the profile used when none is given.
inline constexpr std::string_view kDefaultTarget = "generic_npu";

/// `{"target", "node_count", "on_npu", "on_cpu", "ops": [{"op", "npu", "cpu", "reasons"}],
/// "nodes": [{"name", "original_names", "op", "device", "reason"}]}`; device is "npu" or
/// "cpu", and reason is present for the CPU only.
nlohmann::ordered_json placementToJson(const TargetProfile& p, const std::vector<NodePlacement>& placement);

}  // namespace npuconv
