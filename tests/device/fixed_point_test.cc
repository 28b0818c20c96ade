// Requantization (converter/device/fixed_point.h, docs/blob-format.md §8.4): single rounding is
// the exactly rounded product x * m * 2^(shift - 31) (half away from zero) for every int32 x and
// every stored multiplier; double rounding is within one step of it; and the eight-lane (AVX2)
// and sixteen-lane (AVX-512, one multiplier or one per lane) versions give the scalar bits in both
// modes, at the int32 extremes and on random values.
#include <gtest/gtest.h>
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "converter/device/fixed_point.h"
#include "converter/device/int_simd.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

using device::FixedMultiplier;
using device::Rounding;

constexpr int32_t kMin = std::numeric_limits<int32_t>::min(), kMax = std::numeric_limits<int32_t>::max();

/// Inputs: the extremes, values around zero and around powers of two, random ones.
std::vector<int32_t> probeValues(test::SplitMix64& rng) {
  std::vector<int32_t> v = {0, 1, -1, 2, -2, kMax, kMin, kMax - 1, kMin + 1, 1 << 30, -(1 << 30), 12345, -12345};
  for (int i = 0; i < 40; ++i) v.push_back(rng.pick(-70000, 70000));
  for (int i = 0; i < 40; ++i) v.push_back(static_cast<int32_t>(rng.next()));
  while (v.size() % 16) v.push_back(rng.pick(-300, 300));
  return v;
}

FixedMultiplier randomMultiplier(test::SplitMix64& rng, Rounding r) {
  const double u = rng.uniform();
  FixedMultiplier f{rng.pick(int64_t{1} << 30, kMax), rng.pick(-31, 30), r};
  if (u < 0.1) f.shift = rng.pick(-31, -28);  // the largest right shifts
  if (u > 0.9) f.shift = rng.pick(0, 3);      // left shifts (saturating)
  if (u > 0.95) f.multiplier = 0;
  return f;
}

/// round_half_away(saturate(x * 2^left) * m * 2^(shift - 31 - left)) in long double: the product
/// of a 32-bit and a 31-bit integer fits the 64-bit mantissa, so it is exact.
int32_t exactRequant(int32_t x, FixedMultiplier f) {
  const int left = f.shift > 0 ? f.shift : 0;
  const int right = f.shift > 0 ? 0 : std::min(-f.shift, 31);
  const int64_t xs = std::clamp<int64_t>(int64_t{x} * (int64_t{1} << left), kMin, kMax);
  const long double p = static_cast<long double>(xs) * static_cast<long double>(f.multiplier);
  return static_cast<int32_t>(std::llroundl(std::ldexp(p, -31 - right)));
}

TEST(FixedPoint, SingleRoundingIsTheExactlyRoundedProduct) {
  test::SplitMix64 rng(71);
  for (int trial = 0; trial < 300; ++trial) {
    const FixedMultiplier f = randomMultiplier(rng, Rounding::Single);
    FixedMultiplier twice = f;
    twice.rounding = Rounding::Double;
    for (int32_t x : probeValues(rng)) {
      const int32_t once = device::multiplyByQuantizedMultiplier(x, f);
      ASSERT_EQ(once, exactRequant(x, f)) << "x " << x << " m " << f.multiplier << " shift " << f.shift;
      ASSERT_LE(std::abs(int64_t{device::multiplyByQuantizedMultiplier(x, twice)} - once), 1) << "x " << x;
    }
  }
}

TEST(FixedPoint, WorkedNumbersOfTheSpec) {
  // docs/blob-format.md §8.4: M = 0.004 (multiplier 1099511628, shift -7).
  FixedMultiplier f = device::quantizeMultiplier(0.004);
  ASSERT_EQ(f.multiplier, 1099511628);
  ASSERT_EQ(f.shift, -7);
  EXPECT_EQ(device::multiplyByQuantizedMultiplier(1234, f), 5);  // 4.936
  EXPECT_EQ(device::multiplyByQuantizedMultiplier(-1234, f), -5);
  f.rounding = Rounding::Double;
  EXPECT_EQ(device::multiplyByQuantizedMultiplier(1234, f), 5);
  // M = 0.0037 (multiplier 2034096511, shift -8), acc 135: exactly 0.4995. Once: 0. Twice: the
  // high multiply rounds 135 * 2034096511 / 2^31 = 127.87 to 128, and 128 / 2^8 = 0.5 rounds away
  // from zero to 1.
  f = device::quantizeMultiplier(0.0037);
  ASSERT_EQ(f.multiplier, 2034096511);
  ASSERT_EQ(f.shift, -8);
  EXPECT_EQ(device::multiplyByQuantizedMultiplier(135, f), 0);
  EXPECT_EQ(device::multiplyByQuantizedMultiplier(-135, f), 0);
  f.rounding = Rounding::Double;
  EXPECT_EQ(device::multiplyByQuantizedMultiplier(135, f), 1);
  EXPECT_EQ(device::multiplyByQuantizedMultiplier(-135, f), -1);
}

__attribute__((target("avx2"))) void qmulAvx2(const std::vector<int32_t>& x, FixedMultiplier f, std::vector<int32_t>& out) {
  const device::simd::QMul mul(f);
  out.resize(x.size());
  for (size_t i = 0; i < x.size(); i += 8)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.data() + i),
                        mul(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.data() + i))));
}

