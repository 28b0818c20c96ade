// conv_direct_f32.cc - see conv_direct_f32.h.
//
// Layout: Xp[n][hp][wp][c] is the zero-padded input, channels last, cut to the rows and columns
// the output reads; Wk[panel][kh][kw][c][NR] the weights, NR output channels per panel (zero
// padded). A tile of MR output positions (consecutive in Y's flat order, so across output rows;
// the last tile of an image repeats its last position) keeps MR x NR sums in registers: per step
// (tap t, channel c) one weight vector load per NR/VL and one broadcast of Xp at each position's
// row pointer + tap offset + c. The tile is then stored to a small buffer, bias and activation
// are applied as vectors over output channels, and it is written transposed into Y's planes
// (through a stage holding a group of tiles, so each channel gets one run per group), where a
// fused residual is added before the activation.
//
// With AVX-512 the layout changes go through 16x16 register transposes: the input pack takes
// 16 channel planes x 16 consecutive input positions at a time (C a multiple of 16), and with no
// activation or Relu in the tile its epilogue adds the bias, applies Relu and stores the
// transposed tile straight into Y's planes (masked to the tile's positions), with no stage.
// Same operations, same order: bit for bit the AVX2 path's results.
//
// Only the AVX-512 functions carry a target attribute (as in gemm_f32.cc); the ISA is the
// GEMM's (gemm::activeIsa(), NPUCONV_NO_AVX512).
#include "converter/exec/kernels/conv_direct_f32.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "converter/exec/kernels/activation_simd.h"
#include "converter/exec/kernels/transpose_simd.h"
#include "converter/exec/thread_pool.h"

namespace npuconv::nn {
namespace {

constexpr int kMaxMR = 12, kMaxNR = 32, kMaxGroup = 16;

/// AVX2: MR = 6 positions x NV (1 or 2) vectors of 8 channels; out is [6][16].
template <int NV>
void micro6(int64_t taps, int64_t C, const float* const* rows, const int64_t* toff, const float* w, float* out) {
  constexpr int MR = 6, NR = 16;
  __m256 acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
  for (int64_t t = 0; t < taps; ++t) {
    const float* r0 = rows[0] + toff[t];
    const float* r1 = rows[1] + toff[t];
    const float* r2 = rows[2] + toff[t];
    const float* r3 = rows[3] + toff[t];
    const float* r4 = rows[4] + toff[t];
    const float* r5 = rows[5] + toff[t];
    for (int64_t c = 0; c < C; ++c, w += NR) {
      __m256 b[NV];
      for (int v = 0; v < NV; ++v) b[v] = _mm256_load_ps(w + 8 * v);
      const float* rr[MR] = {r0, r1, r2, r3, r4, r5};
#pragma GCC unroll 6
      for (int i = 0; i < MR; ++i) {
        const __m256 a = _mm256_broadcast_ss(rr[i] + c);
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(a, b[v], acc[i][v]);
      }
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) _mm256_store_ps(out + i * NR + 8 * v, acc[i][v]);
}

/// AVX-512: MR = 12 positions x NV (1 or 2) vectors of 16 channels; out is [12][32].
template <int NV>
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))) void micro12(int64_t taps, int64_t C,
                                                                                const float* const* rows,
                                                                                const int64_t* toff, const float* w,
                                                                                float* out) {
  constexpr int MR = 12, NR = 32;
  __m512 acc[MR][NV];
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t t = 0; t < taps; ++t) {
    const float* rr[MR];
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) rr[i] = rows[i] + toff[t];
    for (int64_t c = 0; c < C; ++c, w += NR) {
      __m512 b[NV];
      for (int v = 0; v < NV; ++v) b[v] = _mm512_load_ps(w + 16 * v);
#pragma GCC unroll 12
      for (int i = 0; i < MR; ++i) {
        const __m512 a = _mm512_set1_ps(rr[i][c]);
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(a, b[v], acc[i][v]);
      }
    }
  }
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) _mm512_store_ps(out + i * NR + 16 * v, acc[i][v]);
}

using MicroFn = void (*)(int64_t, int64_t, const float* const*, const int64_t*, const float*, float*);

