// calib_stage.h - the calibration step of a conversion, shared by `npuconv convert` and
// `npuconv calibrate`: both observe the same IR (the model after the passes, right before
// quantization), the same values (tensorsToCalibrate) and key the statistics the same way, so a
// file `calibrate` writes (or a merge of its shards) is exactly convert's --calib-cache.
#pragma once

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "converter/exec/sample_stream.h"
#include "converter/ir/model.h"
#include "converter/support/status.h"
#include "formats/calib/calib_data.h"
#include "formats/onnx/onnx_reader.h"
#include "pipeline/pass_pipeline.h"
#include "quant/calibration.h"
#include "quant/quantize.h"

namespace npuconv {

/// What names a source model, all from one read of its files.
struct ModelIdentity {
  /// The content key (xxHash64) of the model file plus its external data files: for caches.
  std::string key;
  /// SHA-256 of the .onnx file's bytes alone, as `sha256sum model.onnx` prints it: for the
  /// blob's provenance and the report (docs/blob-format.md, PROV).
  std::string sha256;
  /// SHA-256 of each external data file, keyed by its location as the model writes it
  /// (relative to the model's folder); std::map: in byte order of the locations.
  std::map<std::string, std::string> externalSha256;
};
/// Which digests a caller needs: the SHA-256s cost a second hash over every byte (~1 s per GiB),
/// and only what is written for the user (the blob's PROV, report.json) shows them.
enum class Digests { KeyOnly, KeyAndSha256 };
Expected<ModelIdentity> modelIdentity(const std::filesystem::path& model, const OnnxFileInfo& info,
                                      Digests digests = Digests::KeyAndSha256);

/// A model read and run through the passes up to quantization (PassPipeline::runToStandardOps).
struct OptimizedModel {
  Model model;
  std::string modelKey;
  std::string modelSha256;                              // ModelIdentity::sha256 (empty: KeyOnly)
  std::map<std::string, std::string> externalSha256;    // ModelIdentity::externalSha256 (empty: KeyOnly)
  std::unique_ptr<PassPipeline> pipeline;  // runFinal still to run
  std::vector<std::filesystem::path> externalFiles;  // the model's external data files (their paths)
};
Expected<OptimizedModel> readAndOptimize(const std::filesystem::path& model, const PassOptions& passes,
                                         Digests digests = Digests::KeyAndSha256);

/// What shapes the statistics besides model and data: the options that decide the graph whose
/// values are observed (pass, shape, layout and target options) and the observed values
/// (which carry the quantizer options that matter). Not the calibration method (statistics are
/// histograms; the method is applied when ranges are computed), threads, shards or paths.
nlohmann::ordered_json calibKeyOptions(const PassOptions& p, const std::vector<std::string>& tensors);

struct CalibStageOptions {
  CalibDataOptions data;         // modelDir defaults to the model's folder
  CalibrateOptions calibrate;    // method, percentile, shard; tensors and threads are set here
  QuantizeOptions quant;         // decides tensorsToCalibrate
  PassOptions passes;            // part of the key
  std::filesystem::path model;   // for modelDir and messages
  int threads = 0;
  /// convert: the --calib-cache file, reused when it holds the key, else written.
  /// calibrate: the output file, always computed and written.
  std::filesystem::path cacheFile;
  bool alwaysCompute = false;
  bool keepStream = false;       // leave the data open (bias correction reads it again)
  /// Every float tensor, not only tensorsToCalibrate's: the mixed-precision search turns layers
  /// float, and the int8 layers next to them then read tensors the int8 plan never quantized.
  bool observeAll = false;
  std::FILE* diagnostics = stderr;  // health warnings; nullptr: silent
};

struct CalibStageResult {
  CalibrationStats stats;
  QuantRanges ranges;
  std::unique_ptr<SampleStream> stream;  // open when keepStream
  bool cacheHit = false;
  /// The report's "calibration" section: method, percentile, samples, tensors, millis, data,
  /// data_key, cache ("hit" | "miss" | "none"), cache_file, cache_key.
  nlohmann::ordered_json summary;
  /// Health warnings as report entries ({"kind", "tensor", "producers", "message"}).
  nlohmann::ordered_json warnings = nlohmann::ordered_json::array();
};

/// Calibrates `m` (the optimized model) with its content key `modelKey`.
Expected<CalibStageResult> runCalibStage(const CalibStageOptions& o, const Model& m, const std::string& modelKey);

/// The graph inputs calibration data fills (those without an initializer default).
std::vector<ModelInputSpec> modelInputSpecs(const Model& m);

/// The calibration data paths exist: an I/O error (exit 5) naming the path and its option.
Status checkCalibDataPaths(const CalibDataOptions& d);

/// What the data options name, without reading the data (the report on a cache hit):
/// "calib.npz", "a.npy, b.npy", "sentences.txt (text)".
std::string describeCalibSource(const CalibDataOptions& d);

}  // namespace npuconv
