// mixed_search.cc - see mixed_search.h.
#include "quant/mixed_search.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "converter/support/progress_bar.h"

namespace npuconv {
namespace {

/// Output noise in units of the signal power.
double noiseOf(double db) { return std::pow(10.0, -db / 10.0); }

double round2(double v) { return std::round(v * 100) / 100; }
double round6(double v) { return std::round(v * 1e6) / 1e6; }

nlohmann::ordered_json scoreJson(const MixedScore& s) {
  return {{"sqnr_db", round2(s.sqnrDb)}, {"min_cosine", round6(s.cosine)}};
}

class Search {
 public:
  Search(const std::vector<QuantUnitInfo>& units, const MixedEvaluator& eval, const MixedSearchOptions& opt)
      : units_(units), eval_(eval), opt_(opt), progress_(opt.progress, 0, "mixed precision", "evaluations") {}

  Expected<MixedSearchResult> run();

 private:
  Expected<MixedScore> evaluate(const MixedConfig& c) {
    auto s = eval_(c);
    ++result_.evaluations;
    progress_.update(static_cast<size_t>(result_.evaluations));
    return s;
  }
  /// int8 except `chosen` (indices into units_) in `high`.
  MixedConfig withHigh(const std::vector<size_t>& chosen, LayerPrecision high) const {
    MixedConfig c;
    for (size_t i : chosen)
      for (const std::string& n : units_[i].names) c.setNode(n, high);
    return c;
  }
  /// int8 except the units of `precisions` (indices into units_).
  MixedConfig withPrecisions(const std::map<size_t, LayerPrecision>& precisions) const {
    MixedConfig c;
    for (const auto& [i, p] : precisions)
      for (const std::string& n : units_[i].names) c.setNode(n, p);
    return c;
  }
  /// Everything float32 except unit `i` at int8.
  MixedConfig aloneInt8(size_t i) const {
    MixedConfig c;
    c.defaultPrecision = LayerPrecision::Fp32;
    for (const std::string& n : units_[i].names) c.setNode(n, LayerPrecision::Int8);
    return c;
  }
  std::vector<size_t> prefix(const std::vector<size_t>& order, size_t k) const {
    return {order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k)};
  }

