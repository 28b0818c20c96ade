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

bool Im2colF32::fits(int64_t channels, const Geo3& g) {
  const int64_t n = channels * paddedExtent(g, 0) * paddedExtent(g, 1) * paddedExtent(g, 2);
  return n < std::numeric_limits<int32_t>::max() / 2;
}

Im2colF32::Im2colF32(ThreadPool& pool, const float* x, int64_t channels, const Geo3& g) : img_(x), g_(&g) {
  for (int i = 0; i < 3; ++i) dims_[i] = paddedExtent(g, i);
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
}

void Im2colF32::pack(const void* self, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int NR, float* dst) {
  const auto& s = *static_cast<const Im2colF32*>(self);
  const Geo3& g = *s.g_;
  const int64_t H = s.dims_[1], W = s.dims_[2], HW = H * W, plane = s.dims_[0] * HW;
  const int64_t OH = g.out[1], OW = g.out[2], kk = g.kSize();
  alignas(32) int32_t idx[32];
  for (int64_t q = 0; q * NR < nc; ++q) {
    // Offsets of the panel's output positions (tap 0); columns past the end repeat the last
    // valid one (the GEMM discards them).
    for (int64_t j = 0; j < NR; ++j) {
      const int64_t pos = j0 + std::min(q * NR + j, nc - 1);
      const int64_t line = pos / OW, ow = pos % OW, oh = line % OH, od = line / OH;
      idx[j] = int32_t(od * g.s[0] * HW + oh * g.s[1] * W + ow * g.s[2]);
    }
    float* d = dst + q * NR * kc;
    int64_t row = p0, c = row / kk, t = row % kk;
    int64_t ta = t / (g.k[1] * g.k[2]), tb = (t / g.k[2]) % g.k[1], te = t % g.k[2];
    for (int64_t k = 0; k < kc; ++k) {
      const float* base = s.img_ + c * plane + ta * g.d[0] * HW + tb * g.d[1] * W + te * g.d[2];
      for (int v = 0; v < NR; v += 8)
        _mm256_storeu_ps(d + k * NR + v,
                         _mm256_i32gather_ps(base, _mm256_load_si256(reinterpret_cast<const __m256i*>(idx + v)), 4));
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
