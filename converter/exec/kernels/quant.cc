// quant.cc - kernels of the quant family (see kernels.h): QuantizeLinear, DequantizeLinear,
// DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearConv, QLinearMatMul.
//
// Integer products accumulate exactly in int32 (after subtracting zero points, so padding of a
// convolution is a real zero). Rounding to the quantized grid is round-half-to-even
// (std::nearbyint in the default rounding mode) followed by saturation to the storage type.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "converter/exec/kernel.h"
#include "converter/exec/kernels/kernels.h"

namespace npuconv {
namespace {

// --- element helpers ---------------------------------------------------------------------------

bool isQuantStorage(DType t) {
  return t == DType::U8 || t == DType::I8 || t == DType::U16 || t == DType::I16 || t == DType::I32;
}

struct IntRange {
  int64_t lo, hi;
};

IntRange rangeOf(DType t) {
  switch (t) {
    case DType::U8: return {0, 255};
    case DType::I8: return {-128, 127};
    case DType::U16: return {0, 65535};
    case DType::I16: return {-32768, 32767};
    case DType::I32: return {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()};
    default: return {0, 0};
  }
}

/// Rounds half to even and saturates to the range of `t`; NaN maps to the zero point.
int64_t roundSaturate(double v, double zeroPoint, IntRange r) {
  if (std::isnan(v)) v = 0;
  double q = std::nearbyint(v) + zeroPoint;
  if (q < static_cast<double>(r.lo)) return r.lo;
  if (q > static_cast<double>(r.hi)) return r.hi;
  return static_cast<int64_t>(q);
}

void storeInt(const Tensor& t, int64_t i, int64_t v) {
  switch (t.dtype()) {
    case DType::U8: t.mutableData<uint8_t>()[i] = static_cast<uint8_t>(v); break;
    case DType::I8: t.mutableData<int8_t>()[i] = static_cast<int8_t>(v); break;
    case DType::U16: t.mutableData<uint16_t>()[i] = static_cast<uint16_t>(v); break;
    case DType::I16: t.mutableData<int16_t>()[i] = static_cast<int16_t>(v); break;
    case DType::I32: t.mutableData<int32_t>()[i] = static_cast<int32_t>(v); break;
    default: NPU_CHECK(false, "storeInt on {}", dtypeName(t.dtype()));
  }
}

/// All elements of an integer quantized tensor as int32.
std::vector<int32_t> toInt32s(const Tensor& t) {
  std::vector<int32_t> out(static_cast<size_t>(t.numElements()));
  switch (t.dtype()) {
    case DType::U8: std::copy_n(t.data<uint8_t>(), out.size(), out.begin()); break;
    case DType::I8: std::copy_n(t.data<int8_t>(), out.size(), out.begin()); break;
    case DType::U16: std::copy_n(t.data<uint16_t>(), out.size(), out.begin()); break;
    case DType::I16: std::copy_n(t.data<int16_t>(), out.size(), out.begin()); break;
    case DType::I32: std::copy_n(t.data<int32_t>(), out.size(), out.begin()); break;
    default: NPU_CHECK(false, "toInt32s on {}", dtypeName(t.dtype()));
  }
  return out;
}

std::vector<float> toFloats(const Tensor& t) {
  if (t.dtype() == DType::F32) return {t.data<float>(), t.data<float>() + t.numElements()};
  std::vector<double> d = t.toDoubles();
  return {d.begin(), d.end()};
}

void storeFloat(const Tensor& t, int64_t i, float v) {
  switch (t.dtype()) {
    case DType::F32: t.mutableData<float>()[i] = v; break;
    case DType::F64: t.mutableData<double>()[i] = v; break;
    case DType::F16: t.mutableData<uint16_t>()[i] = floatToHalf(v); break;
    case DType::BF16: t.mutableData<uint16_t>()[i] = floatToBf16(v); break;
    default: NPU_CHECK(false, "storeFloat on {}", dtypeName(t.dtype()));
  }
}

bool isFloatInput(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F64; }

// --- scale / zero-point layout ------------------------------------------------------------------

/// How a scale (and its zero point) maps onto the elements of x viewed as [outer, D, inner]:
/// per tensor, per index along `axis` or per block of `block` indices along `axis`.
struct QuantLayout {
  int64_t outer = 1, d = 1, inner = 1;
  int64_t block = 0;  // 0: per tensor or per axis
  bool perTensor = true;
  int64_t numBlocks = 1;
  int64_t scaleIndex(int64_t i) const {
    if (perTensor) return 0;
    int64_t in = i % inner, rest = i / inner, dd = rest % d, o = rest / d;
    if (block == 0) return dd;
    return (o * numBlocks + dd / block) * inner + in;
  }
};

Expected<QuantLayout> quantLayout(const KernelContext& ctx, const Tensor& x, const Tensor& scale) {
  QuantLayout l;
  int64_t blockSize = ctx.attrs().getInt("block_size", 0);
  if (scale.numElements() == 1 && blockSize == 0) return l;
  int64_t axis = ctx.attrs().getInt("axis", 1);
  if (axis < -x.rank() || axis >= x.rank())
    return ctx.fail("axis {} out of range for input {}", axis, x.describe());
  if (axis < 0) axis += x.rank();
  l.perTensor = false;
  l.d = x.dim(axis);
  for (int64_t i = 0; i < axis; ++i) l.outer *= x.dim(i);
  for (int64_t i = axis + 1; i < x.rank(); ++i) l.inner *= x.dim(i);
  if (blockSize > 0) {
    l.block = blockSize;
    l.numBlocks = (l.d + blockSize - 1) / blockSize;
    std::vector<int64_t> want = x.dims();
    want[static_cast<size_t>(axis)] = l.numBlocks;
    if (scale.dims() != want)
      return ctx.fail("blocked scale {} does not match input {} with block_size {} on axis {}",
                      scale.describe(), x.describe(), blockSize, axis);
    return l;
  }
  if (blockSize < 0) return ctx.fail("negative block_size {}", blockSize);
  if (scale.rank() != 1 || scale.dim(0) != l.d)
    return ctx.fail("per-axis scale {} must be 1-D of size {} (axis {} of {})", scale.describe(), l.d,
                    axis, x.describe());
  return l;
}

Status checkZeroPoint(const KernelContext& ctx, const Tensor* zp, const Tensor& scale) {
  if (zp && zp->dims() != scale.dims() && !(zp->numElements() == 1 && scale.numElements() == 1))
    return ctx.fail("zero point {} does not match scale {}", zp->describe(), scale.describe());
  return Status::ok();
}

// --- QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear ---------------------------------

/// Calls fn(begin, end, scaleIndex) over the runs of elements that share one scale (per tensor:
/// one run; per axis: `inner` elements at a time). Blocked layouts are not runs: false.
template <typename Fn>
bool forEachScaleRun(const QuantLayout& l, int64_t n, Fn&& fn) {
  if (l.perTensor) {
    fn(int64_t{0}, n, size_t{0});
    return true;
  }
  if (l.block != 0) return false;
  int64_t i = 0;
  for (int64_t o = 0; o < l.outer; ++o)
    for (int64_t dd = 0; dd < l.d; ++dd, i += l.inner) fn(i, i + l.inner, static_cast<size_t>(dd));
  return true;
}

/// float32 -> integer over scale runs (calibration, bias correction and validation run the QDQ
/// models npuconv writes through here, so this is their hot loop); the same arithmetic as the
/// general path, element for element.
template <typename Q>
bool quantizeRuns(const float* x, Q* y, const QuantLayout& l, const std::vector<float>& s, const std::vector<int32_t>& z,
                  IntRange r, int64_t n) {
  return forEachScaleRun(l, n, [&](int64_t begin, int64_t end, size_t si) {
    const float sc = s[si];
    const double zp = z[si];
    for (int64_t i = begin; i < end; ++i) y[i] = static_cast<Q>(roundSaturate(x[i] / sc, zp, r));
  });
}

template <typename Q>
bool dequantizeRuns(const Q* x, float* y, const QuantLayout& l, const std::vector<float>& s, const std::vector<int32_t>& z,
                    int64_t n) {
  return forEachScaleRun(l, n, [&](int64_t begin, int64_t end, size_t si) {
    const float sc = s[si];
    const int64_t zp = z[si];
    for (int64_t i = begin; i < end; ++i) y[i] = static_cast<float>(int64_t(x[i]) - zp) * sc;
  });
}

bool quantizeFast(const Tensor& x, Tensor& y, const QuantLayout& l, const std::vector<float>& s,
                  const std::vector<int32_t>& z, IntRange r) {
  if (x.dtype() != DType::F32) return false;
  const float* xs = x.data<float>();
  const int64_t n = x.numElements();
  switch (y.dtype()) {
    case DType::U8: return quantizeRuns(xs, y.mutableData<uint8_t>(), l, s, z, r, n);
    case DType::I8: return quantizeRuns(xs, y.mutableData<int8_t>(), l, s, z, r, n);
    case DType::U16: return quantizeRuns(xs, y.mutableData<uint16_t>(), l, s, z, r, n);
    case DType::I16: return quantizeRuns(xs, y.mutableData<int16_t>(), l, s, z, r, n);
    default: return false;
  }
}

bool dequantizeFast(const Tensor& x, Tensor& y, const QuantLayout& l, const std::vector<float>& s,
                    const std::vector<int32_t>& z) {
  if (y.dtype() != DType::F32) return false;
  float* ys = y.mutableData<float>();
  const int64_t n = x.numElements();
  switch (x.dtype()) {
    case DType::U8: return dequantizeRuns(x.data<uint8_t>(), ys, l, s, z, n);
    case DType::I8: return dequantizeRuns(x.data<int8_t>(), ys, l, s, z, n);
    case DType::U16: return dequantizeRuns(x.data<uint16_t>(), ys, l, s, z, n);
    case DType::I16: return dequantizeRuns(x.data<int16_t>(), ys, l, s, z, n);
    case DType::I32: return dequantizeRuns(x.data<int32_t>(), ys, l, s, z, n);
    default: return false;
  }
}

Status quantizeLinear(KernelContext& ctx) {
  const Tensor* x = ctx.input(0);
  const Tensor* scale = ctx.input(1);
  const Tensor* zp = ctx.input(2);
  if (!x || !scale) return ctx.fail("needs inputs x and y_scale");
  if (!isFloatInput(x->dtype()) && x->dtype() != DType::I32)
    return ctx.unsupported("input dtype {}", dtypeName(x->dtype()));
  if (!isFloatInput(scale->dtype())) return ctx.unsupported("scale dtype {}", dtypeName(scale->dtype()));
  DType out = DType::U8;
  if (zp) {
    out = zp->dtype();
  } else if (int64_t code = ctx.attrs().getInt("output_dtype", 0); code != 0) {
    auto t = dtypeFromCode(static_cast<int32_t>(code));
    if (!t) return ctx.unsupported("output_dtype {}", code);
    out = *t;
  }
  if (!isQuantStorage(out) || out == DType::I32) return ctx.unsupported("quantizing to {}", dtypeName(out));
  NPU_ASSIGN_OR_RETURN(QuantLayout l, quantLayout(ctx, *x, *scale));
  NPU_TRY(checkZeroPoint(ctx, zp, *scale));
  std::vector<float> s = toFloats(*scale);
  std::vector<int32_t> z = zp ? toInt32s(*zp) : std::vector<int32_t>(s.size(), 0);
  Tensor& y = ctx.allocate(0, out, x->dims());
  IntRange r = rangeOf(out);
  if (quantizeFast(*x, y, l, s, z, r)) return Status::ok();
  std::vector<float> xs = toFloats(*x);
  for (int64_t i = 0, n = x->numElements(); i < n; ++i) {
    size_t si = static_cast<size_t>(l.scaleIndex(i));
    float v = xs[static_cast<size_t>(i)] / s[si];
    storeInt(y, i, roundSaturate(v, z[si], r));
  }
  return Status::ok();
}

Status dequantizeLinear(KernelContext& ctx) {
  const Tensor* x = ctx.input(0);
  const Tensor* scale = ctx.input(1);
  const Tensor* zp = ctx.input(2);
  if (!x || !scale) return ctx.fail("needs inputs x and x_scale");
  if (!isQuantStorage(x->dtype())) return ctx.unsupported("input dtype {}", dtypeName(x->dtype()));
  if (!isFloatInput(scale->dtype())) return ctx.unsupported("scale dtype {}", dtypeName(scale->dtype()));
  if (zp && zp->dtype() != x->dtype())
    return ctx.fail("zero point dtype {} differs from input dtype {}", dtypeName(zp->dtype()), dtypeName(x->dtype()));
  DType out = scale->dtype();
  if (int64_t code = ctx.attrs().getInt("output_dtype", 0); code != 0) {
    auto t = dtypeFromCode(static_cast<int32_t>(code));
    if (!t || !isFloatInput(*t)) return ctx.unsupported("output_dtype {}", code);
    out = *t;
  }
  NPU_ASSIGN_OR_RETURN(QuantLayout l, quantLayout(ctx, *x, *scale));
  NPU_TRY(checkZeroPoint(ctx, zp, *scale));
  std::vector<float> s = toFloats(*scale);
  std::vector<int32_t> z = zp ? toInt32s(*zp) : std::vector<int32_t>(s.size(), 0);
  Tensor& y = ctx.allocate(0, out, x->dims());
  if (dequantizeFast(*x, y, l, s, z)) return Status::ok();
  std::vector<int32_t> xs = toInt32s(*x);
  for (int64_t i = 0, n = x->numElements(); i < n; ++i) {
    size_t si = static_cast<size_t>(l.scaleIndex(i));
    int64_t diff = int64_t(xs[static_cast<size_t>(i)]) - z[si];
    storeFloat(y, i, static_cast<float>(diff) * s[si]);
  }
  return Status::ok();
}

Status dynamicQuantizeLinear(KernelContext& ctx) {
  const Tensor* x = ctx.input(0);
  if (!x) return ctx.fail("needs input x");
  if (x->dtype() != DType::F32) return ctx.unsupported("input dtype {}", dtypeName(x->dtype()));
  const float* xs = x->data<float>();
  float lo = 0.f, hi = 0.f;  // the range always includes zero
  for (int64_t i = 0; i < x->numElements(); ++i) {
    if (std::isnan(xs[i])) return ctx.fail("input contains NaN");
    lo = std::min(lo, xs[i]);
    hi = std::max(hi, xs[i]);
  }
  const float qmin = 0.f, qmax = 255.f;
  float scale = (hi - lo) / (qmax - qmin);
  float zpF = 0.f;
  if (scale != 0.f) zpF = std::clamp(std::nearbyint(qmin - lo / scale), qmin, qmax);
  IntRange r = rangeOf(DType::U8);
  Tensor& y = ctx.allocate(0, DType::U8, x->dims());
  uint8_t* yd = y.mutableData<uint8_t>();
  for (int64_t i = 0; i < x->numElements(); ++i)
    yd[i] = scale == 0.f ? static_cast<uint8_t>(zpF) : static_cast<uint8_t>(roundSaturate(xs[i] / scale, zpF, r));
  if (ctx.numOutputs() > 1) ctx.allocate(1, DType::F32, {}).mutableData<float>()[0] = scale;
  if (ctx.numOutputs() > 2) ctx.allocate(2, DType::U8, {}).mutableData<uint8_t>()[0] = static_cast<uint8_t>(zpF);
  return Status::ok();
}

// --- integer matrix multiplication ---------------------------------------------------------------

/// C[M,N] += A[M,K] * B[K,N] in int32, rows of C split over the pool.
void gemmI32(ThreadPool& pool, const int32_t* a, const int32_t* b, int32_t* c, int64_t m, int64_t k,
             int64_t n) {
  int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, k * n));
  pool.parallelFor(m, grain, [&](int64_t m0, int64_t m1) {
    for (int64_t i = m0; i < m1; ++i) {
      int32_t* crow = c + i * n;
      for (int64_t p = 0; p < k; ++p) {
        int32_t av = a[i * k + p];
        if (av == 0) continue;
        const int32_t* brow = b + p * n;
        for (int64_t j = 0; j < n; ++j) crow[j] += av * brow[j];
      }
    }
  });
}

