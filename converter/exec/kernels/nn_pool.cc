// nn_pool.cc - MaxPool (with Indices), AveragePool, LpPool, their Global forms and MaxUnpool,
// for 1-D to 3-D spatial inputs. Each (image, channel) plane is one task on the pool.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "converter/exec/kernel.h"
#include "converter/exec/kernels/nn_common.h"

namespace npuconv::nn {
namespace {

Status checkPoolInput(const KernelContext& ctx, const Tensor* x) {
  if (!x) return ctx.fail("missing input X");
  if (x->rank() < 3) return ctx.fail("input {} needs N, C and spatial dims", x->describe());
  if (x->rank() > 5) return ctx.unsupported("pooling over {} spatial dims (only 1 to 3)", x->rank() - 2);
  return Status::ok();
}

std::vector<int64_t> spatialOf(const Tensor& x) { return {x.dims().begin() + 2, x.dims().end()}; }

std::vector<int64_t> outDimsOf(const Tensor& x, const Window& w) {
  std::vector<int64_t> d = {x.dim(0), x.dim(1)};
  d.insert(d.end(), w.out.begin(), w.out.end());
  return d;
}

/// Taps [t0, t1) of output position o along axis i whose input position lies inside the input.
inline void tapRange(const Geo3& g, int i, int64_t o, int64_t& t0, int64_t& t1) {
  int64_t start = o * g.s[i] - g.pb[i], d = g.d[i];
  // start + t*d >= 0  and  start + t*d < in
  t0 = start >= 0 ? 0 : (-start + d - 1) / d;
  int64_t lim = g.in[i] - start;  // t*d < lim
  t1 = lim <= 0 ? 0 : (lim + d - 1) / d;
  t1 = std::min(t1, g.k[i]);
  if (t1 < t0) t1 = t0;
}

/// Calls visit(inputSpatialIndex, id, ih, iw) for every in-bounds tap of output (od, oh, ow).
template <typename F>
inline void forTaps(const Geo3& g, int64_t od, int64_t oh, int64_t ow, F&& visit) {
  int64_t a0, a1, b0, b1, e0, e1;
  tapRange(g, 0, od, a0, a1);
  tapRange(g, 1, oh, b0, b1);
  tapRange(g, 2, ow, e0, e1);
  const int64_t sd = od * g.s[0] - g.pb[0], sh = oh * g.s[1] - g.pb[1], sw = ow * g.s[2] - g.pb[2];
  for (int64_t a = a0; a < a1; ++a) {
    int64_t id = sd + a * g.d[0];
    for (int64_t b = b0; b < b1; ++b) {
      int64_t ih = sh + b * g.d[1];
      int64_t rowBase = (id * g.in[1] + ih) * g.in[2];
      for (int64_t e = e0; e < e1; ++e) {
        int64_t iw = sw + e * g.d[2];
        visit(rowBase + iw, id, ih, iw);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// MaxPool

/// Per axis, the in-bounds tap range of every output position (computed once per call).
struct TapTable {
  std::vector<int64_t> t0[3], t1[3];
  explicit TapTable(const Geo3& g) {
    for (int i = 0; i < 3; ++i) {
      t0[i].resize(size_t(g.out[i]));
      t1[i].resize(size_t(g.out[i]));
      for (int64_t o = 0; o < g.out[i]; ++o) tapRange(g, i, o, t0[i][size_t(o)], t1[i][size_t(o)]);
    }
  }
};

template <typename T, bool kIndices>
void maxPoolPlane(const T* x, T* y, int64_t* yi, int64_t planeBase, const Geo3& g, const TapTable& tt,
                  bool colMajor) {
  const int64_t IW = g.in[2], IHW = g.in[1] * g.in[2];
  for (int64_t od = 0; od < g.out[0]; ++od) {
    const int64_t a0 = tt.t0[0][size_t(od)], a1 = tt.t1[0][size_t(od)], sd = od * g.s[0] - g.pb[0];
    for (int64_t oh = 0; oh < g.out[1]; ++oh) {
      const int64_t b0 = tt.t0[1][size_t(oh)], b1 = tt.t1[1][size_t(oh)], sh = oh * g.s[1] - g.pb[1];
      for (int64_t ow = 0; ow < g.out[2]; ++ow) {
        const int64_t e0 = tt.t0[2][size_t(ow)], e1 = tt.t1[2][size_t(ow)], sw = ow * g.s[2] - g.pb[2];
        T best = std::numeric_limits<T>::lowest();
        int64_t bestAt = -1;
        for (int64_t a = a0; a < a1; ++a) {
          const int64_t id = sd + a * g.d[0];
          for (int64_t b = b0; b < b1; ++b) {
            const T* row = x + id * IHW + (sh + b * g.d[1]) * IW + sw;
            for (int64_t e = e0; e < e1; ++e) {
              T v = row[e * g.d[2]];
              if constexpr (kIndices) {
                if (bestAt < 0 || v > best) {
                  best = v;
                  bestAt = (row - x) + e * g.d[2];
                }
              } else {
                best = v > best ? v : best;
              }
            }
          }
        }
        int64_t o = (od * g.out[1] + oh) * g.out[2] + ow;
        y[o] = best;
        if constexpr (kIndices) {
          int64_t local = 0;
          if (bestAt >= 0) {
            local = bestAt;
            if (colMajor) {
              int64_t bd = bestAt / IHW, bh = (bestAt / IW) % g.in[1], bw = bestAt % IW;
              local = bd + g.in[0] * (bh + g.in[1] * bw);
            }
          }
          yi[o] = planeBase + local;
        }
      }
    }
  }
}

}  // namespace

bool fastMaxPool(const Geo3& g) {
  return g.k[0] == 1 && g.in[0] == 1 && g.out[0] == 1 && g.pb[0] == 0 && g.d[1] == 1 && g.d[2] == 1 &&
         (g.s[2] == 1 || g.s[2] == 2);
}

// Per output row, the element-wise max of its input rows (padded with `lowest` on both sides),
// then the max over the KW horizontal taps, 8 outputs at a time (for stride 2 from the row split
// into even and odd columns). max_ps(v, acc) keeps acc when v is NaN, as the scalar `v > best`
// does; max is exact, so the order of the taps does not matter: same results as maxPoolPlane.
void maxPoolPlaneF32(const float* x, float* y, const Geo3& g) {
  const int64_t IH = g.in[1], IW = g.in[2], OH = g.out[1], OW = g.out[2], KH = g.k[1], KW = g.k[2];
  const int64_t sh = g.s[1], sw = g.s[2], ph = g.pb[1], pw = g.pb[2];
  const int64_t OW8 = (OW + 7) / 8 * 8;
  const int64_t half = (OW8 + (KW + 1) / 2 + 7) / 8 * 8;  // stride 2: even / odd columns
  const int64_t width = sw == 1 ? OW8 + KW - 1 : 2 * half;  // padded row, columns read
  thread_local std::vector<float> buf;
  if (buf.size() < size_t(width + 2 * half)) buf.resize(size_t(width + 2 * half));
  float* vm = buf.data();
  float* eo = vm + width;
  const float lowest = std::numeric_limits<float>::lowest();
  const __m256 vlow = _mm256_set1_ps(lowest);
  const int64_t lo = std::min(pw, width), hi = std::clamp<int64_t>(IW + pw, lo, width);
  for (int64_t oh = 0; oh < OH; ++oh) {
    // vm = the element-wise max of the window's input rows. The first row is max(row, lowest)
    // (so a NaN gives lowest, as the scalar kernel's `v > best` from lowest does), stored
    // without reading vm; padding columns are lowest.
    bool filled = false;
    for (int64_t kh = 0; kh < KH; ++kh) {
      const int64_t ih = oh * sh - ph + kh;
      if (ih < 0 || ih >= IH) continue;
      const float* src = x + ih * IW - pw;  // vm[c] pairs with src[c]
      int64_t c = lo;
      if (!filled) {
        for (int64_t q = 0; q < lo; ++q) vm[q] = lowest;
        for (int64_t q = hi; q < width; ++q) vm[q] = lowest;
        for (; c + 8 <= hi; c += 8) _mm256_storeu_ps(vm + c, _mm256_max_ps(_mm256_loadu_ps(src + c), vlow));
        for (; c < hi; ++c) vm[c] = src[c] > lowest ? src[c] : lowest;
        filled = true;
        continue;
      }
      for (; c + 8 <= hi; c += 8) _mm256_storeu_ps(vm + c, _mm256_max_ps(_mm256_loadu_ps(src + c), _mm256_loadu_ps(vm + c)));
      for (; c < hi; ++c) vm[c] = src[c] > vm[c] ? src[c] : vm[c];
    }
    if (!filled)
      for (int64_t c = 0; c < width; ++c) vm[c] = lowest;
    const float* rowE = vm;
    const float* rowO = vm;
    if (sw == 2) {
      // Even and odd columns, 8 of each per 16 columns (vector shuffles), the rest one by one.
      int64_t j = 0;
      for (; j + 8 <= half; j += 8) {
        const __m256 a = _mm256_loadu_ps(vm + 2 * j), b = _mm256_loadu_ps(vm + 2 * j + 8);
        const __m256 ev = _mm256_shuffle_ps(a, b, 0x88), od = _mm256_shuffle_ps(a, b, 0xDD);
        _mm256_storeu_ps(eo + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), 0xD8)));
        _mm256_storeu_ps(eo + half + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), 0xD8)));
      }
      for (; j < half; ++j) {
        eo[j] = vm[2 * j];
        eo[half + j] = vm[2 * j + 1];
      }
      rowE = eo;
      rowO = eo + half;
    }
    float* out = y + oh * OW;
    for (int64_t ow = 0; ow < OW8; ow += 8) {
      __m256 acc = vlow;
      for (int64_t kw = 0; kw < KW; ++kw) {
        const float* p = sw == 1 ? vm + ow + kw : ((kw & 1) ? rowO : rowE) + ow + (kw >> 1);
        acc = _mm256_max_ps(_mm256_loadu_ps(p), acc);
      }
      const int64_t n = std::min<int64_t>(8, OW - ow);
      if (n == 8) {
        _mm256_storeu_ps(out + ow, acc);
      } else {
        alignas(32) float t[8];
        _mm256_store_ps(t, acc);
        for (int64_t q = 0; q < n; ++q) out[ow + q] = t[q];
      }
    }
  }
}

