// int_gemm.cc - see int_gemm.h.
//
// Layout. Activations are rewritten per run into "quads": for each group of 4 input channels a
// plane of 4-byte cells (the 4 channels' bytes of one pixel), zero-point padded around the image
// (NC4HW4 with a border). The kernels keep output pixels in vector lanes and 4 channels in each
// 32-bit lane, so one vpdpbusd does 4 MACs for each of 16 pixels against one output channel's 4
// weights (broadcast). A stride-1 Conv reads its taps straight from the padded planes: output
// pixel (oh, ow) is computed at "virtual" index q = oh * PW + ow of the padded width PW, so a run
// of consecutive q is one contiguous load per tap (the PW - OW columns past each row are computed
// and dropped). A strided Conv gathers its taps into a packed panel per run of NR output pixels
// (im2col). A Gemm is a 1x1 Conv whose "pixels" are the rows of x, stored transposed.
// Weights are packed once into blocks of MR output channels: [group][block][tap][c4][MR][4].
// Depthwise Convs (one input channel per group) use a direct int16 loop per channel.
// "Lanes" (AVX-512, one group, 8-bit output, no weight zero point after the shift): the other
// orientation, 32 output channels in two vectors and up to 14 output pixels broadcast from the
// quad planes at their own offsets (any stride, no im2col, no virtual columns), so a 7x7 or 14x14
// map wastes nothing where 32-pixel tiles of the padded width waste up to a quarter; the tile's
// bytes are transposed to NCHW rows at the store (kernelLanes, epilogueLanes).
#include "converter/device/int_gemm.h"

#include <cpuid.h>
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "converter/device/int_simd.h"
#include "converter/exec/thread_pool.h"

namespace npuconv::device {

// ---------------------------------------------------------------------------------------------
// CPU features

namespace {

struct CpuFeatures {
  bool avx2 = false, avxVnni = false, avx512Vnni = false;
};

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
  if (!osxsave || !avx) return f;
  unsigned xlo = 0, xhi = 0;
  __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  const bool ymmOs = (xlo & 0x6) == 0x6, zmmOs = (xlo & 0xE6) == 0xE6;
  if (!ymmOs || __get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  f.avx2 = (b >> 5) & 1;
  const bool avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
  f.avx512Vnni = f.avx2 && zmmOs && avx512f && avx512bw && avx512vl && ((c >> 11) & 1);
  __cpuid_count(7, 1, a, b, c, d);
  f.avxVnni = f.avx2 && ((a >> 4) & 1);
  return f;
}

const CpuFeatures& cpu() {
  static const CpuFeatures f = detect();
  return f;
}

}  // namespace

std::string_view int8IsaName(Int8Isa isa) {
  switch (isa) {
    case Int8Isa::Scalar: return "scalar";
    case Int8Isa::Avx2: return "avx2";
    case Int8Isa::AvxVnni: return "avxvnni";
    case Int8Isa::Avx512Vnni: return "avx512vnni";
  }
  return "?";
}

std::optional<Int8Isa> parseInt8Isa(std::string_view name) {
  for (Int8Isa i : {Int8Isa::Scalar, Int8Isa::Avx2, Int8Isa::AvxVnni, Int8Isa::Avx512Vnni})
    if (name == int8IsaName(i)) return i;
  return std::nullopt;
}

bool int8IsaAvailable(Int8Isa isa) {
  switch (isa) {
    case Int8Isa::Scalar: return true;
    case Int8Isa::Avx2: return cpu().avx2;
    case Int8Isa::AvxVnni: return cpu().avxVnni;
    case Int8Isa::Avx512Vnni: return cpu().avx512Vnni;
  }
  return false;
}

Int8Isa bestInt8Isa() {
  for (Int8Isa i : {Int8Isa::Avx512Vnni, Int8Isa::AvxVnni, Int8Isa::Avx2})
    if (int8IsaAvailable(i)) return i;
  return Int8Isa::Scalar;
}

Expected<Int8Isa> int8IsaFromEnv() {
  const char* s = std::getenv("NPUCONV_INT8_ISA");
  if (!s || !*s) return bestInt8Isa();
  const auto isa = parseInt8Isa(s);
  if (!isa) return Status::invalidArgument("NPUCONV_INT8_ISA={}: expected scalar, avx2, avxvnni or avx512vnni", s);
  if (!int8IsaAvailable(*isa)) return Status::unsupported("NPUCONV_INT8_ISA={}: this CPU lacks it", s);
  return *isa;
}

// ---------------------------------------------------------------------------------------------
// Requantization: fixed_point.h, lane for lane.

namespace {

void requantizeRowScalar(int32_t* v, int64_t n, int32_t bias, FixedMultiplier f, int32_t zy, int32_t lo, int32_t hi) {
  for (int64_t i = 0; i < n; ++i)
    v[i] = clampToRange(int64_t{zy} + multiplyByQuantizedMultiplier(saturatingAdd(v[i], bias), f), lo, hi);
}

__attribute__((target("avx2"))) void requantizeRowAvx2(int32_t* v, int64_t n, int32_t bias, FixedMultiplier f, int32_t zy,
                                                       int32_t lo, int32_t hi) {
  const simd::QMul mul(f);
  const simd::ClampZy clamp(zy, lo, hi);
  const __m256i vb = _mm256_set1_epi32(bias);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(v + i), clamp(mul(simd::satAdd(a, vb))));
  }
  requantizeRowScalar(v + i, n - i, bias, f, zy, lo, hi);
}

/// requantizeRow, then the low bytes to out (8-bit outputs).
__attribute__((target("avx2"))) void requantizeRowTo8Avx2(const int32_t* v, int64_t n, int32_t bias, FixedMultiplier f, int32_t zy,
                                                          int32_t lo, int32_t hi, uint8_t* out) {
  const simd::QMul mul(f);
  const simd::ClampZy clamp(zy, lo, hi);
  const __m256i vb = _mm256_set1_epi32(bias);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    simd::store8(out + i, clamp(mul(simd::satAdd(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + i)), vb))));
  for (; i < n; ++i)
    out[i] = static_cast<uint8_t>(clampToRange(int64_t{zy} + multiplyByQuantizedMultiplier(saturatingAdd(v[i], bias), f), lo, hi));
}

/// The same on sixteen lanes (masked tail), storing with vpmovdb. (GCC 12 flags the
/// _mm512_undefined_epi32() inside its own AVX-512 intrinsics as maybe-uninitialized at -O3.)
#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning group
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
__attribute__((target("avx512f,avx512bw,avx512vl"))) void requantizeRowTo8Avx512(const int32_t* v, int64_t n, int32_t bias,
                                                                                 FixedMultiplier f, int32_t zy, int32_t lo,
                                                                                 int32_t hi, uint8_t* out) {
  const simd::QMul16 mul(f);
  const simd::ClampZy16 clamp(zy, lo, hi);
  const __m512i vb = _mm512_set1_epi32(bias);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_cvtepi32_storeu_epi8(out + i, k, clamp(mul(simd::satAdd16(_mm512_maskz_loadu_epi32(k, v + i), vb))));
  }
}

/// The epilogue of a whole AVX-512 tile (rows of 32 accumulators, the first rn valid, cnt valid
/// pixels): + corr, saturating + bias, requantize, clamp, bytes to out[r][32]. The row-invariant
/// constants are set up once per tile.
__attribute__((target("avx512f,avx512bw,avx512vl"))) void epilogueTileAvx512(const int32_t* tile, int64_t rn, int64_t cnt,
                                                                             const int32_t* corr, const int32_t* bias,
                                                                             const FixedMultiplier* rq, int32_t zy, int32_t lo,
                                                                             int32_t hi, uint8_t* out) {
  const simd::ClampZy16 clamp(zy, lo, hi);
  const __mmask16 k0 = cnt >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << cnt) - 1);
  const __mmask16 k1 = cnt >= 32 ? __mmask16(0xFFFF) : cnt <= 16 ? __mmask16(0) : static_cast<__mmask16>((1u << (cnt - 16)) - 1);
  for (int64_t r = 0; r < rn; ++r) {
    const simd::QMul16 mul(rq[r]);
    const __m512i vc = _mm512_set1_epi32(corr[r]), vb = _mm512_set1_epi32(bias[r]);
    for (int h = 0; h < 2; ++h) {
      const __mmask16 k = h ? k1 : k0;
      if (!k) continue;
      const __m512i a = _mm512_add_epi32(_mm512_loadu_si512(tile + r * 32 + 16 * h), vc);
      _mm512_mask_cvtepi32_storeu_epi8(out + r * 32 + 16 * h, k, clamp(mul(simd::satAdd16(a, vb))));
    }
  }
}
#pragma GCC diagnostic pop

}  // namespace

void forEachItem(ThreadPool* pool, int64_t items, const std::function<void(int64_t, int64_t)>& fn) {
  if (!pool || pool->size() <= 1 || items <= 1) {
    if (items > 0) fn(0, items);
    return;
  }
  // Many small items (a GlobalAveragePool's 512 planes of 49 bytes, a re-layout's planes) go out
  // in runs of up to items / (8 x threads): one shared counter bumped per item costs more than
  // the items when the threads keep taking its cache line from each other.
  const int64_t run = std::max<int64_t>(1, items / (8 * int64_t{pool->size()}));
  std::atomic<int64_t> next{0};
  pool->parallelFor(pool->size(), 1, [&](int64_t, int64_t) {
    for (int64_t i; (i = next.fetch_add(run, std::memory_order_relaxed)) < items;) fn(i, std::min(items, i + run));
  });
}

void requantizeRow(int32_t* v, int64_t n, int32_t bias, FixedMultiplier f, int32_t zy, int32_t lo, int32_t hi) {
  if (cpu().avx2) requantizeRowAvx2(v, n, bias, f, zy, lo, hi);
  else requantizeRowScalar(v, n, bias, f, zy, lo, hi);
}

