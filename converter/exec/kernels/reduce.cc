// reduce.cc - kernels of the reduce family (see kernels.h): Reduce*, ArgMax/ArgMin, Softmax,
// LogSoftmax, Hardmax, LayerNormalization, BatchNormalization (inference),
// InstanceNormalization, LpNormalization, MeanVarianceNormalization, LRN, CumSum.
//
// Reductions move the reduced axes last (a transposing copy only when they are not already
// trailing) and then reduce contiguous rows, in parallel over rows. float16/bfloat16 are
// computed in float32. Softmax and LayerNormalization over the last axis are the hot paths of
// transformer models: row loops with several accumulator lanes so they vectorize.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <type_traits>

#include "converter/exec/fused_epilogue.h"
#include "converter/exec/kernel.h"
#include "converter/exec/kernels/broadcast.h"
#include "converter/exec/kernels/ew_util.h"
#include "converter/exec/kernels/kernels.h"
#include "converter/exec/kernels/scaled_softmax.h"
#include "converter/exec/kernels/vector_math_avx512.h"

namespace npuconv {
namespace {

using namespace ew;

template <typename T>
constexpr bool kIsFloat = std::is_floating_point_v<T>;

Status badType(const KernelContext& ctx, DType t) { return ctx.unsupported("element type {} is not supported", dtypeName(t)); }

Status needInputs(const KernelContext& ctx, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!ctx.hasInput(i)) return ctx.fail("input {} is missing", i);
  return Status::ok();
}

Status normalizeAxis(const KernelContext& ctx, int64_t axis, int64_t rank, int64_t& out) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1)) return ctx.fail("axis {} is out of range for rank {}", axis, rank);
  out = axis < 0 ? axis + rank : axis;
  return Status::ok();
}

/// Rows per parallel chunk so each chunk has about 16K elements of work.
int64_t rowGrain(int64_t rowLen) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(rowLen, 1)); }

/// out.dims[i] = x.dims[perm[i]]: a transposing copy (any element type).
Tensor permute(ThreadPool& pool, const Tensor& x, const std::vector<int64_t>& perm) {
  size_t r = perm.size();
  std::vector<int64_t> outDims(r), inStrides(r), strides(r);
  int64_t s = 1;
  for (size_t i = r; i-- > 0;) {
    inStrides[i] = s;
    s *= x.dims()[i];
  }
  for (size_t i = 0; i < r; ++i) {
    outDims[i] = x.dims()[size_t(perm[i])];
    strides[i] = inStrides[size_t(perm[i])];
  }
  Tensor out(x.dtype(), outDims);
  int64_t n = out.numElements();
  if (n == 0) return out;
  if (r == 0) {
    std::memcpy(out.mutableRaw(), x.raw(), out.byteSize());
    return out;
  }
  int64_t inner = outDims.back(), innerStride = strides.back();
  auto run = [&]<typename T>() {
    const T* in = x.data<T>();
    T* o = out.mutableData<T>();
    int64_t rows = n / inner;
    pool.parallelFor(rows, rowGrain(inner), [&](int64_t b, int64_t e) {
      std::vector<int64_t> idx(r, 0);
      int64_t off = 0, rem = b;
      for (size_t i = r - 1; i-- > 0;) {
        idx[i] = rem % outDims[i];
        rem /= outDims[i];
        off += idx[i] * strides[i];
      }
      for (int64_t row = b; row < e; ++row) {
        T* dst = o + row * inner;
        const T* src = in + off;
        for (int64_t j = 0; j < inner; ++j) dst[j] = src[j * innerStride];
        for (size_t i = r - 1; i-- > 0;) {
          ++idx[i];
          off += strides[i];
          if (idx[i] < outDims[i]) break;
          off -= strides[i] * outDims[i];
          idx[i] = 0;
        }
      }
    });
  };
  switch (dtypeSize(x.dtype())) {
    case 1: run.template operator()<uint8_t>(); break;
    case 2: run.template operator()<uint16_t>(); break;
    case 4: run.template operator()<uint32_t>(); break;
    default: run.template operator()<uint64_t>(); break;
  }
  return out;
}

/// Moves the axes flagged in `moveLast` to the end (keeping order), copying only when needed.
/// Returns the permutation applied (identity when no copy was made).
Tensor axesLast(ThreadPool& pool, const Tensor& x, const std::vector<bool>& moveLast, std::vector<int64_t>& perm) {
  perm.clear();
  for (size_t i = 0; i < moveLast.size(); ++i)
    if (!moveLast[i]) perm.push_back(int64_t(i));
  for (size_t i = 0; i < moveLast.size(); ++i)
    if (moveLast[i]) perm.push_back(int64_t(i));
  // No copy when the non-trivial dims are already in that order.
  std::vector<int64_t> order;
  for (int64_t p : perm)
    if (x.dims()[size_t(p)] != 1) order.push_back(p);
  if (std::is_sorted(order.begin(), order.end())) return Tensor::alias(x, [&] {
      std::vector<int64_t> d;
      for (int64_t p : perm) d.push_back(x.dims()[size_t(p)]);
      return d;
    }());
  return permute(pool, x, perm);
}