namespace {

template <typename T>
void maxPoolTyped(ThreadPool& pool, const Tensor& xt, Tensor& yt, int64_t* idxOut, const Geo3& g,
                  bool colMajor) {
  const int64_t planes = xt.dim(0) * xt.dim(1), inSp = g.inSize(), outSp = g.outSize();
  const T* X = xt.data<T>();
  T* Y = yt.mutableData<T>();
  if constexpr (std::is_same_v<T, float>) {
    if (!idxOut && fastMaxPool(g)) {
      pool.parallelFor(planes, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, outSp * g.kSize())),
                       [&](int64_t p0, int64_t p1) {
                         for (int64_t p = p0; p < p1; ++p) maxPoolPlaneF32(X + p * inSp, Y + p * outSp, g);
                       });
      return;
    }
  }
  TapTable tt(g);
  pool.parallelFor(planes, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      if (idxOut)
        maxPoolPlane<T, true>(X + p * inSp, Y + p * outSp, idxOut + p * outSp, p * inSp, g, tt, colMajor);
      else
        maxPoolPlane<T, false>(X + p * inSp, Y + p * outSp, nullptr, 0, g, tt, colMajor);
    }
  });
}

Status maxPoolKernel(KernelContext& ctx) {
  const Tensor* px = ctx.input(0);
  NPU_TRY(checkPoolInput(ctx, px));
  bool ceil = ctx.attrs().getInt("ceil_mode", 0) != 0;
  NPU_ASSIGN_OR_RETURN(Window w, computeWindow(ctx, spatialOf(*px), nullptr, ceil));
  Geo3 g = toGeo3(w);
  bool colMajor = ctx.attrs().getInt("storage_order", 0) != 0;
  DType dt = px->dtype();
  Tensor x = widenToF32(*px);
  Tensor y = Tensor::uninitialized(x.dtype(), outDimsOf(*px, w));
  int64_t* idx = nullptr;
  if (ctx.wantsOutput(1)) idx = ctx.allocate(1, DType::I64, outDimsOf(*px, w)).mutableData<int64_t>();
  switch (x.dtype()) {
    case DType::F32: maxPoolTyped<float>(ctx.pool(), x, y, idx, g, colMajor); break;
    case DType::F64: maxPoolTyped<double>(ctx.pool(), x, y, idx, g, colMajor); break;
    case DType::I8: maxPoolTyped<int8_t>(ctx.pool(), x, y, idx, g, colMajor); break;
    case DType::U8: maxPoolTyped<uint8_t>(ctx.pool(), x, y, idx, g, colMajor); break;
    default: return ctx.unsupported("MaxPool on {}", dtypeName(dt));
  }
  ctx.setOutput(0, narrowFromF32(y, dt));
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// AveragePool and LpPool

template <typename T>
void avgPoolTyped(ThreadPool& pool, const Tensor& xt, Tensor& yt, const Geo3& g, bool includePad) {
  const int64_t planes = xt.dim(0) * xt.dim(1), inSp = g.inSize(), outSp = g.outSize();
  const T* X = xt.data<T>();
  T* Y = yt.mutableData<T>();
  pool.parallelFor(planes, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* x = X + p * inSp;
      T* y = Y + p * outSp;
      for (int64_t od = 0; od < g.out[0]; ++od)
        for (int64_t oh = 0; oh < g.out[1]; ++oh)
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            T sum = 0;
            int64_t count = 0;
            forTaps(g, od, oh, ow, [&](int64_t at, int64_t, int64_t, int64_t) {
              sum += x[at];
              ++count;
            });
            if (includePad) {
              // Taps inside the padded extent [-padBegin, in + padEnd) count.
              int64_t o[3] = {od, oh, ow};
              count = 1;
              for (int i = 0; i < 3; ++i) {
                int64_t c = 0;
                for (int64_t t = 0; t < g.k[i]; ++t) {
                  int64_t pos = o[i] * g.s[i] - g.pb[i] + t * g.d[i];
                  if (pos >= -g.pb[i] && pos < g.in[i] + g.pe[i]) ++c;
                }
                count *= c;
              }
            }
            y[(od * g.out[1] + oh) * g.out[2] + ow] = count > 0 ? sum / T(count) : T(0);
          }
    }
  });
}

