// float_histogram.cc - the calibration histogram's bucket runs and the AVX2 accumulator.
#include "quant/observe/float_histogram.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "converter/exec/thread_pool.h"
#include "converter/support/status.h"

namespace npuconv::calib {

namespace {

constexpr uint32_t kKeys = 1u << 16;
constexpr uint32_t kSignKey = 0x8000;  // keys of negative values have this bit
constexpr uint32_t kFirstNormalKey = 0x80;  // keys below (of either sign) are zeros and denormals

/// The run [origin, origin + size) grown to cover [lo, hi].
void cover(std::vector<int64_t>& run, int64_t& origin, int64_t lo, int64_t hi) {
  if (run.empty()) {
    origin = lo;
    run.assign(static_cast<size_t>(hi - lo + 1), 0);
    return;
  }
  if (lo < origin) {
    run.insert(run.begin(), static_cast<size_t>(origin - lo), 0);
    origin = lo;
  }
  int64_t end = origin + static_cast<int64_t>(run.size());
  if (hi >= end) run.resize(static_cast<size_t>(hi - origin + 1), 0);
}

}  // namespace

void addToRun(std::vector<int64_t>& run, int64_t& origin, int64_t u, int64_t count) {
  if (count == 0) return;
  cover(run, origin, u, u);
  run[static_cast<size_t>(u - origin)] += count;
}

void addRun(std::vector<int64_t>& dst, int64_t& dstOrigin, const std::vector<int64_t>& src, int64_t srcOrigin) {
  if (src.empty()) return;
  cover(dst, dstOrigin, srcOrigin, srcOrigin + static_cast<int64_t>(src.size()) - 1);
  int64_t* d = dst.data() + (srcOrigin - dstOrigin);
  for (size_t i = 0; i < src.size(); ++i) d[i] += src[i];
}

void mergeTensorStats(TensorStats& a, const TensorStats& b) {
  if (b.finiteCount() > 0) {
    if (a.finiteCount() > 0) {
      a.min = std::min(a.min, b.min);
      a.max = std::max(a.max, b.max);
    } else {
      a.min = b.min;
      a.max = b.max;
    }
  }
  a.count += b.count;
  a.samples += b.samples;
  a.zeros += b.zeros;
  a.nans += b.nans;
  a.posInfs += b.posInfs;
  a.negInfs += b.negInfs;
  addRun(a.hist, a.histOrigin, b.hist, b.histOrigin);
  addRun(a.negHist, a.negHistOrigin, b.negHist, b.negHistOrigin);
}

/// One thread's share of a tensor: two count tables (alternate lanes go to alternate tables, so
/// runs of equal values, such as a Relu's zeros, do not serialize on one counter) and the scan's
/// exact extremes.
struct HistogramAccumulator::Slice {
  std::vector<uint32_t> t0 = std::vector<uint32_t>(kKeys, 0), t1 = std::vector<uint32_t>(kKeys, 0);
  float min = 0, max = 0;
  bool anyFinite = false;
  uint32_t minPosKey = kKeys, minNegKey = kKeys;  // smallest keys seen per sign (negatives: sign bit dropped)
  int64_t nans = 0, posInfs = 0, negInfs = 0;

  void scalar(float x) {
    uint32_t b = std::bit_cast<uint32_t>(x);
    if ((b & 0x7f800000u) == 0x7f800000u) {
      if (b & 0x007fffffu) ++nans;
      else if (b & 0x80000000u) ++negInfs;
      else ++posInfs;
      return;
    }
    uint32_t key = b >> kKeyShift;
    ++t0[key];
    if (key & kSignKey) minNegKey = std::min(minNegKey, key ^ kSignKey);
    else minPosKey = std::min(minPosKey, key);
    if (!anyFinite) min = max = x, anyFinite = true;
    min = std::min(min, x);
    max = std::max(max, x);
  }

  __attribute__((target("avx2"))) void scan(const float* p, int64_t n) {
    min = std::numeric_limits<float>::infinity();
    max = -std::numeric_limits<float>::infinity();
    anyFinite = false;
    minPosKey = minNegKey = kKeys;
    nans = posInfs = negInfs = 0;
    __m256 vmin = _mm256_set1_ps(std::numeric_limits<float>::infinity());
    __m256 vmax = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    __m256i vminPos = _mm256_set1_epi32(static_cast<int>(kKeys));
    __m256i vminNeg = _mm256_set1_epi32(static_cast<int>(kKeys));
    const __m256i expMask = _mm256_set1_epi32(0x7f800000);
    const __m256i sign = _mm256_set1_epi32(static_cast<int>(kSignKey));
    bool vecFinite = false;
    uint32_t* a = t0.data();
    uint32_t* c = t1.data();
    alignas(32) uint32_t keys[8];
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      __m256 v = _mm256_loadu_ps(p + i);
      __m256i bits = _mm256_castps_si256(v);
      __m256i nonFinite = _mm256_cmpeq_epi32(_mm256_and_si256(bits, expMask), expMask);
      if (!_mm256_testz_si256(nonFinite, nonFinite)) {
        for (int k = 0; k < 8; ++k) scalar(p[i + k]);
        continue;
      }
      vecFinite = true;
      vmin = _mm256_min_ps(vmin, v);
      vmax = _mm256_max_ps(vmax, v);
      __m256i key = _mm256_srli_epi32(bits, kKeyShift);
      // Positive keys are below 0x8000, so the plain minimum is the smallest positive key; with
      // the sign bit flipped, the same holds for the negatives.
      vminPos = _mm256_min_epu32(vminPos, key);
      vminNeg = _mm256_min_epu32(vminNeg, _mm256_xor_si256(key, sign));
      _mm256_store_si256(reinterpret_cast<__m256i*>(keys), key);
      ++a[keys[0]];
      ++c[keys[1]];
      ++a[keys[2]];
      ++c[keys[3]];
      ++a[keys[4]];
      ++c[keys[5]];
      ++a[keys[6]];
      ++c[keys[7]];
    }
    for (; i < n; ++i) scalar(p[i]);
    if (vecFinite) {
      alignas(32) float mins[8], maxs[8];
      alignas(32) uint32_t pos[8], neg[8];
      _mm256_store_ps(mins, vmin);
      _mm256_store_ps(maxs, vmax);
      _mm256_store_si256(reinterpret_cast<__m256i*>(pos), vminPos);
      _mm256_store_si256(reinterpret_cast<__m256i*>(neg), vminNeg);
      for (int k = 0; k < 8; ++k) {
        if (!anyFinite) min = mins[k], max = maxs[k], anyFinite = true;
        min = std::min(min, mins[k]);
        max = std::max(max, maxs[k]);
        if (pos[k] < kSignKey) minPosKey = std::min(minPosKey, pos[k]);
        if (neg[k] < kSignKey) minNegKey = std::min(minNegKey, neg[k]);
      }
    }
  }

