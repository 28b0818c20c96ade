// calib_stage.cc - see calib_stage.h.
#include "pipeline/calib_stage.h"

#include <unistd.h>

#include <chrono>

#include "formats/support/content_key.h"
#include "formats/support/sha256.h"
#include "pipeline/calib_cache.h"

namespace npuconv {

namespace {

Expected<std::string> digestOf(Sha256Hasher& sha, const std::filesystem::path& file) {
  Expected<std::string> d = sha.hex();
  if (!d) return std::move(d).status().in(file.string());
  return d;
}

}  // namespace

Expected<ModelIdentity> modelIdentity(const std::filesystem::path& model, const OnnxFileInfo& info, Digests digests) {
  const bool sha = digests == Digests::KeyAndSha256;
  ModelIdentity id;
  ContentHasher h;
  Sha256Hasher modelSha;
  NPU_TRY(h.addFile(model, sha ? &modelSha : nullptr));
  if (sha) {
    NPU_ASSIGN_OR_RETURN(id.sha256, digestOf(modelSha, model));
  }
  for (const auto& [location, bytes] : info.externalFiles) {  // std::map: sorted, deterministic
    h.addPart(location);
    Sha256Hasher external;
    const std::filesystem::path file = model.parent_path() / location;
    NPU_TRY(h.addFile(file, sha ? &external : nullptr));
    if (sha) {
      NPU_ASSIGN_OR_RETURN(id.externalSha256[location], digestOf(external, file));
    }
  }
  id.key = h.hex();
  return id;
}

Expected<OptimizedModel> readAndOptimize(const std::filesystem::path& model, const PassOptions& passes,
                                         Digests digests) {
  OnnxFileInfo info;
  NPU_ASSIGN_OR_RETURN(Model m, readOnnx(model, {}, &info));
  NPU_ASSIGN_OR_RETURN(ModelIdentity id, modelIdentity(model, info, digests));
  NPU_ASSIGN_OR_RETURN(std::unique_ptr<PassPipeline> pipeline, PassPipeline::create(passes));
  NPU_TRY(pipeline->runToStandardOps(m, model.string()));
  std::vector<std::filesystem::path> external;
  for (const auto& [location, bytes] : info.externalFiles) external.push_back(model.parent_path() / location);
  return OptimizedModel{std::move(m), std::move(id.key), std::move(id.sha256), std::move(id.externalSha256),
                        std::move(pipeline), std::move(external)};
}

nlohmann::ordered_json calibKeyOptions(const PassOptions& p, const std::vector<std::string>& tensors) {
  nlohmann::ordered_json j;
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
  j["target_file"] = p.target.file;  // its path: the profile's content is not hashed
  j["tensors"] = tensors;
  return j;
}

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

Status checkCalibDataPaths(const CalibDataOptions& d) {
  std::error_code ec;
  for (const auto& p : d.paths)
    if (!std::filesystem::exists(p, ec)) return Status::io("{}: no such file or folder (--calib)", p.string());
  if (!d.textFile.empty() && !std::filesystem::exists(d.textFile, ec))
    return Status::io("{}: no such file (--calib-text)", d.textFile.string());
  if (!d.tokenizer.empty() && !std::filesystem::exists(d.tokenizer, ec))
    return Status::io("{}: no such file (--tokenizer)", d.tokenizer.string());
  return Status::ok();
}

std::string describeCalibSource(const CalibDataOptions& d) {
  if (!d.textFile.empty()) return d.textFile.string() + " (text)";
  std::string s;
  for (const auto& p : d.paths) s += (s.empty() ? "" : ", ") + p.string();
  return s;
}

Expected<CalibStageResult> runCalibStage(const CalibStageOptions& o, const Model& m, const std::string& modelKey) {
  auto start = std::chrono::steady_clock::now();
  CalibStageResult r;
  CalibDataOptions data = o.data;
  if (data.modelDir.empty()) data.modelDir = o.model.parent_path();
  CalibrateOptions copt = o.calibrate;
  copt.tensors = o.observeAll ? std::vector<std::string>{} : tensorsToCalibrate(m, o.quant);
  std::sort(copt.tensors.begin(), copt.tensors.end());  // the key must not depend on the quantizer's order
  copt.threads = o.threads;
  copt.progress = o.diagnostics == stderr && ::isatty(STDERR_FILENO);
  NPU_ASSIGN_OR_RETURN(std::string dataKey, calibDataKey(data));
  std::string key = calibCacheKey(modelKey, dataKey, calibKeyOptions(o.passes, copt.tensors));
  if (!o.cacheFile.empty() && !o.alwaysCompute) {
    NPU_ASSIGN_OR_RETURN(std::optional<CalibrationStats> cached, loadCalibCache(o.cacheFile, key));
    if (cached) {
      if (cached->shardCount != 1)
        return Status::invalidArgument(
            "{}: calibration cache: holds {} of {} shards: merge them all first (npuconv calibrate merge)",
            o.cacheFile.string(), cached->shards.size(), cached->shardCount);
      r.stats = std::move(*cached);
      r.cacheHit = true;
    }
  }
  if (!r.cacheHit || o.keepStream) {
    NPU_ASSIGN_OR_RETURN(r.stream, openCalibData(data, modelInputSpecs(m)));
  }
  if (!r.cacheHit) {
    NPU_ASSIGN_OR_RETURN(r.stats, collectStats(m, *r.stream, copt));
    r.stats.modelKey = modelKey;
    r.stats.dataKey = dataKey;
    if (!o.cacheFile.empty()) NPU_TRY(storeCalibCache(o.cacheFile, key, r.stats));
  }
  NPU_ASSIGN_OR_RETURN(r.ranges, computeRanges(r.stats, copt));
  for (const CalibWarning& w : checkCalibrationHealth(m, r.stats, r.ranges)) {
    if (o.diagnostics) std::fprintf(o.diagnostics, "npuconv: warning: %s\n", w.message.c_str());
    r.warnings.push_back({{"kind", w.kind}, {"tensor", w.tensor}, {"producers", w.producers}, {"message", w.message}});
  }
  if (r.cacheHit && o.diagnostics)
    std::fprintf(o.diagnostics, "npuconv: calibration: statistics of %lld samples from %s (cache hit)\n",
                 static_cast<long long>(r.stats.samples), o.cacheFile.string().c_str());
  nlohmann::ordered_json& s = r.summary;
  s["method"] = calibMethodName(copt.method);
  if (copt.method == CalibMethod::Percentile) s["percentile"] = copt.percentile;
  s["samples"] = r.stats.samples;
  s["tensors"] = r.stats.tensors.size();
  if (copt.shardCount != 1) s["shard"] = std::to_string(copt.shardIndex) + "/" + std::to_string(copt.shardCount);
  s["millis"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  s["data"] = r.stream ? r.stream->describe()
                       : describeCalibSource(data) + " (" + std::to_string(r.stats.samples) + " samples, not read: cache hit)";
  s["data_key"] = dataKey;
  s["cache"] = o.cacheFile.empty() ? "none" : r.cacheHit ? "hit" : "miss";
  s["cache_file"] = o.cacheFile.string();
  s["cache_key"] = key;
  if (!o.keepStream) r.stream.reset();
  return r;
}

}  // namespace npuconv
