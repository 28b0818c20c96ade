// im2col_f32.cc - see im2col_f32.h.
#include "converter/exec/kernels/im2col_f32.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "converter/exec/thread_pool.h"

namespace npuconv::nn {

namespace {
thread_local std::vector<float> tlsPadded;

int64_t paddedExtent(const Geo3& g, int i) { return g.in[i] + g.pb[i] + g.pe[i]; }
}  // namespace

bool Im2colF32::fits(int64_t channels, const Geo3& g, int64_t images) {
  const int64_t n = images * channels * paddedExtent(g, 0) * paddedExtent(g, 1) * paddedExtent(g, 2);
  return n < std::numeric_limits<int32_t>::max() / 2;
}

Im2colF32::Im2colF32(ThreadPool& pool, const float* x, int64_t channels, const Geo3& g, int64_t images)
    : img_(x), g_(&g) {
  for (int i = 0; i < 3; ++i) dims_[i] = paddedExtent(g, i);
  imageStride_ = channels * dims_[0] * dims_[1] * dims_[2];
  channels *= images;  // the images' channels are consecutive planes
  end_ = x + channels * dims_[0] * dims_[1] * dims_[2];
  const bool padded = g.pb[0] || g.pb[1] || g.pb[2] || g.pe[0] || g.pe[1] || g.pe[2];
  if (!padded) return;
  const int64_t D = dims_[0], H = dims_[1], W = dims_[2], plane = D * H * W;
  std::vector<float>& buf = tlsPadded;
  if (buf.size() < size_t(channels * plane)) buf.resize(size_t(channels * plane));
  float* out = buf.data();
  pool.parallelFor(channels, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, plane)), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float* o = out + c * plane;
      std::fill(o, o + plane, 0.0f);
      const float* xc = x + c * g.inSize();
      for (int64_t d = 0; d < g.in[0]; ++d)
        for (int64_t h = 0; h < g.in[1]; ++h)
          std::memcpy(o + ((d + g.pb[0]) * H + h + g.pb[1]) * W + g.pb[2], xc + (d * g.in[1] + h) * g.in[2],
                      size_t(g.in[2]) * sizeof(float));
    }
  });
  img_ = out;
  end_ = out + channels * plane;
}

namespace {

/// Lane mask of the first n (0..8) lanes.
inline __m256i firstLanes(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/// out[t] = src[t * sw] for t < len, sw 1 or 2, reading nothing at or past `end`.
inline void copyRun(const float* src, int64_t sw, int64_t len, float* out, const float* end) {
  int64_t t = 0;
  if (sw == 1) {
    for (; t + 8 <= len; t += 8) _mm256_storeu_ps(out + t, _mm256_loadu_ps(src + t));
    if (t < len) {
      const __m256i m = firstLanes(len - t);
      _mm256_maskstore_ps(out + t, m, _mm256_maskload_ps(src + t, m));
    }
    return;
  }
  for (; t < len; t += 8) {
    const float* p = src + 2 * t;
    const int64_t n = std::min<int64_t>(8, len - t);
    // Inputs read: 2n - 1, or 16 where the one past the last is still inside the image.
    const int64_t need = p + 16 <= end ? 16 : 2 * n - 1;
    const __m256 a = need >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, firstLanes(need));
    const __m256 b = need >= 16 ? _mm256_loadu_ps(p + 8) : _mm256_maskload_ps(p + 8, firstLanes(std::max<int64_t>(0, need - 8)));
    const __m256 e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
    if (n == 8)
      _mm256_storeu_ps(out + t, e);
    else
      _mm256_maskstore_ps(out + t, firstLanes(n), e);
  }
}

/// Transposes the 8x8 block r[0..7] (rows) in registers: on return r[i] holds column i.
inline void transpose8x8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/// Rows [te, te + len) of one channel's taps (a kernel along W only, no dilation: consecutive
/// rows read consecutive inputs) for the NR columns whose tap-0 offsets are idx: column j of row
/// t is base[idx[j] + t]. Eight columns x eight rows are eight contiguous loads and a register
/// transpose, where the gather path would load every value on its own (a stride-160 STFT
/// touches a new cache line per value).
inline void packRowRuns(const float* base, const int32_t* idx, int64_t te, int64_t len, int NR, float* out) {
  int64_t t = 0;
  for (; t + 8 <= len; t += 8)
    for (int v = 0; v < NR; v += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(base + idx[v + i] + te + t);
      transpose8x8(r);
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(out + (t + i) * NR + v, r[i]);
    }
  for (; t < len; ++t)
    for (int j = 0; j < NR; ++j) out[t * NR + j] = base[idx[j] + te + t];
}

}  // namespace

