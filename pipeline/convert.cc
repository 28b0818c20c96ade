// convert.cc - see convert.h.
#include "pipeline/convert.h"

#include <chrono>
#include <cmath>

#include "converter/ir/verifier.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "formats/support/content_key.h"
#include "formats/support/mapped_file.h"
#include "pipeline/auto_mixed.h"
#include "pipeline/calib_follows_shape.h"
#include "pipeline/calib_stage.h"
#include "pipeline/calibrate.h"
#include "pipeline/device_blob.h"
#include "pipeline/pass_report.h"
#include "pipeline/shape_variants.h"
#include "pipeline/variant_decisions.h"
#include "pipeline/version.h"
#include "quant/layer_error.h"
#include "quant/precision_summary.h"

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
  if (o.autoMixed.enabled) {
    if (o.precision != Precision::Int8)
      return Status::invalidArgument("--auto-mixed: only with --precision int8 (not {})", precisionName(o.precision));
    if (!o.quant.mixed.empty()) return Status::invalidArgument("--auto-mixed and --mixed-config: give one");
    if (o.autoMixed.target.sqnrDb <= 0 && o.autoMixed.target.cosine <= 0)
      return Status::invalidArgument("--auto-mixed: give --target-sqnr DB or --target-cosine C");
    if (o.autoMixed.target.cosine > 1)
      return Status::invalidArgument("--target-cosine {}: a cosine is at most 1", o.autoMixed.target.cosine);
    if (o.autoMixed.holdOut < 0) return Status::invalidArgument("--holdout-samples {}: must be 1 or more", o.autoMixed.holdOut);
  }
  if (!o.quant.mixed.empty() && o.precision != Precision::Int8)
    return Status::invalidArgument("--mixed-config: only with --precision int8 (not {})", precisionName(o.precision));
  if (o.calibrate.shardCount != 1)
    return Status::invalidArgument("convert: shards are for `npuconv calibrate --shard` (merge them, then --calib-cache)");
  NPU_TRY(checkCalibDataPaths(o.calib));
  if (o.threads < 0) return Status::invalidArgument("--threads {}: must be 0 (all cores) or more", o.threads);
  if (!o.fallback.empty()) {
    if (o.fallback != "fp16") return Status::invalidArgument("--fallback {}: the fallback precision is fp16", o.fallback);
    if (o.precision != Precision::Int8) return Status::invalidArgument("--fallback: only with --precision int8");
    if (!o.validation.enabled() && !o.autoMixed.enabled)
      return Status::invalidArgument("--fallback: needs an accuracy bar: --validate-inputs with thresholds, or --auto-mixed");
  }
  if (!o.validation.enabled() && (!o.validation.referenceOutputs.empty() || o.validation.thresholds.any() ||
                                  !o.validation.perOutput.empty()))
    return Status::invalidArgument("--reference-outputs/--min-cosine/--min-sqnr/--atol/--rtol: give --validate-inputs");
  if (!o.validation.referenceOutputs.empty() && !std::filesystem::exists(o.validation.referenceOutputs))
    return Status::io("--reference-outputs {}: no such file or folder", o.validation.referenceOutputs.string());
  return Status::ok();
}

}  // namespace

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
  j["equalize"] = o.equalize;
  j["layer_error_samples"] = o.layerErrorSamples;
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
  j["mixed_config"] = o.mixedConfigPath.string();
  j["auto_mixed"] = o.autoMixed.enabled;
  j["target_sqnr"] = o.autoMixed.target.sqnrDb;
  j["target_cosine"] = o.autoMixed.target.cosine;
  j["holdout_samples"] = o.autoMixed.holdOut;
  j["validation"] = o.validation.toJson();
  j["fallback"] = o.fallback;
  return j;
}

namespace {

/// A deep copy through the serializer (the IR has no clone): the float reference for bias
/// correction.
Expected<Model> copyModel(const Model& m, const std::filesystem::path& baseDir) {
  return parseOnnxBytes(serializeModel(m), baseDir, "<float model>");
}

/// Wall time of one conversion step, in the report's "timings" (milliseconds): where a slow
/// conversion spends its time, without a profiler.
class ConvertStepTimer {
 public:
  explicit ConvertStepTimer(nlohmann::ordered_json& timings) : timings_(timings) {}
  void done(const char* step) {
    const auto now = std::chrono::steady_clock::now();
    timings_[step] = std::round(std::chrono::duration<double, std::milli>(now - last_).count() * 10) / 10;
    last_ = now;
  }
  void restart() { last_ = std::chrono::steady_clock::now(); }