// ---------------------------------------------------------------------------------------------
// Microkernels: tile[MR][NR] = sum over taps t and channel quads c of a[t][c] . w[t][c], where
// a = base + taps[t] + c * strideC4 points at NR quads (4 bytes each) and w at MR quads.

namespace {

using KernelFn = void (*)(const uint8_t* a, const int64_t* taps, int nTaps, int64_t strideC4, int64_t c4, const void* w,
                          int32_t* tile);

inline int32_t load32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

template <int MR>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) void kernelAvx512Vnni(const uint8_t* a, const int64_t* taps,
                                                                                       int nTaps, int64_t strideC4, int64_t c4,
                                                                                       const void* wv, int32_t* tile) {
  const auto* w = static_cast<const int8_t*>(wv);
  __m512i acc0[MR], acc1[MR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm512_setzero_si512();
  for (int t = 0; t < nTaps; ++t) {
    const uint8_t* p = a + taps[t];
    for (int64_t c = 0; c < c4; ++c, p += strideC4, w += 4 * MR) {
      const __m512i x0 = _mm512_loadu_si512(p), x1 = _mm512_loadu_si512(p + 64);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const __m512i b = _mm512_set1_epi32(load32(w + 4 * r));
        acc0[r] = _mm512_dpbusd_epi32(acc0[r], x0, b);
        acc1[r] = _mm512_dpbusd_epi32(acc1[r], x1, b);
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    _mm512_storeu_si512(tile + r * 32, acc0[r]);
    _mm512_storeu_si512(tile + r * 32 + 16, acc1[r]);
  }
}

template <int MR>
__attribute__((target("avx2,avxvnni"))) void kernelAvxVnni(const uint8_t* a, const int64_t* taps, int nTaps, int64_t strideC4,
                                                          int64_t c4, const void* wv, int32_t* tile) {
  const auto* w = static_cast<const int8_t*>(wv);
  __m256i acc0[MR], acc1[MR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm256_setzero_si256();
  for (int t = 0; t < nTaps; ++t) {
    const uint8_t* p = a + taps[t];
    for (int64_t c = 0; c < c4; ++c, p += strideC4, w += 4 * MR) {
      const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
      const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const __m256i b = _mm256_set1_epi32(load32(w + 4 * r));
        acc0[r] = _mm256_dpbusd_avx_epi32(acc0[r], x0, b);
        acc1[r] = _mm256_dpbusd_avx_epi32(acc1[r], x1, b);
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + r * 16), acc0[r]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + r * 16 + 8), acc1[r]);
  }
}

/// AVX2: activations zero-extended to 16 bits, weights as int16; vpmaddwd sums pairs exactly
/// (|x' * w'| <= 255 * 128), giving two partial sums per pixel that are added at the end.
template <int MR>
__attribute__((target("avx2"))) void kernelAvx2(const uint8_t* a, const int64_t* taps, int nTaps, int64_t strideC4, int64_t c4,
                                               const void* wv, int32_t* tile) {
  const auto* w = static_cast<const int16_t*>(wv);
  __m256i acc0[MR], acc1[MR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm256_setzero_si256();
  for (int t = 0; t < nTaps; ++t) {
    const uint8_t* p = a + taps[t];
    for (int64_t c = 0; c < c4; ++c, p += strideC4, w += 4 * MR) {
      const __m256i x0 = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      const __m256i x1 = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)));
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        int64_t q;
        std::memcpy(&q, w + 4 * r, 8);
        const __m256i b = _mm256_set1_epi64x(q);
        acc0[r] = _mm256_add_epi32(acc0[r], _mm256_madd_epi16(x0, b));
        acc1[r] = _mm256_add_epi32(acc1[r], _mm256_madd_epi16(x1, b));
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    // hadd gives pixels [0 1 4 5 | 2 3 6 7]; the permute puts them in order.
    const __m256i h = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc0[r], acc1[r]), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + r * 8), h);
  }
}

/// Lanes tile: tile[p][32] = sum over taps t and quads c of a[t][c][pix[p]] (broadcast) .
/// w[t][c][32 channels][4].
template <int P>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) void kernelLanes(const uint8_t* a, const int64_t* pix, const int64_t* taps,
                                                                                  int nTaps, int64_t strideC4, int64_t c4, const int8_t* w,
                                                                                  int32_t* tile) {
  __m512i acc0[P], acc1[P];
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p) acc0[p] = acc1[p] = _mm512_setzero_si512();
  for (int t = 0; t < nTaps; ++t) {
    const uint8_t* base = a + taps[t];
    for (int64_t c = 0; c < c4; ++c, base += strideC4, w += 128) {
      const __m512i w0 = _mm512_loadu_si512(w), w1 = _mm512_loadu_si512(w + 64);
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p) {
        const __m512i b = _mm512_set1_epi32(load32(base + pix[p]));
        acc0[p] = _mm512_dpbusd_epi32(acc0[p], b, w0);
        acc1[p] = _mm512_dpbusd_epi32(acc1[p], b, w1);
      }
    }
  }
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p) {
    _mm512_storeu_si512(tile + p * 32, acc0[p]);
    _mm512_storeu_si512(tile + p * 32 + 16, acc1[p]);
  }
}

/// kernelLanes<P> for a tile whose pixels lie STEP bytes apart in the planes (a full tile inside
/// one output row, or a Gemm's rows): the broadcasts address base + p * STEP with an immediate
/// offset instead of loading pix[p] (28 accumulators leave no register for 14 offsets). The same
/// sums in the same order as kernelLanes: the same bits.
/// SEG < P: pixels SEG.. lie in a second row, rowOff bytes after the first (resnet18's 7x7 planes:
/// a tile of 14 is two rows of 7).
template <int P, int STEP, int SEG>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) void kernelLanesRow(const uint8_t* a, int64_t pix0, int64_t rowOff,
                                                                                     const int64_t* taps, int nTaps, int64_t strideC4,
                                                                                     int64_t c4, const int8_t* w, int32_t* tile) {
  __m512i acc0[P], acc1[P];
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p) acc0[p] = acc1[p] = _mm512_setzero_si512();
  for (int t = 0; t < nTaps; ++t) {
    const uint8_t* base = a + taps[t] + pix0;
    for (int64_t c = 0; c < c4; ++c, base += strideC4, w += 128) {
      const __m512i w0 = _mm512_loadu_si512(w), w1 = _mm512_loadu_si512(w + 64);
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p) {
        const __m512i b = _mm512_set1_epi32(load32(p < SEG ? base + p * STEP : base + rowOff + (p - SEG) * STEP));
        acc0[p] = _mm512_dpbusd_epi32(acc0[p], b, w0);
        acc1[p] = _mm512_dpbusd_epi32(acc1[p], b, w1);
      }
    }
  }
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p) {
    _mm512_storeu_si512(tile + p * 32, acc0[p]);
    _mm512_storeu_si512(tile + p * 32 + 16, acc1[p]);
  }
}

using LanesFn = void (*)(const uint8_t*, const int64_t*, const int64_t*, int, int64_t, int64_t, const int8_t*, int32_t*);
constexpr int kLanesP = 14;  // pixels per Lanes tile: 28 accumulators + 2 weight vectors + 1 broadcast

template <int... I>
constexpr std::array<LanesFn, sizeof...(I)> lanesTable(std::integer_sequence<int, I...>) {
  return {&kernelLanes<I + 1>...};
}
constexpr std::array<LanesFn, kLanesP> kLanesKernels = lanesTable(std::make_integer_sequence<int, kLanesP>{});
using LanesRowFn = void (*)(const uint8_t*, int64_t, int64_t, const int64_t*, int, int64_t, int64_t, const int8_t*, int32_t*);

/// Evenly spaced: pix[p + 1] - pix[p] == step for p < n - 1.
bool evenlySpaced(const int64_t* pix, int n, int64_t step) {
  for (int p = 1; p < n; ++p)
    if (pix[p] - pix[p - 1] != step) return false;
  return true;
}

template <int P, int SEG>
LanesRowFn rowKernelFor(int64_t step) {
  switch (step) {
    case 1: return &kernelLanesRow<P, 1, SEG>;
    case 2: return &kernelLanesRow<P, 2, SEG>;
    case 4: return &kernelLanesRow<P, 4, SEG>;
    case 8: return &kernelLanesRow<P, 8, SEG>;
    default: return nullptr;
  }
}

/// The row kernel of a tile of P pixels (pix: its offsets): a full tile evenly 1, 2, 4 or 8 bytes
/// apart, or two evenly spaced runs of 7 (rowOff: the second's offset from the first), or a tile of
/// 7 evenly spaced; null otherwise (the general kernel).
LanesRowFn lanesRowKernel(const int64_t* pix, int P, int64_t& rowOff) {
  const int64_t step = P > 1 ? pix[1] - pix[0] : 0;
  rowOff = 0;
  if (P == kLanesP && evenlySpaced(pix, kLanesP, step)) return rowKernelFor<kLanesP, kLanesP>(step);
  if (P == kLanesP && evenlySpaced(pix, 7, step) && evenlySpaced(pix + 7, 7, step)) {
    rowOff = pix[7] - pix[0];
    return rowKernelFor<kLanesP, 7>(step);
  }
  if (P == 7 && evenlySpaced(pix, 7, step)) return rowKernelFor<7, 7>(step);
  return nullptr;
}