/// A zero point (or scale) of a matmul operand: per tensor, per row of A / column of B shared by
/// every batch, or per batch and row/column ([..., M, 1] for A, [..., 1, N] for B).
struct MatSideParam {
  enum Kind { PerTensor, PerVector, PerBatchVector } kind = PerTensor;
  int64_t at(int64_t batch, int64_t idx, int64_t len) const {
    switch (kind) {
      case PerTensor: return 0;
      case PerVector: return idx;
      case PerBatchVector: return batch * len + idx;
    }
    return 0;
  }
};

/// `p` applies to operand `op` (dims after 1-D promotion `opDims`); `len` is M (rows of A) or N
/// (columns of B); `rowSide` says which.
Expected<MatSideParam> matSideParam(const KernelContext& ctx, const Tensor* p, const char* what,
                                    const Tensor& op, const std::vector<int64_t>& opDims, int64_t len,
                                    bool rowSide) {
  MatSideParam r;
  if (!p || p->numElements() == 1) return r;
  if (p->rank() == 1 && p->dim(0) == len) {
    r.kind = MatSideParam::PerVector;
    return r;
  }
  std::vector<int64_t> want = opDims;
  want[want.size() - (rowSide ? 1 : 2)] = 1;
  if (p->dims() == want && static_cast<int64_t>(opDims.size()) == op.rank()) {
    r.kind = MatSideParam::PerBatchVector;
    return r;
  }
  return ctx.fail("{} {} does not fit operand {} (per tensor, per {} or per batch and {})", what,
                  p->describe(), op.describe(), rowSide ? "row" : "column", rowSide ? "row" : "column");
}