std::vector<int64_t> inversePerm(const std::vector<int64_t>& perm) {
  std::vector<int64_t> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[size_t(perm[i])] = int64_t(i);
  return inv;
}

/// Undoes axesLast on a result of the permuted shape.
Tensor restoreAxes(ThreadPool& pool, const Tensor& y, const std::vector<int64_t>& perm, const std::vector<int64_t>& origDims) {
  std::vector<int64_t> order;
  for (int64_t p : perm)
    if (origDims[size_t(p)] != 1) order.push_back(p);
  if (std::is_sorted(order.begin(), order.end())) return Tensor::alias(y, origDims);
  return permute(pool, y, inversePerm(perm));
}

// Lane-parallel row sums (vectorize without -ffast-math).
template <typename A, typename T, typename F>
A laneSum(const T* x, int64_t n, const F& f) {
  A acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += static_cast<A>(f(x[i + k]));
  A s = 0;
  for (int k = 0; k < 8; ++k) s += acc[k];
  for (; i < n; ++i) s += static_cast<A>(f(x[i]));
  return s;
}
template <typename T>
T laneMax(const T* x, int64_t n) {
  T acc[8];
  for (int k = 0; k < 8; ++k) acc[k] = -std::numeric_limits<T>::infinity();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] = x[i + k] > acc[k] ? x[i + k] : acc[k];
  T m = acc[0];
  for (int k = 1; k < 8; ++k) m = acc[k] > m ? acc[k] : m;
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// ---------------------------------------------------------------------------------------------
// Reduce*

enum class RK { Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare };

template <typename T>
using AccOf = std::conditional_t<kIsFloat<T>, double, std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

template <typename T>
T reduceRow(RK k, const T* x, int64_t n) {
  using A = AccOf<T>;
  auto id = [](T v) { return v; };
  switch (k) {
    case RK::Sum: return static_cast<T>(laneSum<A>(x, n, id));
    case RK::Mean:
      if (n == 0) return kIsFloat<T> ? static_cast<T>(std::numeric_limits<double>::quiet_NaN()) : T(0);
      if constexpr (kIsFloat<T>) return static_cast<T>(laneSum<A>(x, n, id) / double(n));
      else return static_cast<T>(laneSum<A>(x, n, id) / static_cast<A>(n));
    case RK::SumSquare: return static_cast<T>(laneSum<A>(x, n, [](T v) { return A(v) * A(v); }));
    case RK::L1:
      return static_cast<T>(laneSum<A>(x, n, [](T v) {
        if constexpr (std::is_unsigned_v<T>) return A(v);
        else return v < T(0) ? A(-A(v)) : A(v);
      }));
    case RK::L2: return static_cast<T>(std::sqrt(static_cast<double>(laneSum<A>(x, n, [](T v) { return A(v) * A(v); }))));
    case RK::LogSum: return static_cast<T>(std::log(static_cast<double>(laneSum<A>(x, n, id))));
    case RK::LogSumExp: {
      if (n == 0) return static_cast<T>(-std::numeric_limits<double>::infinity());
      double m = static_cast<double>(*std::max_element(x, x + n));
      if (std::isinf(m)) return static_cast<T>(m);
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += std::exp(static_cast<double>(x[i]) - m);
      return static_cast<T>(std::log(s) + m);
    }
    case RK::Max: {
      T m = kIsFloat<T> ? static_cast<T>(-std::numeric_limits<double>::infinity()) : std::numeric_limits<T>::lowest();
      if constexpr (std::is_same_v<T, float>) {
        if (n > 0 && std::none_of(x, x + n, [](T v) { return v != v; })) return laneMax(x, n);
      }
      for (int64_t i = 0; i < n; ++i) {
        if constexpr (kIsFloat<T>)
          if (x[i] != x[i]) return x[i];
        m = x[i] > m ? x[i] : m;
      }
      return m;
    }
    case RK::Min: {
      T m = kIsFloat<T> ? static_cast<T>(std::numeric_limits<double>::infinity()) : std::numeric_limits<T>::max();
      for (int64_t i = 0; i < n; ++i) {
        if constexpr (kIsFloat<T>)
          if (x[i] != x[i]) return x[i];
        m = x[i] < m ? x[i] : m;
      }
      return m;
    }
    case RK::Prod: {
      A p = 1;
      for (int64_t i = 0; i < n; ++i) p *= static_cast<A>(x[i]);
      return static_cast<T>(p);
    }
  }
  return T(0);
}

/// Reads the reduction axes (attribute, or input 1 from opset 13/18); empty axes reduce all
/// unless noop_with_empty_axes.
Status reductionMask(const KernelContext& ctx, int64_t rank, std::vector<bool>& mask, bool& noop) {
  std::vector<int64_t> axes =
      ctx.hasInput(1) ? ctx.input(1)->toInt64s() : ctx.attrs().getInts("axes");
  noop = false;
  mask.assign(size_t(rank), false);
  if (axes.empty()) {
    noop = ctx.attrs().getInt("noop_with_empty_axes", 0) != 0;
    mask.assign(size_t(rank), !noop);
    return Status::ok();
  }
  for (int64_t a : axes) {
    int64_t ax = 0;
    NPU_TRY(normalizeAxis(ctx, a, rank, ax));
    if (rank == 0) continue;
    mask[size_t(ax)] = true;
  }
  return Status::ok();
}