Status avgPoolKernel(KernelContext& ctx) {
  const Tensor* px = ctx.input(0);
  NPU_TRY(checkPoolInput(ctx, px));
  bool ceil = ctx.attrs().getInt("ceil_mode", 0) != 0;
  NPU_ASSIGN_OR_RETURN(Window w, computeWindow(ctx, spatialOf(*px), nullptr, ceil));
  Geo3 g = toGeo3(w);
  bool includePad = ctx.attrs().getInt("count_include_pad", 0) != 0;
  DType dt = px->dtype();
  Tensor x = widenToF32(*px);
  Tensor y = Tensor::uninitialized(x.dtype(), outDimsOf(*px, w));
  switch (x.dtype()) {
    case DType::F32: avgPoolTyped<float>(ctx.pool(), x, y, g, includePad); break;
    case DType::F64: avgPoolTyped<double>(ctx.pool(), x, y, g, includePad); break;
    default: return ctx.unsupported("AveragePool on {}", dtypeName(dt));
  }
  ctx.setOutput(0, narrowFromF32(y, dt));
  return Status::ok();
}

template <typename T>
void lpPoolTyped(ThreadPool& pool, const Tensor& xt, Tensor& yt, const Geo3& g, double p) {
  const int64_t planes = xt.dim(0) * xt.dim(1), inSp = g.inSize(), outSp = g.outSize();
  const T* X = xt.data<T>();
  T* Y = yt.mutableData<T>();
  pool.parallelFor(planes, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t pl = p0; pl < p1; ++pl) {
      const T* x = X + pl * inSp;
      T* y = Y + pl * outSp;
      for (int64_t od = 0; od < g.out[0]; ++od)
        for (int64_t oh = 0; oh < g.out[1]; ++oh)
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            double sum = 0;
            forTaps(g, od, oh, ow, [&](int64_t at, int64_t, int64_t, int64_t) {
              sum += p == 2.0 ? double(x[at]) * double(x[at]) : std::pow(std::fabs(double(x[at])), p);
            });
            y[(od * g.out[1] + oh) * g.out[2] + ow] = static_cast<T>(p == 2.0 ? std::sqrt(sum) : std::pow(sum, 1.0 / p));
          }
    }
  });
}