/// Shapes of a numpy-style matmul: batch broadcast, 1-D operands promoted and squeezed.
struct MatMulShape {
  int64_t m = 1, k = 1, n = 1;
  std::vector<int64_t> aDims, bDims;  // after promotion to >= 2-D
  std::vector<int64_t> outDims;
  std::vector<int64_t> batch;          // broadcast batch dims
  std::vector<int64_t> aBatchOffset;   // per output batch: A batch index
  std::vector<int64_t> bBatchOffset;
  int64_t numBatches() const { return static_cast<int64_t>(aBatchOffset.size()); }
};

Expected<MatMulShape> matMulShape(const KernelContext& ctx, const Tensor& a, const Tensor& b) {
  MatMulShape s;
  if (a.rank() == 0 || b.rank() == 0) return ctx.fail("matmul of a scalar ({} x {})", a.describe(), b.describe());
  s.aDims = a.dims();
  s.bDims = b.dims();
  if (a.rank() == 1) s.aDims.insert(s.aDims.begin(), 1);
  if (b.rank() == 1) s.bDims.push_back(1);
  s.m = s.aDims[s.aDims.size() - 2];
  s.k = s.aDims.back();
  s.n = s.bDims.back();
  if (s.bDims[s.bDims.size() - 2] != s.k)
    return ctx.fail("inner dims differ: {} x {}", a.describe(), b.describe());
  std::vector<int64_t> ab(s.aDims.begin(), s.aDims.end() - 2), bb(s.bDims.begin(), s.bDims.end() - 2);
  size_t r = std::max(ab.size(), bb.size());
  ab.insert(ab.begin(), r - ab.size(), 1);
  bb.insert(bb.begin(), r - bb.size(), 1);
  s.batch.resize(r);
  for (size_t i = 0; i < r; ++i) {
    if (ab[i] != bb[i] && ab[i] != 1 && bb[i] != 1)
      return ctx.fail("batch dims do not broadcast: {} x {}", a.describe(), b.describe());
    s.batch[i] = ab[i] == 1 ? bb[i] : ab[i];
  }
  int64_t total = elementCount(s.batch);
  for (int64_t o = 0; o < total; ++o) {
    int64_t rem = o, ao = 0, bo = 0, aStride = 1, bStride = 1;
    for (size_t i = r; i-- > 0;) {
      int64_t idx = rem % s.batch[i];
      rem /= s.batch[i];
      if (ab[i] != 1) ao += idx * aStride;
      if (bb[i] != 1) bo += idx * bStride;
      aStride *= ab[i];
      bStride *= bb[i];
    }
    s.aBatchOffset.push_back(ao);
    s.bBatchOffset.push_back(bo);
  }
  s.outDims = s.batch;
  if (a.rank() > 1) s.outDims.push_back(s.m);
  if (b.rank() > 1) s.outDims.push_back(s.n);
  return s;
}