/// A ReduceMean offered a fused LayerNormalization (fused_epilogue.h, FusedLayerNorm): computes
/// it when this ReduceMean is over x's last axis alone with keepdims, x and the constants float32
/// of fitting length, one row at a time; otherwise declines (the executor runs the ops).
bool fusedLayerNorm(KernelContext& ctx, const std::vector<bool>& mask, bool noop) {
  const Tensor& x = *ctx.input(0);
  const gemm::Epilogue* ep = takeFusedEpilogue(x.dtype(), x.dims());
  if (!ep) return false;
  const FusedLayerNorm* f = takenLayerNorm();
  const int64_t rank = x.rank(), len = rank ? x.dims().back() : 0;
  auto fits = [&](const Tensor& c) {
    if (!c.defined()) return true;
    if (c.dtype() != DType::F32 || c.rank() > rank || c.numElements() != len) return false;
    return c.rank() == 0 ? len == 1 : c.dims().back() == len;  // the others are 1
  };
  bool ok = f && !noop && x.dtype() == DType::F32 && rank > 0 && len > 0 && ctx.attrs().getInt("keepdims", 1) != 0 &&
            fits(f->gamma) && fits(f->beta);
  for (int64_t d = 0; ok && d < rank; ++d) ok = mask[size_t(d)] == (d == rank - 1);
  if (!ok) {
    declineFusedEpilogue();
    return false;
  }
  Tensor& y = ctx.allocateUninitialized(0, DType::F32, x.dims());
  const float* xs = x.data<float>();
  float* ys = y.mutableData<float>();
  const float* g = f->gamma.defined() ? f->gamma.data<float>() : nullptr;
  const float* b = f->beta.defined() ? f->beta.data<float>() : nullptr;
  const float eps = f->eps;
  ctx.pool().parallelFor(x.numElements() / len, rowGrain(len), [&](int64_t r0, int64_t r1) {
    std::vector<float> sq(static_cast<size_t>(len));
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = xs + r * len;
      float* yr = ys + r * len;
      const float mean = reduceRow<float>(RK::Mean, xr, len);
      for (int64_t j = 0; j < len; ++j) yr[j] = xr[j] - mean;  // D, kept in y
      for (int64_t j = 0; j < len; ++j) sq[size_t(j)] = yr[j] * yr[j];
      const float var = reduceRow<float>(RK::Mean, sq.data(), len);
      const float v = var + eps;
      const float s = std::sqrt(v);
      for (int64_t j = 0; j < len; ++j) yr[j] = yr[j] / s;
      if (g)
        for (int64_t j = 0; j < len; ++j) yr[j] = yr[j] * g[j];
      if (b)
        for (int64_t j = 0; j < len; ++j) yr[j] = yr[j] + b[j];
    }
  });
  return true;
}

template <RK K>
Status reduceKernel(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 1));
  const Tensor& x0 = *ctx.input(0);
  DType t = x0.dtype();
  if (!accepts(t, kNumeric)) return badType(ctx, t);
  std::vector<bool> mask;
  bool noop;
  NPU_TRY(reductionMask(ctx, x0.rank(), mask, noop));
  if constexpr (K == RK::Mean)
    if (fusedLayerNorm(ctx, mask, noop)) return Status::ok();
  if (noop) {
    ctx.setOutput(0, x0);
    return Status::ok();
  }
  bool keep = ctx.attrs().getInt("keepdims", 1) != 0;
  std::vector<int64_t> outDims;
  int64_t rows = 1, len = 1;
  for (size_t i = 0; i < mask.size(); ++i) {
    if (mask[i]) {
      len *= x0.dims()[i];
      if (keep) outDims.push_back(1);
    } else {
      rows *= x0.dims()[i];
      outDims.push_back(x0.dims()[i]);
    }
  }
  Tensor xf = toF32(ctx.pool(), x0);
  std::vector<int64_t> perm;
  Tensor x = axesLast(ctx.pool(), xf, mask, perm);
  Tensor out(xf.dtype(), outDims);
  visitType<kF32 | kF64 | kInts>(x.dtype(), [&]<typename T>() {
    const T* in = x.data<T>();
    T* o = out.mutableData<T>();
    ctx.pool().parallelFor(rows, rowGrain(len), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) o[r] = reduceRow<T>(K, in + r * len, len);
    });
  });
  ctx.setOutput(0, isHalf(t) ? fromF32(ctx.pool(), out, t) : std::move(out));
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// ArgMax / ArgMin