Status lpPoolKernel(KernelContext& ctx) {
  const Tensor* px = ctx.input(0);
  NPU_TRY(checkPoolInput(ctx, px));
  bool ceil = ctx.attrs().getInt("ceil_mode", 0) != 0;
  NPU_ASSIGN_OR_RETURN(Window w, computeWindow(ctx, spatialOf(*px), nullptr, ceil));
  Geo3 g = toGeo3(w);
  double p = double(ctx.attrs().getInt("p", 2));
  if (p <= 0) return ctx.fail("p must be positive");
  DType dt = px->dtype();
  Tensor x = widenToF32(*px);
  Tensor y(x.dtype(), outDimsOf(*px, w));
  switch (x.dtype()) {
    case DType::F32: lpPoolTyped<float>(ctx.pool(), x, y, g, p); break;
    case DType::F64: lpPoolTyped<double>(ctx.pool(), x, y, g, p); break;
    default: return ctx.unsupported("LpPool on {}", dtypeName(dt));
  }
  ctx.setOutput(0, narrowFromF32(y, dt));
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Global pools: reduce every (image, channel) plane to one value (any spatial rank).

enum class GlobalKind { Avg, Max, Lp };

/// The sum of x[0, n) in a fixed order: 32 running sums (four 8-lane vectors, so the adds do
/// not wait on each other's latency as one running sum does: GlobalAveragePool over SE blocks
/// was 4 % of mobilenet_v3_small), combined pairwise, then the tail. Deterministic (one plane
/// is one task), and no less accurate than the sequential sum it replaces.
float sumF32(const float* x, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(x + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(x + i + 24));
  }
  for (; i + 8 <= n; i += 8) a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
  const __m256 v = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
  float s = _mm_cvtss_f32(_mm_add_ss(q, _mm_shuffle_ps(q, q, 1)));
  for (; i < n; ++i) s += x[i];
  return s;
}