/// sum_k (A - za)(B - zb) in int32 for every output batch: [numBatches, M, N].
struct IntMatMul {
  MatMulShape shape;
  std::vector<int32_t> acc;
};

Expected<IntMatMul> intMatMul(KernelContext& ctx, const Tensor& a, const Tensor* aZp, const Tensor& b,
                              const Tensor* bZp) {
  for (const Tensor* t : {&a, &b})
    if (t->dtype() != DType::U8 && t->dtype() != DType::I8)
      return ctx.unsupported("operand dtype {}", dtypeName(t->dtype()));
  if (aZp && aZp->dtype() != a.dtype()) return ctx.fail("a zero point dtype differs from a");
  if (bZp && bZp->dtype() != b.dtype()) return ctx.fail("b zero point dtype differs from b");
  IntMatMul r;
  NPU_ASSIGN_OR_RETURN(r.shape, matMulShape(ctx, a, b));
  const MatMulShape& s = r.shape;
  NPU_ASSIGN_OR_RETURN(MatSideParam za, matSideParam(ctx, aZp, "a zero point", a, s.aDims, s.m, true));
  NPU_ASSIGN_OR_RETURN(MatSideParam zb, matSideParam(ctx, bZp, "b zero point", b, s.bDims, s.n, false));
  std::vector<int32_t> av = toInt32s(a), bv = toInt32s(b);
  std::vector<int32_t> zav = aZp ? toInt32s(*aZp) : std::vector<int32_t>{0};
  std::vector<int32_t> zbv = bZp ? toInt32s(*bZp) : std::vector<int32_t>{0};
  int64_t mk = s.m * s.k, kn = s.k * s.n;
  for (size_t i = 0; i < av.size(); ++i) {
    int64_t bi = static_cast<int64_t>(i) / mk, row = (static_cast<int64_t>(i) % mk) / s.k;
    av[i] -= zav[static_cast<size_t>(za.at(bi, row, s.m))];
  }
  for (size_t i = 0; i < bv.size(); ++i) {
    int64_t bi = static_cast<int64_t>(i) / kn, col = static_cast<int64_t>(i) % s.n;
    bv[i] -= zbv[static_cast<size_t>(zb.at(bi, col, s.n))];
  }
  r.acc.assign(static_cast<size_t>(s.numBatches() * s.m * s.n), 0);
  for (int64_t o = 0; o < s.numBatches(); ++o)
    gemmI32(ctx.pool(), av.data() + s.aBatchOffset[o] * mk, bv.data() + s.bBatchOffset[o] * kn,
            r.acc.data() + o * s.m * s.n, s.m, s.k, s.n);
  return r;
}