 private:
  nlohmann::ordered_json& timings_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

/// Each quantized layer fed its float input, against float (quant/layer_error.h), over the first
/// samples of the calibration data: report["layer_error"] and a one-line summary.
Status reportLayerError(const ConvertOptions& o, const Model& floatModel, const Model& quantized,
                        nlohmann::ordered_json& report) {
  CalibDataOptions d = o.calib;
  if (d.modelDir.empty()) d.modelDir = o.model.parent_path();
  d.maxSamples = d.maxSamples > 0 ? std::min(d.maxSamples, o.layerErrorSamples) : o.layerErrorSamples;
  NPU_ASSIGN_OR_RETURN(std::unique_ptr<SampleStream> data, openCalibData(d, modelInputSpecs(floatModel)));
  NPU_ASSIGN_OR_RETURN(nlohmann::ordered_json table, layerErrorTable(floatModel, quantized, *data, o.threads));
  nlohmann::ordered_json summary = layerErrorSummary(table);
  if (o.diagnostics && summary.contains("worst"))
    std::fprintf(o.diagnostics, "npuconv: layer error over %lld samples: %d layer%s, median SQNR %.1f dB, min %.1f dB (%s)\n",
                 static_cast<long long>(d.maxSamples), summary["layers"].get<int>(), summary["layers"] == 1 ? "" : "s",
                 summary["median_sqnr_db"].get<double>(), summary["min_sqnr_db"].get<double>(),
                 summary["worst"].get<std::string>().c_str());
  report["layer_error"] = {{"what", "each quantized layer fed its float input; SQNR and cosine of its output against "
                                    "float, over the first calibration samples"},
                           {"samples", d.maxSamples},
                           {"summary", summary},
                           {"layers", table}};
  return Status::ok();
}

/// What quantization leaves for runConvert beyond the model: the config --auto-mixed chose (to
/// write beside the model) and a missed accuracy target (exit 1 once everything is written).
struct QuantizeOutcome {
  std::optional<nlohmann::ordered_json> mixedConfig;
  std::string accuracyFailure;
  // int8: what the quantizer was given, so the other shape variants are quantized with the same
  // activation ranges and options (and so get the same weight parameters: one copy in the blob).
  std::optional<QuantRanges> ranges;
  QuantRanges wide;
  QuantizeOptions quant;
  // The sample limit the ranges were calibrated with (--auto-mixed: without the held-out
  // samples): a later variant calibrated at its own shape reads the same samples.
  int64_t calibSamples = 0;
  // int8: what the data decided (--auto-mixed's config, equalization scales, bias shifts), for the
  // later shape variants to repeat (pipeline/variant_decisions.h).
  FirstVariantDecisions decisions;
};

/// --auto-mixed: the calibration data split into ranges and held-out samples, the float outputs
/// on the held-out ones cached in the scorer.
struct AutoMixedSetup {
  std::unique_ptr<HeldOutScorer> scorer;
  int64_t calibSamples = 0, heldOut = 0;
};

Expected<AutoMixedSetup> setUpAutoMixed(const ConvertOptions& o, const Model& m) {
  CalibDataOptions d = o.calib;
  if (d.modelDir.empty()) d.modelDir = o.model.parent_path();
  const std::vector<ModelInputSpec> specs = modelInputSpecs(m);
  NPU_ASSIGN_OR_RETURN(std::unique_ptr<SampleStream> all, openCalibData(d, specs));
  auto total = static_cast<int64_t>(all->size());
  if (total == 0)  // size unknown up front: count
    while (true) {
      NPU_ASSIGN_OR_RETURN(std::optional<NamedTensors> s, all->next());
      if (!s) break;
      ++total;
    }
  all.reset();
  AutoMixedSetup setup;
  NPU_ASSIGN_OR_RETURN(setup.heldOut, heldOutCount(total, o.autoMixed.holdOut));
  setup.calibSamples = total - setup.heldOut;
  d.skipSamples = setup.calibSamples;
  d.maxSamples = setup.heldOut;
  NPU_ASSIGN_OR_RETURN(std::unique_ptr<SampleStream> held, openCalibData(d, specs));
  std::vector<NamedTensors> samples;
  while (true) {
    NPU_ASSIGN_OR_RETURN(std::optional<NamedTensors> s, held->next());
    if (!s) break;
    samples.push_back(std::move(*s));
  }
  NPU_ASSIGN_OR_RETURN(setup.scorer, HeldOutScorer::create(m, std::move(samples), o.threads));
  return setup;
}

/// int8 and int8-weights: calibration, the optional mixed-precision search, the quantizer, bias
/// correction, fp16 layers, the per-layer error table and the held-out verification.
Status quantizeInt8(const ConvertOptions& o, const PassPipeline& pipeline, Model& m, const std::string& modelKey,
                    nlohmann::ordered_json& report, nlohmann::ordered_json& warnings, QuantizeReport& qr,
                    QuantizeOutcome& outcome) {
  // A reference into `report` would dangle as keys are added: convertOnce merges these into its own.
  nlohmann::ordered_json timings = nlohmann::ordered_json::object();
  ConvertStepTimer timer(timings);
  QuantizeOptions quant = o.quant;
  std::optional<AutoMixedSetup> autoMixed;
  if (o.autoMixed.enabled) {
    NPU_ASSIGN_OR_RETURN(AutoMixedSetup setup, setUpAutoMixed(o, m));
    autoMixed.emplace(std::move(setup));
  }
  timer.restart();
  std::string calibKey = modelKey;
  if (o.precision == Precision::Int8) {
    // Before calibration: the statistics (and the search) see the rescaled model.
    NPU_ASSIGN_OR_RETURN(nlohmann::ordered_json eq,
                         equalizeBeforeCalibration(o, m, autoMixed ? autoMixed->calibSamples : o.calib.maxSamples, calibKey,
                                                   &outcome.decisions.equalized));
    if (!eq.empty()) {
      report["equalization"] = {{"what", "depthwise Conv inputs rescaled per channel (quant/equalize.h): spread = largest "
                                         "/ smallest channel max |x| on the first calibration samples"},
                                {"pairs", std::move(eq)}};
      timer.done("equalization");
    }
  }
  // The float reference of bias correction and the layer table: after equalization, so each
  // quantized layer is compared with (and fed) the tensors of the same rescaled float model.
  std::optional<Model> floatModel;
  const bool layerError = o.precision == Precision::Int8 && o.layerErrorSamples > 0;
  if (o.biasCorrection || layerError) {
    NPU_ASSIGN_OR_RETURN(Model copy, copyModel(m, o.model.parent_path()));
    floatModel.emplace(std::move(copy));
  }
  timer.restart();
  const std::vector<LayerPrecision> higher = higherPrecisions(pipeline.forTarget() ? &pipeline.target() : nullptr);
  std::optional<CalibStageResult> cal;
  std::unique_ptr<SampleStream> data;
  if (o.precision == Precision::Int8) {
    CalibStageOptions co = calibStageOptions(o);
    co.keepStream = o.biasCorrection;
    if (autoMixed) {
      co.data.maxSamples = autoMixed->calibSamples;
      co.observeAll = true;
    }
    NPU_ASSIGN_OR_RETURN(CalibStageResult c, runCalibStage(co, m, calibKey));
    cal.emplace(std::move(c));
    report["calibration"] = cal->summary;
    for (auto& w : cal->warnings) warnings.push_back(std::move(w));
    data = std::move(cal->stream);
    timer.done("calibration");
  } else if (o.biasCorrection) {
    // int8-weights: bias correction reads the data; no activation statistics are needed.
    CalibDataOptions d = o.calib;
    if (d.modelDir.empty()) d.modelDir = o.model.parent_path();
    NPU_ASSIGN_OR_RETURN(data, openCalibData(d, modelInputSpecs(m)));
    report["calibration"] = {{"data", data->describe()}};
  }
  if (o.precision == Precision::Int8) {
    QuantRanges wide;  // 16-bit layers: the observed min/max, no clipping
    const bool wantsWide = quant.mixed.mentions(LayerPrecision::Int16) ||
                           (autoMixed && std::find(higher.begin(), higher.end(), LayerPrecision::Int16) != higher.end());
    if (wantsWide) {
      CalibrateOptions minmax = o.calibrate;
      minmax.method = CalibMethod::MinMax;
      NPU_ASSIGN_OR_RETURN(wide, computeRanges(cal->stats, minmax));
    }
    if (autoMixed) {
      MixedSearchOptions so;
      so.target = o.autoMixed.target;
      so.higher = higher;
      so.progress = o.progress;
      NPU_ASSIGN_OR_RETURN(MixedSearchResult r, runAutoMixedSearch(m, cal->ranges, wide, quant, *autoMixed->scorer, so));
      quant.mixed = r.config;
      outcome.decisions.mixedSearched = true;
      outcome.decisions.mixed = r.config;
      nlohmann::ordered_json j = r.toJson(so.target);
      j["held_out_samples"] = autoMixed->heldOut;
      j["calibration_samples"] = autoMixed->calibSamples;
      report["auto_mixed"] = std::move(j);
      outcome.mixedConfig = mixedConfigToJson(r.config);
      timer.done("auto_mixed_search");
      if (o.diagnostics) {
        int kept = 0;
        for (const LayerChoice& L : r.layers) kept += L.precision != LayerPrecision::Int8;
        std::fprintf(o.diagnostics,
                     "npuconv: auto-mixed: %d of %zu layers %s; held-out %s: int8 %.2f dB / cos %.5f -> %.2f dB / cos "
                     "%.5f (%d evaluations, %.0f s)\n",
                     kept, r.units, layerPrecisionName(r.higher),
                     so.target.describe().c_str(), r.int8Score.sqnrDb, r.int8Score.cosine, r.finalScore.sqnrDb,
                     r.finalScore.cosine, r.evaluations, r.seconds);
      }
    }
    NPU_TRY(quantizeStatic(m, cal->ranges, quant, qr, wide));
    outcome.ranges = cal->ranges;
    outcome.wide = wide;
    outcome.quant = quant;
    outcome.calibSamples = autoMixed ? autoMixed->calibSamples : o.calib.maxSamples;
  } else {
    NPU_TRY(quantizeWeightsOnly(m, quant, qr));
  }
  timer.done("quantize");
  // --auto-mixed scored its candidates without bias correction: the model it measured is kept,
  // so a correction that costs the target on the held-out samples can be undone (the held-out
  // verification below decides).
  std::optional<Model> uncorrected;
  if (autoMixed && o.biasCorrection) {
    NPU_ASSIGN_OR_RETURN(Model copy, copyModel(m, o.model.parent_path()));
    uncorrected.emplace(std::move(copy));
  }
  if (o.biasCorrection) {
    NPU_TRY(data->rewind());
    NPU_TRY(correctBias(m, *floatModel, *data, o.threads, qr, &outcome.decisions.biasShifts));
    timer.done("bias_correction");
  }
  auto fp16Layers = [&](Model& x, QuantizeReport& r) -> Status {
    if (!quant.mixed.mentions(LayerPrecision::Fp16)) return Status::ok();
    QuantizeOptions half = quant;
    half.keepIoTypes = true;  // the int8 and float32 layers around keep float32 interfaces
    return convertToFp16(x, half, r);
  };
  NPU_TRY(fp16Layers(m, qr));
  data.reset();
  if (autoMixed) {
    // The model as written (bias correction included), scored on the held-out samples.
    NPU_ASSIGN_OR_RETURN(MixedScore s, autoMixed->scorer->score(m));
    nlohmann::ordered_json& j = report["auto_mixed"];
    auto scoreJson = [](const MixedScore& x) {
      return nlohmann::ordered_json{{"sqnr_db", std::round(x.sqnrDb * 100) / 100},
                                    {"min_cosine", std::round(x.cosine * 1e6) / 1e6}};
    };
    if (!o.autoMixed.target.meets(s) && uncorrected) {
      QuantizeReport scratch;
      NPU_TRY(fp16Layers(*uncorrected, scratch));
      NPU_ASSIGN_OR_RETURN(MixedScore u, autoMixed->scorer->score(*uncorrected));
      if (o.autoMixed.target.meets(u)) {
        nlohmann::ordered_json with = scoreJson(s);
        j["bias_correction"] = {{"dropped", true}, {"with_it", with}, {"without", scoreJson(u)}};
        qr.warnings.push_back(fmt::format(
            "--auto-mixed: bias correction lowers the held-out score below {} (SQNR {:.2f} dB, min cosine {:.6f}); the "
            "model is written without it, as the search measured it",
            o.autoMixed.target.describe(), s.sqnrDb, s.cosine));
        m = std::move(*uncorrected);
        s = u;
        outcome.decisions.biasShifts.clear();  // the later shape variants go without it too
      }
    }
    uncorrected.reset();
    nlohmann::ordered_json v = scoreJson(s);
    v["met"] = o.autoMixed.target.meets(s);
    j["verified"] = std::move(v);
    if (!o.autoMixed.target.meets(s))
      outcome.accuracyFailure = fmt::format(
          "--auto-mixed: the converted model misses {} on the {} held-out samples (SQNR {:.2f} dB, min cosine {:.6f}); "
          "it is written with the best mix found, see report \"auto_mixed\"",
          o.autoMixed.target.describe(), autoMixed->heldOut, s.sqnrDb, s.cosine);
  }
  if (layerError) {
    timer.restart();
    NPU_TRY(reportLayerError(o, *floatModel, m, report));
    timer.done("layer_error");
  }
  report["timings"] = std::move(timings);
  return Status::ok();
}

Status quantize(const ConvertOptions& o, const PassPipeline& pipeline, Model& m, const std::string& modelKey,
                nlohmann::ordered_json& report, QuantizeReport& qr, QuantizeOutcome& outcome) {
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
    case Precision::Int8:
      NPU_TRY(quantizeInt8(o, pipeline, m, modelKey, report, warnings, qr, outcome));
      break;
  }
  for (const std::string& w : qr.warnings) {
    if (o.diagnostics) std::fprintf(o.diagnostics, "npuconv: warning: %s\n", w.c_str());
    warnings.push_back({{"kind", "quantization"}, {"message", w}});
  }
  report["warnings"] = warnings;
  return Status::ok();
}

/// The config names what the optimized graph has, and the target computes what it asks for.
Status checkMixedTarget(const ConvertOptions& o, const Model& m, const PassPipeline& pipeline) {
  const std::string source = o.mixedConfigPath.empty() ? std::string("mixed-precision config") : o.mixedConfigPath.string();
  NPU_TRY(checkMixedConfigKeys(o.quant.mixed, *m.graph, source));
  if (!pipeline.forTarget()) return Status::ok();
  const QuantizationSupport& q = pipeline.target().quantization;
  if (o.quant.mixed.mentions(LayerPrecision::Int16) && !q.int16Activations)
    return Status::unsupported("{}: int16 layers: target {} has no 16-bit activations (its profile's "
                               "quantization.int16_activations is false); use fp16 or fp32",
                               source, pipeline.target().name);
  if (o.quant.mixed.mentions(LayerPrecision::Fp16) && !q.fp16)
    return Status::unsupported("{}: fp16 layers: target {} computes no float16; use int16 or fp32 (CPU)", source,
                               pipeline.target().name);
  return Status::ok();
}

/// Several shapes (--input-shape NAME=A,B): the precisions whose variants share one device blob.
/// --auto-mixed, bias correction and equalization are decided on the first variant and repeated
/// by the later ones (pipeline/variant_decisions.h).
Status checkVariantOptions(const ConvertOptions& o) {
  if (o.precision != Precision::Int8 && o.precision != Precision::Fp16)
    return Status::invalidArgument("--input-shape with several shapes: only with --precision int8 or fp16 (the shapes "
                                   "share one device blob), not {}",
                                   precisionName(o.precision));
  return Status::ok();
}

/// A later shape variant: the passes at its shapes, the first variant's equalization scales, then
/// the quantizer with the first variant's options (its --auto-mixed config included) and its
/// bias shifts (pipeline/variant_decisions.h). Weights get the same int8 parameters in every
/// variant (they depend on the weights alone, equalized alike), so the blob stores them once.
/// Activation ranges: data that follows the shape (pipeline/calib_follows_shape.h) calibrates
/// the variant again, same samples and method, at its own shape: text tokenized at its sequence
/// length, images resized to its height and width (a sum over the sequence grows with it, and a
/// detector's activations change with the image's scale: ranges of another shape clip or waste
/// levels). Tensor data has one shape, so the variant takes the first variant's ranges.
/// `calibration` says which.
Expected<Model> compileShapeVariant(const ConvertOptions& o, const std::vector<std::string>& shapes, const QuantizeOutcome& q,
                                    bool ownCalibration, std::string& calibration) {
  PassOptions po = o.passes;
  po.inputShapes = shapes;
  po.printIrAfter.clear();
  // The first variant has hashed the same files: the key is all a variant needs.
  NPU_ASSIGN_OR_RETURN(OptimizedModel opt, readAndOptimize(o.model, po, Digests::KeyOnly));
  Model& m = opt.model;
  const std::string where = fmt::format("shape variant {}", fmt::join(shapes, ","));
  QuantizeReport qr;
  if (o.precision == Precision::Fp16) {
    NPU_TRY(convertToFp16(m, o.quant, qr));
  } else {
    NPU_CHECK(q.ranges.has_value(), "int8 variants need the first variant's ranges");
    QuantRanges ranges = *q.ranges, wide = q.wide;
    calibration = "ranges of the first variant (calibration data of one shape)";
    NPU_TRY(equalizeLikeFirstVariant(m, q.decisions, opt.modelKey).in(where));
    if (ownCalibration) {
      CalibStageOptions co = calibStageOptions(o);
      co.quant = q.quant;  // the values the first variant's (searched) mixed config quantizes
      co.passes.inputShapes = shapes;
      co.data.seqLen = 0;  // text: the variant's frozen sequence length (images: its frozen H and W)
      co.data.maxSamples = q.calibSamples;
      co.cacheFile.clear();  // the file holds the first variant's statistics
      co.diagnostics = nullptr;
      NPU_ASSIGN_OR_RETURN(CalibStageResult c, runCalibStage(co, m, opt.modelKey));
      ranges = std::move(c.ranges);
      if (!q.wide.empty()) {
        CalibrateOptions minmax = o.calibrate;
        minmax.method = CalibMethod::MinMax;
        NPU_ASSIGN_OR_RETURN(wide, computeRanges(c.stats, minmax));
      }
      calibration = fmt::format("own: {} samples at its {}", c.summary.value("samples", int64_t{0}),
                                o.calib.textFile.empty() ? "input shape" : "sequence length");
    }
    std::optional<Model> floatModel;  // bias correction finds its layers by comparing with it
    if (!q.decisions.biasShifts.empty()) {
      NPU_ASSIGN_OR_RETURN(Model copy, copyModel(m, o.model.parent_path()));
      floatModel.emplace(std::move(copy));
    }
    NPU_TRY(quantizeStatic(m, ranges, q.quant, qr, wide));
    if (floatModel) NPU_TRY(correctBiasLikeFirstVariant(m, *floatModel, q.decisions, qr).in(where));
    if (q.quant.mixed.mentions(LayerPrecision::Fp16)) {
      QuantizeOptions half = q.quant;
      half.keepIoTypes = true;
      NPU_TRY(convertToFp16(m, half, qr));
    }
  }
  NPU_TRY(opt.pipeline->runFinal(m, o.model.string()));
  return std::move(opt.model);
}

}  // namespace