/// Per output channel, the requantization constants of simd::QMulLanes16 (channel-varying shifts).
struct LaneRequant {
  std::vector<int32_t> corr, bias, mult, left, right, hiLim, loLim, mask, half;
  // cb = corr + bias (mod 2^32) where the bias cannot saturate: the true sum is at most
  // K * 255 * 255 in magnitude, so with |bias| <= INT32_MAX - that bound the saturating add is a
  // plain one and tile + cb is exact. safe: that holds for every channel of the 16-lane group.
  std::vector<int32_t> cb;
  std::vector<uint8_t> safe;
  Rounding rounding = Rounding::Single;  // the program's (every channel of an op rounds alike)
  void resize(size_t n) {
    for (auto* v : {&corr, &bias, &mult, &left, &right, &hiLim, &loLim, &mask, &half, &cb}) v->assign(n, 0);
    safe.assign((n + 15) / 16, 1);
  }
};

/// rows[p] (16 bytes each, p < 16) to cols[c][p]: a 16 x 16 byte transpose.
__attribute__((target("avx2"), always_inline)) inline void transpose16x16(const __m128i* r, __m128i* col) {
  __m128i b[16], c[16], d[16];
  for (int i = 0; i < 8; ++i) {
    b[2 * i] = _mm_unpacklo_epi8(r[2 * i], r[2 * i + 1]);
    b[2 * i + 1] = _mm_unpackhi_epi8(r[2 * i], r[2 * i + 1]);
  }
  // b[2i] holds columns 0-7 of rows 2i, 2i+1 interleaved; b[2i+1] columns 8-15.
  // Groups of 4 rows: g = 0..3 (rows 4g..4g+3): 16-bit unpack of pairs (4g, 4g+1) with (4g+2, 4g+3).
  for (int g = 0; g < 4; ++g)
    for (int h = 0; h < 2; ++h) {
      const __m128i x = b[4 * g + h], y = b[4 * g + 2 + h];
      c[8 * h + 2 * g] = _mm_unpacklo_epi16(x, y);      // columns 8h + 0..3 of rows 4g..4g+3
      c[8 * h + 2 * g + 1] = _mm_unpackhi_epi16(x, y);  // columns 8h + 4..7
    }
  // Groups of 8 rows: k = 0..1 (rows 8k..8k+7): 32-bit unpack of (4 rows g=2k) with (g=2k+1).
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 2; ++k)
      for (int j = 0; j < 2; ++j) {
        const __m128i x = c[8 * h + 4 * k + j], y = c[8 * h + 4 * k + 2 + j];
        d[8 * h + 4 * j + 2 * k] = _mm_unpacklo_epi32(x, y);      // columns 8h + 4j + 0..1 of rows 8k..8k+7
        d[8 * h + 4 * j + 2 * k + 1] = _mm_unpackhi_epi32(x, y);  // columns 8h + 4j + 2..3
      }
  // All 16 rows: 64-bit unpack of rows 0-7 with rows 8-15.
  for (int h = 0; h < 2; ++h)
    for (int j = 0; j < 2; ++j)
      for (int m = 0; m < 2; ++m) {
        const __m128i x = d[8 * h + 4 * j + m], y = d[8 * h + 4 * j + 2 + m];
        const int c0 = 8 * h + 4 * j + 2 * m;
        col[c0] = _mm_unpacklo_epi64(x, y);
        col[c0 + 1] = _mm_unpackhi_epi64(x, y);
      }
}

#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
/// The Lanes tile's epilogue: P pixels x the nch valid channels of the 32 from o0, each lane with
/// its channel's constants (fixed_point.h, lane for lane as epilogueTileAvx512), then the bytes
/// transposed so each channel's P bytes go to its output row at pixel q0 (planes: the pixel's
/// channel bytes to the consumer's quad planes instead, no transpose).
template <int P>
__attribute__((target("avx512f,avx512bw,avx512vl"))) void epilogueLanes(const int32_t* tile, int64_t o0, int64_t nch,
                                                                        const LaneRequant& lr, int32_t zy, int32_t lo, int32_t hi,
                                                                        uint8_t* y, int64_t planeStride, int64_t q0, bool gemmOut,
                                                                        const PlanesTarget* planes) {
  const simd::ClampZy16 clamp(zy, lo, hi);
  const auto pmask = static_cast<__mmask16>((1u << P) - 1);
  for (int z = 0; z < 2 && z * 16 < nch; ++z) {
    const size_t o = static_cast<size_t>(o0 + 16 * z);
    const simd::QMulLanes16 mul(lr.mult.data() + o, lr.left.data() + o, lr.right.data() + o, lr.hiLim.data() + o,
                                lr.loLim.data() + o, lr.mask.data() + o, lr.half.data() + o, lr.rounding);
    const __m512i vc = _mm512_loadu_si512(lr.corr.data() + o), vb = _mm512_loadu_si512(lr.bias.data() + o);
    const __m512i vcb = _mm512_loadu_si512(lr.cb.data() + o);
    const bool safe = lr.safe[o / 16] != 0;
    __m128i rows[16], cols[16];
    for (int p = 0; p < 16; ++p) rows[p] = _mm_setzero_si128();
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) {
      const __m512i t = _mm512_loadu_si512(tile + p * 32 + 16 * z);
      const __m512i s = safe ? _mm512_add_epi32(t, vcb) : simd::satAdd16(_mm512_add_epi32(t, vc), vb);
      rows[p] = _mm512_cvtepi32_epi8(clamp(mul(s)));
    }
    const int64_t cn = std::min<int64_t>(16, nch - 16 * z);
    if (gemmOut) {  // y [M][N]: each pixel's (row's) channels are contiguous already
      const auto cmask = static_cast<__mmask16>((1u << cn) - 1);
      for (int p = 0; p < P; ++p) _mm_mask_storeu_epi8(y + (q0 + p) * planeStride + static_cast<int64_t>(o), cmask, rows[p]);
      continue;
    }
    if (planes) {  // the consumer's quad planes: each pixel's 16 channel bytes are 4 cells (cn is 16)
      const __m128i f = _mm_set1_epi8(static_cast<char>(planes->flip));
      const int64_t pb = planes->planeBytes, pw = planes->PW, w = planes->W;
      uint8_t* quad0 = planes->base + static_cast<int64_t>(o / 4) * pb;
      int64_t oh = q0 / w, ow = q0 % w;
      for (int p = 0; p < P; ++p) {
        uint8_t* cell = quad0 + (oh * pw + ow) * 4;
        const __m128i v = _mm_xor_si128(rows[p], f);
        const int32_t c0 = _mm_cvtsi128_si32(v), c1 = _mm_extract_epi32(v, 1), c2 = _mm_extract_epi32(v, 2), c3 = _mm_extract_epi32(v, 3);
        std::memcpy(cell, &c0, 4);
        std::memcpy(cell + pb, &c1, 4);
        std::memcpy(cell + 2 * pb, &c2, 4);
        std::memcpy(cell + 3 * pb, &c3, 4);
        if (++ow == w) ow = 0, ++oh;
      }
      continue;
    }
    transpose16x16(rows, cols);
    for (int64_t c = 0; c < cn; ++c) _mm_mask_storeu_epi8(y + (static_cast<int64_t>(o) + c) * planeStride + q0, pmask, cols[c]);
  }
}

#pragma GCC diagnostic pop

using LanesEpilogueFn = void (*)(const int32_t*, int64_t, int64_t, const LaneRequant&, int32_t, int32_t, int32_t, uint8_t*, int64_t,
                                 int64_t, bool, const PlanesTarget*);
template <int... I>
constexpr std::array<LanesEpilogueFn, sizeof...(I)> lanesEpilogueTable(std::integer_sequence<int, I...>) {
  return {&epilogueLanes<I + 1>...};
}
constexpr std::array<LanesEpilogueFn, kLanesP> kLanesEpilogues = lanesEpilogueTable(std::make_integer_sequence<int, kLanesP>{});

struct IsaShape {
  int mr, nr;
  bool wide16;  // weights stored as int16 (AVX2) instead of int8
  KernelFn kernel;
};

IsaShape shapeOf(Int8Isa isa) {
  switch (isa) {
    case Int8Isa::Avx512Vnni: return {8, 32, false, &kernelAvx512Vnni<8>};
    case Int8Isa::AvxVnni: return {6, 16, false, &kernelAvxVnni<6>};
    case Int8Isa::Avx2: return {6, 8, true, &kernelAvx2<6>};
    case Int8Isa::Scalar: break;
  }
  return {1, 1, false, nullptr};
}

/// dst[4 * i + l] = src_l[i] ^ flip for i < n (4 channel rows to quads); a null row gives zeros.
/// One 16-pixel step of interleave4 at pixel i; a null row reads as zeros (not flipped).
inline void interleave4Step(const uint8_t* const* src, int64_t i, __m128i f, uint8_t* dst) {
  __m128i a[4];
  for (int l = 0; l < 4; ++l)
    a[l] = src[l] ? _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src[l] + i)), f) : _mm_setzero_si128();
  const __m128i lo01 = _mm_unpacklo_epi8(a[0], a[1]), hi01 = _mm_unpackhi_epi8(a[0], a[1]);
  const __m128i lo23 = _mm_unpacklo_epi8(a[2], a[3]), hi23 = _mm_unpackhi_epi8(a[2], a[3]);
  auto* d = reinterpret_cast<__m128i*>(dst + 4 * i);
  _mm_storeu_si128(d + 0, _mm_unpacklo_epi16(lo01, lo23));
  _mm_storeu_si128(d + 1, _mm_unpackhi_epi16(lo01, lo23));
  _mm_storeu_si128(d + 2, _mm_unpacklo_epi16(hi01, hi23));
  _mm_storeu_si128(d + 3, _mm_unpackhi_epi16(hi01, hi23));
}

