// calib_cache.h - the calibration cache (--calib-cache FILE.json): statistics keyed by the model,
// the data and the options that shape them, reused when a later run has the same key.
//
// File: {"key": K, "npuconv_version": V, "stats": calibStatsToJson(...)}. A file with another
// key is not an error: the statistics are recomputed and the file replaced (atomically).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "converter/support/status.h"
#include "quant/calibration.h"

namespace npuconv {

/// Content key of npuconv's version, the model, the data and `options` (canonical JSON).
std::string calibCacheKey(const std::string& modelKey, const std::string& dataKey,
                          const nlohmann::ordered_json& options);
/// The cached statistics when `path` exists and holds `key`; nullopt when it does not exist or
/// holds another key; an error when it exists but cannot be read or parsed (naming the file).
Expected<std::optional<CalibrationStats>> loadCalibCache(const std::filesystem::path& path, const std::string& key);
Status storeCalibCache(const std::filesystem::path& path, const std::string& key, const CalibrationStats& stats);

}  // namespace npuconv