#define NPU_DC_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))

// The _mask_ forms with all lanes set: GCC 12 warns that the plain forms' undefined pass-through
// operand is used uninitialized.
NPU_DC_TARGET inline __m512 dcUnpackLo(__m512 a, __m512 b) { return _mm512_mask_unpacklo_ps(a, 0xFFFF, a, b); }
NPU_DC_TARGET inline __m512 dcUnpackHi(__m512 a, __m512 b) { return _mm512_mask_unpackhi_ps(a, 0xFFFF, a, b); }
NPU_DC_TARGET inline __m512 dcUnpackLoPd(__m512 a, __m512 b) {
  return _mm512_castpd_ps(_mm512_mask_unpacklo_pd(_mm512_castps_pd(a), 0xFF, _mm512_castps_pd(a), _mm512_castps_pd(b)));
}
NPU_DC_TARGET inline __m512 dcUnpackHiPd(__m512 a, __m512 b) {
  return _mm512_castpd_ps(_mm512_mask_unpackhi_pd(_mm512_castps_pd(a), 0xFF, _mm512_castps_pd(a), _mm512_castps_pd(b)));
}
template <int Imm>
NPU_DC_TARGET inline __m512 dcShuffle128(__m512 a, __m512 b) {
  return _mm512_mask_shuffle_f32x4(a, 0xFFFF, a, b, Imm);
}

/// 16 rows of 16 floats transposed in registers: r[j] becomes column j.
NPU_DC_TARGET inline void dcTranspose16(__m512 r[16]) {
  __m512 t[16];
  for (int k = 0; k < 8; ++k) {
    t[2 * k] = dcUnpackLo(r[2 * k], r[2 * k + 1]);
    t[2 * k + 1] = dcUnpackHi(r[2 * k], r[2 * k + 1]);
  }
  // r[4b + q] (rows 4b .. 4b + 3): column 4L + q in 128-bit lane L.
  for (int b = 0; b < 4; ++b) {
    r[4 * b] = dcUnpackLoPd(t[4 * b], t[4 * b + 2]);
    r[4 * b + 1] = dcUnpackHiPd(t[4 * b], t[4 * b + 2]);
    r[4 * b + 2] = dcUnpackLoPd(t[4 * b + 1], t[4 * b + 3]);
    r[4 * b + 3] = dcUnpackHiPd(t[4 * b + 1], t[4 * b + 3]);
  }
  for (int q = 0; q < 4; ++q) {
    t[q] = dcShuffle128<0x88>(r[q], r[4 + q]);
    t[4 + q] = dcShuffle128<0xDD>(r[q], r[4 + q]);
    t[8 + q] = dcShuffle128<0x88>(r[8 + q], r[12 + q]);
    t[12 + q] = dcShuffle128<0xDD>(r[8 + q], r[12 + q]);
  }
  for (int q = 0; q < 4; ++q) {
    r[q] = dcShuffle128<0x88>(t[q], t[8 + q]);
    r[8 + q] = dcShuffle128<0xDD>(t[q], t[8 + q]);
    r[4 + q] = dcShuffle128<0x88>(t[4 + q], t[12 + q]);
    r[12 + q] = dcShuffle128<0xDD>(t[4 + q], t[12 + q]);
  }
}

/// The AVX-512 tile epilogue: out[12][32] + bias, then Relu when `relu` (max_ps(v, 0), as
/// act8), written transposed: dst[j * ld + i] = out[i][j] for the first `np` positions and `nm`
/// channels. The same adds and maxes as the AVX2 path, 16 channels at a time, no scalar tail;
/// dst is Y's planes themselves (masked stores of the tile's positions: no stage, no copy).
NPU_DC_TARGET void dcTileToPlanes12(const float* out, const float* bk, int64_t nm, int64_t np, bool relu, float* dst,
                                    int64_t ld) {
  const __m512 zero = _mm512_setzero_ps();
  const __mmask16 pm = __mmask16((1u << np) - 1);
  for (int64_t v = 0; v * 16 < nm; ++v) {
    const __m512 b = _mm512_loadu_ps(bk + 16 * v);
    __m512 r[16];
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) {
      r[i] = _mm512_add_ps(_mm512_load_ps(out + i * 32 + 16 * v), b);
      if (relu) r[i] = _mm512_mask_max_ps(r[i], 0xFFFF, r[i], zero);
    }
    for (int i = 12; i < 16; ++i) r[i] = zero;
    dcTranspose16(r);
    const int64_t nj = std::min<int64_t>(16, nm - 16 * v);
    for (int64_t j = 0; j < nj; ++j) _mm512_mask_storeu_ps(dst + (16 * v + j) * ld, pm, r[j]);
  }
}

