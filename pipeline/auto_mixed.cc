// auto_mixed.cc - see auto_mixed.h.
#include "pipeline/auto_mixed.h"

#include <algorithm>

#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "quant/error_stats.h"

namespace npuconv {

Expected<int64_t> heldOutCount(int64_t total, int64_t requested) {
  if (total < 2)
    return Status::invalidArgument("--auto-mixed: needs at least 2 calibration samples (ranges from some, the search "
                                   "scored on others); the data has {}",
                                   total);
  int64_t h = requested > 0 ? requested : std::clamp<int64_t>(total / 5, 1, 16);
  if (h >= total)
    return Status::invalidArgument("--holdout-samples {}: leaves no calibration samples out of {}", h, total);
  return h;
}

Expected<std::unique_ptr<HeldOutScorer>> HeldOutScorer::create(const Model& floatModel, std::vector<NamedTensors> samples,
                                                               int threads) {
  auto s = std::unique_ptr<HeldOutScorer>(new HeldOutScorer());
  s->threads_ = threads;
  NPU_ASSIGN_OR_RETURN(auto exec, Executor::create(floatModel, ExecOptions{.threads = threads}));
  for (const NamedTensors& in : samples) {
    NPU_ASSIGN_OR_RETURN(NamedTensors out, exec->run(in));
    s->reference_.push_back(std::move(out));
  }
  s->samples_ = std::move(samples);
  return s;
}

Expected<MixedScore> HeldOutScorer::score(const Model& candidate) const {
  NPU_ASSIGN_OR_RETURN(auto exec, Executor::create(candidate, ExecOptions{.threads = threads_}));
  std::map<std::string, ErrorStats> stats;
  for (size_t k = 0; k < samples_.size(); ++k) {
    NPU_ASSIGN_OR_RETURN(NamedTensors out, exec->run(samples_[k]));
    for (const auto& [name, ref] : reference_[k]) {
      if (ref.dtype() != DType::F32) continue;  // integer outputs (indices) are not scored
      auto it = out.find(name);
      if (it == out.end() || it->second.dtype() != DType::F32 || it->second.dims() != ref.dims())
        return Status::internal("mixed precision: output \"{}\" missing or reshaped in a candidate", name);
      stats[name].add(ref.span<float>(), it->second.span<float>());
    }
  }
  if (stats.empty()) return Status::unsupported("mixed precision: the model has no float32 output to score");
  MixedScore s{1e9, 1.0};
  for (const auto& [name, st] : stats) {
    s.sqnrDb = std::min(s.sqnrDb, st.sqnrDb());
    s.cosine = std::min(s.cosine, st.minSampleCosine());
  }
  return s;
}

std::vector<LayerPrecision> higherPrecisions(const TargetProfile* target) {
  std::vector<LayerPrecision> out;
  if (!target || target->quantization.int16Activations) out.push_back(LayerPrecision::Int16);
  if (!target || target->quantization.fp16) out.push_back(LayerPrecision::Fp16);
  out.push_back(LayerPrecision::Fp32);
  return out;
}

Expected<MixedSearchResult> runAutoMixedSearch(const Model& floatModel, const QuantRanges& ranges,
                                               const QuantRanges& wideRanges, const QuantizeOptions& quant,
                                               const HeldOutScorer& scorer, const MixedSearchOptions& opt) {
  const std::string bytes = serializeModel(floatModel);
  MixedEvaluator eval = [&](const MixedConfig& config) -> Expected<MixedScore> {
    NPU_ASSIGN_OR_RETURN(Model m, parseOnnxBytes(bytes, {}, "<float model>"));
    QuantizeOptions q = quant;
    q.mixed = config;
    QuantizeReport ignored;
    NPU_TRY(quantizeStatic(m, ranges, q, ignored, wideRanges));
    if (config.mentions(LayerPrecision::Fp16)) {
      q.keepIoTypes = true;
      NPU_TRY(convertToFp16(m, q, ignored));
    }
    return scorer.score(m);
  };
  return searchMixedPrecision(quantizedUnits(floatModel, quant), eval, opt);
}

}  // namespace npuconv
