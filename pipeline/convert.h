// convert.h - `npuconv convert`: read -> passes -> NHWC lowered to standard ops ->
// quantization (calibrated int8, int8-weights, int8-dynamic, fp16) -> placement +
// lower-to-opset -> OUTDIR/model.onnx and a JSON report, both written atomically.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "converter/support/status.h"
#include "formats/calib/calib_data.h"
#include "pipeline/auto_mixed.h"
#include "pipeline/convert_validation.h"
#include "pipeline/pass_pipeline.h"
#include "quant/calibration.h"
#include "quant/quantize.h"

namespace npuconv {

struct ConvertOptions {
  std::filesystem::path model, outDir;
  std::filesystem::path report;  // empty: OUTDIR/report.json
  Precision precision = Precision::Fp32;
  PassOptions passes;            // convert's default pipeline is O2 (set by the CLI)
  int threads = 0;               // executor threads for calibration (0: all cores)
  bool timePasses = false;
  CalibDataOptions calib;        // --calib, --calib-text, --tokenizer, --seq-len, --mean ...
  CalibrateOptions calibrate;    // --calib-method, --percentile (tensors and threads are set here)
  bool biasCorrection = false;
  /// int8: depthwise input equalization before calibration (quant/equalize.h); --no-equalize.
  bool equalize = true;
  // int8: the per-layer error table (report "layer_error") over the first N calibration
  // samples; 0 leaves it out.
  int64_t layerErrorSamples = 8;
  std::filesystem::path calibCache;  // --calib-cache FILE.json
  QuantizeOptions quant;             // quant.mixed: the --mixed-config layers
  std::filesystem::path mixedConfigPath;  // where quant.mixed came from (messages, report)
  AutoMixedOptions autoMixed;             // --auto-mixed: search the config (pipeline/auto_mixed.h)
  ConvertValidation validation;           // --validate-inputs, --reference-outputs, thresholds
  /// --fallback fp16: when int8 misses an accuracy bar (validation thresholds, --auto-mixed's
  /// target), convert to this precision instead. Empty: none.
  std::string fallback;
  bool progress = true;                   // progress bars on stderr when it is a terminal
  /// Where the outputs end up when outDir is a staging folder (pipeline/out_dir.h): the paths
  /// the report names. Empty: outDir.
  std::filesystem::path publishedDir;
  std::FILE* diagnostics = stderr;   // warnings; nullptr: silent
  /// Where each option came from (command line, NPUCONV_* variable, config file): the report's
  /// "option_sources" (cli/option_sources.h). Not part of the key: a value is a value.
  nlohmann::ordered_json optionSources;
  /// Set by the fallback run: why the requested precision was given up (the report's "fallback").
  nlohmann::ordered_json fallbackFrom;
};

struct ConvertResult {
  std::filesystem::path modelPath, reportPath;
  std::filesystem::path mixedConfigPath;  // --auto-mixed: the config it chose (OUTDIR/mixed_config.json)
  /// Non-empty: the outputs are written, but an accuracy target was missed (exit 1).
  std::string accuracyFailure;
  /// Non-empty: --fallback was used (why the requested precision missed); the outputs are the
  /// fallback precision's, and they met the bar.
  std::string fallbackUsed;
  nlohmann::ordered_json report;
  std::vector<std::filesystem::path> externalFiles;  // the input model's external data files
};

Expected<ConvertResult> runConvert(const ConvertOptions& o);

/// The option errors runConvert reports before any work (exit 2 naming the option, 5 a missing file).
Status checkConvertOptions(const ConvertOptions& o);

/// The options as the report's "options" lists them (every option that can change the output,
/// plus --threads).
nlohmann::ordered_json effectiveOptions(const ConvertOptions& o);

}  // namespace npuconv