/// Channels [c0, c0 + 16) of padded rows [hp0, hp1) of image n's zero-padded channels-last copy
/// (Xpn: Hp rows x Wp positions x C): 16 channel planes x 16 consecutive input positions (across rows)
/// per register transpose, each position's 16 channels one 64-byte store (a whole cache line:
/// Xp is 64-byte aligned and C a multiple of 16, so threads packing other channel blocks or rows
/// never share a line); padding positions get zeros. Small maps (9x4, 19x8) thus cost no scalar
/// tail per row.
NPU_DC_TARGET void dcPackChannels16(const float* Xn, int64_t C, int64_t IH, int64_t IW, int64_t Wp, int64_t ph,
                                    int64_t pw, int64_t c0, int64_t hp0, int64_t hp1, float* Xpn) {
  const int64_t plane = IH * IW;
  const __m512 zero = _mm512_setzero_ps();
  // Input rows inside the band: hp = ih + ph in [hp0, hp1) and ih in [0, IH).
  const int64_t ih0 = std::max<int64_t>(0, hp0 - ph), ih1 = std::min(IH, hp1 - ph);
  for (int64_t hp = hp0; hp < hp1; ++hp) {
    const int64_t ih = hp - ph;
    const bool inside = ih >= ih0 && ih < ih1;
    for (int64_t q = 0; q < Wp; ++q) {
      const int64_t iw = q - pw;
      if (!inside || iw < 0 || iw >= IW) _mm512_store_ps(Xpn + (hp * Wp + q) * C + c0, zero);
    }
  }
  if (ih1 <= ih0) return;
  const float* src = Xn + c0 * plane;
  const int64_t p1 = ih1 * IW;
  int64_t ih = ih0, iw = 0;
  for (int64_t p = ih0 * IW; p < p1; p += 16) {
    const int64_t cnt = std::min<int64_t>(16, p1 - p);
    const __mmask16 m = __mmask16(cnt >= 16 ? 0xFFFFu : (1u << cnt) - 1);
    __m512 r[16];
#pragma GCC unroll 16
    for (int c = 0; c < 16; ++c) r[c] = _mm512_maskz_loadu_ps(m, src + c * plane + p);
    // The 16 planes are 16 streams (the previous layer's output, in L3 by now): fetch 4 blocks
    // ahead (past the end of a plane it touches the next plane's start, harmless).
    if (p + 64 < p1)
#pragma GCC unroll 16
      for (int c = 0; c < 16; ++c) _mm_prefetch(reinterpret_cast<const char*>(src + c * plane + p + 64), _MM_HINT_T0);
    dcTranspose16(r);
    for (int64_t j = 0; j < cnt; ++j) {
      const int64_t q = iw + pw;
      if (q < Wp) _mm512_store_ps(Xpn + ((ih + ph) * Wp + q) * C + c0, r[j]);
      if (++iw == IW) {
        iw = 0;
        ++ih;
      }
    }
  }
}

#undef NPU_DC_TARGET