void interleave4(const uint8_t* const* src, int64_t n, uint8_t flip, uint8_t* dst) {
  const __m128i f = _mm_set1_epi8(static_cast<char>(flip));
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) interleave4Step(src, i, f, dst);
  if (i < n && n >= 16) {  // the tail as one more step ending at n (rewrites a few cells)
    interleave4Step(src, n - 16, f, dst);
    return;
  }
  for (; i < n; ++i)
    for (int l = 0; l < 4; ++l) dst[4 * i + l] = src[l] ? static_cast<uint8_t>(src[l][i] ^ flip) : uint8_t{0};
}

#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)  // GCC 12: _mm512_undefined_epi32() inside its own intrinsics
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
/// interleave4 with AVX-512, 64 pixels a step (masked loads: no tail step, no scalar tail for rows
/// narrower than 16): the same bytes in the same cells, and garbage in up to 15 cells past the
/// n-th (whole 16-cell stores: masked stores are slow on AMD), which the caller rewrites.
__attribute__((target("avx512f,avx512bw"))) void interleave4Avx512(const uint8_t* const* src, int64_t n, uint8_t flip, uint8_t* dst) {
  const __m512i f = _mm512_set1_epi8(static_cast<char>(flip));
  for (int64_t i = 0; i < n; i += 64) {
    const int64_t m = std::min<int64_t>(64, n - i);
    const __mmask64 km = m == 64 ? ~__mmask64{0} : (__mmask64{1} << m) - 1;
    __m512i a[4];
    for (int l = 0; l < 4; ++l) a[l] = src[l] ? _mm512_xor_si512(_mm512_maskz_loadu_epi8(km, src[l] + i), f) : _mm512_setzero_si512();
    // Within each 16-byte lane k: u0..u3 hold the cells of pixels 16k + 0..3, 4..7, 8..11, 12..15.
    const __m512i t0 = _mm512_unpacklo_epi8(a[0], a[1]), t1 = _mm512_unpackhi_epi8(a[0], a[1]);
    const __m512i t2 = _mm512_unpacklo_epi8(a[2], a[3]), t3 = _mm512_unpackhi_epi8(a[2], a[3]);
    const __m512i u0 = _mm512_unpacklo_epi16(t0, t2), u1 = _mm512_unpackhi_epi16(t0, t2);
    const __m512i u2 = _mm512_unpacklo_epi16(t1, t3), u3 = _mm512_unpackhi_epi16(t1, t3);
    // A 4 x 4 transpose of the 16-byte lanes: out[k] = u0..u3's lane k, the cells of pixels 16k..16k + 15.
    const __m512i v0 = _mm512_shuffle_i32x4(u0, u1, 0x44), v1 = _mm512_shuffle_i32x4(u0, u1, 0xEE);
    const __m512i v2 = _mm512_shuffle_i32x4(u2, u3, 0x44), v3 = _mm512_shuffle_i32x4(u2, u3, 0xEE);
    const __m512i out[4] = {_mm512_shuffle_i32x4(v0, v2, 0x88), _mm512_shuffle_i32x4(v0, v2, 0xDD), _mm512_shuffle_i32x4(v1, v3, 0x88),
                            _mm512_shuffle_i32x4(v1, v3, 0xDD)};
    for (int k = 0; k < 4 && 16 * k < m; ++k) _mm512_storeu_si512(dst + 4 * (i + 16 * k), out[k]);
  }
}

#pragma GCC diagnostic pop

/// dst[i] = src[i] ^ flip for i < n, 64 bytes a step (the row-quad planes' rows).
__attribute__((target("avx512f,avx512bw"))) void xorCopyAvx512(uint8_t* dst, const uint8_t* src, int64_t n, uint8_t flip) {
  const __m512i f = _mm512_set1_epi8(static_cast<char>(flip));
  for (int64_t i = 0; i < n; i += 64) {
    const int64_t m = std::min<int64_t>(64, n - i);
    const __mmask64 km = m == 64 ? ~__mmask64{0} : (__mmask64{1} << m) - 1;
    _mm512_mask_storeu_epi8(dst + i, km, _mm512_xor_si512(_mm512_maskz_loadu_epi8(km, src + i), f));
  }
}

enum class Mode { Reference, Direct, Im2col, Depthwise, Lanes };

}  // namespace

// ---------------------------------------------------------------------------------------------

struct MacKernel::Impl {
  MacSpec s;
  Int8Isa isa = Int8Isa::Scalar;
  Mode mode = Mode::Reference;
  IsaShape ks{};
  int64_t G = 1, Cg = 0, Og = 0, C4 = 0, T = 1, Kreal = 0;
  int64_t PH = 1, PW = 1, planeBytes = 0, imageBytes = 0;  // quad planes of one image
  int64_t Q = 0;                                            // virtual output pixels per image
  int64_t nBg = 0;                                          // weight blocks per group
  std::vector<int64_t> taps;                                // Direct: byte offset of each tap
  std::vector<int64_t> tapQuads;                            // Im2col: quad offset of each tap
  std::vector<uint8_t> wpack;                               // int8 or int16 elements
  size_t wBlockBytes = 0;
  std::vector<uint8_t> ones;  // one block of ones (row sums) when some zw' != 0
  std::vector<int32_t> corr, zwS;
  bool anyZw = false;
  std::vector<int64_t> lanesPix;  // Lanes: byte offset in a quad plane of each output pixel's (0, 0) tap
  // Lanes over "row quads" (few channels, e.g. a 3-channel 7x7 stem): one byte plane per channel
  // and K stepped as (kernel row, 4 consecutive columns of one channel), so a 7-wide row is 2 steps
  // per channel instead of 7 steps of a mostly empty channel quad. laneSteps: the inner count.
  bool rowQuads = false;
  int64_t laneSteps = 0;
  LaneRequant lanesRq;            // Lanes: per channel (padded to 32)
  uint8_t flip = 0, zxS = 0;  // x' = x ^ flip; zx' (the padding byte)
  int64_t scratchBytes = 0;              // the activation planes of one image, aligned
  mutable std::vector<uint8_t> xstore;  // the planes when run() is given no scratch
  mutable uint8_t* xb = nullptr;        // the planes of the current run, 64-byte aligned
  uint8_t* xbuf() const { return xb; }
  static uint8_t* align64(uint8_t* p) { return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t{63}); }

  void store(std::byte* y, int64_t n, int64_t o, int64_t q0, const void* v, int64_t cnt) const;
  struct Seg {
    int64_t k, len, dst;  // tile columns k .. k + len go to output pixels dst ..
  };
  void segments(int64_t q0, int64_t cnt, std::vector<Seg>& out) const;
  void transform(const std::byte* x, int64_t n, ThreadPool* pool) const;
  void packPanel(int64_t q0, uint8_t* panel) const;
  void packPanelAvx512(int64_t q0, uint8_t* panel) const;
  void runTiles(ThreadPool* pool, std::byte* y, int64_t n) const;
  void runLanes(ThreadPool* pool, std::byte* y, int64_t n, const PlanesTarget* planes) const;
  std::vector<uint8_t> ownPlanes;  // planesTarget(): the input planes the producer writes
  void runDepthwise(ThreadPool* pool, const std::byte* x, std::byte* y) const;
  void runReference(const std::byte* x, std::byte* y) const;
};

MacKernel::MacKernel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MacKernel::~MacKernel() = default;
Int8Isa MacKernel::isa() const { return impl_->isa; }