template <bool IsMax>
Status argKernel(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 1));
  const Tensor& x0 = *ctx.input(0);
  if (!accepts(x0.dtype(), kNumeric)) return badType(ctx, x0.dtype());
  int64_t axis = 0;
  NPU_TRY(normalizeAxis(ctx, ctx.attrs().getInt("axis", 0), x0.rank(), axis));
  bool keep = ctx.attrs().getInt("keepdims", 1) != 0;
  bool last = ctx.attrs().getInt("select_last_index", 0) != 0;
  int64_t len = x0.rank() ? x0.dim(axis) : 1;
  if (len == 0) return ctx.fail("cannot take {} over an empty axis", IsMax ? "ArgMax" : "ArgMin");
  std::vector<int64_t> outDims;
  for (int64_t i = 0; i < x0.rank(); ++i)
    if (i != axis) outDims.push_back(x0.dim(i));
    else if (keep) outDims.push_back(1);
  std::vector<bool> mask(size_t(x0.rank()), false);
  if (x0.rank()) mask[size_t(axis)] = true;
  std::vector<int64_t> perm;
  Tensor x = axesLast(ctx.pool(), toF32(ctx.pool(), x0), mask, perm);
  Tensor& out = ctx.allocate(0, DType::I64, outDims);
  int64_t rows = out.numElements();
  visitType<kF32 | kF64 | kInts>(x.dtype(), [&]<typename T>() {
    const T* in = x.data<T>();
    int64_t* o = out.mutableData<int64_t>();
    ctx.pool().parallelFor(rows, rowGrain(len), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* p = in + r * len;
        int64_t best = 0;
        for (int64_t i = 1; i < len; ++i) {
          bool better = IsMax ? (last ? p[i] >= p[best] : p[i] > p[best]) : (last ? p[i] <= p[best] : p[i] < p[best]);
          if (better) best = i;
        }
        o[r] = best;
      }
    });
  });
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Softmax, LogSoftmax, Hardmax

enum class SM { Softmax, LogSoftmax, Hardmax };

template <SM K, typename T>
void softmaxRow(const T* x, T* y, int64_t n) {
  if (n == 0) return;
  if constexpr (K == SM::Hardmax) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i)
      if (x[i] > x[best]) best = i;
    for (int64_t i = 0; i < n; ++i) y[i] = T(0);
    y[best] = T(1);
  } else if constexpr (std::is_same_v<T, float>) {
    static const bool avx512 = vectorMathAvx512();  // same bits either way
    float m = avx512 ? laneMaxAvx512(x, n) : laneMax(x, n);
    if (std::isinf(m) && m < 0) m = 0;  // an all -inf row: exp(-inf) = 0 everywhere
    __m256 acc = _mm256_setzero_ps();
    const int64_t done = avx512 ? expShiftBodyAvx512(x, m, y, n, acc) : 0;
    float s = expShiftSum(x, m, y, n, acc, done);
    if constexpr (K == SM::Softmax) {
      float inv = 1.0f / s;
      for (int64_t i = 0; i < n; ++i) y[i] *= inv;
    } else {
      float ls = std::log(s) + m;
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] - ls;
    }
  } else {
    T m = *std::max_element(x, x + n);
    if (std::isinf(m) && m < 0) m = 0;
    T s = 0;
    for (int64_t i = 0; i < n; ++i) {
      y[i] = std::exp(x[i] - m);
      s += y[i];
    }
    if constexpr (K == SM::Softmax) {
      for (int64_t i = 0; i < n; ++i) y[i] /= s;
    } else {
      T ls = std::log(s) + m;
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] - ls;
    }
  }
}

template <SM K>
Status softmaxKernel(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 1));
  const Tensor& x0 = *ctx.input(0);
  DType t = x0.dtype();
  if (!accepts(t, kFloats)) return badType(ctx, t);
  int64_t rank = x0.rank();
  bool old = ctx.opset() < 13;
  int64_t axis = 0;
  NPU_TRY(normalizeAxis(ctx, ctx.attrs().getInt("axis", old ? 1 : -1), rank, axis));
  Tensor xf = toF32(ctx.pool(), x0);
  Tensor x;
  std::vector<int64_t> perm;
  int64_t len;
  if (old || rank == 0) {
    // Coerced to 2D [prod(dims[:axis]), prod(dims[axis:])]: rows are contiguous already.
    x = xf;
    len = 1;
    for (int64_t i = axis; i < rank; ++i) len *= x0.dim(i);
  } else {
    std::vector<bool> mask(size_t(rank), false);
    mask[size_t(axis)] = true;
    x = axesLast(ctx.pool(), xf, mask, perm);
    len = x0.dim(axis);
  }
  Tensor y = Tensor::uninitialized(x.dtype(), x.dims());  // every row is written
  int64_t rows = len ? x.numElements() / len : 0;
  visitType<kF32 | kF64>(x.dtype(), [&]<typename T>() {
    const T* in = x.data<T>();
    T* o = y.mutableData<T>();
    ctx.pool().parallelFor(rows, rowGrain(len), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) softmaxRow<K, T>(in + r * len, o + r * len, len);
    });
  });
  if (!old && rank > 0) y = restoreAxes(ctx.pool(), y, perm, x0.dims());
  ctx.setOutput(0, isHalf(t) ? fromF32(ctx.pool(), y, t) : std::move(y));
  return Status::ok();
}

}  // namespace

