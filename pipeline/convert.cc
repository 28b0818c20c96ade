// convert.cc - see convert.h.
#include "pipeline/convert.h"

#include <unistd.h>

#include "converter/ir/verifier.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "formats/support/content_key.h"
#include "formats/support/mapped_file.h"
#include "pipeline/calib_cache.h"
#include "pipeline/pass_report.h"
#include "pipeline/version.h"

namespace npuconv {
namespace {

std::vector<std::string> pathStrings(const std::vector<std::filesystem::path>& v) {
  std::vector<std::string> out;
  for (const auto& p : v) out.push_back(p.string());
  return out;
}

bool hasCalibData(const CalibDataOptions& c) { return !c.paths.empty() || !c.textFile.empty(); }

bool needsCalibData(const ConvertOptions& o) {
  return o.precision == Precision::Int8 || (o.biasCorrection && o.precision == Precision::Int8Weights);
}

/// Option errors found before any work: exit 2 naming the option, or 5 naming a missing file.
Status checkOptions(const ConvertOptions& o) {
  if (o.biasCorrection && o.precision != Precision::Int8 && o.precision != Precision::Int8Weights)
    return Status::invalidArgument("--bias-correction: only with --precision int8 or int8-weights (not {})",
                                   precisionName(o.precision));
  if (needsCalibData(o) && !hasCalibData(o.calib))
    return Status::invalidArgument("--precision {}{} needs calibration data: give --calib PATH or --calib-text FILE",
                                   precisionName(o.precision), o.biasCorrection ? " with --bias-correction" : "");
  if (!needsCalibData(o) && hasCalibData(o.calib))
    return Status::invalidArgument("--calib/--calib-text: --precision {} uses no calibration data",
                                   precisionName(o.precision));
  if (!o.calib.textFile.empty() && o.calib.paths.size() > 0)
    return Status::invalidArgument("--calib and --calib-text: give one kind of calibration data");
  std::error_code ec;
  for (const auto& p : o.calib.paths)
    if (!std::filesystem::exists(p, ec)) return Status::io("{}: no such file or folder (--calib)", p.string());
  if (!o.calib.textFile.empty() && !std::filesystem::exists(o.calib.textFile, ec))
    return Status::io("{}: no such file (--calib-text)", o.calib.textFile.string());
  if (!o.calib.tokenizer.empty() && !std::filesystem::exists(o.calib.tokenizer, ec))
    return Status::io("{}: no such file (--tokenizer)", o.calib.tokenizer.string());
  if (o.threads < 0) return Status::invalidArgument("--threads {}: must be 0 (all cores) or more", o.threads);
  return Status::ok();
}

/// The model file's bytes plus its external data files: the model's identity for caches.
Expected<std::string> modelContentKey(const std::filesystem::path& model, const OnnxFileInfo& info) {
  ContentHasher h;
  NPU_TRY(h.addFile(model));
  for (const auto& [location, bytes] : info.externalFiles) {  // std::map: sorted, deterministic
    h.addPart(location);
    NPU_TRY(h.addFile(model.parent_path() / location));
  }
  return h.hex();
}

/// Calibration data fills the graph inputs that have no initializer default.
std::vector<ModelInputSpec> modelInputSpecs(const Model& m) {
  std::vector<ModelInputSpec> specs;
  for (const Value* v : m.graph->inputs()) {
    if (v->isInitializer()) continue;
    ModelInputSpec s;
    s.name = v->name();
    s.dtype = v->dtype();
    if (v->shape())
      for (const Dim& d : *v->shape()) s.dims.push_back(d.isStatic() ? d.value() : -1);
    specs.push_back(std::move(s));
  }
  return specs;
}

nlohmann::ordered_json effectiveOptions(const ConvertOptions& o) {
  const PassOptions& p = o.passes;
  nlohmann::ordered_json j;
  j["precision"] = precisionName(o.precision);
  j["pipeline"] = p.passes.empty() ? p.pipeline : "";
  j["passes"] = p.passes;
  j["disable"] = p.disabled;
  j["input_shape"] = p.inputShapes;
  j["dim"] = p.dims;
  j["opset"] = p.opset;
  j["pass_option"] = p.passOptions;
  j["layout"] = p.layout;
  j["io_layout"] = p.ioLayout;
  j["target"] = p.target.name;
  j["target_file"] = p.target.file;
  j["threads"] = o.threads;
  j["calib"] = pathStrings(o.calib.paths);
  j["calib_text"] = o.calib.textFile.string();
  j["tokenizer"] = o.calib.tokenizer.string();
  j["seq_len"] = o.calib.seqLen;
  j["mean"] = o.calib.mean;
  j["std"] = o.calib.std;
  j["channel_order"] = o.calib.bgr ? "bgr" : "rgb";
  j["calib_samples"] = o.calib.maxSamples;
  j["calib_method"] = calibMethodName(o.calibrate.method);
  j["percentile"] = o.calibrate.percentile;
  j["bias_correction"] = o.biasCorrection;
  j["calib_cache"] = o.calibCache.string();
  const QuantizeOptions& q = o.quant;
  j["activation_type"] = q.activationType == DType::I8 ? "int8" : "uint8";
  j["weight_type"] = q.weightType == DType::U8 ? "uint8" : "int8";
  j["per_channel"] = q.perChannel;
  j["symmetric_activations"] = q.activationSymmetric;
  j["reduce_range"] = q.reduceRange;
  j["keep_io_types"] = q.keepIoTypes;
  j["fp16_block_ops"] = q.fp16BlockOps;
  j["exclude"] = std::vector<std::string>(q.excludeNodes.begin(), q.excludeNodes.end());
  return j;
}

/// What shapes the statistics: the graph the observed values belong to (pass options), which
/// values are observed, and the calibration settings. Not threads (statistics do not depend on
/// them), nor output paths.
nlohmann::ordered_json cacheKeyOptions(const nlohmann::ordered_json& effective, const std::vector<std::string>& tensors) {
  nlohmann::ordered_json j = effective;
  for (const char* k : {"threads", "calib_cache", "bias_correction", "calib", "calib_text", "tokenizer"})
    j.erase(k);  // the data's identity is its content key, not its path
  j["tensors"] = tensors;
  return j;
}

struct Calibration {
  CalibrationStats stats;
  QuantRanges ranges;
  std::unique_ptr<SampleStream> stream;  // open when bias correction needs the data again
  nlohmann::ordered_json summary;
};

Expected<Calibration> calibrate(const ConvertOptions& o, const Model& m, const std::string& modelKey,
                                const nlohmann::ordered_json& effective, const QuantizeOptions& quant,
                                nlohmann::ordered_json& warnings) {
  Calibration c;
  CalibDataOptions dataOpt = o.calib;
  if (dataOpt.modelDir.empty()) dataOpt.modelDir = o.model.parent_path();
  std::vector<ModelInputSpec> specs = modelInputSpecs(m);
  CalibrateOptions copt = o.calibrate;
  copt.tensors = tensorsToCalibrate(m, quant);
  copt.threads = o.threads;
  copt.progress = o.diagnostics == stderr && ::isatty(STDERR_FILENO);
  NPU_ASSIGN_OR_RETURN(std::string dataKey, calibDataKey(dataOpt));
  std::string key = calibCacheKey(modelKey, dataKey, cacheKeyOptions(effective, copt.tensors));
  bool hit = false;
  if (!o.calibCache.empty()) {
    NPU_ASSIGN_OR_RETURN(std::optional<CalibrationStats> cached, loadCalibCache(o.calibCache, key));
    if (cached) {
      c.stats = std::move(*cached);
      hit = true;
    }
  }
  if (!hit || o.biasCorrection) {
    NPU_ASSIGN_OR_RETURN(c.stream, openCalibData(dataOpt, specs));
  }
  if (!hit) {
    NPU_ASSIGN_OR_RETURN(c.stats, collectStats(m, *c.stream, copt));
    c.stats.modelKey = modelKey;
    c.stats.dataKey = dataKey;
    if (!o.calibCache.empty()) NPU_TRY(storeCalibCache(o.calibCache, key, c.stats));
  }
  NPU_ASSIGN_OR_RETURN(c.ranges, computeRanges(c.stats, copt));
  for (const CalibWarning& w : checkCalibrationHealth(m, c.stats, c.ranges)) {
    if (o.diagnostics) std::fprintf(o.diagnostics, "npuconv: warning: %s\n", w.message.c_str());
    warnings.push_back({{"kind", w.kind}, {"tensor", w.tensor}, {"producers", w.producers}, {"message", w.message}});
  }
  c.summary["method"] = calibMethodName(copt.method);
  if (copt.method == CalibMethod::Percentile) c.summary["percentile"] = copt.percentile;
  c.summary["samples"] = c.stats.samples;
  c.summary["tensors"] = c.stats.tensors.size();
  c.summary["data"] = c.stream ? c.stream->describe() : std::string();
  c.summary["data_key"] = dataKey;
  c.summary["cache"] = {{"file", o.calibCache.string()}, {"key", key}, {"hit", hit}};
  return c;
}

/// A deep copy through the serializer (the IR has no clone): the float reference for bias
/// correction.
Expected<Model> copyModel(const Model& m, const std::filesystem::path& baseDir) {
  return parseOnnxBytes(serializeModel(m), baseDir, "<float model>");
}

Status quantize(const ConvertOptions& o, Model& m, const std::string& modelKey, const nlohmann::ordered_json& effective,
                nlohmann::ordered_json& report, QuantizeReport& qr) {
  nlohmann::ordered_json warnings = nlohmann::ordered_json::array();
  switch (o.precision) {
    case Precision::Fp32:
      break;
    case Precision::Fp16:
      NPU_TRY(convertToFp16(m, o.quant, qr));
      break;
    case Precision::Int8Dynamic:
      NPU_TRY(quantizeDynamic(m, o.quant, qr));
      break;
    case Precision::Int8Weights:
    case Precision::Int8: {
      std::optional<Model> floatModel;
      if (o.biasCorrection) {
        NPU_ASSIGN_OR_RETURN(Model copy, copyModel(m, o.model.parent_path()));
        floatModel.emplace(std::move(copy));
      }
      std::optional<Calibration> cal;
      if (needsCalibData(o)) {
        NPU_ASSIGN_OR_RETURN(Calibration c, calibrate(o, m, modelKey, effective, o.quant, warnings));
        cal.emplace(std::move(c));
        report["calibration"] = cal->summary;
      }
      if (o.precision == Precision::Int8)
        NPU_TRY(quantizeStatic(m, cal->ranges, o.quant, qr));
      else
        NPU_TRY(quantizeWeightsOnly(m, o.quant, qr));
      if (o.biasCorrection) {
        NPU_TRY(cal->stream->rewind());
        NPU_TRY(correctBias(m, *floatModel, *cal->stream, o.threads, qr));
      }
      break;
    }
  }
  for (const std::string& w : qr.warnings) {
    if (o.diagnostics) std::fprintf(o.diagnostics, "npuconv: warning: %s\n", w.c_str());
    warnings.push_back({{"kind", "quantization"}, {"message", w}});
  }
  report["warnings"] = warnings;
  return Status::ok();
}

Status writeText(const std::filesystem::path& path, const std::string& text) {
  NPU_ASSIGN_OR_RETURN(auto f, AtomicFile::create(path));
  NPU_TRY(f->write(text.data(), text.size()));
  return f->commit();
}

}  // namespace

Expected<ConvertResult> runConvert(const ConvertOptions& o) {
  NPU_TRY(checkOptions(o));
  ConvertResult result;
  result.modelPath = o.outDir / "model.onnx";
  result.reportPath = o.report.empty() ? o.outDir / "report.json" : o.report;

  OnnxFileInfo info;
  NPU_ASSIGN_OR_RETURN(Model m, readOnnx(o.model, {}, &info));
  NPU_ASSIGN_OR_RETURN(std::string modelKey, modelContentKey(o.model, info));

  PassOptions po = o.passes;
  po.reportPath = result.reportPath.string();
  NPU_ASSIGN_OR_RETURN(std::unique_ptr<PassPipeline> pipeline, PassPipeline::create(po));
  NPU_TRY(pipeline->runToStandardOps(m, o.model.string()));

  nlohmann::ordered_json& r = result.report;
  r["npuconv_version"] = kNpuconvVersion;
  r["input"] = {{"model", o.model.string()}, {"key", modelKey}};
  nlohmann::ordered_json effective = effectiveOptions(o);
  r["options"] = effective;
  r["precision"] = precisionName(o.precision);
  QuantizeReport qr;
  NPU_TRY(std::move(quantize(o, m, modelKey, effective, r, qr)).in(o.model.string()));
  NPU_TRY(pipeline->runFinal(m, o.model.string()));

  std::error_code ec;
  std::filesystem::create_directories(o.outDir, ec);
  if (ec) return Status::io("{}: cannot create the output folder: {}", o.outDir.string(), ec.message());
  NPU_ASSIGN_OR_RETURN(WriteResult w, writeOnnx(m, result.modelPath));
  if (o.timePasses && o.diagnostics) printPassTimes(pipeline->records(), o.diagnostics);

  r["passes"] = passRecordsToJson(pipeline->records());
  r["quantization"] = {{"nodes", qr.nodes}};
  for (const auto& [key, value] : pipeline->placementReport().items()) r[key] = value;
  r["output"] = {{"model", result.modelPath.string()}, {"model_bytes", w.modelBytes},
                 {"external_bytes", w.externalBytes}, {"external_file", w.externalFile}};
  if (!result.reportPath.parent_path().empty()) std::filesystem::create_directories(result.reportPath.parent_path(), ec);
  NPU_TRY(writeText(result.reportPath, r.dump(2) + "\n"));
  return result;
}

}  // namespace npuconv