void Im2colF32::pack(const void* self, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int NR, float* dst) {
  const auto& s = *static_cast<const Im2colF32*>(self);
  const Geo3& g = *s.g_;
  const int64_t H = s.dims_[1], W = s.dims_[2], HW = H * W, plane = s.dims_[0] * HW;
  const int64_t OH = g.out[1], OW = g.out[2], kk = g.kSize();
  alignas(32) int32_t idx[32];
  struct Run {
    int64_t off, len, at;  // tap-0 offset in the image, length, first column in the panel
  };
  Run runs[33];
  for (int64_t q = 0; q * NR < nc; ++q) {
    // The panel's output positions: tap-0 offsets (columns past the end repeat the last valid
    // one: the GEMM discards them) and the runs of consecutive positions on one output line.
    int64_t nRuns = 0;
    const int64_t pos0 = j0 + q * NR, line0 = pos0 / OW;  // the only divisions per panel
    int64_t ow = pos0 % OW, oh = line0 % OH, od = line0 / OH, img = od / g.out[0];
    od %= g.out[0];
    for (int64_t j = 0; j < NR; ++j) {
      if (q * NR + j >= nc) {  // past the end: repeat the last valid column
        idx[j] = idx[j - 1];
        runs[nRuns++] = {idx[j], 1, j};
        continue;
      }
      idx[j] = int32_t(img * s.imageStride_ + od * g.s[0] * HW + oh * g.s[1] * W + ow * g.s[2]);
      if (j == 0 || ow == 0)
        runs[nRuns++] = {idx[j], 1, j};
      else
        ++runs[nRuns - 1].len;
      if (++ow == OW) {
        ow = 0;
        if (++oh == OH) {
          oh = 0;
          if (++od == g.out[0]) {
            od = 0;
            ++img;
          }
        }
      }
    }
    // Runs of stride 1 or 2 are copied while they average 4 or more columns (narrow maps, say
    // 8 wide, put four runs in a 32-wide panel: four short copies still beat 32 single-value
    // gathers), anything else is gathered.
    const bool copy = nRuns <= std::max(2, NR / 4) && (g.s[2] == 1 || g.s[2] == 2);
    float* d = dst + q * NR * kc;
    int64_t row = p0, c = row / kk, t = row % kk;
    if (!copy && g.k[0] == 1 && g.k[1] == 1 && g.d[2] == 1 && kk >= 8) {
      // Long 1-D taps with a large stride: whole runs of rows per channel, transposed.
      for (int64_t k = 0; k < kc; ++c) {
        const int64_t len = std::min(kc - k, kk - t);
        packRowRuns(s.img_ + c * plane, idx, t, len, NR, d + k * NR);
        k += len;
        t = 0;
      }
      continue;
    }
    int64_t ta = t / (g.k[1] * g.k[2]), tb = (t / g.k[2]) % g.k[1], te = t % g.k[2];
    for (int64_t k = 0; k < kc; ++k) {
      const float* base = s.img_ + c * plane + ta * g.d[0] * HW + tb * g.d[1] * W + te * g.d[2];
      float* out = d + k * NR;
      if (copy) {
        for (int64_t r = 0; r < nRuns; ++r) copyRun(base + runs[r].off, g.s[2], runs[r].len, out + runs[r].at, s.end_);
      } else {
        for (int v = 0; v < NR; v += 8)
          _mm256_storeu_ps(out + v, _mm256_i32gather_ps(base, _mm256_load_si256(reinterpret_cast<const __m256i*>(idx + v)), 4));
      }
      if (++te == g.k[2]) {  // next row (c, kd, kh, kw) in row-major order
        te = 0;
        if (++tb == g.k[1]) {
          tb = 0;
          if (++ta == g.k[0]) {
            ta = 0;
            ++c;
          }
        }
      }
    }
  }
}

}  // namespace npuconv::nn