// GCC 12 flags the _mm512_undefined_*() inside its own AVX-512 intrinsics (as int_gemm.cc notes).
#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
__attribute__((target("avx512f,avx512bw,avx512vl"))) void qmulAvx512(const std::vector<int32_t>& x, FixedMultiplier f,
                                                                    std::vector<int32_t>& out) {
  const device::simd::QMul16 mul(f);
  out.resize(x.size());
  for (size_t i = 0; i < x.size(); i += 16) _mm512_storeu_si512(out.data() + i, mul(_mm512_loadu_si512(x.data() + i)));
}

/// Lane i of each 16-value block uses fs[i] (as int_gemm.cc's Lanes epilogue: a channel per lane).
__attribute__((target("avx512f,avx512bw,avx512vl"))) void qmulLanesAvx512(const std::vector<int32_t>& x,
                                                                         const std::vector<FixedMultiplier>& fs, Rounding r,
                                                                         std::vector<int32_t>& out) {
  int32_t mult[16], left[16], right[16], hi[16], lo[16], mask[16], half[16];
  for (int i = 0; i < 16; ++i) {
    const FixedMultiplier& f = fs[static_cast<size_t>(i)];
    left[i] = f.shift > 0 ? f.shift : 0;
    right[i] = f.shift > 0 ? 0 : std::min(-f.shift, 31);
    mult[i] = f.multiplier;
    hi[i] = kMax >> left[i], lo[i] = kMin >> left[i];
    mask[i] = static_cast<int32_t>((int64_t{1} << right[i]) - 1), half[i] = mask[i] >> 1;
  }
  const device::simd::QMulLanes16 mul(mult, left, right, hi, lo, mask, half, r);
  out.resize(x.size());
  for (size_t i = 0; i < x.size(); i += 16) _mm512_storeu_si512(out.data() + i, mul(_mm512_loadu_si512(x.data() + i)));
}

#pragma GCC diagnostic pop

// Exact halves: m = 2^30 (0.5) with right shifts 0, 1, 5 and 31 and the neighbouring multipliers,
// on every x in [-300, 300] and the extremes: the vector paths (AVX-512 single rounding works on
// |x| and puts the sign back) round each tie away from zero as the scalar definition does.
TEST(FixedPoint, VectorTiesEqualScalar) {
  if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")))
    GTEST_SKIP() << "no AVX-512 here";
  std::vector<int32_t> x = {kMin, kMin + 1, kMax, kMax - 1};
  for (int32_t v = -300; v <= 300; ++v) x.push_back(v);
  while (x.size() % 16) x.push_back(0);
  for (Rounding r : {Rounding::Single, Rounding::Double})
    for (int32_t m : {1 << 30, (1 << 30) + 1, kMax})
      for (int shift : {0, -1, -5, -31, 2}) {
        const FixedMultiplier f{m, shift, r};
        std::vector<int32_t> got;
        qmulAvx512(x, f, got);
        std::vector<FixedMultiplier> fs(16, f);
        std::vector<int32_t> lanes;
        qmulLanesAvx512(x, fs, r, lanes);
        for (size_t i = 0; i < x.size(); ++i) {
          const int32_t want = device::multiplyByQuantizedMultiplier(x[i], f);
          ASSERT_EQ(got[i], want) << "x " << x[i] << " m " << m << " shift " << shift << " " << device::roundingName(r);
          ASSERT_EQ(lanes[i], want) << "lanes x " << x[i] << " m " << m << " shift " << shift << " " << device::roundingName(r);
        }
      }
}

TEST(FixedPoint, VectorLanesEqualScalarInBothRoundings) {
  const bool avx2 = __builtin_cpu_supports("avx2"), avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                                                            __builtin_cpu_supports("avx512vl");
  if (!avx2) GTEST_SKIP() << "no AVX2 here";
  test::SplitMix64 rng(72);
  for (int trial = 0; trial < 300; ++trial) {
    const Rounding r = trial % 2 ? Rounding::Single : Rounding::Double;
    const FixedMultiplier f = randomMultiplier(rng, r);
    const std::vector<int32_t> x = probeValues(rng);
    std::vector<int32_t> got;
    qmulAvx2(x, f, got);
    for (size_t i = 0; i < x.size(); ++i)
      ASSERT_EQ(got[i], device::multiplyByQuantizedMultiplier(x[i], f))
          << "AVX2 x " << x[i] << " m " << f.multiplier << " shift " << f.shift << " " << device::roundingName(r);
    if (!avx512) continue;
    qmulAvx512(x, f, got);
    for (size_t i = 0; i < x.size(); ++i)
      ASSERT_EQ(got[i], device::multiplyByQuantizedMultiplier(x[i], f))
          << "AVX-512 x " << x[i] << " m " << f.multiplier << " shift " << f.shift << " " << device::roundingName(r);
    std::vector<FixedMultiplier> fs;
    for (int i = 0; i < 16; ++i) fs.push_back(randomMultiplier(rng, r));
    qmulLanesAvx512(x, fs, r, got);
    for (size_t i = 0; i < x.size(); ++i)
      ASSERT_EQ(got[i], device::multiplyByQuantizedMultiplier(x[i], fs[i % 16]))
          << "AVX-512 lanes x " << x[i] << " m " << fs[i % 16].multiplier << " shift " << fs[i % 16].shift << " "
          << device::roundingName(r);
  }
}

}  // namespace
}  // namespace npuconv