  /// Moves the counts of keys [lo, hi] into a run of magnitude buckets, clearing the tables.
  void drain(uint32_t lo, uint32_t hi, uint32_t keyOfBucket0, std::vector<int64_t>& run, int64_t& origin) {
    while (lo <= hi && t0[lo] + t1[lo] == 0) ++lo;
    while (hi > lo && t0[hi] + t1[hi] == 0) --hi;
    if (lo > hi) return;
    cover(run, origin, lo - keyOfBucket0, hi - keyOfBucket0);
    int64_t* d = run.data() + (lo - keyOfBucket0 - origin);
    for (uint32_t k = lo; k <= hi; ++k) {
      d[k - lo] += static_cast<int64_t>(t0[k]) + t1[k];
      t0[k] = t1[k] = 0;
    }
  }

  void foldInto(TensorStats& s) {
    int64_t zeros = 0;
    for (uint32_t k = 0; k < kFirstNormalKey; ++k) {
      zeros += static_cast<int64_t>(t0[k]) + t1[k] + t0[k | kSignKey] + t1[k | kSignKey];
      t0[k] = t1[k] = t0[k | kSignKey] = t1[k | kSignKey] = 0;
    }
    s.zeros += zeros;
    s.nans += nans;
    s.posInfs += posInfs;
    s.negInfs += negInfs;
    if (!anyFinite) return;
    uint32_t bias = static_cast<uint32_t>(kBucketBias);
    if (max > 0) {
      uint32_t hi = std::bit_cast<uint32_t>(max) >> kKeyShift;
      uint32_t lo = std::max(minPosKey, kFirstNormalKey);
      if (hi >= kFirstNormalKey) drain(lo, hi, bias, s.hist, s.histOrigin);
    }
    if (min < 0) {
      uint32_t hi = std::bit_cast<uint32_t>(min) >> kKeyShift;
      uint32_t lo = std::max(minNegKey, kFirstNormalKey) | kSignKey;
      if (hi >= (kFirstNormalKey | kSignKey)) drain(lo, hi, bias | kSignKey, s.negHist, s.negHistOrigin);
    }
  }
};

HistogramAccumulator::HistogramAccumulator(ThreadPool* pool, int64_t parallelMin)
    : pool_(pool), parallelMin_(parallelMin) {}
HistogramAccumulator::~HistogramAccumulator() = default;

HistogramAccumulator::Slice& HistogramAccumulator::slice(size_t i) {
  while (slices_.size() <= i) slices_.push_back(std::make_unique<Slice>());
  return *slices_[i];
}

void HistogramAccumulator::add(const float* data, int64_t n, TensorStats& s) {
  if (n <= 0) return;
  int64_t parts = 1;
  if (pool_ && n >= parallelMin_) parts = std::min<int64_t>(pool_->size(), n / (parallelMin_ / 2));
  for (int64_t k = 0; k < parts; ++k) slice(static_cast<size_t>(k));
  // A uint32 counter holds any slice of fewer than 2^32 elements; bigger tensors go in pieces.
  constexpr int64_t kMaxPiece = int64_t{1} << 31;
  for (int64_t off = 0; off < n; off += kMaxPiece) {
    int64_t len = std::min(kMaxPiece, n - off);
    const float* p = data + off;
    auto run = [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        int64_t lo = len * k / parts, hi = len * (k + 1) / parts;
        slices_[static_cast<size_t>(k)]->scan(p + lo, hi - lo);
      }
    };
    if (parts > 1) pool_->parallelFor(parts, 1, run);
    else run(0, 1);
    for (int64_t k = 0; k < parts; ++k) {
      Slice& sl = *slices_[static_cast<size_t>(k)];
      if (sl.anyFinite) {
        // Zeros of either sign are one value; +0 keeps the output independent of the split.
        double mn = sl.min == 0 ? 0.0 : sl.min, mx = sl.max == 0 ? 0.0 : sl.max;
        if (s.finiteCount() > 0) {
          s.min = std::min(s.min, mn);
          s.max = std::max(s.max, mx);
        } else {
          s.min = mn;
          s.max = mx;
        }
      }
      sl.foldInto(s);
      s.count += (len * (k + 1) / parts) - (len * k / parts);
    }
  }
}

}  // namespace npuconv::calib