Status checkConvertOptions(const ConvertOptions& o) {
  NPU_ASSIGN_OR_RETURN(std::vector<std::vector<std::string>> variants, shapeVariants(o.passes.inputShapes));
  if (variants.size() > 1) NPU_TRY(checkVariantOptions(o));
  return checkOptions(o);
}

/// One conversion at o.precision (runConvert adds the fallback).
Expected<ConvertResult> convertOnce(const ConvertOptions& given) {
  NPU_ASSIGN_OR_RETURN(std::vector<std::vector<std::string>> variants, shapeVariants(given.passes.inputShapes));
  if (variants.size() > 1) NPU_TRY(checkVariantOptions(given));
  // The first shape variant is the conversion as with one shape: model.onnx, the calibration,
  // the report, and what the data decides (--auto-mixed, equalization, bias correction), which
  // the later variants repeat (compileShapeVariant).
  ConvertOptions o = given;
  o.passes.inputShapes = variants[0];
  NPU_TRY(checkOptions(o));
  ConvertResult result;
  result.modelPath = o.outDir / "model.onnx";
  result.reportPath = o.report.empty() ? o.outDir / "report.json" : o.report;

  PassOptions po = o.passes;
  po.reportPath = result.reportPath.string();
  nlohmann::ordered_json& r = result.report;
  nlohmann::ordered_json timings = nlohmann::ordered_json::object();
  ConvertStepTimer timer(timings);
  NPU_ASSIGN_OR_RETURN(OptimizedModel opt, readAndOptimize(o.model, po));
  timer.done("import_and_passes");
  Model& m = opt.model;
  const std::string& modelKey = opt.modelKey;
  PassPipeline* pipeline = opt.pipeline.get();

  result.externalFiles = opt.externalFiles;
  // Staged (pipeline/out_dir.h): the report names the paths the files are published under.
  const std::filesystem::path shownDir = o.publishedDir.empty() ? o.outDir : o.publishedDir;
  auto shown = [&](const std::filesystem::path& p) {
    return o.publishedDir.empty() || p.parent_path() != o.outDir ? p : shownDir / p.filename();
  };

  r["npuconv_version"] = kNpuconvVersion;
  uint64_t inputBytes = 0;
  std::error_code sizeEc;
  for (const std::filesystem::path& p : opt.externalFiles) inputBytes += std::filesystem::file_size(p, sizeEc);
  inputBytes += std::filesystem::file_size(o.model, sizeEc);
  r["input"] = {{"model", o.model.string()}, {"key", modelKey}, {"sha256", opt.modelSha256}, {"model_bytes", inputBytes}};
  if (!opt.externalSha256.empty()) r["input"]["external_data_sha256"] = opt.externalSha256;
  nlohmann::ordered_json effective = effectiveOptions(given);
  r["options"] = effective;
  if (!o.optionSources.is_null()) r["option_sources"] = o.optionSources;
  r["precision"] = precisionName(o.precision);
  if (!o.quant.mixed.empty()) NPU_TRY(checkMixedTarget(o, m, *pipeline));
  QuantizeReport qr;
  QuantizeOutcome outcome;
  timer.restart();
  NPU_TRY(std::move(quantize(o, *pipeline, m, modelKey, r, qr, outcome)).in(o.model.string()));
  if (r.contains("timings")) {  // int8's own steps
    for (const auto& [step, ms] : r["timings"].items()) timings[step] = ms;
    r.erase("timings");
  } else if (o.precision != Precision::Fp32) {
    timer.done("quantize");
  }
  timer.restart();
  NPU_TRY(pipeline->runFinal(m, o.model.string()));
  timer.done("final_passes");

  std::error_code ec;
  std::filesystem::create_directories(o.outDir, ec);
  if (ec) return Status::io("{}: cannot create the output folder: {}", o.outDir.string(), ec.message());
  NPU_ASSIGN_OR_RETURN(WriteResult w, writeOnnx(m, result.modelPath));
  timer.done("write_onnx");
  if (outcome.mixedConfig) {
    result.mixedConfigPath = o.outDir / "mixed_config.json";
    NPU_TRY(writeFileAtomically(result.mixedConfigPath, outcome.mixedConfig->dump(2) + "\n"));
    r["auto_mixed"]["config_file"] = shown(result.mixedConfigPath).string();
  }
  if (o.precision == Precision::Int8 || o.precision == Precision::Fp16) {  // OUTDIR/model.npub (issue 11)
    DeviceBlobRequest b{o.outDir / "model.npub", o.model.string(), modelKey, o.passes.pipeline,
                        pipeline->forTarget() ? pipeline->target().name : "", precisionName(o.precision),
                        o.precision == Precision::Int8 ? calibMethodName(o.calibrate.method) : "",
                        r.contains("calibration") ? r["calibration"].value("samples", int64_t{0}) : 0,
                        opt.modelSha256, opt.externalSha256};
    std::vector<Model> more;
    std::vector<std::string> calibrations;
    bool ownCalibration = false;  // the later variants calibrated at their own shapes
    if (o.precision == Precision::Int8 && variants.size() > 1) {
      NPU_ASSIGN_OR_RETURN(ownCalibration, calibDataFollowsShape(o.calib));
    }
    for (size_t v = 1; v < variants.size(); ++v) {
      std::string how;
      NPU_ASSIGN_OR_RETURN(Model x, compileShapeVariant(o, variants[v], outcome, ownCalibration, how));
      more.push_back(std::move(x));
      if (o.precision == Precision::Int8 && !ownCalibration) {
        // Ranges of another shape can clip what grows with the shape (a sum over the sequence):
        // say so where the user looks, not only in the report's variant table.
        std::string w = fmt::format("shape variant {} takes the activation ranges calibrated at {} (the calibration data "
                                    "has one shape); validate it with inputs of its shape",
                                    fmt::join(variants[v], ","), fmt::join(variants[0], ","));
        if (o.diagnostics) std::fprintf(o.diagnostics, "npuconv: warning: %s\n", w.c_str());
        r["warnings"].push_back({{"kind", "quantization"}, {"message", w}});
      }
      calibrations.push_back(std::move(how));
    }
    if (more.size()) timer.done("shape_variants");
    std::vector<Model*> morePtrs;
    for (Model& x : more) morePtrs.push_back(&x);
    NPU_ASSIGN_OR_RETURN(r["device_blob"], writeDeviceBlob(m, b, o.diagnostics, morePtrs));
    if (r["device_blob"].contains("file")) r["device_blob"]["file"] = shown(b.path).string();
    if (r["device_blob"].contains("variants") && o.precision == Precision::Int8)
      for (size_t v = 0; v < variants.size(); ++v) {
        r["device_blob"]["variants"][v]["calibration"] = v == 0 ? std::string("the conversion's") : calibrations[v - 1];
        if (v > 0) r["device_blob"]["variants"][v]["from_first_variant"] = takenFromFirstVariant(outcome.decisions);
      }
    timer.done("device_blob");
  }
  if (o.validation.enabled()) {
    std::vector<std::filesystem::path> artifacts{result.modelPath};
    if (r.contains("device_blob")) artifacts.push_back(o.outDir / "model.npub");
    NPU_ASSIGN_OR_RETURN(ConvertValidationResult v,
                         validateConverted(o.validation, o.model, artifacts, shownDir, o.threads, o.progress));
    r["validation"] = std::move(v.report);
    if (outcome.accuracyFailure.empty()) outcome.accuracyFailure = v.failure;
    timer.done("validation");
  }
  if (!o.fallbackFrom.is_null()) r["fallback"] = o.fallbackFrom;
  if (o.timePasses && o.diagnostics) printPassTimes(pipeline->records(), o.diagnostics);

  r["passes"] = passRecordsToJson(pipeline->records());
  r["quantization"] = {{"nodes", qr.nodes}};
  if (o.precision == Precision::Int8) {
    nlohmann::ordered_json mixed = summarizePrecisions(*m.graph).toJson();
    if (!o.quant.mixed.empty()) mixed["config"] = mixedConfigToJson(o.quant.mixed);
    r["precisions"] = std::move(mixed);
  }
  for (const auto& [key, value] : pipeline->placementReport().items()) r[key] = value;
  r["output"] = {{"model", shown(result.modelPath).string()}, {"model_bytes", w.modelBytes},
                 {"external_bytes", w.externalBytes}, {"external_file", w.externalFile}};
  r["timings"] = std::move(timings);
  if (!result.reportPath.parent_path().empty()) std::filesystem::create_directories(result.reportPath.parent_path(), ec);
  NPU_TRY(writeFileAtomically(result.reportPath, r.dump(2) + "\n"));
  result.accuracyFailure = outcome.accuracyFailure;
  return result;
}