template <typename T>
void globalPoolTyped(ThreadPool& pool, const Tensor& xt, Tensor& yt, GlobalKind kind, double p) {
  const int64_t planes = xt.dim(0) * xt.dim(1);
  const int64_t sp = planes == 0 ? 0 : xt.numElements() / planes;
  const T* X = xt.data<T>();
  T* Y = yt.mutableData<T>();
  pool.parallelFor(planes, std::max<int64_t>(1, 16384 / std::max<int64_t>(sp, 1)), [&](int64_t p0, int64_t p1) {
    for (int64_t pl = p0; pl < p1; ++pl) {
      const T* x = X + pl * sp;
      if (kind == GlobalKind::Max) {
        T m = std::numeric_limits<T>::lowest();
        for (int64_t i = 0; i < sp; ++i) m = std::max(m, x[i]);
        Y[pl] = m;
      } else if (kind == GlobalKind::Avg) {
        T s = 0;
        if constexpr (std::is_same_v<T, float>) s = sumF32(x, sp);
        else
          for (int64_t i = 0; i < sp; ++i) s += x[i];
        Y[pl] = sp ? s / T(sp) : T(0);
      } else {
        double s = 0;
        for (int64_t i = 0; i < sp; ++i) s += std::pow(std::fabs(double(x[i])), p);
        Y[pl] = static_cast<T>(std::pow(s, 1.0 / p));
      }
    }
  });
}

