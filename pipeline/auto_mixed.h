// auto_mixed.h - `convert --auto-mixed`: the mixed-precision search (quant/mixed_search.h) wired
// to real models. The calibration data is split: ranges come from the first samples, the
// search scores candidates on the last ones (held out: a target met on the samples the ranges
// were fitted to would flatter the model). The float model runs once per held-out sample; its
// outputs are cached and every candidate is quantized from one serialized copy of the float IR.
#pragma once

#include <memory>
#include <vector>

#include "converter/exec/executor.h"
#include "converter/ir/model.h"
#include "converter/support/status.h"
#include "converter/target/target_profile.h"
#include "quant/mixed_search.h"
#include "quant/quantize.h"

namespace npuconv {

struct AutoMixedOptions {
  bool enabled = false;
  MixedTarget target;    // --target-sqnr DB, --target-cosine C
  int64_t holdOut = 0;   // --holdout-samples N (0: a fifth of the data, 1 to 16 samples)
};

/// How many of `total` calibration samples are held out.
Expected<int64_t> heldOutCount(int64_t total, int64_t requested);

/// Float outputs on the held-out samples, computed once; scores a converted model against them.
class HeldOutScorer {
 public:
  static Expected<std::unique_ptr<HeldOutScorer>> create(const Model& floatModel, std::vector<NamedTensors> samples,
                                                         int threads);
  /// Worst output: pooled SQNR over the samples, smallest per-sample cosine.
  Expected<MixedScore> score(const Model& candidate) const;
  size_t samples() const { return samples_.size(); }

 private:
  std::vector<NamedTensors> samples_, reference_;
  int threads_ = 0;
};

/// Higher precisions the target computes, most compact first: int16 (16-bit activations), fp16,
/// fp32 (on the CPU where the target has no float compute).
std::vector<LayerPrecision> higherPrecisions(const TargetProfile* target);

/// The search on `floatModel` (the optimized float IR) with calibrated `ranges` (and min/max
/// `wideRanges` for int16 layers), quantizing each candidate with `quant` plus its config.
Expected<MixedSearchResult> runAutoMixedSearch(const Model& floatModel, const QuantRanges& ranges,
                                               const QuantRanges& wideRanges, const QuantizeOptions& quant,
                                               const HeldOutScorer& scorer, const MixedSearchOptions& opt);

}  // namespace npuconv