bool nn::scaledSoftmaxF32(ThreadPool& pool, const Tensor& x, const FusedSoftmax& f, const Tensor* mask, Tensor& y) {
  const int64_t rank = x.rank();
  if (x.dtype() != DType::F32 || rank == 0) return false;
  const int64_t axis = f.axis < 0 ? f.axis + rank : f.axis;
  if (axis != rank - 1) return false;  // (opset < 13 coerces to 2-D at `axis`: the same rows then)
  const std::vector<int64_t>& dims = x.dims();
  const int64_t len = dims.back(), rows = len ? x.numElements() / len : 0;
  // The mask's element offset for row r and column j: broadcast strides (0 along its size-1 or
  // missing dims), so mask[moff(r) + j * mstep].
  std::vector<int64_t> mstride(size_t(rank), 0);
  if (mask) {
    const std::vector<int64_t>& md = mask->dims();
    if (mask->dtype() != DType::F32 || int64_t(md.size()) > rank) return false;
    int64_t stride = 1;
    for (int64_t k = int64_t(md.size()) - 1, d = rank - 1; k >= 0; --k, --d) {
      if (md[size_t(k)] != 1 && md[size_t(k)] != dims[size_t(d)]) return false;  // widens or mismatches x
      mstride[size_t(d)] = md[size_t(k)] == 1 ? 0 : stride;
      stride *= md[size_t(k)];
    }
  }
  const float* xs = x.data<float>();
  const float* ms = mask ? mask->data<float>() : nullptr;
  const int64_t mstep = mstride[size_t(rank - 1)];
  y = Tensor::uninitialized(DType::F32, dims);
  float* ys = y.mutableData<float>();
  const float c = f.c;
  pool.parallelFor(rows, rowGrain(len), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = xs + r * len;
      float* yr = ys + r * len;
      if (f.multiply)
        for (int64_t j = 0; j < len; ++j) yr[j] = xr[j] * c;
      else
        for (int64_t j = 0; j < len; ++j) yr[j] = xr[j] / c;
      if (ms) {
        int64_t off = 0;
        for (int64_t d = rank - 2, q = r; d >= 0; --d) {
          off += (q % dims[size_t(d)]) * mstride[size_t(d)];
          q /= dims[size_t(d)];
        }
        const float* mr = ms + off;
        for (int64_t j = 0; j < len; ++j) yr[j] = yr[j] + mr[j * mstep];
      }
      softmaxRow<SM::Softmax, float>(yr, yr, len);  // in place: each pass reads an element before writing it
    }
  });
  return true;
}

namespace {

// ---------------------------------------------------------------------------------------------
// Normalizations

/// `t` (any numeric dtype) broadcast to `dims`, as floats; false when it does not broadcast.
bool expandParam(const Tensor& t, const std::vector<int64_t>& dims, std::vector<float>& out) {
  if (!bcast::broadcastsTo(t.dims(), dims)) return false;
  std::vector<double> v = t.toDoubles();
  int64_t n = elementCount(dims);
  out.resize(size_t(n));
  if (t.numElements() == n) {
    for (int64_t i = 0; i < n; ++i) out[size_t(i)] = float(v[size_t(i)]);
    return true;
  }
  bcast::Plan plan(dims, {&t.dims()});
  int64_t s = plan.innerStride(0);
  plan.forRange(0, n, [&](int64_t o, const int64_t* in, int64_t cnt) {
    for (int64_t i = 0; i < cnt; ++i) out[size_t(o + i)] = float(v[size_t(in[0] + i * s)]);
  });
  return true;
}

Status kLayerNormalization(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 2));
  const Tensor& x0 = *ctx.input(0);
  DType t = x0.dtype();
  if (!accepts(t, kFloats)) return badType(ctx, t);
  int64_t rank = x0.rank(), axis = 0;
  NPU_TRY(normalizeAxis(ctx, ctx.attrs().getInt("axis", -1), rank, axis));
  float eps = ctx.attrs().getFloat("epsilon", 1e-5f);
  std::vector<int64_t> normDims(x0.dims().begin() + axis, x0.dims().end());
  int64_t d = elementCount(normDims);
  int64_t rows = d ? x0.numElements() / d : 0;
  std::vector<float> scale, bias;
  if (!expandParam(*ctx.input(1), normDims, scale))
    return ctx.fail("Scale {} does not broadcast to the normalized shape", ctx.input(1)->describe());
  if (ctx.hasInput(2)) {
    if (!expandParam(*ctx.input(2), normDims, bias))
      return ctx.fail("B {} does not broadcast to the normalized shape", ctx.input(2)->describe());
  }
  std::vector<int64_t> statDims(x0.dims().begin(), x0.dims().begin() + axis);
  statDims.resize(size_t(rank), 1);
  Tensor mean(DType::F32, statDims), inv(DType::F32, statDims);
  // float32 compute; float64 inputs are computed in float64 through the same template.
  auto run = [&]<typename T>(const Tensor& x, Tensor& y) {
    const T* in = x.data<T>();
    T* out = y.mutableData<T>();
    float* pm = mean.mutableData<float>();
    float* pi = inv.mutableData<float>();
    const float* sc = scale.data();
    const float* bi = bias.empty() ? nullptr : bias.data();
    ctx.pool().parallelFor(rows, rowGrain(d), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* xr = in + r * d;
        T* yr = out + r * d;
        T mu = laneSum<T>(xr, d, [](T v) { return v; }) / T(d);
        T var = laneSum<T>(xr, d, [mu](T v) { return (v - mu) * (v - mu); }) / T(d);
        T is = T(1) / std::sqrt(var + T(eps));
        pm[r] = float(mu);
        pi[r] = float(is);
        if (bi)
          for (int64_t i = 0; i < d; ++i) yr[i] = (xr[i] - mu) * is * T(sc[i]) + T(bi[i]);
        else
          for (int64_t i = 0; i < d; ++i) yr[i] = (xr[i] - mu) * is * T(sc[i]);
      }
    });
  };
  Tensor xf = toF32(ctx.pool(), x0);
  Tensor y(xf.dtype(), xf.dims());
  if (xf.dtype() == DType::F64) run.template operator()<double>(xf, y);
  else run.template operator()<float>(xf, y);
  ctx.setOutput(0, isHalf(t) ? fromF32(ctx.pool(), y, t) : std::move(y));
  if (ctx.wantsOutput(1)) ctx.setOutput(1, mean);
  if (ctx.wantsOutput(2)) ctx.setOutput(2, inv);
  return Status::ok();
}

