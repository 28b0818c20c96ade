// calib_health.cc - warnings about statistics that would make a poor or broken quantization,
// named by the tensor and its producer's original ONNX node names.
#include <cmath>
#include <unordered_map>

#include "quant/calib_methods.h"
#include "quant/calibration.h"

namespace npuconv {

namespace {

constexpr double kAbsurdValue = 1e30;    // no trained activation is anywhere near this
constexpr double kAbsurdScale = 1e20;    // an 8-bit step this large rounds every ordinary value to 0
constexpr double kOutlierRatio = 8;      // minmax range vs the 99.99 percentile range
constexpr double kOutlierPercentile = 99.99;
constexpr double kSaturationRate = 1e-3;  // fraction of values clipped by the chosen range

void indexProducers(const Graph& g, std::unordered_map<std::string, const Node*>& out) {
  for (const Node* n : g.nodes()) {
    for (const Value* v : n->results())
      if (v) out.emplace(v->name(), n);
    for (const Graph* sub : n->subgraphs()) indexProducers(*sub, out);
  }
}

std::string quoted(const std::vector<std::string>& names) {
  std::string s;
  for (const std::string& n : names) s += (s.empty() ? "\"" : ", \"") + n + "\"";
  return s;
}

}  // namespace

std::vector<CalibWarning> checkCalibrationHealth(const Model& m, const CalibrationStats& stats,
                                                 const QuantRanges& ranges) {
  std::unordered_map<std::string, const Node*> producer;
  if (m.graph) indexProducers(*m.graph, producer);
  std::vector<CalibWarning> out;
  for (const auto& [name, s] : stats.tensors) {
    CalibWarning base;
    base.tensor = name;
    std::string who = fmt::format("tensor \"{}\"", name);
    if (auto it = producer.find(name); it != producer.end()) {
      base.producers = it->second->provenance();
      if (base.producers.empty() && !it->second->name().empty()) base.producers = {it->second->name()};
      if (!base.producers.empty())
        who += fmt::format(" (from {} {})", base.producers.size() > 1 ? "nodes" : "node", quoted(base.producers));
    } else {
      who += " (a graph input)";
    }
    auto warn = [&](const char* kind, std::string message) {
      CalibWarning w = base;
      w.kind = kind;
      w.message = who + ": " + message;
      out.push_back(std::move(w));
    };
    if (s.nans + s.posInfs + s.negInfs > 0)
      warn("non-finite", fmt::format("{} NaN, {} +Inf and {} -Inf values of {} seen in calibration; they are "
                                     "left out of the range, but the float model itself misbehaves on this data",
                                     s.nans, s.posInfs, s.negInfs, s.count));
    int64_t finite = s.finiteCount();
    if (finite == 0) continue;
    TensorRange chosen = ranges.count(name) ? ranges.at(name) : calib::minMaxRange(s);
    double absMax = std::max(std::fabs(s.min), std::fabs(s.max));
    double lo = std::min(0.0, static_cast<double>(chosen.lo)), hi = std::max(0.0, static_cast<double>(chosen.hi));
    double scale = (hi - lo) / 255;
    if (absMax >= kAbsurdValue || scale > kAbsurdScale) {
      double v = std::fabs(s.min) >= std::fabs(s.max) ? s.min : s.max;
      warn("absurd-range",
           fmt::format("values reach {:.3g} (range [{:.3g}, {:.3g}], int8 scale {:.3g}): one quantization step "
                       "would swallow every ordinary value. This looks like a mask filled with the float limit "
                       "(e.g. an attention-mask Add of -3.4e38); use a finite mask value such as -1e4, or keep "
                       "this node in float",
                       v, s.min, s.max, (std::max(0.0, s.max) - std::min(0.0, s.min)) / 255));
    }
    if (s.min == s.max) {
      warn("constant", fmt::format("constant {:.6g} on every calibration sample ({} values): its range is a single "
                                   "point; fold it into a constant or check the calibration data",
                                   s.min, finite));
      continue;
    }
    TensorRange p = calib::percentileRange(s, kOutlierPercentile);
    double core = static_cast<double>(p.hi) - static_cast<double>(p.lo);
    if (s.max - s.min > kOutlierRatio * core)
      warn("outliers", fmt::format("range [{:.4g}, {:.4g}] is more than {:.0f}x the {} percentile range [{:.4g}, "
                                   "{:.4g}]: a few outliers dominate it; minmax would waste most int8 levels",
                                   s.min, s.max, kOutlierRatio, kOutlierPercentile, p.lo, p.hi));
    double rate = calib::valuesOutside(s, chosen) / static_cast<double>(finite);
    if (rate > kSaturationRate)
      warn("saturation", fmt::format("{:.3g}% of the values fall outside the calibrated range [{:.4g}, {:.4g}] "
                                     "(observed [{:.4g}, {:.4g}]) and saturate",
                                     100 * rate, chosen.lo, chosen.hi, s.min, s.max));
  }
  return out;
}

}  // namespace npuconv
