// calibration.h - activation statistics gathered by running the float model on calibration
// samples (the executor's observer), and the ranges each method derives from them.
//
// Statistics are exactly mergeable (npuconv calibrate --shard i/n on several machines, then a
// merge, equals one run) and independent of thread count and sample order within a shard.
// Memory is bounded by the number of observed tensors, never by the number of samples.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "converter/exec/sample_stream.h"
#include "converter/ir/model.h"
#include "converter/support/status.h"

namespace npuconv {

enum class CalibMethod { MinMax, Percentile, Entropy, Mse };
Expected<CalibMethod> parseCalibMethod(std::string_view name);  // "minmax", "percentile", "entropy", "mse"
const char* calibMethodName(CalibMethod m);

struct CalibrateOptions {
  CalibMethod method = CalibMethod::Percentile;
  double percentile = 99.999;  // --percentile, for CalibMethod::Percentile
  int threads = 0;            // executor threads (0: all cores)
  bool progress = false;      // a progress bar on stderr (only when it is a terminal)
  /// Values to observe (IR value names); empty: every float tensor the graph produces.
  std::vector<std::string> tensors;
  int64_t shardIndex = 0, shardCount = 1;  // --shard i/n: samples k with k % n == i
};

/// Mergeable statistics of one tensor over all samples seen.
///
/// The histogram is log-scale and independent of the data range: a finite nonzero value goes to
/// the bucket of its magnitude's IEEE float bits with the low 16 bits dropped (exponent and the
/// top 7 mantissa bits: relative resolution 2^-7), positive and negative values apart. Counts
/// are stored densely over the occupied buckets only (quant/observe/float_histogram.h). Merging
/// adds counts, so shards merge exactly.
struct TensorStats {
  double min = 0, max = 0;  // exact, over the finite values (0, 0 when there were none)
  int64_t count = 0;  // elements seen, non-finite ones included
  int64_t samples = 0;  // samples in which the tensor was produced
  /// Positive values: hist[i] counts magnitude bucket histOrigin + i (first and last nonzero).
  std::vector<int64_t> hist;
  int64_t histOrigin = 0;
  /// Negative values by magnitude bucket, as above.
  std::vector<int64_t> negHist;
  int64_t negHistOrigin = 0;
  int64_t zeros = 0;  // +-0 and denormals (|x| < 2^-126)
  int64_t nans = 0, posInfs = 0, negInfs = 0;

  int64_t finiteCount() const { return count - nans - posInfs - negInfs; }
};

/// Statistics per IR value name, plus what they were computed from (for the cache key).
struct CalibrationStats {
  std::map<std::string, TensorStats> tensors;
  int64_t samples = 0;
  std::string modelKey, dataKey;  // content keys of the model and the data
  /// The values observed (CalibrateOptions::tensors, sorted); empty: every float tensor.
  std::vector<std::string> observed;
  /// Which shards of --shard i/n these statistics hold: shardCount 1 with shards {0} is the
  /// whole data (a merge of all n shards becomes that).
  int64_t shardCount = 1;
  std::vector<int64_t> shards = {0};
  /// Adds `other` (another shard of the same model, data and options); an error when keys or
  /// options differ or a shard would be counted twice.
  Status merge(const CalibrationStats& other);
};

/// The calibration cache's JSON form (`--calib-cache`, `npuconv calibrate -o`): lossless.
nlohmann::ordered_json calibStatsToJson(const CalibrationStats& stats);
Expected<CalibrationStats> calibStatsFromJson(const nlohmann::json& j);

/// Runs the model on every sample of `data` and observes the tensors.
Expected<CalibrationStats> collectStats(const Model& m, SampleStream& data, const CalibrateOptions& opt);

/// The range [lo, hi] a method picks for one tensor (lo <= 0 <= hi is NOT implied here; the
/// quantizer widens to include zero).
struct TensorRange {
  float lo = 0, hi = 0;
};
using QuantRanges = std::map<std::string, TensorRange>;  // IR value name -> range

Expected<QuantRanges> computeRanges(const CalibrationStats& stats, const CalibrateOptions& opt);

/// A calibration warning keyed by the user's names: the value, and the original ONNX node
/// names of its producer.
struct CalibWarning {
  std::string tensor;
  std::vector<std::string> producers;
  std::string kind;     // "absurd-range", "constant", "outliers", "saturation", "non-finite"
  std::string message;  // one line
};
std::vector<CalibWarning> checkCalibrationHealth(const Model& m, const CalibrationStats& stats,
                                                 const QuantRanges& ranges);

}  // namespace npuconv