Expected<std::unique_ptr<MacKernel>> MacKernel::create(MacSpec spec, Int8Isa isa) {
  if (!int8IsaAvailable(isa)) return Status::unsupported("int8 kernels \"{}\": this CPU lacks them", int8IsaName(isa));
  auto p = std::make_unique<Impl>();
  Impl& m = *p;
  m.s = std::move(spec);
  const MacSpec& s = m.s;
  m.isa = isa;
  m.G = s.gemm ? 1 : s.group;
  m.Cg = s.C / m.G;
  m.Og = s.O / m.G;
  m.Kreal = m.Cg * s.kH * s.kW;
  if (isa == Int8Isa::Scalar) {
    m.mode = Mode::Reference;
    return std::unique_ptr<MacKernel>(new MacKernel(std::move(p)));
  }
  if (!s.gemm && m.Cg == 1 && m.G > 1) {
    m.mode = Mode::Depthwise;
    return std::unique_ptr<MacKernel>(new MacKernel(std::move(p)));
  }
  m.ks = shapeOf(isa);
  m.mode = s.gemm || (s.sh == 1 && s.sw == 1) ? Mode::Direct : Mode::Im2col;
  m.T = s.kH * s.kW;
  m.C4 = (m.Cg + 3) / 4;
  if (isa == Int8Isa::Avx512Vnni && m.G == 1 && !s.requant.empty() && s.path != MacSpec::Path::Tiles) {
    bool zw0 = true;  // no weight zero point left after the u8 shift: no per-pixel row sums
    for (int32_t z : s.zw) zw0 &= z - (s.wUnsigned ? 128 : 0) == 0;
    // MACs each way: Tiles over 32-pixel panels of the virtual (padded-width) or dense pixels and
    // 8-channel blocks; Lanes over the exact pixels and 32-channel blocks. Lanes also saves the
    // im2col packing and the tile's per-row copies (on resnet18, Lanes on every Conv beat Lanes only
    // where it saves MACs), so it takes a tie and up to 10 % more MACs.
    const int64_t q = m.mode == Mode::Direct ? s.OH * (s.W + s.pl + s.pr) : s.OH * s.OW;
    const double tiles = double((q + m.ks.nr - 1) / m.ks.nr * m.ks.nr) * double((s.O + m.ks.mr - 1) / m.ks.mr * m.ks.mr);
    const double lanes = double(s.gemm ? s.H : s.OH * s.OW) * double((s.O + 31) / 32 * 32);
    const bool better = s.path == MacSpec::Path::Lanes || lanes <= 1.1 * tiles;
    if (zw0 && better) m.mode = Mode::Lanes;
  }
  const bool lanes = m.mode == Mode::Lanes;
  const int MR = lanes ? 32 : m.ks.mr, NR = m.ks.nr;
  const int64_t nq = (s.kW + 3) / 4;
  m.rowQuads = lanes && !s.gemm && s.dw == 1 && m.Cg * s.kH * nq < m.C4 * s.kH * s.kW;
  m.laneSteps = m.rowQuads ? m.Cg : m.C4;
  m.flip = s.xUnsigned ? 0 : 0x80;
  const int32_t zxS = s.xUnsigned ? s.zx : s.zx + 128;
  m.zxS = static_cast<uint8_t>(zxS);
  if (s.gemm) {
    m.PH = 1, m.PW = s.H;  // H holds M for a Gemm
  } else {
    m.PH = s.H + s.pt + s.pb, m.PW = s.W + s.pl + s.pr;
  }
  // A plane has slack past its end so a tile's loads that run past the last pixel stay inside.
  const int64_t slack = NR + (s.kW - 1) * s.dw + m.PW + 16;
  m.planeBytes = ((m.PH * m.PW + slack) * 4 + 63) / 64 * 64;  // planes start on cache lines
  m.imageBytes = m.G * m.C4 * m.planeBytes;
  if (m.rowQuads) {  // byte planes; a row quad reads up to 3 bytes past the kernel's last column
    m.planeBytes = (m.PH * m.PW + 64 + 63) / 64 * 64;
    m.imageBytes = m.Cg * m.planeBytes;
  }
  m.scratchBytes = m.imageBytes + m.planeBytes + 64;  // a spare plane: reads past the last one stay inside
  if (lanes && s.gemm) {  // the rows of x are the pixels, one quad apart in each plane
    m.Q = s.H;
    m.taps.push_back(0);
    m.lanesPix.resize(static_cast<size_t>(m.Q));
    for (int64_t r = 0; r < m.Q; ++r) m.lanesPix[static_cast<size_t>(r)] = r * 4;
  } else if (lanes) {
    m.Q = s.OH * s.OW;
    const int64_t cell = m.rowQuads ? 1 : 4;  // bytes per pixel in a plane
    for (int64_t i = 0; i < s.kH; ++i) {
      if (m.rowQuads)
        for (int64_t q = 0; q < nq; ++q) m.taps.push_back(i * s.dh * m.PW + 4 * q);
      else
        for (int64_t j = 0; j < s.kW; ++j) m.taps.push_back((i * s.dh * m.PW + j * s.dw) * 4);
    }
    m.lanesPix.resize(static_cast<size_t>(m.Q));
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) m.lanesPix[static_cast<size_t>(oh * s.OW + ow)] = (oh * s.sh * m.PW + ow * s.sw) * cell;
  } else if (m.mode == Mode::Direct) {
    m.Q = s.gemm ? s.H : s.OH * m.PW;
    for (int64_t i = 0; i < s.kH; ++i)
      for (int64_t j = 0; j < s.kW; ++j) m.taps.push_back((i * s.dh * m.PW + j * s.dw) * 4);
  } else {
    m.Q = s.OH * s.OW;
    for (int64_t i = 0; i < s.kH; ++i)
      for (int64_t j = 0; j < s.kW; ++j) m.tapQuads.push_back(i * s.dh * m.PW + j * s.dw);
    m.taps.push_back(0);
  }
  // Weights: [g][block][t][c4][MR][4], w' = w (s8) or w - 128 (u8); zero outside Cg and Og.
  m.nBg = (m.Og + MR - 1) / MR;
  const int64_t steps = m.rowQuads ? s.kH * nq * m.Cg : m.T * m.C4;
  const size_t esz = m.ks.wide16 ? 2 : 1;
  m.wBlockBytes = static_cast<size_t>(steps * MR * 4) * esz;
  // A hostile blob can ask for padding that blows the planes or the packed weights up; refuse
  // beyond 16 GiB instead of failing in the allocator.
  constexpr double kMaxBytes = double(int64_t{1} << 34);
  if (double(m.G) * double(m.nBg) * double(m.wBlockBytes) > kMaxBytes || double(m.G) * double(m.C4) * double(m.planeBytes) > kMaxBytes)
    return Status::unsupported("the int8 kernels would need more than 16 GiB for this op's weights or activations");
  m.wpack.assign(static_cast<size_t>(m.G * m.nBg) * m.wBlockBytes, 0);
  m.corr.assign(static_cast<size_t>(s.O), 0);
  m.zwS.assign(static_cast<size_t>(s.O), 0);
  const int32_t wShift = s.wUnsigned ? 128 : 0;
  for (int64_t o = 0; o < s.O; ++o) {
    m.zwS[static_cast<size_t>(o)] = s.zw[static_cast<size_t>(o)] - wShift;
    m.anyZw |= m.zwS[static_cast<size_t>(o)] != 0;
  }
  for (int64_t g = 0; g < m.G; ++g)
    for (int64_t ol = 0; ol < m.Og; ++ol) {
      const int64_t o = g * m.Og + ol, blk = g * m.nBg + ol / MR, r = ol % MR;
      uint32_t colsum = 0;
      for (int64_t c = 0; c < m.Cg; ++c)
        for (int64_t t = 0; t < m.T; ++t) {
          const int32_t wv = s.w[static_cast<size_t>((o * m.Cg + c) * m.T + t)] - wShift;
          colsum += static_cast<uint32_t>(wv);
          // Row quads: step (kernel row i, column quad j / 4, channel c), byte j % 4.
          const int64_t i = t / s.kW, j = t % s.kW;
          const size_t idx = m.rowQuads ? static_cast<size_t>(((((i * nq + j / 4) * m.Cg + c) * MR) + r) * 4 + j % 4)
                                        : static_cast<size_t>((((t * m.C4 + c / 4) * MR) + r) * 4 + c % 4);
          uint8_t* base = m.wpack.data() + static_cast<size_t>(blk) * m.wBlockBytes;
          if (esz == 2) {
            const auto v = static_cast<int16_t>(wv);
            std::memcpy(base + idx * 2, &v, 2);
          } else {
            base[idx] = static_cast<uint8_t>(static_cast<int8_t>(wv));
          }
        }
      // sum (x' - zx')(w' - zw') = sum x'w' - zw' sum x' - zx' sum w' + K zx' zw' (mod 2^32).
      const uint32_t zws = static_cast<uint32_t>(m.zwS[static_cast<size_t>(o)]);
      m.corr[static_cast<size_t>(o)] =
          static_cast<int32_t>(static_cast<uint32_t>(m.Kreal) * static_cast<uint32_t>(zxS) * zws - static_cast<uint32_t>(zxS) * colsum);
    }
  if (lanes) {
    LaneRequant& lr = m.lanesRq;
    lr.resize(static_cast<size_t>(m.nBg * MR));
    lr.rounding = s.requant.front().rounding;
    for (int64_t o = 0; o < s.O; ++o) {
      const size_t i = static_cast<size_t>(o);
      const FixedMultiplier f = s.requant[i];
      const int left = f.shift > 0 ? f.shift : 0, right = f.shift > 0 ? 0 : std::min(-f.shift, 31);
      lr.corr[i] = m.corr[i], lr.bias[i] = s.bias[i], lr.mult[i] = f.multiplier, lr.left[i] = left, lr.right[i] = right;
      lr.hiLim[i] = std::numeric_limits<int32_t>::max() >> left, lr.loLim[i] = std::numeric_limits<int32_t>::min() >> left;
      const auto mk = static_cast<int32_t>((int64_t{1} << right) - 1);
      lr.mask[i] = mk, lr.half[i] = mk >> 1;
      lr.cb[i] = static_cast<int32_t>(static_cast<uint32_t>(m.corr[i]) + static_cast<uint32_t>(s.bias[i]));
      const int64_t bound = m.Kreal * 255 * 255;
      if (std::abs(int64_t{s.bias[i]}) > int64_t{std::numeric_limits<int32_t>::max()} - bound) lr.safe[i / 16] = 0;
    }
  }
  if (m.anyZw) {
    m.ones.assign(m.wBlockBytes, 0);
    for (size_t i = 0; i < m.wBlockBytes / esz; ++i) {
      if (esz == 2) {
        const int16_t one = 1;
        std::memcpy(m.ones.data() + 2 * i, &one, 2);
      } else {
        m.ones[i] = 1;
      }
    }
  }
  return std::unique_ptr<MacKernel>(new MacKernel(std::move(p)));
}

