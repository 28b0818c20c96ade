// calibrate.cc - see calibrate.h.
#include "pipeline/calibrate.h"

#include "quant/equalize.h"

namespace npuconv {

CalibStageOptions calibStageOptions(const ConvertOptions& o) {
  CalibStageOptions c;
  c.data = o.calib;
  c.calibrate = o.calibrate;
  c.quant = o.quant;
  c.passes = o.passes;
  c.model = o.model;
  c.threads = o.threads;
  c.cacheFile = o.calibCache;
  c.diagnostics = o.diagnostics;
  return c;
}

Expected<nlohmann::ordered_json> equalizeBeforeCalibration(const ConvertOptions& o, Model& m, int64_t limit,
                                                          std::string& modelKey, std::vector<EqualizedPair>* chosen) {
  if (o.precision != Precision::Int8 || !o.equalize) return nlohmann::ordered_json::array();
  CalibDataOptions d = o.calib;
  if (d.modelDir.empty()) d.modelDir = o.model.parent_path();
  EqualizeOptions eo;
  eo.threads = o.threads;
  if (limit > 0) eo.samples = std::min(eo.samples, limit);
  d.maxSamples = eo.samples;
  NPU_ASSIGN_OR_RETURN(std::unique_ptr<SampleStream> data, openCalibData(d, modelInputSpecs(m)));
  NPU_ASSIGN_OR_RETURN(nlohmann::ordered_json pairs, equalizeDepthwiseInputs(m, *data, eo, chosen));
  if (!pairs.empty()) modelKey += "+equalized-depthwise-inputs";
  return pairs;
}

Expected<nlohmann::ordered_json> runCalibrate(const ConvertOptions& o, const std::filesystem::path& output) {
  if (o.precision != Precision::Int8)
    return Status::invalidArgument("--precision {}: calibrate collects the statistics of --precision int8 only",
                                   precisionName(o.precision));
  if (o.calib.paths.empty() && o.calib.textFile.empty())
    return Status::invalidArgument("calibrate: give --calib PATH or --calib-text FILE");
  if (!o.calib.textFile.empty() && !o.calib.paths.empty())
    return Status::invalidArgument("--calib and --calib-text: give one kind of calibration data");
  if (output.empty()) return Status::invalidArgument("calibrate: give -o STATS.json");
  if (o.threads < 0) return Status::invalidArgument("--threads {}: must be 0 (all cores) or more", o.threads);
  NPU_TRY(checkCalibDataPaths(o.calib));
  // The statistics file carries the content key only (no SHA-256: nothing shows it).
  NPU_ASSIGN_OR_RETURN(OptimizedModel opt, readAndOptimize(o.model, o.passes, Digests::KeyOnly));
  CalibStageOptions c = calibStageOptions(o);
  c.cacheFile = output;
  c.alwaysCompute = true;
  auto eq = equalizeBeforeCalibration(o, opt.model, o.calib.maxSamples, opt.modelKey);
  if (!eq) return std::move(eq).status().in(o.model.string());
  auto r = runCalibStage(c, opt.model, opt.modelKey);
  if (!r) return std::move(r).status().in(o.model.string());
  return std::move(r->summary);
}

}  // namespace npuconv
