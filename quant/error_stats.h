// error_stats.h - how far a tensor computed by a converted model is from its float reference,
// accumulated over samples: the figures `npuconv compare`, the per-layer error table and the
// accuracy reports share.
//
//   SQNR   10 log10(sum ref^2 / sum (ref - got)^2), pooled over every element of every sample,
//          and per sample (mean, min); 999 when identical, -999 when the reference is all zero
//   cosine of the two concatenated vectors, and the smallest per-sample cosine
//   max_abs max |ref - got|;  max_rel max_abs relative to max |ref| (the tensor's own scale: an
//          element-wise ratio explodes near zero and says nothing)
#pragma once

#include <cstdint>
#include <span>

#include <nlohmann/json.hpp>

namespace npuconv {

class ErrorStats {
 public:
  /// One sample's tensors (same element count; the caller checks the shapes).
  void add(std::span<const float> ref, std::span<const float> got);

  int64_t samples() const { return samples_; }
  double sqnrDb() const;  // pooled
  double cosine() const;  // pooled
  double meanSampleSqnrDb() const { return samples_ ? sumSampleSqnr_ / static_cast<double>(samples_) : 0; }
  double minSampleSqnrDb() const { return minSampleSqnr_; }
  double minSampleCosine() const { return minSampleCosine_; }
  double maxAbs() const { return maxAbs_; }
  double maxRel() const { return maxRef_ > 0 ? maxAbs_ / maxRef_ : (maxAbs_ > 0 ? 1e300 : 0.0); }
  /// Non-finite values met in `got` where `ref` is finite (a NaN always fails a comparison).
  int64_t nonFinite() const { return nonFinite_; }

  /// {"sqnr_db", "cosine", "sqnr_db_mean", "sqnr_db_min", "cosine_min", "max_abs", "max_rel",
  /// "samples"}, rounded for reading (dB to 0.01, cosine to 1e-6).
  nlohmann::ordered_json toJson() const;

 private:
  double signal_ = 0, noise_ = 0, dot_ = 0, gotEnergy_ = 0;
  double sumSampleSqnr_ = 0, minSampleSqnr_ = 999, minSampleCosine_ = 1;
  double maxAbs_ = 0, maxRef_ = 0;
  int64_t samples_ = 0, nonFinite_ = 0;
};

/// 10 log10(signal / noise) with the conventions above.
double sqnrDb(double signal, double noise);

}  // namespace npuconv