/// Row r of image n of Xp (Wp positions x C channels) from X (zeros outside the input).
void packInputRow(const float* X, int64_t C, int64_t IH, int64_t IW, int64_t ih, int64_t pw, int64_t Wp, float* dst) {
  if (ih < 0 || ih >= IH) {
    std::memset(dst, 0, size_t(Wp * C) * sizeof(float));
    return;
  }
  // Columns q with iw = q - pw inside the input: [q0, q1).
  const int64_t q0 = std::min(pw, Wp), q1 = std::clamp<int64_t>(IW + pw, q0, Wp);
  std::memset(dst, 0, size_t(q0 * C) * sizeof(float));
  std::memset(dst + q1 * C, 0, size_t((Wp - q1) * C) * sizeof(float));
  const int64_t plane = IH * IW;
  const float* src = X + ih * IW - pw;  // src[c * plane + q] is input column q - pw of channel c
  if (C == 1) {
    std::memcpy(dst + q0, src + q0, size_t(q1 - q0) * sizeof(float));
    return;
  }
  const int64_t c8 = C / 8 * 8;
  int64_t q = q0;
  for (; q + 8 <= q1; q += 8) {
    for (int64_t c = 0; c < c8; c += 8) transpose8x8(src + c * plane + q, plane, dst + q * C + c, C);
    for (int64_t c = c8; c < C; ++c)
      for (int64_t k = 0; k < 8; ++k) dst[(q + k) * C + c] = src[c * plane + q + k];
  }
  for (; q < q1; ++q)
    for (int64_t c = 0; c < C; ++c) dst[q * C + c] = src[c * plane + q];
}

struct Shape {
  int64_t N, C, M, IH, IW, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw, Hp, Wp;
};

Shape shapeOf(const Geo3& g, int64_t N, int64_t C, int64_t M) {
  Shape s{};
  s.N = N;
  s.C = C;
  s.M = M;
  s.IH = g.in[1];
  s.IW = g.in[2];
  s.OH = g.out[1];
  s.OW = g.out[2];
  s.KH = g.k[1];
  s.KW = g.k[2];
  s.sh = g.s[1];
  s.sw = g.s[2];
  s.dh = g.d[1];
  s.dw = g.d[2];
  s.ph = g.pb[1];
  s.pw = g.pb[2];
  s.Hp = (s.OH - 1) * s.sh + (s.KH - 1) * s.dh + 1;
  s.Wp = (s.OW - 1) * s.sw + (s.KW - 1) * s.dw + 1;
  return s;
}

thread_local gemm::AlignedFloats tlsInput;  // 64-byte aligned (the AVX-512 pack's whole-line stores)
thread_local size_t tlsInputCap = 0;
thread_local gemm::AlignedFloats tlsBias;
thread_local size_t tlsBiasCap = 0;

}  // namespace

std::shared_ptr<const DirectConvWeights> DirectConvWeights::pack(const float* W, int64_t M, int64_t C, int64_t taps) {
  auto p = std::make_shared<DirectConvWeights>();
  p->isa = gemm::activeIsa();
  p->M = M;
  p->C = C;
  p->taps = taps;
  const int64_t NR = p->isa == gemm::Isa::Avx512 ? 32 : 16, K = C * taps, panels = (M + NR - 1) / NR;
  p->data = gemm::allocateFloats(size_t(panels * K * NR));
  float* Wk = p->data.get();
  for (int64_t pi = 0; pi < panels; ++pi) {
    const int64_t m0 = pi * NR, nm = std::min(NR, M - m0);
    float* wp = Wk + pi * K * NR;
    for (int64_t t = 0; t < taps; ++t)
      for (int64_t c = 0; c < C; ++c) {
        float* d = wp + (t * C + c) * NR;
        for (int64_t j = 0; j < nm; ++j) d[j] = W[((m0 + j) * C + c) * taps + t];
        for (int64_t j = nm; j < NR; ++j) d[j] = 0.0f;
      }
  }
  return p;
}

bool directConvSupported(const Geo3& g, int64_t N, int64_t C, int64_t M) {
  if (g.in[0] != 1 || g.out[0] != 1 || g.k[0] != 1 || g.pb[0] != 0 || N < 1 || C < 1 || M < 1) return false;
  if (g.out[1] < 1 || g.out[2] < 1) return false;
  const Shape s = shapeOf(g, N, C, M);
  // The padded copy and the packed weights stay well inside memory.
  return double(N) * double(s.Hp) * double(s.Wp) * double(C) < double(int64_t(1) << 28) &&
         double(M) * double(C) * double(s.KH * s.KW) < double(int64_t(1) << 26);
}

