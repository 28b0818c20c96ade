// float_histogram.h - the calibration histogram: buckets keyed by the high bits of a float's IEEE
// pattern, so bucket bounds never depend on the data seen and histograms of shards add exactly.
//
// A finite value x with |x| >= 2^-126 goes to magnitude bucket
//   u = (bits(|x|) >> 16) - 127,   1 <= u <= 32512,
// i.e. its exponent and top kMantissaBits = 7 mantissa bits: bucket u covers
// [bucketLow(u), bucketHigh(u)), a relative width of at most 2^-7 (0.78%). Positive and negative
// values are counted apart (TensorStats::hist / negHist); zeros and denormals in one bucket of
// their own, NaN and +-Inf separately.
//
// HistogramAccumulator folds float32 tensors into TensorStats. The scan (min/max, non-finite
// test, bucket keys) is AVX2; counts go to per-thread 2^16-entry tables (every 16-bit key)
// which are folded into the dense TensorStats histogram after each tensor, over the occupied key
// span only. Large tensors are split across the thread pool, one table set per slice. Every
// count is an integer and min/max are exact, so the result does not depend on the split.
#pragma once

#include <bit>
#include <cstdint>
#include <memory>
#include <vector>

#include "quant/calibration.h"

namespace npuconv {

class ThreadPool;

namespace calib {

constexpr int kMantissaBits = 7;
constexpr int kKeyShift = 23 - kMantissaBits;                 // 16: keys are the high 16 bits
constexpr int64_t kBucketBias = (1 << kMantissaBits) - 1;     // 127: bucket 1 = exponent field 1
constexpr int64_t kMaxBucket = 254 * (1 << kMantissaBits) + (1 << kMantissaBits) - 1 - kBucketBias;  // 32512

/// The lower edge of magnitude bucket u (1 <= u <= kMaxBucket).
inline double bucketLow(int64_t u) {
  return std::bit_cast<float>(static_cast<uint32_t>(u + kBucketBias) << kKeyShift);
}
/// The upper edge (exclusive); for the last bucket, FLT_MAX's successor in double.
inline double bucketHigh(int64_t u) {
  if (u >= kMaxBucket) return bucketLow(u) * (1.0 + 1.0 / (1 << kMantissaBits));
  return bucketLow(u + 1);
}
/// The magnitude bucket of a finite float (0 for zeros and denormals).
inline int64_t bucketOf(float x) {
  uint32_t a = std::bit_cast<uint32_t>(x) & 0x7fffffffu;
  if (a < 0x00800000u) return 0;
  return static_cast<int64_t>(a >> kKeyShift) - kBucketBias;
}

/// Adds `count` to bucket u of a dense run (vector + origin), growing it as needed.
void addToRun(std::vector<int64_t>& run, int64_t& origin, int64_t u, int64_t count);
/// Adds the run (src, srcOrigin) into (dst, dstOrigin).
void addRun(std::vector<int64_t>& dst, int64_t& dstOrigin, const std::vector<int64_t>& src, int64_t srcOrigin);

/// Adds `b` to `a` (counts, exact min/max).
void mergeTensorStats(TensorStats& a, const TensorStats& b);

class HistogramAccumulator {
 public:
  /// `pool` (may be null) splits tensors of at least `parallelMin` elements over its threads.
  explicit HistogramAccumulator(ThreadPool* pool, int64_t parallelMin = 1 << 16);
  ~HistogramAccumulator();
  HistogramAccumulator(const HistogramAccumulator&) = delete;
  HistogramAccumulator& operator=(const HistogramAccumulator&) = delete;

  /// Folds n float32 values into `stats` (count, min/max, histogram, non-finite counts). Does
  /// not touch stats.samples.
  void add(const float* data, int64_t n, TensorStats& stats);

 private:
  struct Slice;
  Slice& slice(size_t i);
  ThreadPool* pool_;
  int64_t parallelMin_;
  std::vector<std::unique_ptr<Slice>> slices_;
};

}  // namespace calib
}  // namespace npuconv