Status matMulInteger(KernelContext& ctx) {
  const Tensor* a = ctx.input(0);
  const Tensor* b = ctx.input(1);
  if (!a || !b) return ctx.fail("needs inputs A and B");
  NPU_ASSIGN_OR_RETURN(IntMatMul r, intMatMul(ctx, *a, ctx.input(2), *b, ctx.input(3)));
  Tensor& y = ctx.allocate(0, DType::I32, r.shape.outDims);
  std::copy(r.acc.begin(), r.acc.end(), y.mutableData<int32_t>());
  return Status::ok();
}

/// A float parameter that is per tensor or a vector of `len` (per row / column / channel).
Expected<std::vector<float>> scaleVector(const KernelContext& ctx, const Tensor* t, const char* what,
                                         int64_t len) {
  if (!t) return ctx.fail("missing {}", what);
  if (!isFloatInput(t->dtype())) return ctx.unsupported("{} dtype {}", what, dtypeName(t->dtype()));
  std::vector<float> v = toFloats(*t);
  if (v.size() == 1) return std::vector<float>(static_cast<size_t>(len), v[0]);
  if (t->rank() == 1 && t->dim(0) == len) return v;
  return ctx.fail("{} {} must be a scalar or have {} elements", what, t->describe(), len);
}

Expected<int32_t> scalarZeroPoint(const KernelContext& ctx, const Tensor* t, const char* what) {
  if (!t) return 0;
  if (t->numElements() != 1) return ctx.unsupported("{} {} must be per tensor", what, t->describe());
  if (!isQuantStorage(t->dtype())) return ctx.fail("{} dtype {}", what, dtypeName(t->dtype()));
  return toInt32s(*t)[0];
}