  const std::vector<QuantUnitInfo>& units_;
  const MixedEvaluator& eval_;
  const MixedSearchOptions& opt_;
  ProgressBar progress_;
  MixedSearchResult result_;
};

Expected<MixedSearchResult> Search::run() {
  auto start = std::chrono::steady_clock::now();
  const size_t n = units_.size();
  result_.units = n;
  progress_.setTotal(2 + 2 * n);
  NPU_ASSIGN_OR_RETURN(result_.int8Score, evaluate(MixedConfig{}));
  result_.finalScore = result_.int8Score;
  auto done = [&] {
    result_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return std::move(result_);
  };
  if (opt_.target.meets(result_.int8Score) || n == 0) {
    result_.met = opt_.target.meets(result_.int8Score);
    return done();
  }
  if (opt_.higher.empty()) return Status::invalidArgument("mixed precision: the target computes no precision above int8");
  // The higher precision: the first that meets the target with every layer in it.
  std::vector<size_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  bool reachable = false;
  for (LayerPrecision h : opt_.higher) {
    result_.higher = h;
    NPU_ASSIGN_OR_RETURN(result_.highScore, evaluate(withHigh(all, h)));
    if (opt_.target.meets(result_.highScore)) {
      reachable = true;
      break;
    }
  }
  // Sensitivity of each layer.
  const double base = noiseOf(result_.int8Score.sqnrDb);
  result_.layers.resize(n);
  for (size_t i = 0; i < n; ++i) {
    LayerChoice& L = result_.layers[i];
    L.unit = units_[i];
    NPU_ASSIGN_OR_RETURN(MixedScore high, evaluate(withHigh({i}, result_.higher)));
    NPU_ASSIGN_OR_RETURN(MixedScore alone, evaluate(aloneInt8(i)));
    L.keptHighDb = high.sqnrDb;
    L.quantizedAloneDb = alone.sqnrDb;
    L.sensitivity = (std::max(0.0, base - noiseOf(high.sqnrDb)) + noiseOf(alone.sqnrDb)) / 2;
  }
  std::vector<size_t> order = all;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return result_.layers[a].sensitivity > result_.layers[b].sensitivity; });
  for (size_t r = 0; r < n; ++r) result_.layers[order[r]].rank = static_cast<int>(r + 1);
  if (!reachable) {
    // Unreachable: every layer in the highest precision is the best there is; say so.
    for (LayerChoice& L : result_.layers) {
      L.precision = result_.higher;
      L.why = fmt::format("target unmet even with every layer {}", layerPrecisionName(result_.higher));
    }
    result_.config = withHigh(all, result_.higher);
    result_.finalScore = result_.highScore;
    result_.met = false;
    return done();
  }
  // The shortest prefix that meets the target: doubling, then bisection on (lo, hi].
  std::map<size_t, MixedScore> scores;
  auto scoreOf = [&](size_t k) -> Expected<MixedScore> {
    if (auto it = scores.find(k); it != scores.end()) return it->second;
    if (k == n) return result_.highScore;
    NPU_ASSIGN_OR_RETURN(MixedScore s, evaluate(withHigh(prefix(order, k), result_.higher)));
    scores[k] = s;
    return s;
  };
  size_t lo = 0, hi = 1;
  progress_.setTotal(static_cast<size_t>(result_.evaluations) + 2 * static_cast<size_t>(std::log2(n + 1)) + 4);
  while (true) {
    hi = std::min(hi, n);
    NPU_ASSIGN_OR_RETURN(MixedScore s, scoreOf(hi));
    if (opt_.target.meets(s) || hi == n) break;
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    NPU_ASSIGN_OR_RETURN(MixedScore s, scoreOf(mid));
    if (opt_.target.meets(s)) hi = mid;
    else lo = mid;
  }
  std::vector<size_t> chosen = prefix(order, hi);
  NPU_ASSIGN_OR_RETURN(MixedScore best, scoreOf(hi));
  // Pruning, least sensitive first: a layer the target does not need goes back to int8.
  progress_.setTotal(static_cast<size_t>(result_.evaluations) + chosen.size());
  std::vector<size_t> pruned;
  for (size_t k = chosen.size(); k-- > 0 && chosen.size() > 1;) {
    std::vector<size_t> without = chosen;
    without.erase(without.begin() + static_cast<std::ptrdiff_t>(k));
    NPU_ASSIGN_OR_RETURN(MixedScore s, evaluate(withHigh(without, result_.higher)));
    if (opt_.target.meets(s)) {
      pruned.push_back(chosen[k]);
      chosen = std::move(without);
      best = s;
    }
  }
  // Demotion: when every layer in the most compact higher precision missed the target (so H is
  // fp16 or fp32), a chosen layer may still need less than H. Each, least sensitive first, goes
  // to the most compact precision below H that keeps the target: int16 keeps its weights int8.
  std::map<size_t, LayerPrecision> precision;
  for (size_t i : chosen) precision[i] = result_.higher;
  const std::vector<LayerPrecision> below(opt_.higher.begin(),
                                          std::find(opt_.higher.begin(), opt_.higher.end(), result_.higher));
  if (!below.empty()) {
    progress_.setTotal(static_cast<size_t>(result_.evaluations) + chosen.size() * below.size());
    for (size_t k = chosen.size(); k-- > 0;)
      for (LayerPrecision p : below) {
        std::map<size_t, LayerPrecision> trial = precision;
        trial[chosen[k]] = p;
        NPU_ASSIGN_OR_RETURN(MixedScore s, evaluate(withPrecisions(trial)));
        if (opt_.target.meets(s)) {
          precision = std::move(trial);
          best = s;
          break;
        }
      }
  }
  for (size_t i = 0; i < n; ++i) {
    LayerChoice& L = result_.layers[i];
    bool in = precision.count(i) > 0;
    bool wasPruned = std::find(pruned.begin(), pruned.end(), i) != pruned.end();
    L.precision = in ? precision.at(i) : LayerPrecision::Int8;
    if (in && L.precision != result_.higher)
      L.why = fmt::format("rank {} of {}: {} suffices for {} (the others kept need {})", L.rank, n,
                          layerPrecisionName(L.precision), opt_.target.describe(), layerPrecisionName(result_.higher));
    else if (in)
      L.why = fmt::format("rank {} of {}: needed for {}", L.rank, n, opt_.target.describe());
    else if (wasPruned)
      L.why = fmt::format("rank {}: the target holds without it", L.rank);
    else
      L.why = fmt::format("rank {}: below the cut (first {} layers meet the target)", L.rank, hi);
  }
  result_.config = withPrecisions(precision);
  result_.finalScore = best;
  result_.met = true;
  return done();
}

}  // namespace

std::string MixedTarget::describe() const {
  std::string s;
  if (sqnrDb > 0) s = fmt::format("SQNR >= {} dB", sqnrDb);
  if (cosine > 0) s += fmt::format("{}cosine >= {}", s.empty() ? "" : " and ", cosine);
  return s.empty() ? "no target" : s;
}

nlohmann::ordered_json MixedSearchResult::toJson(const MixedTarget& target) const {
  nlohmann::ordered_json j;
  j["target"] = target.describe();
  j["met"] = met;
  j["higher_precision"] = layerPrecisionName(higher);
  j["int8"] = scoreJson(int8Score);
  if (!layers.empty()) j["all_higher"] = scoreJson(highScore);
  j["chosen"] = scoreJson(finalScore);
  int kept = 0;
  for (const LayerChoice& L : layers) kept += L.precision != LayerPrecision::Int8;
  j["layers_higher"] = kept;
  j["layers_total"] = units;
  j["evaluations"] = evaluations;
  j["seconds"] = std::round(seconds * 10) / 10;
  nlohmann::ordered_json table = nlohmann::ordered_json::array();
  for (const LayerChoice& L : layers)
    table.push_back({{"node", L.unit.key},
                     {"op", L.unit.op},
                     {"rank", L.rank},
                     {"precision", layerPrecisionName(L.precision)},
                     {"kept_higher_sqnr_db", round2(L.keptHighDb)},
                     {"quantized_alone_sqnr_db", round2(L.quantizedAloneDb)},
                     {"why", L.why}});
  j["layers"] = table;
  return j;
}

Expected<MixedSearchResult> searchMixedPrecision(const std::vector<QuantUnitInfo>& units, const MixedEvaluator& eval,
                                                 const MixedSearchOptions& opt) {
  return Search(units, eval, opt).run();
}

}  // namespace npuconv