/// y[n, c, s] = x[n, c, s] * a[c or c*S+s] + b[...]: shared by BatchNorm and InstanceNorm.
Tensor channelAffine(ThreadPool& pool, const Tensor& xf, int64_t n, int64_t c, int64_t s,
                     const std::vector<double>& a, const std::vector<double>& b, bool perElement) {
  Tensor y(xf.dtype(), xf.dims());
  visitType<kF32 | kF64>(xf.dtype(), [&]<typename T>() {
    const T* in = xf.data<T>();
    T* out = y.mutableData<T>();
    pool.parallelFor(n * c, rowGrain(s), [&](int64_t beg, int64_t end) {
      for (int64_t nc = beg; nc < end; ++nc) {
        int64_t ch = nc % c;
        const T* xr = in + nc * s;
        T* yr = out + nc * s;
        if (perElement) {
          for (int64_t i = 0; i < s; ++i) yr[i] = xr[i] * T(a[size_t(ch * s + i)]) + T(b[size_t(ch * s + i)]);
        } else {
          T av = T(a[size_t(ch)]), bv = T(b[size_t(ch)]);
          for (int64_t i = 0; i < s; ++i) yr[i] = xr[i] * av + bv;
        }
      }
    });
  });
  return y;
}

Status kBatchNormalization(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 5));
  const Tensor& x0 = *ctx.input(0);
  DType t = x0.dtype();
  if (!accepts(t, kFloats)) return badType(ctx, t);
  if (ctx.attrs().getInt("training_mode", 0) != 0)
    return ctx.unsupported("training-mode BatchNormalization is not supported");
  for (size_t i = 1; i < ctx.numOutputs(); ++i)
    if (ctx.wantsOutput(i)) return ctx.unsupported("BatchNormalization training outputs (running statistics) are not supported");
  if (x0.rank() < 1) return ctx.fail("input must have rank >= 1");
  int64_t n = x0.dim(0), c = x0.rank() > 1 ? x0.dim(1) : 1;
  int64_t s = n * c > 0 ? x0.numElements() / (n * c) : 0;
  std::vector<double> sc = ctx.input(1)->toDoubles(), bi = ctx.input(2)->toDoubles(),
                      mu = ctx.input(3)->toDoubles(), var = ctx.input(4)->toDoubles();
  size_t p = sc.size();
  bool perElement = int64_t(p) != c;
  if ((perElement && int64_t(p) != c * s) || bi.size() != p || mu.size() != p || var.size() != p)
    return ctx.fail("scale/B/mean/var must all have {} elements (channels)", c);
  double eps = ctx.attrs().getFloat("epsilon", 1e-5f);
  std::vector<double> a(p), b(p);
  for (size_t i = 0; i < p; ++i) {
    a[i] = sc[i] / std::sqrt(var[i] + eps);
    b[i] = bi[i] - mu[i] * a[i];
  }
  Tensor y = channelAffine(ctx.pool(), toF32(ctx.pool(), x0), n, c, s, a, b, perElement);
  ctx.setOutput(0, isHalf(t) ? fromF32(ctx.pool(), y, t) : std::move(y));
  return Status::ok();
}

Status kInstanceNormalization(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 3));
  const Tensor& x0 = *ctx.input(0);
  DType t = x0.dtype();
  if (!accepts(t, kFloats)) return badType(ctx, t);
  if (x0.rank() < 2) return ctx.fail("input must have rank >= 2");
  int64_t n = x0.dim(0), c = x0.dim(1);
  int64_t s = n * c > 0 ? x0.numElements() / (n * c) : 0;
  std::vector<double> sc = ctx.input(1)->toDoubles(), bi = ctx.input(2)->toDoubles();
  if (int64_t(sc.size()) != c || int64_t(bi.size()) != c) return ctx.fail("scale and B must have {} elements", c);
  double eps = ctx.attrs().getFloat("epsilon", 1e-5f);
  Tensor xf = toF32(ctx.pool(), x0);
  Tensor y(xf.dtype(), xf.dims());
  visitType<kF32 | kF64>(xf.dtype(), [&]<typename T>() {
    const T* in = xf.data<T>();
    T* out = y.mutableData<T>();
    ctx.pool().parallelFor(n * c, rowGrain(s), [&](int64_t b, int64_t e) {
      for (int64_t nc = b; nc < e; ++nc) {
        int64_t ch = nc % c;
        const T* xr = in + nc * s;
        double mu = laneSum<double>(xr, s, [](T v) { return v; }) / double(s);
        double var = laneSum<double>(xr, s, [mu](T v) { return (double(v) - mu) * (double(v) - mu); }) / double(s);
        double a = sc[size_t(ch)] / std::sqrt(var + eps), bb = bi[size_t(ch)] - mu * a;
        T* yr = out + nc * s;
        for (int64_t i = 0; i < s; ++i) yr[i] = T(xr[i] * T(a) + T(bb));
      }
    });
  });
  ctx.setOutput(0, isHalf(t) ? fromF32(ctx.pool(), y, t) : std::move(y));
  return Status::ok();
}

