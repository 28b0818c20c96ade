// calib_cache.cc - see calib_cache.h.
#include "pipeline/calib_cache.h"

#include "formats/support/content_key.h"
#include "formats/support/mapped_file.h"
#include "pipeline/version.h"

namespace npuconv {

namespace {

struct CacheFile {
  std::optional<std::string> key;  // none: bare statistics
  CalibrationStats stats;
};

Expected<CacheFile> readCacheFile(const std::filesystem::path& path) {
  NPU_ASSIGN_OR_RETURN(std::string text, readFile(path));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::invalidArgument("{}: not a JSON object", path.string());
  CacheFile f;
  const nlohmann::json* stats = &j;
  if (j.contains("key")) {
    if (!j["key"].is_string() || !j.contains("stats"))
      return Status::invalidArgument("{}: calibration file: \"key\" without \"stats\"", path.string());
    f.key = j["key"].get<std::string>();
    stats = &j["stats"];
  }
  auto s = calibStatsFromJson(*stats);
  if (!s) return std::move(s).status().in(path.string());
  f.stats = std::move(*s);
  return f;
}

}  // namespace

std::string calibCacheKey(const std::string& modelKey, const std::string& dataKey,
                          const nlohmann::ordered_json& options) {
  ContentHasher h;
  h.addPart(kNpuconvVersion);
  h.addPart(modelKey);
  h.addPart(dataKey);
  h.addPart(options.dump());
  return h.hex();
}

Expected<std::optional<CalibrationStats>> loadCalibCache(const std::filesystem::path& path, const std::string& key) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<CalibrationStats>();
  NPU_ASSIGN_OR_RETURN(std::string text, readFile(path));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Status::invalidArgument("{}: calibration cache: not a JSON object", path.string());
  if (!j.contains("key") || !j["key"].is_string() || !j.contains("stats"))
    return Status::invalidArgument("{}: calibration cache: no \"key\" or \"stats\" (not written by --calib-cache?)",
                                   path.string());
  if (j["key"].get<std::string>() != key) return std::optional<CalibrationStats>();
  auto stats = calibStatsFromJson(j["stats"]);
  if (!stats) return std::move(stats).status().in(path.string() + ": calibration cache");
  return std::optional<CalibrationStats>(std::move(*stats));
}

Status storeCalibCache(const std::filesystem::path& path, const std::string& key, const CalibrationStats& stats) {
  nlohmann::ordered_json j;
  j["key"] = key;
  j["npuconv_version"] = kNpuconvVersion;
  j["stats"] = calibStatsToJson(stats);
  return writeFileAtomically(path, j.dump(1) + "\n");
}


Status mergeCalibCacheFiles(const std::vector<std::filesystem::path>& inputs, const std::filesystem::path& output,
                            std::FILE* diagnostics) {
  if (inputs.empty()) return Status::invalidArgument("calibrate merge: give the files to merge");
  NPU_ASSIGN_OR_RETURN(CacheFile all, readCacheFile(inputs[0]));
  for (size_t i = 1; i < inputs.size(); ++i) {
    NPU_ASSIGN_OR_RETURN(CacheFile next, readCacheFile(inputs[i]));
    if (next.key.has_value() != all.key.has_value())
      return Status::invalidArgument("{}: {} a calibration key, {} {}: files of one kind only", inputs[i].string(),
                                     next.key ? "holds" : "has no", all.key ? "unlike" : "like", inputs[0].string());
    if (all.key && *next.key != *all.key)
      return Status::invalidArgument(
          "{}: calibration key {} differs from {}'s {}: not a shard of the same model, data and options",
          inputs[i].string(), *next.key, inputs[0].string(), *all.key);
    NPU_TRY(std::move(all.stats.merge(next.stats)).in(inputs[i].string()));
  }
  if (all.stats.shardCount != 1 && diagnostics)
    std::fprintf(diagnostics, "npuconv: warning: the merge holds %zu of %lld shards\n", all.stats.shards.size(),
                 static_cast<long long>(all.stats.shardCount));
  if (all.key) return storeCalibCache(output, *all.key, all.stats);
  return writeFileAtomically(output, calibStatsToJson(all.stats).dump() + "\n");
}

}  // namespace npuconv
