// calibrate.h - `npuconv calibrate`: the calibration step of `npuconv convert` on its own. Same
// options, same passes, same observed values and same key, so the file it writes (or the merge
// of its shards) is what `convert --calib-cache` reads, and the converted model is byte for byte
// the one direct calibration gives.
#pragma once

#include <filesystem>

#include <nlohmann/json.hpp>

#include "converter/support/status.h"
#include "pipeline/calib_stage.h"
#include "pipeline/convert.h"
#include "quant/equalize.h"

namespace npuconv {

/// The calibration step's options as convert sets them (cache file = --calib-cache).
CalibStageOptions calibStageOptions(const ConvertOptions& o);

/// int8 with o.equalize: depthwise input equalization (quant/equalize.h) of the optimized model,
/// measured on the first 8 samples of o.calib (of the first `limit` when limit > 0, whatever the
/// shard, so every shard rescales alike), before calibration: convert and calibrate observe the
/// same graph. Returns the report's "equalization" entries; `modelKey` gains a mark when the model
/// changed, so statistics of the unequalized graph are never reused for it. `chosen`, when given,
/// receives the rescaled pairs and their scales (the later shape variants apply them).
Expected<nlohmann::ordered_json> equalizeBeforeCalibration(const ConvertOptions& o, Model& m, int64_t limit,
                                                          std::string& modelKey,
                                                          std::vector<EqualizedPair>* chosen = nullptr);

/// Runs the passes of `o` on o.model, calibrates on o.calib (o.calibrate's shard only) and
/// writes the statistics to `output` as {"key", "npuconv_version", "stats"}. `o.precision`
/// must be int8 (the only precision that uses activation statistics). Returns the summary
/// convert's report shows under "calibration".
Expected<nlohmann::ordered_json> runCalibrate(const ConvertOptions& o, const std::filesystem::path& output);

}  // namespace npuconv