bool preferDirectConv(const Geo3& g, int64_t N, int64_t C, int64_t M) {
  if (!directConvSupported(g, N, C, M)) return false;
  static const int forced = [] {
    const char* e = std::getenv("NPUCONV_DIRECT_CONV");
    return e == nullptr || *e == 0 ? -1 : std::strcmp(e, "0") == 0 ? 0 : 1;
  }();
  if (forced >= 0) return forced == 1;
  // Measured (DISABLED_Timing: 1 thread, AVX-512, weights prepacked on both sides, best of 7
  // alternating rounds on a shared machine, 2026-12-06): with a spatial kernel and K = C * KH *
  // KW >= 64 the direct kernel takes 0.3-0.9x the time of im2col + GEMM (3x3 on 8-512 channels,
  // resnet50's 7x7 stem, PP-OCR det's 3x3 heads, the NHWC CNN's batched small maps); stems with
  // K = 27 and K = 9 run 1.1-1.4x (for so few products per output its transposes of input and
  // output cost more than the GEMM's B packing).
  // Pointwise (1x1) Convs (stride 1) run on the GEMM, which reads their input in place: the
  // direct kernel once seemed to win with a deep K and few filters (256->64: 0.52x), but that
  // DISABLED_Timing fed the GEMM through the im2col packer, not the executor's in-place B.
  // Against the executor's GEMM (tests/exec/gemm_pointwise_timing_test.cc, 1 thread, weights
  // cold as in a model run, 2026-12-07) the direct kernel takes 1.65x the time on resnet50's
  // 56x56 256->64, 1.1-1.25x on 56x56 256->128, 28x28 512->128 and 256->64, mobilenet_v2's
  // 28x28 192->32 2.1x, 30x40 384->96 and 60x80 480->96 1.15-1.25x; it never won.
  // With AVX2 only (6 x 16 tiles, 16 registers) it ran 1.0-2.1x the GEMM's time on every shape.
  if (gemm::activeIsa() != gemm::Isa::Avx512) return false;
  const int64_t K = C * g.kSize();
  // (An SE block's 1x1 Convs on a 1x1 map (PP-OCR rec: 480->120) stay on the GEMM's
  // matrix-vector path too: 0.022 ms there, 0.03 ms here with 11 of 12 tile positions idle.)
  // A strided 1x1 (resnet50's downsample Convs) runs as a pointwise one on its gathered input
  // (nn_conv.cc), hence on the GEMM too.
  if (g.kSize() == 1) return false;
  // One input channel (an STFT front end: 257 filters of 512 taps, stride 160): the per-tap
  // pointer setup is not amortized over channels: 1.29x the GEMM's time, stft_frontend 2.3 ms
  // instead of 1.5 per run. C = 2 untested (no such Conv in the suite); C = 3 stems win (0.82).
  return K >= 64 && C >= 3;
}

