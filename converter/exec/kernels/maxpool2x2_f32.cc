// maxpool2x2_f32.cc - see maxpool2x2_f32.h.
//
// The output rows of all planes are contiguous (plane p's row r is row p * OH + r), so the
// kernel walks them as one sequence; output row k reads input rows 2r and 2r + 1 of plane
// k / OH. Rows of at most 8 outputs (16 input columns) are paired: two output rows per vector.
#include "converter/exec/kernels/maxpool2x2_f32.h"

#include <immintrin.h>

#include <algorithm>
#include <limits>

#include "converter/exec/kernels/gemm_f32.h"

namespace npuconv::nn {
namespace {

#define NPU_MP2_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))

/// max_ps(a, b) (b where either is NaN): the _mask_ form avoids GCC 12's false
/// maybe-uninitialized warning on _mm512_max_ps.
NPU_MP2_TARGET inline __m512 mp2Max(__m512 a, __m512 b) { return _mm512_mask_max_ps(a, 0xFFFF, a, b); }

/// max(row0, lowest), then max(row1, .): the vertical step, as maxPoolPlaneF32 orders it.
NPU_MP2_TARGET inline __m512 mp2Vertical(const float* r0, const float* r1, __mmask16 m, __m512 low) {
  return mp2Max(_mm512_maskz_loadu_ps(m, r1), mp2Max(_mm512_maskz_loadu_ps(m, r0), low));
}

/// max(even, lowest), then max(odd, .) of the 32 lanes a:b, picked by the two index vectors.
NPU_MP2_TARGET inline __m512 mp2Horizontal(__m512 a, __m512 b, __m512i ie, __m512i io, __m512 low) {
  return mp2Max(_mm512_permutex2var_ps(a, io, b), mp2Max(_mm512_permutex2var_ps(a, ie, b), low));
}

NPU_MP2_TARGET void maxPool2x2Avx512(const float* x, float* y, int64_t planes, const Geo3& g) {
  const int64_t IH = g.in[1], IW = g.in[2], OH = g.out[1], OW = g.out[2], inSp = IH * IW;
  const __m512 low = _mm512_set1_ps(std::numeric_limits<float>::lowest());
  const int64_t rows = planes * OH;
  auto src = [&](int64_t k) { return x + (k / OH) * inSp + (k % OH) * 2 * IW; };
  if (OW <= 8) {
    // Two output rows per vector: lanes [0, OW) from row k, [OW, 2 OW) from row k + 1.
    alignas(64) int32_t ie[16], io[16];
    for (int i = 0; i < 16; ++i) {
      const int r = i < OW ? 0 : 16, j = i < OW ? i : i - int(OW);
      ie[i] = r + 2 * j;
      io[i] = r + 2 * j + 1;
    }
    const __m512i vie = _mm512_load_si512(ie), vio = _mm512_load_si512(io);
    const __mmask16 mIn = __mmask16((1u << (2 * OW)) - 1);
    int64_t k = 0;
    for (; k + 2 <= rows; k += 2) {
      const float* a = src(k);
      const float* b = src(k + 1);
      const __m512 va = mp2Vertical(a, a + IW, mIn, low), vb = mp2Vertical(b, b + IW, mIn, low);
      _mm512_mask_storeu_ps(y + k * OW, __mmask16((1u << (2 * OW)) - 1), mp2Horizontal(va, vb, vie, vio, low));
    }
    if (k < rows) {
      const float* a = src(k);
      const __m512 va = mp2Vertical(a, a + IW, mIn, low);
      _mm512_mask_storeu_ps(y + k * OW, __mmask16((1u << OW) - 1), mp2Horizontal(va, va, vie, vio, low));
    }
    return;
  }
  alignas(64) int32_t ie[16], io[16];
  for (int i = 0; i < 16; ++i) {
    ie[i] = 2 * i;
    io[i] = 2 * i + 1;
  }
  const __m512i vie = _mm512_load_si512(ie), vio = _mm512_load_si512(io);
  for (int64_t k = 0; k < rows; ++k) {
    const float* r0 = src(k);
    const float* r1 = r0 + IW;
    float* out = y + k * OW;
    for (int64_t j = 0; j < OW; j += 16) {
      const int64_t n = std::min<int64_t>(16, OW - j), lanes = 2 * n;  // input columns 2j .. 2j + lanes
      const __mmask16 mlo = __mmask16(lanes >= 16 ? 0xFFFFu : (1u << lanes) - 1);
      const __mmask16 mhi = __mmask16(lanes <= 16 ? 0u : lanes >= 32 ? 0xFFFFu : (1u << (lanes - 16)) - 1);
      const __m512 lo = mp2Vertical(r0 + 2 * j, r1 + 2 * j, mlo, low);
      const __m512 hi = mp2Vertical(r0 + 2 * j + 16, r1 + 2 * j + 16, mhi, low);
      _mm512_mask_storeu_ps(out + j, __mmask16(n >= 16 ? 0xFFFFu : (1u << n) - 1), mp2Horizontal(lo, hi, vie, vio, low));
    }
  }
}

#undef NPU_MP2_TARGET

}  // namespace

bool maxPool2x2Applies(const Geo3& g) {
  return gemm::activeIsa() == gemm::Isa::Avx512 && g.in[0] == 1 && g.out[0] == 1 && g.k[0] == 1 && g.k[1] == 2 &&
         g.k[2] == 2 && g.s[1] == 2 && g.s[2] == 2 && g.d[1] == 1 && g.d[2] == 1 && g.pb[1] == 0 && g.pb[2] == 0 &&
         g.pe[1] == 0 && g.pe[2] == 0 && g.out[1] >= 1 && g.out[2] >= 1 && g.out[1] == g.in[1] / 2 &&
         g.out[2] == g.in[2] / 2;
}

void maxPool2x2PlanesF32(const float* x, float* y, int64_t planes, const Geo3& g) {
  maxPool2x2Avx512(x, y, planes, g);
}

}  // namespace npuconv::nn