/// Applies fn(row, len, out) to rows along the axes in `mask` moved last, and restores layout.
template <typename F>
Status rowwise(KernelContext& ctx, const Tensor& x0, const std::vector<bool>& mask, const F& fn) {
  DType t = x0.dtype();
  std::vector<int64_t> perm;
  Tensor x = axesLast(ctx.pool(), toF32(ctx.pool(), x0), mask, perm);
  int64_t len = 1;
  for (size_t i = 0; i < mask.size(); ++i)
    if (mask[i]) len *= x0.dims()[i];
  int64_t rows = len ? x.numElements() / len : 0;
  Tensor y(x.dtype(), x.dims());
  visitType<kF32 | kF64>(x.dtype(), [&]<typename T>() {
    const T* in = x.data<T>();
    T* o = y.mutableData<T>();
    ctx.pool().parallelFor(rows, rowGrain(len), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) fn(in + r * len, len, o + r * len);
    });
  });
  y = restoreAxes(ctx.pool(), y, perm, x0.dims());
  ctx.setOutput(0, isHalf(t) ? fromF32(ctx.pool(), y, t) : std::move(y));
  return Status::ok();
}

Status kLpNormalization(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 1));
  const Tensor& x0 = *ctx.input(0);
  if (!accepts(x0.dtype(), kFloats)) return badType(ctx, x0.dtype());
  int64_t axis = 0;
  NPU_TRY(normalizeAxis(ctx, ctx.attrs().getInt("axis", -1), x0.rank(), axis));
  int64_t p = ctx.attrs().getInt("p", 2);
  if (p != 1 && p != 2) return ctx.fail("p must be 1 or 2, not {}", p);
  std::vector<bool> mask(size_t(x0.rank()), false);
  if (x0.rank()) mask[size_t(axis)] = true;
  return rowwise(ctx, x0, mask, [p](const auto* x, int64_t n, auto* y) {
    using T = std::remove_cv_t<std::remove_pointer_t<decltype(x)>>;
    double norm = p == 1 ? laneSum<double>(x, n, [](T v) { return std::fabs(double(v)); })
                         : std::sqrt(laneSum<double>(x, n, [](T v) { return double(v) * double(v); }));
    double inv = norm > 0 ? 1.0 / norm : 0.0;
    for (int64_t i = 0; i < n; ++i) y[i] = T(double(x[i]) * inv);
  });
}

Status kMeanVarianceNormalization(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 1));
  const Tensor& x0 = *ctx.input(0);
  if (!accepts(x0.dtype(), kFloats)) return badType(ctx, x0.dtype());
  std::vector<int64_t> axes = ctx.attrs().getInts("axes", {0, 2, 3});
  std::vector<bool> mask(size_t(x0.rank()), false);
  for (int64_t a : axes) {
    int64_t ax = 0;
    NPU_TRY(normalizeAxis(ctx, a, x0.rank(), ax));
    mask[size_t(ax)] = true;
  }
  return rowwise(ctx, x0, mask, [](const auto* x, int64_t n, auto* y) {
    using T = std::remove_cv_t<std::remove_pointer_t<decltype(x)>>;
    double mu = laneSum<double>(x, n, [](T v) { return double(v); }) / double(n);
    double ms = laneSum<double>(x, n, [](T v) { return double(v) * double(v); }) / double(n);
    double sd = std::sqrt(std::max(0.0, ms - mu * mu));
    double inv = 1.0 / (sd + 1e-9);
    for (int64_t i = 0; i < n; ++i) y[i] = T((double(x[i]) - mu) * inv);
  });
}