/// Image n of x into quad planes: [g][c4][PH][PW] cells, zx' in the border, 0 in the channels
/// past Cg.
void MacKernel::Impl::transform(const std::byte* x, int64_t n, ThreadPool* pool) const {
  const auto* xb = reinterpret_cast<const uint8_t*>(x);
  uint8_t* dst0 = xbuf();
  if (s.gemm) {
    // x [M][K] -> [c4][M] quads.
    const int64_t M = s.H, K = s.C;
    for (int64_t c = 0; c < C4; ++c) {
      uint8_t* d = dst0 + c * planeBytes;
      const int64_t k0 = c * 4, kn = std::min<int64_t>(4, K - k0);
      for (int64_t r = 0; r < M; ++r) {
        const uint8_t* src = xb + r * K + k0;
        uint8_t* q = d + r * 4;
        for (int64_t l = 0; l < 4; ++l) q[l] = l < kn ? static_cast<uint8_t>(src[l] ^ flip) : uint8_t{0};
      }
    }
    return;
  }
  const int64_t H = s.H, W = s.W;
  const bool border = s.pt || s.pb || s.pl || s.pr;
  const bool avx512 = isa == Int8Isa::Avx512Vnni;  // the AVX-512 row copies (the same bytes)
  if (rowQuads) {  // one byte plane per channel: zx' around, x ^ flip inside, zeros in the slack
    // Locals: through the members, every byte store may alias them and the row loop stays scalar.
    const uint8_t fl = flip;
    const int64_t pw = PW, pt = s.pt, pl = s.pl;
    auto bytePlane = [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        uint8_t* d = dst0 + c * planeBytes;
        if (border) std::memset(d, zxS, static_cast<size_t>(PH * PW));
        std::memset(d + PH * PW, 0, static_cast<size_t>(planeBytes - PH * PW));
        const uint8_t* src = xb + (n * s.C + c) * H * W;
        for (int64_t h = 0; h < H; ++h) {
          uint8_t* row = d + (pt + h) * pw + pl;
          const uint8_t* sr = src + h * W;
          if (avx512) {
            xorCopyAvx512(row, sr, W, fl);
            continue;
          }
          for (int64_t w = 0; w < W; ++w) row[w] = static_cast<uint8_t>(sr[w] ^ fl);
        }
      }
    };
    forEachItem(pool, Cg, bytePlane);
    return;
  }
  auto plane = [&](int64_t b, int64_t e) {
    for (int64_t gc = b; gc < e; ++gc) {
      const int64_t g = gc / C4, c4 = gc % C4;
      uint8_t* d = dst0 + gc * planeBytes;
      const uint8_t* rows[4];
      uint32_t fill = 0;
      for (int l = 0; l < 4; ++l) {
        const int64_t c = c4 * 4 + l;
        rows[l] = c < Cg ? xb + ((n * s.C + g * Cg + c) * H) * W : nullptr;
        if (c < Cg) fill |= uint32_t{zxS} << (8 * l);
      }
      auto fillBorder = [&] {
        auto* d32 = reinterpret_cast<uint32_t*>(d);
        std::fill(d32, d32 + s.pt * PW, fill);
        std::fill(d32 + (s.pt + H) * PW, d32 + PH * PW, fill);
        for (int64_t h = 0; h < H; ++h) {
          uint32_t* row = d32 + (s.pt + h) * PW;
          std::fill(row, row + s.pl, fill);
          std::fill(row + s.pl + W, row + PW, fill);
        }
      };
      // AVX-512: rows top to bottom, each run past its end (into its right border, the next row,
      // which comes after it, or the plane's slack, which holds nothing), then the border.
      if (border && !avx512) fillBorder();
      for (int64_t h = 0; h < H; ++h) {
        const uint8_t* src[4];
        for (int l = 0; l < 4; ++l) src[l] = rows[l] ? rows[l] + h * W : nullptr;
        if (avx512) interleave4Avx512(src, W, flip, d + ((s.pt + h) * PW + s.pl) * 4);
        else interleave4(src, W, flip, d + ((s.pt + h) * PW + s.pl) * 4);
      }
      if (border && avx512) fillBorder();
    }
  };
  const int64_t planes = G * C4;
  forEachItem(pool, planes, plane);
}

/// Im2col: the quads of output pixels q0 .. q0 + NR for every group, tap and channel quad, as
/// [g][t][c4][NR] (pixels past Q get zeros; their outputs are dropped).
void MacKernel::Impl::packPanel(int64_t q0, uint8_t* panel) const {
  const int NR = ks.nr;
  int64_t off[64];
  for (int k = 0; k < NR; ++k) {
    const int64_t q = std::min(q0 + k, Q - 1);
    off[k] = (q / s.OW) * s.sh * PW + (q % s.OW) * s.sw;
  }
  const int valid = static_cast<int>(std::min<int64_t>(NR, Q - q0));
  auto* out = reinterpret_cast<uint32_t*>(panel);
  for (int64_t g = 0; g < G; ++g)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t c = 0; c < C4; ++c) {
        const auto* src = reinterpret_cast<const uint32_t*>(xbuf() + (g * C4 + c) * planeBytes) + tapQuads[static_cast<size_t>(t)];
        for (int k = 0; k < valid; ++k) out[k] = src[off[k]];
        for (int k = valid; k < NR; ++k) out[k] = 0;
        out += NR;
      }
}

/// packPanel with each run of 16 pixels inside one output row moved as one vector (stride 1: a
/// copy; stride 2: the even quads of two loads); the rest one quad at a time. NR is 32 here.
__attribute__((target("avx512f"))) void MacKernel::Impl::packPanelAvx512(int64_t q0, uint8_t* panel) const {
  const int NR = ks.nr;
  int64_t off[64];
  for (int k = 0; k < NR; ++k) {
    const int64_t q = std::min(q0 + k, Q - 1);
    off[k] = (q / s.OW) * s.sh * PW + (q % s.OW) * s.sw;
  }
  const int valid = static_cast<int>(std::min<int64_t>(NR, Q - q0));
  bool vec[4] = {};
  for (int h = 0; h < NR / 16; ++h) {
    const int64_t a = q0 + 16 * h, b = a + 15;
    vec[h] = (s.sw == 1 || s.sw == 2) && b < Q && a / s.OW == b / s.OW;
  }
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  auto* out = reinterpret_cast<uint32_t*>(panel);
  for (int64_t g = 0; g < G; ++g)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t c = 0; c < C4; ++c) {
        const auto* src = reinterpret_cast<const uint32_t*>(xbuf() + (g * C4 + c) * planeBytes) + tapQuads[static_cast<size_t>(t)];
        for (int h = 0; h < NR / 16; ++h) {
          uint32_t* d = out + 16 * h;
          const uint32_t* sp = src + off[16 * h];
          if (vec[h] && s.sw == 1) {
            _mm512_storeu_si512(d, _mm512_loadu_si512(sp));
          } else if (vec[h]) {
            _mm512_storeu_si512(d, _mm512_permutex2var_epi32(_mm512_loadu_si512(sp), even, _mm512_loadu_si512(sp + 16)));
          } else {
            for (int k = 16 * h; k < 16 * h + 16; ++k) out[k] = k < valid ? src[off[k]] : 0;
          }
        }
        out += NR;
      }
}

/// Writes cnt results (bytes, or int32 for an accumulator output) of output channel o for virtual
/// pixels q0.. of image n.
void MacKernel::Impl::store(std::byte* y, int64_t n, int64_t o, int64_t q0, const void* v, int64_t cnt) const {
  const size_t es = s.requant.empty() ? 4 : 1;
  const auto* src = static_cast<const std::byte*>(v);
  if (s.gemm) {
    for (int64_t k = 0; k < cnt; ++k) std::memcpy(y + ((q0 + k) * s.O + o) * es, src + k * es, es);
    return;
  }
  const int64_t base = (n * s.O + o) * s.OH * s.OW;
  if (mode == Mode::Im2col || PW == s.OW) {
    std::memcpy(y + (base + q0) * es, src, static_cast<size_t>(cnt) * es);
    return;
  }
  int64_t k = 0;
  while (k < cnt) {
    const int64_t q = q0 + k, oh = q / PW, ow = q % PW;
    if (oh >= s.OH) break;
    if (ow >= s.OW) {
      k += PW - ow;
      continue;
    }
    const int64_t len = std::min(cnt - k, s.OW - ow);
    std::memcpy(y + (base + oh * s.OW + ow) * es, src + k * es, static_cast<size_t>(len) * es);
    k += len;
  }
}

/// The runs of real output pixels among virtual pixels q0 .. q0 + cnt (see store()).
void MacKernel::Impl::segments(int64_t q0, int64_t cnt, std::vector<Seg>& out) const {
  out.clear();
  if (mode == Mode::Im2col || PW == s.OW) {
    out.push_back({0, cnt, q0});
    return;
  }
  int64_t k = 0;
  while (k < cnt) {
    const int64_t q = q0 + k, oh = q / PW, ow = q % PW;
    if (oh >= s.OH) break;
    if (ow >= s.OW) {
      k += PW - ow;
      continue;
    }
    const int64_t len = std::min(cnt - k, s.OW - ow);
    out.push_back({k, len, oh * s.OW + ow});
    k += len;
  }
}

