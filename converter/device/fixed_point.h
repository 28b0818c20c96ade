// fixed_point.h - integer requantization as TFLite and the NPUs do it: a real multiplier M > 0 is
// stored as an int32 Q31 mantissa m and a shift s with M ~= m * 2^(s - 31); applying it is a
// saturating rounding doubling high multiply then a rounding right shift (round half away from
// zero). No float at run time; the same bits on every machine (docs/blob-format.md, "Quantization").
#pragma once

#include <cstdint>
#include <limits>

namespace npuconv::device {

struct FixedMultiplier {
  int32_t multiplier = 0;  // Q31 mantissa in [2^30, 2^31), or 0 for M == 0
  int32_t shift = 0;       // M = multiplier * 2^(shift - 31)
};

/// Compile time only (the one place a double is used): M -> (m, s). M must be >= 0.
FixedMultiplier quantizeMultiplier(double m);

/// (a * b * 2) >> 31 rounded, saturated (gemmlowp's SaturatingRoundingDoublingHighMul).
inline int32_t roundingDoublingHighMul(int32_t a, int32_t b) {
  if (a == b && a == std::numeric_limits<int32_t>::min()) return std::numeric_limits<int32_t>::max();
  const int64_t ab = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : (1 - (int64_t{1} << 30));
  return static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));
}

/// x / 2^e rounded half away from zero (gemmlowp's RoundingDivideByPOT), 0 <= e <= 31.
inline int32_t roundingDivideByPot(int32_t x, int e) {
  const int32_t mask = static_cast<int32_t>((int64_t{1} << e) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (remainder > threshold ? 1 : 0);
}

/// round(x * M) for M given as (m, s); the left shift (s > 0) saturates.
inline int32_t multiplyByQuantizedMultiplier(int32_t x, FixedMultiplier f) {
  const int left = f.shift > 0 ? f.shift : 0;
  const int right = f.shift > 0 ? 0 : -f.shift;
  int64_t shifted = static_cast<int64_t>(x) * (int64_t{1} << left);
  if (shifted > std::numeric_limits<int32_t>::max()) shifted = std::numeric_limits<int32_t>::max();
  if (shifted < std::numeric_limits<int32_t>::min()) shifted = std::numeric_limits<int32_t>::min();
  return roundingDivideByPot(roundingDoublingHighMul(static_cast<int32_t>(shifted), f.multiplier), right > 31 ? 31 : right);
}

/// a + b, saturated to int32 (bias additions: the accumulator must not wrap).
inline int32_t saturatingAdd(int32_t a, int32_t b) {
  const int64_t s = int64_t{a} + b;
  return static_cast<int32_t>(s > std::numeric_limits<int32_t>::max() ? std::numeric_limits<int32_t>::max()
                              : s < std::numeric_limits<int32_t>::min() ? std::numeric_limits<int32_t>::min()
                                                                        : s);
}

inline int32_t clampToRange(int64_t v, int32_t lo, int32_t hi) {
  return static_cast<int32_t>(v < lo ? lo : (v > hi ? hi : v));
}

}  // namespace npuconv::device
