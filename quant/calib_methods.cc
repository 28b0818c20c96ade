// calib_methods.cc - minmax, percentile, entropy (TensorRT's KL) and mse ranges from the
// log-scale histogram, and computeRanges.
#include "quant/calib_methods.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "quant/observe/float_histogram.h"

namespace npuconv::calib {

namespace {

/// One sign's buckets by magnitude, ascending: [lo, hi) and count; the top bucket ends at the
/// side's exact largest magnitude.
struct Bucket {
  double lo, hi;
  double count;
};
std::vector<Bucket> side(const std::vector<int64_t>& run, int64_t origin, double absMax) {
  std::vector<Bucket> out;
  for (size_t i = 0; i < run.size(); ++i) {
    if (run[i] == 0) continue;
    int64_t u = origin + static_cast<int64_t>(i);
    double lo = bucketLow(u), hi = std::min(bucketHigh(u), absMax);
    out.push_back({lo, std::max(lo, hi), static_cast<double>(run[i])});
  }
  return out;
}
std::vector<Bucket> positives(const TensorStats& s) { return side(s.hist, s.histOrigin, std::max(s.max, 0.0)); }
std::vector<Bucket> negatives(const TensorStats& s) { return side(s.negHist, s.negHistOrigin, std::max(-s.min, 0.0)); }

/// The p-th percentile of the magnitudes of one side (zeros first), linear within a bucket.
double sidePercentile(const std::vector<Bucket>& b, int64_t zeros, double p, double absMax) {
  double n = static_cast<double>(zeros);
  for (const Bucket& k : b) n += k.count;
  double rank = p / 100.0 * n;
  double cum = static_cast<double>(zeros);
  if (rank <= cum) return 0;
  for (const Bucket& k : b) {
    if (cum + k.count >= rank) return std::min(absMax, k.lo + (rank - cum) / k.count * (k.hi - k.lo));
    cum += k.count;
  }
  return absMax;
}

/// The widened, clamped range for a symmetric threshold T.
TensorRange clipTo(const TensorStats& s, double t) {
  double lo = s.min < 0 ? std::max(s.min, -t) : s.min;
  double hi = s.max > 0 ? std::min(s.max, t) : s.max;
  return {static_cast<float>(lo), static_cast<float>(hi)};
}

TensorRange clampToMinMax(const TensorStats& s, double lo, double hi) {
  float l = static_cast<float>(std::clamp(lo, s.min, s.max));
  float h = static_cast<float>(std::clamp(hi, s.min, s.max));
  return {std::min(l, h), std::max(l, h)};
}

}  // namespace

TensorRange minMaxRange(const TensorStats& s) { return {static_cast<float>(s.min), static_cast<float>(s.max)}; }

TensorRange percentileRange(const TensorStats& s, double p) {
  if (s.finiteCount() == 0) return {};
  double hi = s.max > 0 ? sidePercentile(positives(s), s.zeros, p, s.max) : s.max;
  double lo = s.min < 0 ? -sidePercentile(negatives(s), s.zeros, p, -s.min) : s.min;
  return clampToMinMax(s, lo, hi);
}

std::vector<double> linearAbsHistogram(const TensorStats& s, int bins) {
  std::vector<double> h(static_cast<size_t>(bins), 0.0);
  double absMax = std::max(-s.min, s.max);
  if (!(absMax > 0)) return h;
  double w = absMax / bins;
  auto binOf = [&](double x) { return std::min(bins - 1, static_cast<int>(x / w)); };
  auto spread = [&](const Bucket& k) {
    int i0 = binOf(k.lo), i1 = binOf(k.hi);
    if (i0 == i1 || k.hi <= k.lo) {
      h[static_cast<size_t>(i0)] += k.count;
      return;
    }
    double density = k.count / (k.hi - k.lo);
    for (int i = i0; i <= i1; ++i) {
      double a = std::max(k.lo, i * w), b = i == bins - 1 ? k.hi : std::min(k.hi, (i + 1) * w);
      if (b > a) h[static_cast<size_t>(i)] += density * (b - a);
    }
  };
  for (const Bucket& k : positives(s)) spread(k);
  for (const Bucket& k : negatives(s)) spread(k);
  return h;
}

TensorRange entropyRange(const TensorStats& s) {
  constexpr int kBins = 2048;
  if (s.finiteCount() == 0) return {};
  std::vector<double> h = linearAbsHistogram(s, kBins);
  double total = 0;
  for (double x : h) total += x;
  if (!(total > 0)) return minMaxRange(s);
  // Two-sided tensors spend half of 8-bit's 256 levels per sign; one-sided ones all of them.
  const int levels = (s.min < 0 && s.max > 0) ? 128 : 256;
  // Prefix sums: counts, nonzero bins and h log h, so each candidate costs O(levels).
  std::vector<double> sum(kBins + 1, 0), hlogh(kBins + 1, 0);
  std::vector<int> nonzero(kBins + 1, 0);
  for (int i = 0; i < kBins; ++i) {
    double x = h[static_cast<size_t>(i)];
    sum[i + 1] = sum[i] + x;
    hlogh[i + 1] = hlogh[i] + (x > 0 ? x * std::log(x) : 0.0);
    nonzero[i + 1] = nonzero[i] + (x > 0 ? 1 : 0);
  }
  // Fewer occupied bins than 8-bit levels (a mask, a few discrete values, one huge outlier
  // squeezing the rest into a handful of bins): KL compares quantizations that all keep every
  // bin apart, so the divergence barely tells them apart and the smallest candidate (heavy
  // clipping) wins on noise. Least squares still weighs clipping against rounding there.
  if (nonzero[kBins] < levels) return mseRange(s);
  constexpr double kEps = 1e-4;  // TensorRT / ONNX Runtime smoothing of Q's empty bins
  double bestKl = std::numeric_limits<double>::infinity();
  int best = kBins;
  for (int i = levels; i <= kBins; ++i) {
    // P: bins [0, i) with the clipped mass added to the last bin.
    double last = h[static_cast<size_t>(i - 1)] + (total - sum[i]);
    double plogp = hlogh[i - 1] + (last > 0 ? last * std::log(last) : 0.0);
    double entropyP = plogp / total - std::log(total);  // sum p log p, p = P / total
    // Q: bins [0, i) merged into `levels` groups, each group's mass spread over its nonzero bins.
    double sumQ = sum[i];
    int nzQ = nonzero[i], zQ = i - nzQ;
    if (nzQ == 0) continue;
    double eps1 = kEps * zQ / nzQ;
    double cross = 0;  // sum p log q
    for (int j = 0; j < levels; ++j) {
      int b = static_cast<int>(static_cast<int64_t>(j) * i / levels), e = static_cast<int>(static_cast<int64_t>(j + 1) * i / levels);
      int nz = nonzero[e] - nonzero[b];
      if (nz == 0) continue;
      double groupP = sum[e] - sum[b];
      if (e == i) groupP -= h[static_cast<size_t>(i - 1)];  // bin i-1 is taken below, with the outliers
      double q = std::max((sum[e] - sum[b]) / nz / sumQ - eps1, 1e-300);
      cross += groupP / total * std::log(q);
      if (e == i && h[static_cast<size_t>(i - 1)] > 0) cross += last / total * std::log(q);
    }
    if (h[static_cast<size_t>(i - 1)] == 0 && last > 0) cross += last / total * std::log(kEps);
    double kl = entropyP - cross;
    if (kl < bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  double t = std::max(-s.min, s.max) * best / kBins;
  return clipTo(s, t);
}

TensorRange mseRange(const TensorStats& s) {
  if (s.finiteCount() == 0) return {};
  struct Tail {  // suffix sums over one side's buckets: count, sum |x|, sum |x|^2
    std::vector<Bucket> b;
    std::vector<double> n, s1, s2;
    explicit Tail(std::vector<Bucket> buckets) : b(std::move(buckets)) {
      size_t k = b.size();
      n.assign(k + 1, 0);
      s1.assign(k + 1, 0);
      s2.assign(k + 1, 0);
      for (size_t i = k; i-- > 0;) {
        double c = b[i].count, m = 0.5 * (b[i].lo + b[i].hi), w = b[i].hi - b[i].lo;
        n[i] = n[i + 1] + c;
        s1[i] = s1[i + 1] + c * m;
        s2[i] = s2[i + 1] + c * (m * m + w * w / 12);
      }
    }
    /// Clipping error and count of the buckets starting at or above t.
    std::pair<double, double> above(double t) const {
      size_t i = static_cast<size_t>(
          std::lower_bound(b.begin(), b.end(), t, [](const Bucket& k, double v) { return k.lo < v; }) - b.begin());
      return {std::max(0.0, s2[i] - 2 * t * s1[i] + t * t * n[i]), n[i]};
    }
  };
  Tail pos(positives(s)), neg(negatives(s));
  double absMax = std::max(-s.min, s.max);
  if (!(absMax > 0)) return minMaxRange(s);
  double nonzero = pos.n[0] + neg.n[0];
  std::vector<double> candidates = {absMax};
  for (const Bucket& k : pos.b) candidates.push_back(k.lo);
  for (const Bucket& k : neg.b) candidates.push_back(k.lo);
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  double bestErr = std::numeric_limits<double>::infinity(), bestT = absMax;
  for (double t : candidates) {
    if (!(t > 0)) continue;
    double hi = std::max(0.0, std::min(s.max, t)), lo = std::min(0.0, std::max(s.min, -t));
    double step = (hi - lo) / 255;
    auto [ep, np] = pos.above(hi);
    auto [en, nn] = neg.above(-lo);
    // Values inside the range round to the nearest step: uniform error of variance step^2/12;
    // zeros are exact (zero is always representable).
    double err = ep + en + (nonzero - np - nn) * step * step / 12;
    if (err <= bestErr) {  // ties go to the wider range
      bestErr = err;
      bestT = t;
    }
  }
  return clipTo(s, bestT);
}

TensorRange rangeFor(const TensorStats& s, const CalibrateOptions& opt) {
  switch (opt.method) {
    case CalibMethod::MinMax: return minMaxRange(s);
    case CalibMethod::Percentile: return percentileRange(s, opt.percentile);
    case CalibMethod::Entropy: return entropyRange(s);
    case CalibMethod::Mse: return mseRange(s);
  }
  return minMaxRange(s);
}

double valuesOutside(const TensorStats& s, TensorRange r) {
  double hi = std::max(0.0, static_cast<double>(r.hi)), lo = std::min(0.0, static_cast<double>(r.lo));
  auto outside = [](const std::vector<Bucket>& b, double t) {
    double out = 0;
    for (const Bucket& k : b) {
      if (k.hi <= t) continue;
      out += k.lo >= t ? k.count : k.count * (k.hi - t) / (k.hi - k.lo);
    }
    return out;
  };
  return outside(positives(s), hi) + outside(negatives(s), -lo);
}

}  // namespace npuconv::calib

namespace npuconv {

Expected<QuantRanges> computeRanges(const CalibrationStats& stats, const CalibrateOptions& opt) {
  if (opt.method == CalibMethod::Percentile && !(opt.percentile > 50 && opt.percentile <= 100))
    return Status::invalidArgument("--percentile {}: expected a value in (50, 100]", opt.percentile);
  QuantRanges out;
  for (const auto& [name, s] : stats.tensors) out[name] = calib::rangeFor(s, opt);
  return out;
}

}  // namespace npuconv