void MacKernel::Impl::runTiles(ThreadPool* pool, std::byte* y, int64_t n) const {
  const int MR = ks.mr, NR = ks.nr;
  const int64_t nPanels = (Q + NR - 1) / NR, nB = G * nBg;
  const int threads = pool ? pool->size() : 1;
  const int64_t steps = mode == Mode::Im2col ? T * C4 : C4;
  const int64_t groupStride = mode == Mode::Im2col ? T * C4 * NR * 4 : C4 * planeBytes;
  const int64_t strideC4 = mode == Mode::Im2col ? NR * 4 : planeBytes;
  const size_t panelBytes = mode == Mode::Im2col ? static_cast<size_t>(G * T * C4 * NR * 4) : 0;
  // Work items: a chunk of up to PC panels (their activations stay in L2 while every weight block
  // of the item passes over them once) x a range of weight blocks. Few pixels (late layers, Gemm)
  // split the blocks too. The partition does not change any bit.
  const int64_t panelK = std::max<int64_t>(1, G * C4 * T * NR * 4);
  const int64_t PC = std::clamp<int64_t>((int64_t{512} << 10) / panelK, 1, 8);
  const int64_t nChunks = (nPanels + PC - 1) / PC;
  const int64_t split = nChunks >= 2 * threads ? 1 : std::min<int64_t>(nB, (4 * threads + nChunks - 1) / nChunks);
  const int nTaps = static_cast<int>(taps.size());
  // AVX-512, 8-bit output, no per-pixel correction, NCHW output: one call per tile, then each row's
  // bytes go out in the panel's runs of real pixels.
  const bool tileEpilogue = isa == Int8Isa::Avx512Vnni && !s.requant.empty() && !anyZw && !s.gemm && NR == 32;
  auto work = [&](int64_t b, int64_t e) {
    // Per thread and reused across calls (the pool's threads persist): no allocation per call.
    thread_local std::vector<int32_t> tile, rows, rowsum;
    thread_local std::vector<uint8_t> bytes, tileBytes, panelStore;
    tile.resize(static_cast<size_t>(MR * NR)), rows.resize(static_cast<size_t>(MR * NR)), rowsum.resize(static_cast<size_t>(PC * NR));
    bytes.resize(static_cast<size_t>(NR)), tileBytes.resize(static_cast<size_t>(MR * NR));
    std::vector<Seg> segs;
    int64_t segPanel = -1;
    if (panelStore.size() < panelBytes * static_cast<size_t>(PC) + 64) panelStore.resize(panelBytes * static_cast<size_t>(PC) + 64);
    uint8_t* panels = align64(panelStore.data());
    int64_t packed = -1;
    for (int64_t it = b; it < e; ++it) {
      const int64_t ci = it / split, part = it % split;
      const int64_t p0 = ci * PC, p1 = std::min(nPanels, p0 + PC);
      if (mode == Mode::Im2col && packed != ci) {
        for (int64_t pi = p0; pi < p1; ++pi) {
          if (isa == Int8Isa::Avx512Vnni) packPanelAvx512(pi * NR, panels + static_cast<size_t>(pi - p0) * panelBytes);
          else packPanel(pi * NR, panels + static_cast<size_t>(pi - p0) * panelBytes);
        }
        packed = ci;
      }
      auto act = [&](int64_t pi, int64_t g) -> const uint8_t* {
        return (mode == Mode::Im2col ? panels + static_cast<size_t>(pi - p0) * panelBytes : xbuf() + pi * NR * 4) + g * groupStride;
      };
      const int64_t b0 = part * nB / split, b1 = (part + 1) * nB / split;
      int64_t sumGroup = -1;
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t g = blk / nBg, r0 = (blk % nBg) * MR;
        if (anyZw && sumGroup != g) {
          for (int64_t pi = p0; pi < p1; ++pi) {
            ks.kernel(act(pi, g), taps.data(), nTaps, strideC4, steps, ones.data(), rows.data());
            std::copy(rows.begin(), rows.begin() + NR, rowsum.begin() + (pi - p0) * NR);
          }
          sumGroup = g;
        }
        const int64_t rn = std::min<int64_t>(MR, Og - r0);
        for (int64_t pi = p0; pi < p1; ++pi) {
          const int64_t q0 = pi * NR, cnt = std::min<int64_t>(NR, Q - q0);
          ks.kernel(act(pi, g), taps.data(), nTaps, strideC4, steps, wpack.data() + static_cast<size_t>(blk) * wBlockBytes, tile.data());
          if (tileEpilogue) {
            const int64_t o0 = g * Og + r0;
            epilogueTileAvx512(tile.data(), rn, cnt, corr.data() + o0, s.bias.data() + o0, s.requant.data() + o0, s.zy, s.actMin,
                               s.actMax, tileBytes.data());
            if (segPanel != pi) segments(q0, cnt, segs), segPanel = pi;
            for (int64_t r = 0; r < rn; ++r) {
              auto* dst = reinterpret_cast<uint8_t*>(y) + (n * s.O + o0 + r) * s.OH * s.OW;
              const uint8_t* src = tileBytes.data() + r * NR;
              for (const Seg& sg : segs) std::memcpy(dst + sg.dst, src + sg.k, static_cast<size_t>(sg.len));
            }
            continue;
          }
          for (int64_t r = 0; r < rn; ++r) {
            const int64_t o = g * Og + r0 + r;
            int32_t* v = tile.data() + r * NR;
            const uint32_t c = static_cast<uint32_t>(corr[static_cast<size_t>(o)]);
            if (anyZw) {
              const uint32_t z = static_cast<uint32_t>(zwS[static_cast<size_t>(o)]);
              const int32_t* rs = rowsum.data() + (pi - p0) * NR;
              for (int k = 0; k < NR; ++k) v[k] = static_cast<int32_t>(static_cast<uint32_t>(v[k]) + c - z * static_cast<uint32_t>(rs[k]));
            } else if (c) {
              for (int k = 0; k < NR; ++k) v[k] = static_cast<int32_t>(static_cast<uint32_t>(v[k]) + c);
            }
            const int32_t bias = s.bias[static_cast<size_t>(o)];
            if (s.requant.empty()) {
              for (int64_t k = 0; k < cnt; ++k) v[k] = saturatingAdd(v[k], bias);
              store(y, n, o, q0, v, cnt);
            } else {
              if (isa == Int8Isa::Avx512Vnni)
                requantizeRowTo8Avx512(v, cnt, bias, s.requant[static_cast<size_t>(o)], s.zy, s.actMin, s.actMax, bytes.data());
              else if (cpu().avx2) requantizeRowTo8Avx2(v, cnt, bias, s.requant[static_cast<size_t>(o)], s.zy, s.actMin, s.actMax, bytes.data());
              else {
                requantizeRowScalar(v, cnt, bias, s.requant[static_cast<size_t>(o)], s.zy, s.actMin, s.actMax);
                for (int64_t k = 0; k < cnt; ++k) bytes[static_cast<size_t>(k)] = static_cast<uint8_t>(v[k]);
              }
              store(y, n, o, q0, bytes.data(), cnt);
            }
          }
        }
      }
    }
  };
  forEachItem(pool, nChunks * split, work);
}

/// Lanes: work items are (a chunk of up to 8 pixel tiles, one 32-channel block): the block's
/// weights stay in L1/L2 over the chunk. The partition does not change any bit.
void MacKernel::Impl::runLanes(ThreadPool* pool, std::byte* y, int64_t n, const PlanesTarget* planes) const {
  const int64_t nTiles = (Q + kLanesP - 1) / kLanesP, TC = 8, nChunks = (nTiles + TC - 1) / TC;
  const int nTaps = static_cast<int>(taps.size());
  const int64_t OHW = s.OH * s.OW;
  auto* yb = reinterpret_cast<uint8_t*>(y) + n * s.O * OHW;
  auto work = [&](int64_t b, int64_t e) {
    thread_local std::vector<int32_t> tile;
    tile.resize(static_cast<size_t>(kLanesP * 32));
    for (int64_t it = b; it < e; ++it) {
      const int64_t blk = it % nBg, ci = it / nBg;
      const auto* w = reinterpret_cast<const int8_t*>(wpack.data() + static_cast<size_t>(blk) * wBlockBytes);
      const int64_t o0 = blk * 32, nch = std::min<int64_t>(32, s.O - o0);
      for (int64_t ti = ci * TC; ti < std::min(nTiles, (ci + 1) * TC); ++ti) {
        const int64_t q0 = ti * kLanesP;
        const int P = static_cast<int>(std::min<int64_t>(kLanesP, Q - q0));
        int64_t rowOff = 0;
        const LanesRowFn row = lanesRowKernel(lanesPix.data() + q0, P, rowOff);
        if (row) row(xbuf(), lanesPix[static_cast<size_t>(q0)], rowOff, taps.data(), nTaps, planeBytes, laneSteps, w, tile.data());
        else kLanesKernels[static_cast<size_t>(P - 1)](xbuf(), lanesPix.data() + q0, taps.data(), nTaps, planeBytes, laneSteps, w, tile.data());
        kLanesEpilogues[static_cast<size_t>(P - 1)](tile.data(), o0, nch, lanesRq, s.zy, s.actMin, s.actMax, yb, s.gemm ? s.O : OHW, q0,
                                                    s.gemm, planes);
      }
    }
  };
  forEachItem(pool, nChunks * nBg, work);
}

/// One depthwise output row: a[ow] = sum over taps t of w[t] * src[t][ow], ow < OW, in int32.
/// Sixteen outputs at a time, two taps per vpmaddwd (values and weights fit int16: 8-bit minus a
/// zero point); the lanes come out as (0-3, 8-11) and (4-7, 12-15) and are put back in order once
/// per chunk. Exact integer arithmetic: the same sums as the scalar loop.
__attribute__((target("avx2"))) void depthwiseRowAvx2(int32_t* a, int64_t OW, const int16_t* const* src, const int32_t* w, size_t taps) {
  int64_t ow = 0;
  for (; ow + 16 <= OW; ow += 16) {
    __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
    size_t t = 0;
    for (; t + 2 <= taps; t += 2) {
      const __m256i ra = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src[t] + ow));
      const __m256i rb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src[t + 1] + ow));
      const __m256i wp = _mm256_set1_epi32(static_cast<int32_t>((static_cast<uint32_t>(w[t + 1]) << 16) | (static_cast<uint32_t>(w[t]) & 0xFFFFu)));
      lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(ra, rb), wp));
      hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(ra, rb), wp));
    }
    if (t < taps) {
      const __m256i ra = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src[t] + ow));
      const __m256i wp = _mm256_set1_epi32(static_cast<int32_t>(static_cast<uint32_t>(w[t]) & 0xFFFFu));
      const __m256i z = _mm256_setzero_si256();
      lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(ra, z), wp));
      hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(ra, z), wp));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(a + ow), _mm256_permute2x128_si256(lo, hi, 0x20));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(a + ow + 8), _mm256_permute2x128_si256(lo, hi, 0x31));
  }
  for (; ow < OW; ++ow) {
    int32_t v = 0;
    for (size_t t = 0; t < taps; ++t) v += w[t] * src[t][ow];
    a[ow] = v;
  }
}