Status kLRN(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 1));
  const Tensor& x0 = *ctx.input(0);
  DType t = x0.dtype();
  if (!accepts(t, kFloats)) return badType(ctx, t);
  if (x0.rank() < 2) return ctx.fail("input must have rank >= 2");
  auto size = ctx.attrs().get<int64_t>("size");
  if (!size || *size <= 0) return ctx.fail("attribute \"size\" must be a positive integer");
  double alpha = ctx.attrs().getFloat("alpha", 1e-4f), beta = ctx.attrs().getFloat("beta", 0.75f),
         bias = ctx.attrs().getFloat("bias", 1.0f);
  int64_t n = x0.dim(0), c = x0.dim(1), s = n * c > 0 ? x0.numElements() / (n * c) : 0;
  int64_t lo = (*size - 1) / 2, hi = (*size - 1) - lo;  // floor below, ceil above
  Tensor xf = toF32(ctx.pool(), x0);
  Tensor y(xf.dtype(), xf.dims());
  visitType<kF32 | kF64>(xf.dtype(), [&]<typename T>() {
    const T* in = xf.data<T>();
    T* out = y.mutableData<T>();
    ctx.pool().parallelFor(n * c, rowGrain(s * *size), [&](int64_t b, int64_t e) {
      std::vector<double> sq(static_cast<size_t>(s));
      for (int64_t nc = b; nc < e; ++nc) {
        int64_t img = nc / c, ch = nc % c;
        std::fill(sq.begin(), sq.end(), 0.0);
        for (int64_t k = std::max<int64_t>(0, ch - lo); k <= std::min(c - 1, ch + hi); ++k) {
          const T* xr = in + (img * c + k) * s;
          for (int64_t i = 0; i < s; ++i) sq[size_t(i)] += double(xr[i]) * double(xr[i]);
        }
        const T* xr = in + nc * s;
        T* yr = out + nc * s;
        for (int64_t i = 0; i < s; ++i)
          yr[i] = T(double(xr[i]) / std::pow(bias + alpha / double(*size) * sq[size_t(i)], beta));
      }
    });
  });
  ctx.setOutput(0, isHalf(t) ? fromF32(ctx.pool(), y, t) : std::move(y));
  return Status::ok();
}

Status kCumSum(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 2));
  const Tensor& x0 = *ctx.input(0);
  DType t = x0.dtype();
  if (!accepts(t, kNumeric)) return badType(ctx, t);
  if (ctx.input(1)->numElements() != 1) return ctx.fail("axis must be a scalar, got {}", ctx.input(1)->describe());
  int64_t axis = 0;
  NPU_TRY(normalizeAxis(ctx, ctx.input(1)->toInt64s()[0], x0.rank(), axis));
  bool exclusive = ctx.attrs().getInt("exclusive", 0) != 0, reverse = ctx.attrs().getInt("reverse", 0) != 0;
  Tensor xf = toF32(ctx.pool(), x0);
  int64_t len = x0.rank() ? x0.dim(axis) : 1, inner = 1;
  for (int64_t i = axis + 1; i < x0.rank(); ++i) inner *= x0.dim(i);
  int64_t outer = len * inner > 0 ? x0.numElements() / (len * inner) : 0;
  Tensor y(xf.dtype(), xf.dims());
  visitType<kF32 | kF64 | kInts>(xf.dtype(), [&]<typename T>() {
    const T* in = xf.data<T>();
    T* out = y.mutableData<T>();
    ctx.pool().parallelFor(outer, rowGrain(len * inner), [&](int64_t b, int64_t e) {
      std::vector<T> acc(static_cast<size_t>(inner));
      for (int64_t o = b; o < e; ++o) {
        std::fill(acc.begin(), acc.end(), T(0));
        for (int64_t k = 0; k < len; ++k) {
          int64_t kk = reverse ? len - 1 - k : k;
          const T* xr = in + (o * len + kk) * inner;
          T* yr = out + (o * len + kk) * inner;
          if (exclusive) {
            for (int64_t j = 0; j < inner; ++j) {
              yr[j] = acc[size_t(j)];
              acc[size_t(j)] = static_cast<T>(acc[size_t(j)] + xr[j]);
            }
          } else {
            for (int64_t j = 0; j < inner; ++j) {
              acc[size_t(j)] = static_cast<T>(acc[size_t(j)] + xr[j]);
              yr[j] = acc[size_t(j)];
            }
          }
        }
      }
    });
  });
  ctx.setOutput(0, isHalf(t) ? fromF32(ctx.pool(), y, t) : std::move(y));
  return Status::ok();
}

}  // namespace

void registerReduceKernels(KernelRegistry& r) {
  r.add("", "ReduceSum", reduceKernel<RK::Sum>);
  r.add("", "ReduceMean", reduceKernel<RK::Mean>);
  r.add("", "ReduceMax", reduceKernel<RK::Max>);
  r.add("", "ReduceMin", reduceKernel<RK::Min>);
  r.add("", "ReduceProd", reduceKernel<RK::Prod>);
  r.add("", "ReduceL1", reduceKernel<RK::L1>);
  r.add("", "ReduceL2", reduceKernel<RK::L2>);
  r.add("", "ReduceLogSum", reduceKernel<RK::LogSum>);
  r.add("", "ReduceLogSumExp", reduceKernel<RK::LogSumExp>);
  r.add("", "ReduceSumSquare", reduceKernel<RK::SumSquare>);
  r.add("", "ArgMax", argKernel<true>);
  r.add("", "ArgMin", argKernel<false>);
  r.add("", "Softmax", softmaxKernel<SM::Softmax>);
  r.add("", "LogSoftmax", softmaxKernel<SM::LogSoftmax>);
  r.add("", "Hardmax", softmaxKernel<SM::Hardmax>);
  r.add("", "LayerNormalization", kLayerNormalization);
  r.add("", "BatchNormalization", kBatchNormalization);
  r.add("", "InstanceNormalization", kInstanceNormalization);
  r.add("", "LpNormalization", kLpNormalization);
  r.add("", "MeanVarianceNormalization", kMeanVarianceNormalization);
  r.add("", "LRN", kLRN);
  r.add("", "CumSum", kCumSum);
}

}  // namespace npuconv
