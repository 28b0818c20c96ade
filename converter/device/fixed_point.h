// fixed_point.h - integer requantization as TFLite and the NPUs do it: a real multiplier M > 0 is
// stored as an int32 Q31 mantissa m and a shift s with M ~= m * 2^(s - 31). Applying it rounds
// once (the 64-bit product shifted right by 31 - s with a half-away-from-zero nudge: TFLite's
// single rounding, TOSA RESCALE without double_round) or, for blobs before format 1.3, twice
// (gemmlowp: a saturating rounding doubling high multiply, then a rounding right shift), as the
// program says. No float at run time; the same bits on every machine (docs/blob-format.md,
// "Requantization").
#pragma once

#include <cstdint>
#include <limits>

namespace npuconv::device {

/// How a requantization rounds (a whole program's choice; the blob's header flag
/// requant_single_rounding). Double: gemmlowp's two roundings, the only mode of formats 1.0-1.2;
/// a value within about 2^-shift of a half step can round the other way from the exact result
/// (on PP-OCR det's 8-bit Convs 4390 of 5.6 M outputs, the QDQ float model 24). Single: one
/// rounding of the exact product, off the exact result only where M's 31-bit mantissa itself is.
enum class Rounding : uint8_t { Double = 0, Single = 1 };
inline const char* roundingName(Rounding r) { return r == Rounding::Single ? "single" : "double"; }

struct FixedMultiplier {
  int32_t multiplier = 0;  // Q31 mantissa in [2^30, 2^31), or 0 for M == 0
  int32_t shift = 0;       // M = multiplier * 2^(shift - 31)
  Rounding rounding = Rounding::Single;
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

/// floor((p + 2^(t-1) - [p < 0]) / 2^t): p / 2^t rounded half away from zero, 31 <= t <= 62,
/// |p| < 2^62 (an int32 times a Q31 mantissa), so neither the sum nor the result overflows.
inline int32_t roundingShift64(int64_t p, int t) {
  return static_cast<int32_t>((p + (int64_t{1} << (t - 1)) - (p < 0 ? 1 : 0)) >> t);
}

/// round(x * M) for M given as (m, s), rounding as f.rounding says; the left shift (s > 0)
/// saturates. Right shifts beyond 31 are taken as 31 (M below 2^-32 is stored as 0).
inline int32_t multiplyByQuantizedMultiplier(int32_t x, FixedMultiplier f) {
  const int left = f.shift > 0 ? f.shift : 0;
  const int right = f.shift > 0 ? 0 : (-f.shift > 31 ? 31 : -f.shift);
  int64_t shifted = static_cast<int64_t>(x) * (int64_t{1} << left);
  if (shifted > std::numeric_limits<int32_t>::max()) shifted = std::numeric_limits<int32_t>::max();
  if (shifted < std::numeric_limits<int32_t>::min()) shifted = std::numeric_limits<int32_t>::min();
  if (f.rounding == Rounding::Single) return roundingShift64(shifted * f.multiplier, 31 + right);
  return roundingDivideByPot(roundingDoublingHighMul(static_cast<int32_t>(shifted), f.multiplier), right);
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