void MacKernel::Impl::runDepthwise(ThreadPool* pool, const std::byte* x, std::byte* y) const {
  const int64_t H = s.H, W = s.W, OH = s.OH, OW = s.OW, kH = s.kH, kW = s.kW;
  const int64_t PHd = H + s.pt + s.pb, PWd = W + s.pl + s.pr;
  // The padded image as sw column planes per row (plane p: columns p, p + sw, ...), so a strided
  // tap reads consecutive int16: output ow of tap column c is plane c % sw, index ow + c / sw.
  const int64_t SW = s.sw, L = (PWd + SW - 1) / SW;
  const bool i32 = s.requant.empty();
  auto work = [&](int64_t b, int64_t e) {
    thread_local std::vector<int16_t> xp;
    thread_local std::vector<int32_t> acc;
    thread_local std::vector<int32_t> tw;      // tap weights (w - zero point), the zero ones dropped
    thread_local std::vector<int64_t> toff;    // tap offsets in xp at output (0, 0)
    thread_local std::vector<const int16_t*> src;
    xp.resize(static_cast<size_t>(PHd * SW * L));
    acc.resize(static_cast<size_t>(OH * OW));
    int64_t have = -1;
    for (int64_t it = b; it < e; ++it) {
      const int64_t n = it / s.O, o = it % s.O, g = o / Og;
      const int64_t srcPlane = n * s.C + g;
      if (have != srcPlane) {
        std::fill(xp.begin(), xp.end(), int16_t{0});
        for (int64_t h = 0; h < H; ++h) {
          const uint8_t* row = reinterpret_cast<const uint8_t*>(x) + (srcPlane * H + h) * W;
          int16_t* d = xp.data() + (h + s.pt) * SW * L;
          if (SW == 1) {
            if (s.xUnsigned)
              for (int64_t w = 0; w < W; ++w) d[w + s.pl] = static_cast<int16_t>(int32_t{row[w]} - s.zx);
            else
              for (int64_t w = 0; w < W; ++w) d[w + s.pl] = static_cast<int16_t>(int32_t{static_cast<int8_t>(row[w])} - s.zx);
          } else {
            for (int64_t p = 0; p < SW; ++p) {  // plane p: columns c = p + k * SW, i.e. w = c - pl
              int16_t* dp = d + p * L;
              const int64_t k0 = p >= s.pl ? 0 : (s.pl - p + SW - 1) / SW;  // first k with c >= pl
              for (int64_t k = k0, w = p + k0 * SW - s.pl; w < W; ++k, w += SW) {
                const int32_t v = s.xUnsigned ? int32_t{row[w]} : int32_t{static_cast<int8_t>(row[w])};
                dp[k] = static_cast<int16_t>(v - s.zx);
              }
            }
          }
        }
        have = srcPlane;
      }
      tw.clear();
      toff.clear();
      for (int64_t i = 0; i < kH; ++i)
        for (int64_t j = 0; j < kW; ++j) {
          const int32_t wv = int32_t{s.w[static_cast<size_t>((o * kH + i) * kW + j)]} - s.zw[static_cast<size_t>(o)];
          if (wv == 0) continue;
          const int64_t c = j * s.dw;
          tw.push_back(wv);
          toff.push_back(i * s.dh * SW * L + (c % SW) * L + c / SW);
        }
      src.resize(tw.size());
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int16_t* row = xp.data() + oh * s.sh * SW * L;
        for (size_t t = 0; t < tw.size(); ++t) src[t] = row + toff[t];
        depthwiseRowAvx2(acc.data() + oh * OW, OW, src.data(), tw.data(), tw.size());
      }
      const int64_t base = (n * s.O + o) * OH * OW;
      if (i32) {
        for (int32_t& v : acc) v = saturatingAdd(v, s.bias[static_cast<size_t>(o)]);
        std::memcpy(y + base * 4, acc.data(), acc.size() * 4);
      } else {
        requantizeRow(acc.data(), OH * OW, s.bias[static_cast<size_t>(o)], s.requant[static_cast<size_t>(o)], s.zy, s.actMin, s.actMax);
        auto* d = reinterpret_cast<uint8_t*>(y) + base;
        for (int64_t k = 0; k < OH * OW; ++k) d[k] = static_cast<uint8_t>(acc[static_cast<size_t>(k)]);
      }
    }
  };
  forEachItem(pool, s.batch * s.O, work);
}

/// The definition, one output at a time, with fixed_point.h: what every ISA must equal.
void MacKernel::Impl::runReference(const std::byte* x, std::byte* y) const {
  auto xv = [&](int64_t i) -> int32_t {
    const auto b = reinterpret_cast<const uint8_t*>(x)[i];
    return (s.xUnsigned ? int32_t{b} : int32_t{static_cast<int8_t>(b)}) - s.zx;
  };
  auto emit = [&](int64_t index, int64_t o, int32_t acc) {
    if (s.requant.empty()) {
      const int32_t v = saturatingAdd(acc, s.bias[static_cast<size_t>(o)]);
      std::memcpy(y + index * 4, &v, 4);
      return;
    }
    const int32_t v = clampToRange(int64_t{s.zy} + multiplyByQuantizedMultiplier(saturatingAdd(acc, s.bias[static_cast<size_t>(o)]),
                                                                                   s.requant[static_cast<size_t>(o)]),
                                   s.actMin, s.actMax);
    reinterpret_cast<uint8_t*>(y)[index] = static_cast<uint8_t>(v);
  };
  if (s.gemm) {
    const int64_t M = s.H, K = s.C;
    for (int64_t r = 0; r < M; ++r)
      for (int64_t o = 0; o < s.O; ++o) {
        int32_t acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += xv(r * K + k) * (s.w[static_cast<size_t>(o * K + k)] - s.zw[static_cast<size_t>(o)]);
        emit(r * s.O + o, o, acc);
      }
    return;
  }
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t o = 0; o < s.O; ++o) {
      const int64_t g = o / Og;
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          int32_t acc = 0;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t i = 0; i < s.kH; ++i)
              for (int64_t j = 0; j < s.kW; ++j) {
                const int64_t h = oh * s.sh + i * s.dh - s.pt, w = ow * s.sw + j * s.dw - s.pl;
                if (h < 0 || h >= s.H || w < 0 || w >= s.W) continue;
                const int32_t wv = s.w[static_cast<size_t>(((o * Cg + c) * s.kH + i) * s.kW + j)] - s.zw[static_cast<size_t>(o)];
                acc += xv(((n * s.C + g * Cg + c) * s.H + h) * s.W + w) * wv;
              }
          emit(((n * s.O + o) * s.OH + oh) * s.OW + ow, o, acc);
        }
    }
}

size_t MacKernel::scratchBytes() const { return static_cast<size_t>(impl_->scratchBytes); }

bool MacKernel::writesPlanes() const {
  const Impl& m = *impl_;
  return m.mode == Mode::Lanes && !m.s.gemm && !m.s.requant.empty() && m.s.batch == 1 && m.s.O % 16 == 0;
}

bool MacKernel::takesPlanes() const {
  const Impl& m = *impl_;
  return (m.mode == Mode::Lanes || m.mode == Mode::Direct || m.mode == Mode::Im2col) && !m.rowQuads && !m.s.gemm && m.G == 1 &&
         m.s.batch == 1;
}

PlanesTarget MacKernel::planesTarget() {
  Impl& m = *impl_;
  if (m.ownPlanes.empty()) {
    // The padding as transform() writes it (the interior, from zeros here, is the producer's).
    m.ownPlanes.assign(static_cast<size_t>(m.scratchBytes), 0);
    m.xb = Impl::align64(m.ownPlanes.data());
    const std::vector<std::byte> zeros(static_cast<size_t>(m.s.C * m.s.H * m.s.W));
    m.transform(zeros.data(), 0, nullptr);
  }
  PlanesTarget t;
  t.base = Impl::align64(m.ownPlanes.data()) + (m.s.pt * m.PW + m.s.pl) * 4;
  t.planeBytes = m.planeBytes, t.PW = m.PW, t.W = m.s.W, t.flip = m.flip;
  return t;
}

void MacKernel::run(ThreadPool* pool, const std::byte* x, std::byte* y, uint8_t* scratch, const MacRunExtras* extras) const {
  double* relayoutMs = extras ? extras->relayoutMs : nullptr;
  const PlanesTarget* planesOut = extras ? extras->planesOut : nullptr;
  const bool prelaid = extras && extras->prelaid && !impl_->ownPlanes.empty();
  Impl& m = *impl_;
  // A parallel region costs a wake-up and a join per call (tens of microseconds when the two vCPUs
  // are shared): below about 10 us of one-thread work it costs more than it saves. The choice
  // depends on the op's shape only, and the bits never depend on the thread count.
  constexpr int64_t kMinParallelMacs = int64_t{1} << 21;
  const MacSpec& s = m.s;
  const int64_t macs = (s.gemm ? s.H : s.batch * s.OH * s.OW) * s.O * (s.C / std::max<int64_t>(s.group, 1)) * s.kH * s.kW;
  if (pool && (pool->size() <= 1 || macs < kMinParallelMacs)) pool = nullptr;
  switch (m.mode) {
    case Mode::Reference: m.runReference(x, y); return;
    case Mode::Depthwise: m.runDepthwise(pool, x, y); return;
    case Mode::Direct:
    case Mode::Im2col:
    case Mode::Lanes: break;
  }
  if (!scratch) {
    if (m.xstore.size() != static_cast<size_t>(m.scratchBytes)) m.xstore.assign(static_cast<size_t>(m.scratchBytes), 0);
    scratch = m.xstore.data();
  }
  m.xb = Impl::align64(prelaid ? m.ownPlanes.data() : scratch);
  if (relayoutMs) *relayoutMs = 0;
  for (int64_t n = 0; n < (m.s.gemm ? 1 : m.s.batch); ++n) {
    if (relayoutMs && !prelaid) {
      const auto t0 = std::chrono::steady_clock::now();
      m.transform(x, n, pool);
      *relayoutMs += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    } else if (!prelaid) {
      m.transform(x, n, pool);
    }
    if (m.mode == Mode::Lanes) m.runLanes(pool, y, n, planesOut);
    else m.runTiles(pool, y, n);
  }
}

}  // namespace npuconv::device