Status qlinearMatMul(KernelContext& ctx) {
  const Tensor* a = ctx.input(0);
  const Tensor* b = ctx.input(3);
  const Tensor* yZp = ctx.input(7);
  if (!a || !b || !ctx.input(1) || !ctx.input(4) || !ctx.input(6))
    return ctx.fail("needs inputs a, a_scale, b, b_scale and y_scale");
  NPU_ASSIGN_OR_RETURN(IntMatMul r, intMatMul(ctx, *a, ctx.input(2), *b, ctx.input(5)));
  const MatMulShape& s = r.shape;
  NPU_ASSIGN_OR_RETURN(std::vector<float> as, scaleVector(ctx, ctx.input(1), "a_scale", s.m));
  NPU_ASSIGN_OR_RETURN(std::vector<float> bs, scaleVector(ctx, ctx.input(4), "b_scale", s.n));
  NPU_ASSIGN_OR_RETURN(std::vector<float> ys, scaleVector(ctx, ctx.input(6), "y_scale", 1));
  NPU_ASSIGN_OR_RETURN(int32_t yz, scalarZeroPoint(ctx, yZp, "y_zero_point"));
  DType out = yZp ? yZp->dtype() : a->dtype();
  if (out != DType::U8 && out != DType::I8) return ctx.unsupported("output dtype {}", dtypeName(out));
  IntRange range = rangeOf(out);
  Tensor& y = ctx.allocate(0, out, s.outDims);
  for (int64_t o = 0; o < s.numBatches(); ++o)
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t j = 0; j < s.n; ++j) {
        int64_t idx = (o * s.m + i) * s.n + j;
        float mult = as[size_t(i)] * bs[size_t(j)] / ys[0];
        storeInt(y, idx, roundSaturate(double(r.acc[size_t(idx)]) * double(mult), yz, range));
      }
  return Status::ok();
}

// --- integer convolution ----------------------------------------------------------------------

struct ConvGeometry {
  int64_t batch = 0, cin = 0, cout = 0, group = 1;
  std::vector<int64_t> in, kernel, out, strides, dilations, padBegin;
  int64_t inSize() const { return elementCount(in); }
  int64_t kernelSize() const { return elementCount(kernel); }
  int64_t outSize() const { return elementCount(out); }
};

