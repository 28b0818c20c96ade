// calib_cache.cc - see calib_cache.h.
#include "pipeline/calib_cache.h"

#include "formats/support/content_key.h"
#include "formats/support/mapped_file.h"
#include "pipeline/version.h"

namespace npuconv {

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
  std::string text = j.dump(1) + "\n";
  NPU_ASSIGN_OR_RETURN(auto f, AtomicFile::create(path));
  NPU_TRY(f->write(text.data(), text.size()));
  return f->commit();
}

}  // namespace npuconv
