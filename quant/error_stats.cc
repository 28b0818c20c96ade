// error_stats.cc - see error_stats.h. Sums in double: a float sum over a 10^7-element feature
// map loses the small noise term against the signal.
#include "quant/error_stats.h"

#include <algorithm>
#include <cmath>

namespace npuconv {
namespace {

double cosineOf(double dot, double a, double b) {
  if (a > 0 && b > 0) return dot / std::sqrt(a * b);
  return a == b ? 1.0 : 0.0;  // both zero: identical
}

double round(double v, double unit) { return std::round(v / unit) * unit; }

}  // namespace

double sqnrDb(double signal, double noise) {
  if (noise <= 0) return 999.0;
  if (signal <= 0) return -999.0;
  return 10.0 * std::log10(signal / noise);
}

void ErrorStats::add(std::span<const float> ref, std::span<const float> got) {
  double s = 0, n = 0, d = 0, g = 0;
  const size_t count = std::min(ref.size(), got.size());
  for (size_t k = 0; k < count; ++k) {
    double x = ref[k], y = got[k];
    if (!std::isfinite(y) && std::isfinite(x)) {
      ++nonFinite_;
      continue;
    }
    double e = x - y;
    s += x * x, n += e * e, d += x * y, g += y * y;
    maxAbs_ = std::max(maxAbs_, std::fabs(e));
    maxRef_ = std::max(maxRef_, std::fabs(x));
  }
  signal_ += s, noise_ += n, dot_ += d, gotEnergy_ += g;
  double db = npuconv::sqnrDb(s, n);
  sumSampleSqnr_ += db;
  minSampleSqnr_ = std::min(minSampleSqnr_, db);
  minSampleCosine_ = std::min(minSampleCosine_, cosineOf(d, s, g));
  ++samples_;
}

double ErrorStats::sqnrDb() const { return npuconv::sqnrDb(signal_, noise_); }
double ErrorStats::cosine() const { return cosineOf(dot_, signal_, gotEnergy_); }

nlohmann::ordered_json ErrorStats::toJson() const {
  nlohmann::ordered_json j;
  j["sqnr_db"] = round(sqnrDb(), 0.01);
  j["cosine"] = round(cosine(), 1e-6);
  j["sqnr_db_mean"] = round(meanSampleSqnrDb(), 0.01);
  j["sqnr_db_min"] = round(minSampleSqnrDb(), 0.01);
  j["cosine_min"] = round(minSampleCosine(), 1e-6);
  j["max_abs"] = maxAbs();
  j["max_rel"] = maxRel();
  j["samples"] = samples_;
  if (nonFinite_) j["non_finite"] = nonFinite_;
  return j;
}

}  // namespace npuconv