template <GlobalKind kKind>
Status globalPoolKernel(KernelContext& ctx) {
  const Tensor* px = ctx.input(0);
  if (!px) return ctx.fail("missing input X");
  if (px->rank() < 2) return ctx.fail("input {} needs N and C dims", px->describe());
  double p = double(ctx.attrs().getInt("p", 2));
  if (kKind == GlobalKind::Lp && p <= 0) return ctx.fail("p must be positive");
  std::vector<int64_t> od = px->dims();
  for (size_t i = 2; i < od.size(); ++i) od[i] = 1;
  DType dt = px->dtype();
  Tensor x = widenToF32(*px);
  Tensor y = Tensor::uninitialized(x.dtype(), od);
  switch (x.dtype()) {
    case DType::F32: globalPoolTyped<float>(ctx.pool(), x, y, kKind, p); break;
    case DType::F64: globalPoolTyped<double>(ctx.pool(), x, y, kKind, p); break;
    case DType::I8:
      if (kKind != GlobalKind::Max) return ctx.unsupported("on {}", dtypeName(dt));
      globalPoolTyped<int8_t>(ctx.pool(), x, y, kKind, p);
      break;
    case DType::U8:
      if (kKind != GlobalKind::Max) return ctx.unsupported("on {}", dtypeName(dt));
      globalPoolTyped<uint8_t>(ctx.pool(), x, y, kKind, p);
      break;
    default: return ctx.unsupported("on {}", dtypeName(dt));
  }
  ctx.setOutput(0, narrowFromF32(y, dt));
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// MaxUnpool

/// Scatters X into Y at I. I indexes the output shape MaxPool's geometry implies (`inferred`);
/// when output_shape differs, an index keeps its coordinates and is re-flattened in Y's shape.
template <typename T>
Status maxUnpoolTyped(const KernelContext& ctx, const Tensor& xt, const Tensor& it, Tensor& yt,
                      const std::vector<int64_t>& inferred) {
  const T* X = xt.data<T>();
  T* Y = yt.mutableData<T>();
  std::vector<int64_t> idx = it.toInt64s();
  const std::vector<int64_t>& od = yt.dims();
  int64_t inferredCount = elementCount(inferred), n = yt.numElements();
  bool same = inferred == od;
  std::vector<int64_t> coord(od.size());
  for (int64_t i = 0; i < xt.numElements(); ++i) {
    int64_t j = idx[size_t(i)];
    if (!same) {
      if (j < 0 || j >= inferredCount) return ctx.fail("index {} out of range for {} elements", j, inferredCount);
      int64_t rem = j;
      for (size_t a = od.size(); a-- > 0;) {
        coord[a] = rem % inferred[a];
        rem /= inferred[a];
      }
      j = 0;
      for (size_t a = 0; a < od.size(); ++a) {
        if (coord[a] >= od[a]) return ctx.fail("index {} falls outside output_shape", idx[size_t(i)]);
        j = j * od[a] + coord[a];
      }
    }
    if (j < 0 || j >= n) return ctx.fail("index {} out of range for output of {} elements", j, n);
    Y[j] = X[i];
  }
  return Status::ok();
}

Status maxUnpoolKernel(KernelContext& ctx) {
  const Tensor* px = ctx.input(0);
  const Tensor* pi = ctx.input(1);
  NPU_TRY(checkPoolInput(ctx, px));
  if (!pi) return ctx.fail("missing input I");
  if (pi->dims() != px->dims()) return ctx.fail("I {} and X {} shapes differ", pi->describe(), px->describe());
  if (!isInteger(pi->dtype())) return ctx.fail("I must be an integer tensor, got {}", pi->describe());
  size_t r = size_t(px->rank() - 2);
  const AttrMap& a = ctx.attrs();
  auto kernel = a.get<std::vector<int64_t>>("kernel_shape");
  if (!kernel || kernel->size() != r) return ctx.fail("kernel_shape is missing or has the wrong size");
  std::vector<int64_t> strides = a.getInts("strides", std::vector<int64_t>(r, 1));
  std::vector<int64_t> pads = a.getInts("pads", std::vector<int64_t>(2 * r, 0));
  if (strides.size() != r || pads.size() != 2 * r) return ctx.fail("strides/pads sizes do not match");
  std::vector<int64_t> outDims = {px->dim(0), px->dim(1)};
  for (size_t i = 0; i < r; ++i)
    outDims.push_back((px->dim(int64_t(i) + 2) - 1) * strides[i] + (*kernel)[i] - pads[i] - pads[i + r]);
  std::vector<int64_t> inferred = outDims;
  if (const Tensor* os = ctx.input(2)) {
    std::vector<int64_t> v = os->toInt64s();
    if (v.size() != outDims.size()) return ctx.fail("output_shape has {} values, expected {}", v.size(), outDims.size());
    outDims = v;
  }
  for (int64_t d : outDims)
    if (d < 0) return ctx.fail("negative output dim");
  DType dt = px->dtype();
  Tensor x = widenToF32(*px);
  Tensor y(x.dtype(), outDims);
  switch (x.dtype()) {
    case DType::F32: NPU_TRY(maxUnpoolTyped<float>(ctx, x, *pi, y, inferred)); break;
    case DType::F64: NPU_TRY(maxUnpoolTyped<double>(ctx, x, *pi, y, inferred)); break;
    case DType::I8: NPU_TRY(maxUnpoolTyped<int8_t>(ctx, x, *pi, y, inferred)); break;
    case DType::U8: NPU_TRY(maxUnpoolTyped<uint8_t>(ctx, x, *pi, y, inferred)); break;
    case DType::I32: NPU_TRY(maxUnpoolTyped<int32_t>(ctx, x, *pi, y, inferred)); break;
    case DType::I64: NPU_TRY(maxUnpoolTyped<int64_t>(ctx, x, *pi, y, inferred)); break;
    default: return ctx.unsupported("MaxUnpool on {}", dtypeName(dt));
  }
  ctx.setOutput(0, narrowFromF32(y, dt));
  return Status::ok();
}

}  // namespace

void registerPoolKernels(KernelRegistry& r) {
  r.add("", "MaxPool", maxPoolKernel);
  r.add("", "AveragePool", avgPoolKernel);
  r.add("", "LpPool", lpPoolKernel);
  r.add("", "GlobalAveragePool", globalPoolKernel<GlobalKind::Avg>);
  r.add("", "GlobalMaxPool", globalPoolKernel<GlobalKind::Max>);
  r.add("", "GlobalLpPool", globalPoolKernel<GlobalKind::Lp>);
  r.add("", "MaxUnpool", maxUnpoolKernel);
}

}  // namespace npuconv::nn
