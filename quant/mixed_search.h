// mixed_search.h - automatic mixed precision: the fewest layers in a higher precision that bring
// the quantized model to an accuracy target, decided by measuring the whole model.
//
// Every measurement is an end-to-end evaluation of one configuration (the caller quantizes the
// float model with it and scores its outputs against float on held-out samples). The search:
//   1. all int8: when it meets the target, nothing is kept higher;
//   2. every layer in the higher precision H (int16 when the target has it, else fp16 or fp32):
//      when even that misses, the next H is tried, and the search reports the target unmet;
//   3. sensitivity, per layer: the output SQNR with that layer alone in H (the rest int8), and
//      with that layer alone int8 (the rest float). Each gives the share of output noise the
//      layer is responsible for, in units of the signal: removed = N(all int8) - N(layer in H),
//      alone = N(layer alone int8), N(db) = 10^(-db/10); the rank orders layers by the mean of
//      the two (ties: graph order);
//   4. the shortest prefix of the ranking that meets the target (doubling, then bisection);
//   5. pruning: each chosen layer, least sensitive first, goes back to int8 when the target
//      still holds without it;
//   6. demotion, when H is not the most compact higher precision (all-int16 missed): each chosen
//      layer, least sensitive first, goes down to the most compact precision below H (int16)
//      that still meets the target, so a layer that only needs 16-bit activations keeps its
//      weights int8.
// Deterministic: the same evaluations give the same config, whatever the timing.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "converter/support/status.h"
#include "quant/mixed_config.h"
#include "quant/quantize.h"

namespace npuconv {

/// A configuration's accuracy: the worst output's pooled SQNR and smallest per-sample cosine.
struct MixedScore {
  double sqnrDb = 0;
  double cosine = 0;
};

/// What must hold (0: not asked).
struct MixedTarget {
  double sqnrDb = 0;
  double cosine = 0;
  bool meets(const MixedScore& s) const { return s.sqnrDb >= sqnrDb && s.cosine >= cosine; }
  std::string describe() const;  // "SQNR >= 15 dB", "cosine >= 0.999", or both
};

using MixedEvaluator = std::function<Expected<MixedScore>(const MixedConfig&)>;

struct MixedSearchOptions {
  MixedTarget target;
  /// Higher precisions the target computes, in order of preference (int16, fp16, fp32).
  std::vector<LayerPrecision> higher;
  bool progress = false;  // a progress bar on stderr (a terminal only)
};

struct LayerChoice {
  QuantUnitInfo unit;
  double keptHighDb = 0;        // output SQNR with this layer alone in H
  double quantizedAloneDb = 0;  // output SQNR with this layer alone int8
  double sensitivity = 0;       // the ranking key (share of output noise, see above)
  int rank = 0;                 // 1: most sensitive
  LayerPrecision precision = LayerPrecision::Int8;
  std::string why;
};

struct MixedSearchResult {
  MixedConfig config;
  std::vector<LayerChoice> layers;  // graph order; empty when all int8 met the target
  size_t units = 0;                 // layers the search could have kept higher
  MixedScore int8Score, highScore, finalScore;
  LayerPrecision higher = LayerPrecision::Int16;
  bool met = false;
  int evaluations = 0;
  double seconds = 0;
  /// The report section: target, scores, counts and the per-layer table by original names.
  nlohmann::ordered_json toJson(const MixedTarget& target) const;
};

Expected<MixedSearchResult> searchMixedPrecision(const std::vector<QuantUnitInfo>& units, const MixedEvaluator& eval,
                                                 const MixedSearchOptions& opt);

}  // namespace npuconv