Expected<ConvGeometry> convGeometry(const KernelContext& ctx, const Tensor& x, const Tensor& w) {
  ConvGeometry g;
  if (x.rank() < 3) return ctx.fail("input {} must be at least 3-D (N, C, spatial...)", x.describe());
  if (w.rank() != x.rank()) return ctx.fail("weight {} and input {} ranks differ", w.describe(), x.describe());
  const AttrMap& at = ctx.attrs();
  size_t nd = static_cast<size_t>(x.rank() - 2);
  g.batch = x.dim(0);
  g.cin = x.dim(1);
  g.cout = w.dim(0);
  g.group = at.getInt("group", 1);
  if (g.group <= 0 || g.cin % g.group != 0 || g.cout % g.group != 0 || w.dim(1) * g.group != g.cin)
    return ctx.fail("group {} does not fit input {} and weight {}", g.group, x.describe(), w.describe());
  g.in.assign(x.dims().begin() + 2, x.dims().end());
  g.kernel.assign(w.dims().begin() + 2, w.dims().end());
  std::vector<int64_t> ks = at.getInts("kernel_shape");
  if (!ks.empty() && ks != g.kernel)
    return ctx.fail("kernel_shape attribute does not match weight {}", w.describe());
  g.strides = at.getInts("strides", std::vector<int64_t>(nd, 1));
  g.dilations = at.getInts("dilations", std::vector<int64_t>(nd, 1));
  std::vector<int64_t> pads = at.getInts("pads", std::vector<int64_t>(2 * nd, 0));
  if (g.strides.size() != nd || g.dilations.size() != nd || pads.size() != 2 * nd)
    return ctx.fail("strides/dilations/pads do not match {} spatial dims", nd);
  for (size_t i = 0; i < nd; ++i)
    if (g.strides[i] <= 0 || g.dilations[i] <= 0 || pads[i] < 0 || pads[i + nd] < 0)
      return ctx.fail("non-positive stride/dilation or negative pad");
  std::string autoPad = at.getString("auto_pad", "NOTSET");
  g.out.resize(nd);
  g.padBegin.resize(nd);
  for (size_t i = 0; i < nd; ++i) {
    int64_t eff = (g.kernel[i] - 1) * g.dilations[i] + 1;
    if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
      int64_t o = (g.in[i] + g.strides[i] - 1) / g.strides[i];
      int64_t total = std::max<int64_t>(0, (o - 1) * g.strides[i] + eff - g.in[i]);
      g.padBegin[i] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
      g.out[i] = o;
    } else if (autoPad == "VALID") {
      g.padBegin[i] = 0;
      g.out[i] = g.in[i] >= eff ? (g.in[i] - eff) / g.strides[i] + 1 : 0;
    } else if (autoPad == "NOTSET" || autoPad.empty()) {
      g.padBegin[i] = pads[i];
      int64_t span = g.in[i] + pads[i] + pads[i + nd];
      g.out[i] = span >= eff ? (span - eff) / g.strides[i] + 1 : 0;
    } else {
      return ctx.fail("unknown auto_pad \"{}\"", autoPad);
    }
  }
  return g;
}

/// y[N, M, out...] = conv(x - zx, w - zw[m]) in int32 (bias not included).
std::vector<int32_t> convI32(ThreadPool& pool, const ConvGeometry& g, const std::vector<int32_t>& x,
                             const std::vector<int32_t>& w) {
  size_t nd = g.in.size();
  int64_t cg = g.cin / g.group, mg = g.cout / g.group;
  int64_t ksz = g.kernelSize(), osz = g.outSize(), isz = g.inSize();
  int64_t rows = cg * ksz;
  std::vector<int32_t> y(static_cast<size_t>(g.batch * g.cout * osz), 0);
  std::vector<int32_t> col(static_cast<size_t>(rows * osz));
  std::vector<int64_t> kIdx(nd), oIdx(nd);
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t gr = 0; gr < g.group; ++gr) {
      // im2col: row (c, kernel offset), column output position.
      for (int64_t c = 0; c < cg; ++c) {
        const int32_t* xc = x.data() + (n * g.cin + gr * cg + c) * isz;
        for (int64_t kk = 0; kk < ksz; ++kk) {
          for (size_t d = nd, rem = size_t(kk); d-- > 0;) {
            kIdx[d] = int64_t(rem) % g.kernel[d];
            rem /= size_t(g.kernel[d]);
          }
          int32_t* dst = col.data() + (c * ksz + kk) * osz;
          std::fill(oIdx.begin(), oIdx.end(), 0);
          for (int64_t p = 0; p < osz; ++p) {
            int64_t off = 0;
            bool inside = true;
            for (size_t d = 0; d < nd; ++d) {
              int64_t pos = oIdx[d] * g.strides[d] - g.padBegin[d] + kIdx[d] * g.dilations[d];
              if (pos < 0 || pos >= g.in[d]) {
                inside = false;
                break;
              }
              off = off * g.in[d] + pos;
            }
            dst[p] = inside ? xc[off] : 0;
            for (size_t d = nd; d-- > 0;) {
              if (++oIdx[d] < g.out[d]) break;
              oIdx[d] = 0;
            }
          }
        }
      }
      gemmI32(pool, w.data() + gr * mg * rows, col.data(), y.data() + (n * g.cout + gr * mg) * osz, mg,
              rows, osz);
    }
  return y;
}

struct IntConv {
  ConvGeometry geom;
  std::vector<int32_t> acc;
};

