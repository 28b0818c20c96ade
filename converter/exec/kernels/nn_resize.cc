// nn_resize.cc - Resize (opset 10 to 19), the deprecated Upsample (opset 7/9) and GridSample.
//
// Output coordinates map to input coordinates axis by axis (coordinate_transformation_mode).
// Nearest gathers in one pass over the output (any element type); linear and cubic run as
// separable passes, one per resized axis, each output element a weighted sum of a fixed number
// of input taps (2 or 4) along that axis.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "converter/exec/kernel.h"
#include "converter/exec/kernels/nn_common.h"

namespace npuconv::nn {
namespace {

enum class Mode { Nearest, Linear, Cubic };
enum class Coord { HalfPixel, HalfPixelSymmetric, PytorchHalfPixel, AlignCorners, Asymmetric, TfHalfPixelForNn, TfCropAndResize };
enum class NearestRound { Simple, RoundPreferFloor, RoundPreferCeil, Floor, Ceil };

struct ResizeSpec {
  Mode mode = Mode::Nearest;
  Coord coord = Coord::HalfPixel;
  NearestRound round = NearestRound::RoundPreferFloor;
  double cubicA = -0.75;
  bool excludeOutside = false;
  double extrapolation = 0.0;
  std::vector<int64_t> in, out;
  std::vector<double> scale;              // per axis, as used by the coordinate transform
  std::vector<double> resizedLen;         // in * scale with scales (not rounded), else out
  std::vector<double> roiStart, roiEnd;   // per axis (tf_crop_and_resize)
};

/// The input coordinate of output index x along `axis`.
double originalCoord(const ResizeSpec& s, size_t axis, int64_t x) {
  double scale = s.scale[axis];
  double inLen = double(s.in[axis]), outLen = double(s.out[axis]), resized = s.resizedLen[axis];
  double xf = double(x);
  switch (s.coord) {
    case Coord::HalfPixel: return (xf + 0.5) / scale - 0.5;
    case Coord::HalfPixelSymmetric: {
      double adjustment = outLen / (scale * inLen);
      double center = inLen / 2.0;
      double offset = center * (1.0 - adjustment);
      return offset + (xf + 0.5) / scale - 0.5;
    }
    case Coord::PytorchHalfPixel: return resized > 1 ? (xf + 0.5) / scale - 0.5 : 0.0;
    case Coord::AlignCorners: return resized == 1 ? 0.0 : xf * (inLen - 1) / (resized - 1);
    case Coord::Asymmetric: return xf / scale;
    case Coord::TfHalfPixelForNn: return (xf + 0.5) / scale;
    case Coord::TfCropAndResize: {
      double st = s.roiStart[axis], en = s.roiEnd[axis];
      return resized > 1 ? st * (inLen - 1) + xf * (en - st) * (inLen - 1) / (resized - 1)
                         : 0.5 * (st + en) * (inLen - 1);
    }
  }
  return 0.0;
}

int64_t nearestIndex(const ResizeSpec& s, size_t axis, double x) {
  double f = std::floor(x);
  switch (s.round) {
    case NearestRound::Simple: return int64_t(s.scale[axis] < 1.0 ? std::ceil(x) : f);
    case NearestRound::RoundPreferFloor: return int64_t(x - f == 0.5 ? f : std::round(x));
    case NearestRound::RoundPreferCeil: return int64_t(x - f == 0.5 ? f + 1 : std::round(x));
    case NearestRound::Floor: return int64_t(f);
    case NearestRound::Ceil: return int64_t(std::ceil(x));
  }
  return 0;
}

bool outsideRoi(const ResizeSpec& s, size_t axis, double x) {
  return s.coord == Coord::TfCropAndResize && (x < 0.0 || x > double(s.in[axis] - 1));
}

// ---------------------------------------------------------------------------------------------
// nearest: per-axis index maps, then one gather (element size agnostic)

void resizeNearest(ThreadPool& pool, const ResizeSpec& s, const Tensor& x, Tensor& y) {
  size_t r = s.in.size(), es = dtypeSize(x.dtype());
  std::vector<std::vector<int64_t>> map(r);  // -1: extrapolate
  for (size_t a = 0; a < r; ++a) {
    map[a].resize(size_t(s.out[a]));
    for (int64_t o = 0; o < s.out[a]; ++o) {
      double c = originalCoord(s, a, o);
      if (outsideRoi(s, a, c)) {
        map[a][size_t(o)] = -1;
        continue;
      }
      map[a][size_t(o)] = std::clamp<int64_t>(nearestIndex(s, a, c), 0, s.in[a] - 1);
    }
  }
  std::vector<int64_t> inStride(r, 1);
  for (size_t a = r - 1; a-- > 0;) inStride[a] = inStride[a + 1] * s.in[a + 1];
  // The extrapolation value in the output dtype.
  Tensor ext(x.dtype(), {1});
  switch (x.dtype()) {
    case DType::F32: ext.mutableData<float>()[0] = float(s.extrapolation); break;
    case DType::F64: ext.mutableData<double>()[0] = s.extrapolation; break;
    case DType::F16: ext.mutableData<uint16_t>()[0] = floatToHalf(float(s.extrapolation)); break;
    case DType::BF16: ext.mutableData<uint16_t>()[0] = floatToBf16(float(s.extrapolation)); break;
    default: break;  // integers: zero
  }
  const std::byte* X = static_cast<const std::byte*>(x.raw());
  std::byte* Y = static_cast<std::byte*>(y.mutableRaw());
  const std::byte* E = static_cast<const std::byte*>(ext.raw());
  int64_t lastOut = s.out[r - 1];
  int64_t rows = lastOut ? y.numElements() / lastOut : 0;
  const std::vector<int64_t>& lastMap = map[r - 1];
  const size_t rowBytes = size_t(lastOut) * es;
  pool.parallelFor(rows, 64, [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> idx(r, 0);
    // Decompose r0 into output indices of the leading axes.
    int64_t rem = r0;
    for (size_t a = r - 1; a-- > 0;) {
      idx[a] = rem % s.out[a];
      rem /= s.out[a];
    }
    int64_t prevBase = -1;
    bool prevExt = false;
    for (int64_t row = r0; row < r1; ++row) {
      int64_t base = 0;
      bool ext = false;
      for (size_t a = 0; a + 1 < r; ++a) {
        int64_t m = map[a][size_t(idx[a])];
        if (m < 0) ext = true;
        base += m * inStride[a];
      }
      std::byte* dst = Y + size_t(row) * rowBytes;
      if (row > r0 && base == prevBase && ext == prevExt) {
        // Upsampling repeats input rows: the same source row gives the same output row.
        std::memcpy(dst, dst - rowBytes, rowBytes);
      } else if (!ext && es == 4) {
        // float32 (and 4-byte ints): a typed gather instead of a memcpy call per element.
        uint32_t* d = reinterpret_cast<uint32_t*>(dst);
        const std::byte* srow = X + size_t(base) * es;
        const uint32_t e = *reinterpret_cast<const uint32_t*>(E);
        for (int64_t o = 0; o < lastOut; ++o) {
          int64_t m = lastMap[size_t(o)];
          uint32_t v = e;
          if (m >= 0) std::memcpy(&v, srow + size_t(m) * 4, 4);
          d[o] = v;
        }
      } else {
        for (int64_t o = 0; o < lastOut; ++o) {
          int64_t m = lastMap[size_t(o)];
          const std::byte* src = (ext || m < 0) ? E : X + size_t(base + m) * es;
          std::memcpy(dst + size_t(o) * es, src, es);
        }
      }
      prevBase = base;
      prevExt = ext;
      for (size_t a = r - 1; a-- > 0;) {
        if (++idx[a] < s.out[a]) break;
        idx[a] = 0;
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// linear / cubic: separable passes

struct AxisTaps {
  int taps = 0;
  std::vector<int64_t> index;  // out * taps
  std::vector<double> weight;  // out * taps
  std::vector<uint8_t> extrapolate;
  bool identity = true;
};

double cubicWeight(double d, double A) {
  d = std::fabs(d);
  if (d <= 1.0) return ((A + 2) * d - (A + 3)) * d * d + 1;
  if (d < 2.0) return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A;
  return 0.0;
}

AxisTaps buildTaps(const ResizeSpec& s, size_t axis) {
  AxisTaps t;
  t.taps = s.mode == Mode::Linear ? 2 : 4;
  int64_t outN = s.out[axis], inN = s.in[axis];
  t.index.resize(size_t(outN * t.taps));
  t.weight.resize(size_t(outN * t.taps));
  t.extrapolate.assign(size_t(outN), 0);
  if (outN != inN) t.identity = false;
  for (int64_t o = 0; o < outN; ++o) {
    double c = originalCoord(s, axis, o);
    int64_t* ix = &t.index[size_t(o * t.taps)];
    double* w = &t.weight[size_t(o * t.taps)];
    if (outsideRoi(s, axis, c)) {
      t.extrapolate[size_t(o)] = 1;
      t.identity = false;
      for (int k = 0; k < t.taps; ++k) {
        ix[k] = 0;
        w[k] = 0;
      }
      continue;
    }
    double f = std::floor(c), frac = c - f;
    int64_t i0 = int64_t(f);
    if (s.mode == Mode::Linear) {
      ix[0] = i0;
      ix[1] = i0 + 1;
      w[0] = 1.0 - frac;
      w[1] = frac;
    } else {
      for (int k = 0; k < 4; ++k) {
        ix[k] = i0 - 1 + k;
        w[k] = cubicWeight(frac - double(k - 1), s.cubicA);
      }
    }
    double sum = 0;
    for (int k = 0; k < t.taps; ++k) {
      if (s.excludeOutside && (ix[k] < 0 || ix[k] >= inN)) w[k] = 0;
      sum += w[k];
      ix[k] = std::clamp<int64_t>(ix[k], 0, inN - 1);
    }
    if (s.excludeOutside && sum != 0)
      for (int k = 0; k < t.taps; ++k) w[k] /= sum;
    // Identity when the only weight sits on index o.
    for (int k = 0; k < t.taps; ++k) {
      bool self = ix[k] == o;
      if ((self && std::fabs(w[k] - 1.0) > 1e-12) || (!self && w[k] != 0.0)) t.identity = false;
    }
  }
  return t;
}

/// One pass along `axis` of a tensor shaped `dims`: [outer, in, inner] -> [outer, out, inner].
template <typename T>
void resizeAxis(ThreadPool& pool, const T* X, T* Y, int64_t outer, int64_t inN, int64_t inner, const AxisTaps& t,
                T extrapolation) {
  int64_t outN = int64_t(t.extrapolate.size());
  pool.parallelFor(outer * outN, std::max<int64_t>(1, 4096 / std::max<int64_t>(inner * t.taps, 1)),
                   [&](int64_t j0, int64_t j1) {
                     for (int64_t j = j0; j < j1; ++j) {
                       int64_t ou = j / outN, o = j % outN;
                       T* dst = Y + j * inner;
                       if (t.extrapolate[size_t(o)]) {
                         std::fill(dst, dst + inner, extrapolation);
                         continue;
                       }
                       const T* src = X + ou * inN * inner;
                       const int64_t* ix = &t.index[size_t(o * t.taps)];
                       const double* w = &t.weight[size_t(o * t.taps)];
                       if (inner == 1) {
                         T acc = 0;
                         for (int k = 0; k < t.taps; ++k) acc += T(w[k]) * src[ix[k]];
                         dst[0] = acc;
                       } else {
                         std::fill(dst, dst + inner, T(0));
                         for (int k = 0; k < t.taps; ++k) {
                           T wk = T(w[k]);
                           if (wk == T(0)) continue;
                           const T* s = src + ix[k] * inner;
                           for (int64_t i = 0; i < inner; ++i) dst[i] += wk * s[i];
                         }
                       }
                     }
                   });
}

template <typename T>
Tensor resizeInterp(ThreadPool& pool, const ResizeSpec& s, const Tensor& x, DType dt) {
  size_t r = s.in.size();
  Tensor cur = x;
  std::vector<int64_t> dims = s.in;
  for (size_t a = 0; a < r; ++a) {
    AxisTaps t = buildTaps(s, a);
    if (t.identity) continue;
    int64_t outer = 1, inner = 1;
    for (size_t i = 0; i < a; ++i) outer *= dims[i];
    for (size_t i = a + 1; i < r; ++i) inner *= dims[i];
    std::vector<int64_t> nd = dims;
    nd[a] = s.out[a];
    Tensor next(dt, nd);
    resizeAxis<T>(pool, cur.data<T>(), next.mutableData<T>(), outer, dims[a], inner, t, T(s.extrapolation));
    cur = next;
    dims = nd;
  }
  if (cur.buffer() == x.buffer()) {
    // Nothing resized: still return a fresh tensor of the right shape.
    Tensor copy(dt, s.out);
    std::memcpy(copy.mutableRaw(), x.raw(), x.byteSize());
    return copy;
  }
  return cur;
}

// ---------------------------------------------------------------------------------------------
// attribute / input parsing

Status parseModeAttrs(const KernelContext& ctx, ResizeSpec& s, bool legacy) {
  const AttrMap& a = ctx.attrs();
  std::string mode = a.getString("mode", "nearest");
  if (mode == "nearest")
    s.mode = Mode::Nearest;
  else if (mode == "linear" || mode == "bilinear" || mode == "trilinear")
    s.mode = Mode::Linear;
  else if (mode == "cubic" && !legacy)
    s.mode = Mode::Cubic;
  else
    return ctx.fail("unknown mode \"{}\"", mode);
  if (legacy) {
    s.coord = Coord::Asymmetric;
    s.round = NearestRound::Simple;
    return Status::ok();
  }
  std::string ct = a.getString("coordinate_transformation_mode", "half_pixel");
  if (ct == "half_pixel") s.coord = Coord::HalfPixel;
  else if (ct == "half_pixel_symmetric") s.coord = Coord::HalfPixelSymmetric;
  else if (ct == "pytorch_half_pixel") s.coord = Coord::PytorchHalfPixel;
  else if (ct == "align_corners") s.coord = Coord::AlignCorners;
  else if (ct == "asymmetric") s.coord = Coord::Asymmetric;
  else if (ct == "tf_half_pixel_for_nn") s.coord = Coord::TfHalfPixelForNn;
  else if (ct == "tf_crop_and_resize") s.coord = Coord::TfCropAndResize;
  else return ctx.fail("unknown coordinate_transformation_mode \"{}\"", ct);
  std::string nm = a.getString("nearest_mode", "round_prefer_floor");
  if (nm == "round_prefer_floor") s.round = NearestRound::RoundPreferFloor;
  else if (nm == "round_prefer_ceil") s.round = NearestRound::RoundPreferCeil;
  else if (nm == "floor") s.round = NearestRound::Floor;
  else if (nm == "ceil") s.round = NearestRound::Ceil;
  else return ctx.fail("unknown nearest_mode \"{}\"", nm);
  s.cubicA = a.getFloat("cubic_coeff_a", -0.75f);
  s.excludeOutside = a.getInt("exclude_outside", 0) != 0;
  s.extrapolation = a.getFloat("extrapolation_value", 0.0f);
  if (a.getInt("antialias", 0) != 0 && s.mode != Mode::Nearest) return ctx.unsupported("antialias=1");
  return Status::ok();
}

/// Fills out/scale from scales (floats per axis) or sizes.
Status sizesFromScales(const KernelContext& ctx, ResizeSpec& s, const std::vector<double>& scales) {
  size_t r = s.in.size();
  if (scales.size() != r) return ctx.fail("scales has {} values for a rank-{} input", scales.size(), r);
  s.out.resize(r);
  s.scale.resize(r);
  s.resizedLen.resize(r);
  for (size_t i = 0; i < r; ++i) {
    if (!(scales[i] > 0)) return ctx.fail("scale {} on axis {} is not positive", scales[i], i);
    s.scale[i] = scales[i];
    s.resizedLen[i] = double(s.in[i]) * scales[i];
    s.out[i] = int64_t(std::floor(s.resizedLen[i]));
  }
  return Status::ok();
}

template <typename T>
Tensor runInterp(ThreadPool& pool, const ResizeSpec& s, const Tensor& x) {
  return resizeInterp<T>(pool, s, x, x.dtype());
}

Status runResize(KernelContext& ctx, ResizeSpec& s, const Tensor& px) {
  if (s.mode == Mode::Nearest) {
    Tensor& y = ctx.allocate(0, px.dtype(), s.out);
    if (y.numElements() > 0) resizeNearest(ctx.pool(), s, px, y);
    return Status::ok();
  }
  for (int64_t d : s.out)
    if (d == 0) {
      ctx.allocate(0, px.dtype(), s.out);
      return Status::ok();
    }
  DType dt = px.dtype();
  Tensor x = widenToF32(px);
  Tensor y;
  if (x.dtype() == DType::F32)
    y = runInterp<float>(ctx.pool(), s, x);
  else if (x.dtype() == DType::F64)
    y = runInterp<double>(ctx.pool(), s, x);
  else
    return ctx.unsupported("{} interpolation on {}", s.mode == Mode::Linear ? "linear" : "cubic", dtypeName(dt));
  ctx.setOutput(0, narrowFromF32(y, dt));
  return Status::ok();
}

Status resizeKernel(KernelContext& ctx) {
  const Tensor* px = ctx.input(0);
  if (!px) return ctx.fail("missing input X");
  if (px->rank() == 0) return ctx.fail("cannot resize a scalar");
  ResizeSpec s;
  size_t r = size_t(px->rank());
  s.in = px->dims();
  bool legacy = ctx.opset() < 11;
  NPU_TRY(parseModeAttrs(ctx, s, legacy));
  const Tensor* roi = legacy ? nullptr : ctx.input(1);
  const Tensor* scales = legacy ? ctx.input(1) : ctx.input(2);
  const Tensor* sizes = legacy ? nullptr : ctx.input(3);
  if (scales && scales->numElements() == 0) scales = nullptr;
  if (sizes && sizes->numElements() == 0) sizes = nullptr;
  if (roi && roi->numElements() == 0) roi = nullptr;
  if (!scales == !sizes) return ctx.fail("exactly one of scales and sizes must be given");
  // axes (opset 18): scales/sizes/roi cover only these axes.
  std::vector<int64_t> axes = ctx.attrs().getInts("axes");
  if (axes.empty())
    for (size_t i = 0; i < r; ++i) axes.push_back(int64_t(i));
  for (int64_t& a : axes) {
    if (a < 0) a += int64_t(r);
    if (a < 0 || a >= int64_t(r)) return ctx.fail("axis out of range");
  }
  size_t na = axes.size();
  s.roiStart.assign(r, 0.0);
  s.roiEnd.assign(r, 1.0);
  if (roi) {
    std::vector<double> rv = roi->toDoubles();
    if (rv.size() != 2 * na) {
      if (s.coord == Coord::TfCropAndResize) return ctx.fail("roi has {} values, expected {}", rv.size(), 2 * na);
    } else {
      for (size_t i = 0; i < na; ++i) {
        s.roiStart[size_t(axes[i])] = rv[i];
        s.roiEnd[size_t(axes[i])] = rv[i + na];
      }
    }
  }
  if (scales) {
    std::vector<double> sv = scales->toDoubles();
    if (sv.size() != na) return ctx.fail("scales has {} values, expected {}", sv.size(), na);
    std::vector<double> full(r, 1.0);
    for (size_t i = 0; i < na; ++i) full[size_t(axes[i])] = double(float(sv[i]));
    NPU_TRY(sizesFromScales(ctx, s, full));
  } else {
    std::vector<int64_t> sz = sizes->toInt64s();
    if (sz.size() != na) return ctx.fail("sizes has {} values, expected {}", sz.size(), na);
    s.out = s.in;
    s.scale.assign(r, 1.0);
    std::string policy = ctx.attrs().getString("keep_aspect_ratio_policy", "stretch");
    if (policy == "stretch") {
      for (size_t i = 0; i < na; ++i) {
        size_t a = size_t(axes[i]);
        if (sz[i] < 0) return ctx.fail("negative size");
        s.out[a] = sz[i];
        s.scale[a] = s.in[a] ? double(sz[i]) / double(s.in[a]) : 1.0;
      }
    } else if (policy == "not_larger" || policy == "not_smaller") {
      double sc = policy == "not_larger" ? 1e300 : 0.0;
      for (size_t i = 0; i < na; ++i) {
        size_t a = size_t(axes[i]);
        double v = s.in[a] ? double(sz[i]) / double(s.in[a]) : 1.0;
        sc = policy == "not_larger" ? std::min(sc, v) : std::max(sc, v);
      }
      for (size_t i = 0; i < na; ++i) {
        size_t a = size_t(axes[i]);
        s.scale[a] = sc;
        s.out[a] = int64_t(std::floor(double(s.in[a]) * sc + 0.5));
      }
    } else {
      return ctx.fail("unknown keep_aspect_ratio_policy \"{}\"", policy);
    }
    s.resizedLen.assign(s.out.begin(), s.out.end());
  }
  return runResize(ctx, s, *px);
}

Status upsampleKernel(KernelContext& ctx) {
  const Tensor* px = ctx.input(0);
  if (!px) return ctx.fail("missing input X");
  if (px->rank() == 0) return ctx.fail("cannot upsample a scalar");
  ResizeSpec s;
  s.in = px->dims();
  NPU_TRY(parseModeAttrs(ctx, s, true));
  std::vector<double> scales;
  if (const Tensor* sc = ctx.input(1)) {
    scales = sc->toDoubles();
  } else if (auto attr = ctx.attrs().get<std::vector<float>>("scales")) {
    for (float f : *attr) scales.push_back(f);
  } else {
    return ctx.fail("missing scales");
  }
  for (double& v : scales) v = double(float(v));
  NPU_TRY(sizesFromScales(ctx, s, scales));
  s.roiStart.assign(s.in.size(), 0.0);
  s.roiEnd.assign(s.in.size(), 1.0);
  return runResize(ctx, s, *px);
}

// ---------------------------------------------------------------------------------------------
// GridSample (4-D): X [N, C, H, W] sampled at grid [N, Ho, Wo, 2] of normalized (x, y)

enum class GridMode { Nearest, Bilinear, Bicubic };
enum class GridPad { Zeros, Border, Reflection };

double reflectCoord(double v, double twiceLow, double twiceHigh) {
  if (twiceLow == twiceHigh) return 0.0;
  double mn = twiceLow / 2, span = (twiceHigh - twiceLow) / 2;
  v = std::fabs(v - mn);
  double extra = std::fmod(v, span);
  int64_t flips = int64_t(std::floor(v / span));
  return flips % 2 == 0 ? extra + mn : span - extra + mn;
}

/// Border / reflection applied to a coordinate along an axis of `size` pixels.
double padCoord(double v, int64_t size, GridPad pad, bool alignCorners) {
  double hi = double(size - 1);
  if (pad == GridPad::Border) return std::clamp(v, 0.0, hi);
  if (pad == GridPad::Reflection) {
    v = alignCorners ? reflectCoord(v, 0.0, 2.0 * hi) : reflectCoord(v, -1.0, 2.0 * double(size) - 1.0);
    return std::clamp(v, 0.0, hi);
  }
  return v;
}

template <typename T>
void gridSampleTyped(ThreadPool& pool, const Tensor& xt, const Tensor& gt, Tensor& yt, GridMode mode, GridPad pad,
                     bool alignCorners) {
  const int64_t N = xt.dim(0), C = xt.dim(1), H = xt.dim(2), W = xt.dim(3), Ho = gt.dim(1), Wo = gt.dim(2);
  const T* X = xt.data<T>();
  const T* G = gt.data<T>();
  T* Y = yt.mutableData<T>();
  auto unnorm = [&](double g, int64_t size) {
    return alignCorners ? (g + 1) / 2 * double(size - 1) : ((g + 1) * double(size) - 1) / 2;
  };
  pool.parallelFor(N * Ho, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      int64_t n = row / Ho, oh = row % Ho;
      for (int64_t ow = 0; ow < Wo; ++ow) {
        const T* gp = G + ((n * Ho + oh) * Wo + ow) * 2;
        double fx = unnorm(double(gp[0]), W), fy = unnorm(double(gp[1]), H);
        // Fetch with the padding rule applied per tap (zeros: outside reads 0).
        auto fetch = [&](const T* plane, int64_t iy, int64_t ix) -> double {
          if (pad != GridPad::Zeros && mode == GridMode::Bicubic) {
            iy = int64_t(padCoord(double(iy), H, pad, alignCorners));
            ix = int64_t(padCoord(double(ix), W, pad, alignCorners));
          }
          if (iy < 0 || iy >= H || ix < 0 || ix >= W) return 0.0;
          return double(plane[iy * W + ix]);
        };
        if (mode != GridMode::Bicubic) {
          fx = padCoord(fx, W, pad, alignCorners);
          fy = padCoord(fy, H, pad, alignCorners);
        }
        for (int64_t c = 0; c < C; ++c) {
          const T* plane = X + (n * C + c) * H * W;
          double v = 0;
          if (mode == GridMode::Nearest) {
            v = fetch(plane, int64_t(std::nearbyint(fy)), int64_t(std::nearbyint(fx)));
          } else if (mode == GridMode::Bilinear) {
            double x0 = std::floor(fx), y0 = std::floor(fy), dx = fx - x0, dy = fy - y0;
            int64_t ix = int64_t(x0), iy = int64_t(y0);
            v = (1 - dy) * ((1 - dx) * fetch(plane, iy, ix) + dx * fetch(plane, iy, ix + 1)) +
                dy * ((1 - dx) * fetch(plane, iy + 1, ix) + dx * fetch(plane, iy + 1, ix + 1));
          } else {
            double x0 = std::floor(fx), y0 = std::floor(fy), dx = fx - x0, dy = fy - y0;
            int64_t ix = int64_t(x0), iy = int64_t(y0);
            double wx[4], wy[4];
            for (int k = 0; k < 4; ++k) {
              wx[k] = cubicWeight(dx - double(k - 1), -0.75);
              wy[k] = cubicWeight(dy - double(k - 1), -0.75);
            }
            for (int a = 0; a < 4; ++a) {
              double rowv = 0;
              for (int b = 0; b < 4; ++b) rowv += wx[b] * fetch(plane, iy - 1 + a, ix - 1 + b);
              v += wy[a] * rowv;
            }
          }
          Y[((n * C + c) * Ho + oh) * Wo + ow] = T(v);
        }
      }
    }
  });
}

Status gridSampleKernel(KernelContext& ctx) {
  const Tensor* px = ctx.input(0);
  const Tensor* pg = ctx.input(1);
  if (!px || !pg) return ctx.fail("GridSample needs X and grid");
  if (px->rank() != 4) return ctx.unsupported("GridSample on {} (only 4-D)", px->describe());
  if (pg->rank() != 4 || pg->dim(0) != px->dim(0) || pg->dim(3) != 2)
    return ctx.fail("grid {} does not match X {}", pg->describe(), px->describe());
  const AttrMap& a = ctx.attrs();
  std::string m = a.getString("mode", "bilinear"), p = a.getString("padding_mode", "zeros");
  GridMode mode;
  if (m == "bilinear" || m == "linear") mode = GridMode::Bilinear;
  else if (m == "nearest") mode = GridMode::Nearest;
  else if (m == "bicubic" || m == "cubic") mode = GridMode::Bicubic;
  else return ctx.fail("unknown mode \"{}\"", m);
  GridPad pad;
  if (p == "zeros") pad = GridPad::Zeros;
  else if (p == "border") pad = GridPad::Border;
  else if (p == "reflection") pad = GridPad::Reflection;
  else return ctx.fail("unknown padding_mode \"{}\"", p);
  bool align = a.getInt("align_corners", 0) != 0;
  DType dt = px->dtype();
  Tensor x = widenToF32(*px), g = widenToF32(*pg);
  if (x.dtype() != g.dtype()) return ctx.unsupported("X {} with grid {}", px->describe(), pg->describe());
  Tensor y(x.dtype(), {px->dim(0), px->dim(1), pg->dim(1), pg->dim(2)});
  if (x.dtype() == DType::F32)
    gridSampleTyped<float>(ctx.pool(), x, g, y, mode, pad, align);
  else if (x.dtype() == DType::F64)
    gridSampleTyped<double>(ctx.pool(), x, g, y, mode, pad, align);
  else
    return ctx.unsupported("GridSample on {}", dtypeName(dt));
  ctx.setOutput(0, narrowFromF32(y, dt));
  return Status::ok();
}

}  // namespace

void registerResizeKernels(KernelRegistry& r) {
  r.add("", "Resize", resizeKernel);
  r.add("", "Upsample", upsampleKernel);
  r.add("", "GridSample", gridSampleKernel);
}

}  // namespace npuconv::nn