Expected<ConvertResult> runConvert(const ConvertOptions& o) {
  NPU_ASSIGN_OR_RETURN(ConvertResult first, convertOnce(o));
  if (first.accuracyFailure.empty() || o.fallback.empty()) return first;
  if (o.diagnostics)
    std::fprintf(o.diagnostics, "npuconv: warning: %s: %s; --fallback %s: converting to %s instead\n", o.model.string().c_str(),
                 first.accuracyFailure.c_str(), o.fallback.c_str(), o.fallback.c_str());
  // The fallback's own outputs replace the first run's; what only int8 wrote goes.
  std::error_code ec;
  if (!first.mixedConfigPath.empty()) std::filesystem::remove(first.mixedConfigPath, ec);
  ConvertOptions f = o;
  f.precision = Precision::Fp16;
  f.calib = CalibDataOptions{};
  f.calibCache.clear();
  f.biasCorrection = false;
  f.autoMixed = AutoMixedOptions{};
  f.quant.mixed = {};
  f.mixedConfigPath.clear();
  f.fallback.clear();
  // The int8 model's callers feed and read float32: a fallback must not change the interface.
  f.quant.keepIoTypes = true;
  f.fallbackFrom = {{"requested_precision", precisionName(o.precision)},
                    {"used_precision", o.fallback},
                    {"reason", first.accuracyFailure}};
  if (first.report.contains("validation")) f.fallbackFrom["requested_validation"] = first.report["validation"];
  if (first.report.contains("auto_mixed")) f.fallbackFrom["requested_auto_mixed"] = first.report["auto_mixed"];
  NPU_ASSIGN_OR_RETURN(ConvertResult fallback, convertOnce(f));
  if (fallback.accuracyFailure.empty()) fallback.fallbackUsed = first.accuracyFailure;
  else fallback.accuracyFailure = fmt::format("{}; the {} fallback too: {}", first.accuracyFailure, o.fallback,
                                              fallback.accuracyFailure);
  return fallback;
}

}  // namespace npuconv