/// Shared by ConvInteger and QLinearConv: x zero point per tensor, w zero point per tensor or
/// per output channel.
Expected<IntConv> intConv(KernelContext& ctx, const Tensor& x, const Tensor* xZp, const Tensor& w,
                          const Tensor* wZp) {
  for (const Tensor* t : {&x, &w})
    if (t->dtype() != DType::U8 && t->dtype() != DType::I8)
      return ctx.unsupported("operand dtype {}", dtypeName(t->dtype()));
  IntConv r;
  NPU_ASSIGN_OR_RETURN(r.geom, convGeometry(ctx, x, w));
  NPU_ASSIGN_OR_RETURN(int32_t zx, scalarZeroPoint(ctx, xZp, "x zero point"));
  std::vector<int32_t> zw(static_cast<size_t>(r.geom.cout), 0);
  if (wZp) {
    std::vector<int32_t> v = toInt32s(*wZp);
    if (v.size() == 1)
      std::fill(zw.begin(), zw.end(), v[0]);
    else if (wZp->rank() == 1 && wZp->dim(0) == r.geom.cout)
      zw = v;
    else
      return ctx.fail("w zero point {} must be a scalar or have {} elements", wZp->describe(), r.geom.cout);
  }
  std::vector<int32_t> xv = toInt32s(x), wv = toInt32s(w);
  for (int32_t& v : xv) v -= zx;
  int64_t perOut = w.numElements() / std::max<int64_t>(1, r.geom.cout);
  for (size_t i = 0; i < wv.size(); ++i) wv[i] -= zw[i / size_t(perOut)];
  r.acc = convI32(ctx.pool(), r.geom, xv, wv);
  return r;
}

std::vector<int64_t> convOutDims(const ConvGeometry& g) {
  std::vector<int64_t> d{g.batch, g.cout};
  d.insert(d.end(), g.out.begin(), g.out.end());
  return d;
}

Status convInteger(KernelContext& ctx) {
  const Tensor* x = ctx.input(0);
  const Tensor* w = ctx.input(1);
  if (!x || !w) return ctx.fail("needs inputs x and w");
  NPU_ASSIGN_OR_RETURN(IntConv r, intConv(ctx, *x, ctx.input(2), *w, ctx.input(3)));
  Tensor& y = ctx.allocate(0, DType::I32, convOutDims(r.geom));
  std::copy(r.acc.begin(), r.acc.end(), y.mutableData<int32_t>());
  return Status::ok();
}

Status qlinearConv(KernelContext& ctx) {
  const Tensor* x = ctx.input(0);
  const Tensor* w = ctx.input(3);
  const Tensor* yZp = ctx.input(7);
  const Tensor* bias = ctx.input(8);
  if (!x || !w || !ctx.input(1) || !ctx.input(4) || !ctx.input(6))
    return ctx.fail("needs inputs x, x_scale, w, w_scale and y_scale");
  NPU_ASSIGN_OR_RETURN(IntConv r, intConv(ctx, *x, ctx.input(2), *w, ctx.input(5)));
  const ConvGeometry& g = r.geom;
  NPU_ASSIGN_OR_RETURN(std::vector<float> xs, scaleVector(ctx, ctx.input(1), "x_scale", 1));
  NPU_ASSIGN_OR_RETURN(std::vector<float> ws, scaleVector(ctx, ctx.input(4), "w_scale", g.cout));
  NPU_ASSIGN_OR_RETURN(std::vector<float> ys, scaleVector(ctx, ctx.input(6), "y_scale", 1));
  NPU_ASSIGN_OR_RETURN(int32_t yz, scalarZeroPoint(ctx, yZp, "y_zero_point"));
  std::vector<int32_t> b(static_cast<size_t>(g.cout), 0);
  if (bias) {
    if (bias->dtype() != DType::I32 || bias->numElements() != g.cout)
      return ctx.fail("bias {} must be int32 with {} elements", bias->describe(), g.cout);
    b = toInt32s(*bias);
  }
  DType out = yZp ? yZp->dtype() : x->dtype();
  if (out != DType::U8 && out != DType::I8) return ctx.unsupported("output dtype {}", dtypeName(out));
  IntRange range = rangeOf(out);
  Tensor& y = ctx.allocate(0, out, convOutDims(g));
  int64_t osz = g.outSize();
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t m = 0; m < g.cout; ++m) {
      float mult = xs[0] * ws[size_t(m)] / ys[0];
      for (int64_t p = 0; p < osz; ++p) {
        int64_t idx = (n * g.cout + m) * osz + p;
        int64_t acc = int64_t(r.acc[size_t(idx)]) + b[size_t(m)];
        storeInt(y, idx, roundSaturate(double(acc) * double(mult), yz, range));
      }
    }
  return Status::ok();
}

}  // namespace

void registerQuantKernels(KernelRegistry& r) {
  r.add("", "QuantizeLinear", quantizeLinear);
  r.add("", "DequantizeLinear", dequantizeLinear);
  // ONNX Runtime's contrib forms: the same semantics, with 16-bit types before opset 21.
  r.add("com.microsoft", "QuantizeLinear", quantizeLinear);
  r.add("com.microsoft", "DequantizeLinear", dequantizeLinear);
  r.add("", "DynamicQuantizeLinear", dynamicQuantizeLinear);
  r.add("", "MatMulInteger", matMulInteger);
  r.add("", "ConvInteger", convInteger);
  r.add("", "QLinearConv", qlinearConv);
  r.add("", "QLinearMatMul", qlinearMatMul);
}

}  // namespace npuconv