void convDirectF32(ThreadPool& pool, const float* X, const float* W, const float* B, float* Y, int64_t N, int64_t C,
                   int64_t M, const Geo3& g, const gemm::Epilogue& ep, const DirectConvWeights* packed,
                   const DirectConvRows* band) {
  const Shape s = shapeOf(g, N, C, M);
  const bool avx512 = gemm::activeIsa() == gemm::Isa::Avx512;
  const int MR = avx512 ? 12 : 6, NR = avx512 ? 32 : 16, VL = avx512 ? 16 : 8;
  // Output rows [oh0, oh1) only (a band: outSp is its size, ldy the plane stride of Y), and the
  // padded input rows they read [hpLo, hpHi).
  const int64_t oh0 = band ? band->oh0 : 0, oh1 = band ? band->oh1 : s.OH;
  const int64_t taps = s.KH * s.KW, K = taps * C, outSp = (oh1 - oh0) * s.OW, inSp = s.IH * s.IW;
  const int64_t ldy = band ? band->ldy : outSp;
  const int64_t hpLo = oh0 * s.sh, hpHi = std::min(s.Hp, (oh1 - 1) * s.sh + (s.KH - 1) * s.dh + 1), hpN = hpHi - hpLo;
  const int64_t panels = (M + NR - 1) / NR;

  // Zero-padded channels-last input.
  const int64_t rowLen = s.Wp * C;
  if (tlsInputCap < size_t(N * s.Hp * rowLen)) {
    tlsInput = gemm::allocateFloats(size_t(N * s.Hp * rowLen));
    tlsInputCap = size_t(N * s.Hp * rowLen);
  }
  float* Xp = tlsInput.get();
  if (avx512 && C % 16 == 0 && s.ph >= 0 && s.pw >= 0) {
    // Units (image, band of padded rows, channel block): ~16K floats each, so a large map with
    // few channel blocks still splits evenly across threads.
    const int64_t cBlocks = C / 16, bandRows = std::clamp<int64_t>(16384 / (16 * s.Wp), 1, hpN);
    const int64_t bands = (hpN + bandRows - 1) / bandRows;
    pool.parallelFor(N * bands * cBlocks, 1, [&](int64_t u0, int64_t u1) {
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t n = u / (bands * cBlocks), b = u / cBlocks % bands, c0 = (u % cBlocks) * 16;
        dcPackChannels16(X + n * C * inSp, C, s.IH, s.IW, s.Wp, s.ph, s.pw, c0, hpLo + b * bandRows,
                         std::min(hpHi, hpLo + (b + 1) * bandRows), Xp + n * s.Hp * rowLen);
      }
    });
  } else {
    pool.parallelFor(N * hpN, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, rowLen)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / hpN, hp = hpLo + r % hpN;
        packInputRow(X + n * C * inSp, C, s.IH, s.IW, hp - s.ph, s.pw, s.Wp, Xp + (n * s.Hp + hp) * rowLen);
      }
    });
  }

  // Weight panels [panel][t][c][NR] (prepacked, or packed now) and bias panels [panel][NR].
  std::shared_ptr<const DirectConvWeights> own;
  if (!packed || packed->isa != gemm::activeIsa() || packed->M != M || packed->C != C || packed->taps != taps) {
    own = DirectConvWeights::pack(W, M, C, taps);
    packed = own.get();
  }
  const float* Wk = packed->data.get();
  const size_t bNeed = size_t(panels * NR);
  if (tlsBiasCap < bNeed) {
    tlsBias = gemm::allocateFloats(bNeed);
    tlsBiasCap = bNeed;
  }
  float* Bk = tlsBias.get();
  std::fill(Bk, Bk + bNeed, 0.0f);
  if (B) std::copy(B, B + M, Bk);

  std::vector<int64_t> toff(static_cast<size_t>(taps));
  for (int64_t kh = 0; kh < s.KH; ++kh)
    for (int64_t kw = 0; kw < s.KW; ++kw) toff[size_t(kh * s.KW + kw)] = (kh * s.dh * s.Wp + kw * s.dw) * C;

  const MicroFn full = avx512 ? micro12<2> : micro6<2>;
  const MicroFn half = avx512 ? micro12<1> : micro6<1>;
  const int64_t tiles = (outSp + MR - 1) / MR, units = N * tiles;
  // Work items are (panel block, tile); with few tiles (small maps, one image) the panels are
  // split too so every thread gets work. Either way each output is one thread's FMA chain.
  const int64_t pSplit = units < 4 * int64_t(pool.size()) ? panels : 1, pPer = (panels + pSplit - 1) / pSplit;
  const int64_t macsPerItem = int64_t(MR) * pPer * NR * K;
  // Tiles are taken in groups whose input (about MR * C floats per tile: neighbouring positions
  // share most of their taps) stays in L2 while every weight panel (K * NR floats) streams over
  // the group once, instead of all panels per tile.
  const int64_t group = std::clamp<int64_t>((256 << 10) / (int64_t(MR) * C * 4), 1, kMaxGroup);
  const bool actInTile = ep.residual == nullptr && ep.act != gemm::Act::None;
  // AVX-512 with no activation in the tile or Relu: bias, Relu and the transpose in registers,
  // stored into Y's planes directly.
  const bool reluInTile = actInTile && ep.act == gemm::Act::Relu, fastTile = avx512 && (!actInTile || reluInTile);
  auto run = [&](int64_t u0, int64_t u1, int64_t pa, int64_t pb) {
    alignas(64) float out[kMaxMR * kMaxNR];
    // The group's outputs of one panel, [channel][position]: written to Y's planes as one run
    // per channel (whole cache lines) rather than MR floats per tile and plane.
    alignas(64) float stage[kMaxNR * kMaxGroup * kMaxMR];
    const float* rows[kMaxGroup * kMaxMR];
    for (int64_t ug = u0; ug < u1;) {
      const int64_t n = ug / tiles, ue = std::min({u1, ug + group, (n + 1) * tiles});  // one image
      const int64_t pg = (ug % tiles) * MR, npg = std::min<int64_t>((ue - ug) * MR, outSp - pg);
      const int64_t ls = (ue - ug) * MR;  // stage row length
      const float* xn = Xp + n * s.Hp * rowLen;
      for (int64_t u = ug; u < ue; ++u) {
        const int64_t p0 = (u % tiles) * MR, np = std::min<int64_t>(MR, outSp - p0);
        for (int i = 0; i < MR; ++i) {
          const int64_t p = p0 + std::min<int64_t>(i, np - 1), oh = oh0 + p / s.OW, ow = p % s.OW;
          rows[(u - ug) * MR + i] = xn + oh * s.sh * rowLen + ow * s.sw * C;
        }
      }
      for (int64_t pi = pa; pi < pb; ++pi) {
        const int64_t m0 = pi * NR, nm = std::min<int64_t>(NR, M - m0);
        const MicroFn fn = nm > VL ? full : half;
        const float* bk = Bk + m0;
        const int64_t nv = (nm + 7) / 8;
        for (int64_t u = ug; u < ue; ++u) {
          const int64_t col = (u - ug) * MR;
          fn(taps, C, rows + col, toff.data(), Wk + pi * K * NR, out);
          if (fastTile) {
            const int64_t p0 = pg + col;
            dcTileToPlanes12(out, bk, nm, std::min<int64_t>(MR, outSp - p0), reluInTile, Y + (n * M + m0) * ldy + p0,
                             ldy);
            continue;
          }
          for (int64_t i = 0; i < MR; ++i)
            for (int64_t v = 0; v < nv; ++v) {
              __m256 x = _mm256_add_ps(_mm256_load_ps(out + i * NR + 8 * v), _mm256_loadu_ps(bk + 8 * v));
              if (actInTile) x = gemm::actDyn8(x, ep);
              _mm256_store_ps(out + i * NR + 8 * v, x);
            }
          // Transposed into the stage: 8 positions x 8 channels at a time, the rest one by one.
          const int64_t i8 = MR >= 8 ? 8 : 0;
          if (i8)
            for (int64_t j = 0; j < nv * 8; j += 8) transpose8x8(out + j, NR, stage + j * ls + col, ls);
          for (int64_t j = 0; j < nv * 8; ++j)
            for (int64_t i = i8; i < MR; ++i) stage[j * ls + col + i] = out[i * NR + j];
        }
        for (int64_t j = 0; j < nm; ++j) {
          float* y = Y + (n * M + m0 + j) * ldy + pg;
          if (!fastTile) std::memcpy(y, stage + j * ls, size_t(npg) * sizeof(float));
          if (ep.residual) gemm::applyEpilogue(y, npg, 0.0f, ep, ep.residual + (y - Y));
        }
      }
      ug = ue;
    }
  };
  pool.parallelFor(pSplit * units, std::max<int64_t>(1, 262144 / std::max<int64_t>(1, macsPerItem)),
                   [&](int64_t t0, int64_t t1) {
                     for (int64_t t = t0; t < t1;) {
                       const int64_t blk = t / units, u = t % units, ue = std::min(units, u + (t1 - t));
                       run(u, ue, blk * pPer, std::min(panels, (blk + 1) * pPer));
                       t += ue - u;
                     }
                   });
}

}  // namespace npuconv::nn
