// shape.cc - kernels of the shape family (see kernels.h): ops that move, select or create
// elements without arithmetic. They are dtype-agnostic (elements move as raw bytes of the
// dtype's size, f16 and bool included); the few that compare or combine values (TopK, NonZero,
// Scatter reductions, Range) dispatch on the dtype through shape_typed.h.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <set>

#include "converter/exec/kernel.h"
#include "converter/exec/kernels/kernels.h"
#include "converter/exec/kernels/shape_copy.h"
#include "converter/exec/kernels/shape_typed.h"

namespace npuconv {
namespace {

using shapeops::Arith;
using shapeops::bytesOf;
using shapeops::dispatchNumeric;
using shapeops::mutableBytesOf;
using shapeops::stridedCopy;
using shapeops::stridesOf;

#define NPU_REQUIRE_INPUTS(ctx, n)                                                    \
  do {                                                                                \
    for (size_t npu_i = 0; npu_i < (n); ++npu_i)                                      \
      if (!(ctx).hasInput(npu_i)) return (ctx).fail("input {} is required", npu_i); \
  } while (0)

Expected<int64_t> normAxis(const KernelContext& ctx, int64_t axis, int64_t rank, std::string_view what = "axis") {
  if (axis < -rank || axis >= rank) return ctx.fail("{} {} is out of range for rank {}", what, axis, rank);
  return axis < 0 ? axis + rank : axis;
}

/// Integer values of a shape-like input (shapes, axes, pads, repeats, indices lists).
Expected<std::vector<int64_t>> intsOf(const KernelContext& ctx, const Tensor& t, std::string_view what) {
  if (!isInteger(t.dtype()))
    return ctx.fail("{} must be an integer tensor, got {}", what, dtypeName(t.dtype()));
  return t.toInt64s();
}

Expected<int64_t> scalarInt(const KernelContext& ctx, const Tensor& t, std::string_view what) {
  if (t.numElements() != 1) return ctx.fail("{} must hold one value, got {}", what, t.describe());
  if (isFloat(t.dtype())) return static_cast<int64_t>(t.toDoubles()[0]);
  if (!isInteger(t.dtype()) && t.dtype() != DType::Bool)
    return ctx.fail("{} must be numeric, got {}", what, dtypeName(t.dtype()));
  return t.toInt64s()[0];
}

int64_t product(const std::vector<int64_t>& d, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to && i < d.size(); ++i) p *= d[i];
  return p;
}

Status checkDims(const KernelContext& ctx, const std::vector<int64_t>& dims) {
  for (int64_t d : dims)
    if (d < 0) return ctx.fail("computed output dim {} is negative", d);
  return Status::ok();
}

/// Normalized index into a dim of size n, or an error for out-of-range indices.
Expected<int64_t> normIndex(const KernelContext& ctx, int64_t k, int64_t n) {
  if (k < -n || k >= n) return ctx.fail("index {} is out of range for a dim of size {}", k, n);
  return k < 0 ? k + n : k;
}

Expected<std::vector<int64_t>> indicesOf(const KernelContext& ctx, const Tensor& t) {
  if (t.dtype() != DType::I64 && t.dtype() != DType::I32)
    return ctx.fail("indices must be int32 or int64, got {}", dtypeName(t.dtype()));
  return t.toInt64s();
}

// --- Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze -------------------------------------

Status shapeKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 1);
  const std::vector<int64_t>& d = ctx.input(0)->dims();
  int64_t r = static_cast<int64_t>(d.size());
  int64_t start = ctx.attrs().getInt("start", 0), end = ctx.attrs().getInt("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  int64_t n = std::max<int64_t>(0, end - start);
  Tensor& out = ctx.allocate(0, DType::I64, {n});
  for (int64_t i = 0; i < n; ++i) out.mutableData<int64_t>()[i] = d[static_cast<size_t>(start + i)];
  return Status::ok();
}

Status sizeKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 1);
  ctx.allocate(0, DType::I64, {}).mutableData<int64_t>()[0] = ctx.input(0)->numElements();
  return Status::ok();
}

Status reshapeKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 1);
  const Tensor& x = *ctx.input(0);
  std::vector<int64_t> shape;
  if (ctx.hasInput(1)) {
    NPU_ASSIGN_OR_RETURN(shape, intsOf(ctx, *ctx.input(1), "shape"));
  } else if (auto s = ctx.attrs().get<std::vector<int64_t>>("shape")) {
    shape = *s;
  } else {
    return ctx.fail("no shape input or attribute");
  }
  bool allowZero = ctx.attrs().getInt("allowzero", 0) != 0;
  std::vector<int64_t> out(shape.size());
  int64_t inferAt = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0 && !allowZero) {
      if (static_cast<int64_t>(i) >= x.rank()) return ctx.fail("shape[{}] = 0 copies a dim the input lacks", i);
      out[i] = x.dims()[i];
    } else if (shape[i] == -1) {
      if (inferAt >= 0) return ctx.fail("more than one -1 in the shape");
      inferAt = static_cast<int64_t>(i);
      continue;
    } else if (shape[i] < 0) {
      return ctx.fail("invalid shape value {}", shape[i]);
    } else {
      out[i] = shape[i];
    }
  }
  if (inferAt >= 0) {
    std::vector<int64_t> knownDims = out;  // the shape's values come from data: checked product
    knownDims.erase(knownDims.begin() + inferAt);
    std::optional<int64_t> known = checkedElementCount(knownDims);
    if (!known || *known == 0 || x.numElements() % *known != 0)
      return ctx.fail("cannot infer the -1 dim: {} elements into {} ", x.numElements(), fmt::join(shape, ","));
    out[static_cast<size_t>(inferAt)] = x.numElements() / *known;
  }
  if (checkedElementCount(out) != x.numElements())
    return ctx.fail("cannot reshape {} to [{}]", x.describe(), fmt::join(out, ","));
  ctx.setOutput(0, Tensor::alias(x, std::move(out)));
  return Status::ok();
}

Status flattenKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 1);
  const Tensor& x = *ctx.input(0);
  int64_t r = x.rank(), axis = ctx.attrs().getInt("axis", 1);
  if (axis < -r || axis > r) return ctx.fail("axis {} is out of range for rank {}", axis, r);
  if (axis < 0) axis += r;
  int64_t a = product(x.dims(), 0, static_cast<size_t>(axis));
  int64_t b = product(x.dims(), static_cast<size_t>(axis), x.dims().size());
  ctx.setOutput(0, Tensor::alias(x, {a, b}));
  return Status::ok();
}

/// Axes from input `idx` (newer opsets) or the "axes" attribute; nullopt when neither.
Expected<std::optional<std::vector<int64_t>>> axesOf(const KernelContext& ctx, size_t idx) {
  if (ctx.hasInput(idx)) {
    NPU_ASSIGN_OR_RETURN(std::vector<int64_t> a, intsOf(ctx, *ctx.input(idx), "axes"));
    return std::optional<std::vector<int64_t>>(std::move(a));
  }
  if (auto a = ctx.attrs().get<std::vector<int64_t>>("axes")) return std::optional<std::vector<int64_t>>(*a);
  return std::optional<std::vector<int64_t>>();
}

Status squeezeKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 1);
  const Tensor& x = *ctx.input(0);
  NPU_ASSIGN_OR_RETURN(auto axes, axesOf(ctx, 1));
  std::vector<bool> drop(static_cast<size_t>(x.rank()), false);
  if (axes && !axes->empty()) {
    for (int64_t a : *axes) {
      NPU_ASSIGN_OR_RETURN(int64_t ax, normAxis(ctx, a, x.rank()));
      if (x.dims()[static_cast<size_t>(ax)] != 1)
        return ctx.fail("cannot squeeze axis {} of size {}", a, x.dims()[static_cast<size_t>(ax)]);
      drop[static_cast<size_t>(ax)] = true;
    }
  } else {
    for (size_t i = 0; i < drop.size(); ++i) drop[i] = x.dims()[i] == 1;
  }
  std::vector<int64_t> out;
  for (size_t i = 0; i < drop.size(); ++i)
    if (!drop[i]) out.push_back(x.dims()[i]);
  ctx.setOutput(0, Tensor::alias(x, std::move(out)));
  return Status::ok();
}

Status unsqueezeKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 1);
  const Tensor& x = *ctx.input(0);
  NPU_ASSIGN_OR_RETURN(auto axes, axesOf(ctx, 1));
  if (!axes) return ctx.fail("no axes input or attribute");
  int64_t outRank = x.rank() + static_cast<int64_t>(axes->size());
  std::vector<bool> isNew(static_cast<size_t>(outRank), false);
  for (int64_t a : *axes) {
    NPU_ASSIGN_OR_RETURN(int64_t ax, normAxis(ctx, a, outRank));
    if (isNew[static_cast<size_t>(ax)]) return ctx.fail("axis {} repeated", a);
    isNew[static_cast<size_t>(ax)] = true;
  }
  std::vector<int64_t> out;
  size_t k = 0;
  for (size_t i = 0; i < isNew.size(); ++i) out.push_back(isNew[i] ? 1 : x.dims()[k++]);
  ctx.setOutput(0, Tensor::alias(x, std::move(out)));
  return Status::ok();
}

// --- Concat, Split, Slice ----------------------------------------------------------------------

Status concatKernel(KernelContext& ctx) {
  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < ctx.numInputs(); ++i)
    if (ctx.hasInput(i)) ins.push_back(ctx.input(i));
  if (ins.empty()) return ctx.fail("no inputs");
  auto axisAttr = ctx.attrs().get<int64_t>("axis");
  if (!axisAttr && ctx.opset() >= 4) return ctx.fail("attribute axis is required");
  const Tensor& first = *ins[0];
  NPU_ASSIGN_OR_RETURN(int64_t axis, normAxis(ctx, axisAttr.value_or(1), first.rank()));
  std::vector<int64_t> outDims = first.dims();
  outDims[static_cast<size_t>(axis)] = 0;
  for (const Tensor* t : ins) {
    if (t->dtype() != first.dtype() || t->rank() != first.rank())
      return ctx.fail("inputs {} and {} do not concatenate", first.describe(), t->describe());
    for (int64_t d = 0; d < first.rank(); ++d)
      if (d != axis && t->dims()[static_cast<size_t>(d)] != first.dims()[static_cast<size_t>(d)])
        return ctx.fail("inputs {} and {} differ outside axis {}", first.describe(), t->describe(), axis);
    outDims[static_cast<size_t>(axis)] += t->dims()[static_cast<size_t>(axis)];
  }
  Tensor& out = ctx.allocate(0, first.dtype(), outDims);
  const size_t esz = dtypeSize(first.dtype());
  int64_t outer = product(outDims, 0, static_cast<size_t>(axis));
  std::vector<size_t> chunk;
  size_t rowBytes = 0;
  for (const Tensor* t : ins) {
    chunk.push_back(static_cast<size_t>(product(t->dims(), static_cast<size_t>(axis), t->dims().size())) * esz);
    rowBytes += chunk.back();
  }
  std::byte* dst = mutableBytesOf(out);
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      std::byte* d = dst + static_cast<size_t>(o) * rowBytes;
      for (size_t k = 0; k < ins.size(); ++k) {
        std::memcpy(d, bytesOf(*ins[k]) + static_cast<size_t>(o) * chunk[k], chunk[k]);
        d += chunk[k];
      }
    }
  };
  if (out.byteSize() >= (1u << 20)) ctx.pool().parallelFor(outer, std::max<int64_t>(1, 65536 / std::max<size_t>(1, rowBytes)), work);
  else work(0, outer);
  return Status::ok();
}

/// A copy of x restricted to [start, start + len) along axis.
Tensor sliceAxis(const Tensor& x, int64_t axis, int64_t start, int64_t len, ThreadPool* pool) {
  std::vector<int64_t> dims = x.dims(), st = stridesOf(x.dims());
  dims[static_cast<size_t>(axis)] = len;
  Tensor out(x.dtype(), dims);
  stridedCopy(mutableBytesOf(out), bytesOf(x), dims, st, start * st[static_cast<size_t>(axis)], dtypeSize(x.dtype()), pool);
  return out;
}

Status splitKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 1);
  const Tensor& x = *ctx.input(0);
  NPU_ASSIGN_OR_RETURN(int64_t axis, normAxis(ctx, ctx.attrs().getInt("axis", 0), x.rank()));
  const int64_t dim = x.dims()[static_cast<size_t>(axis)];
  const int64_t n = static_cast<int64_t>(ctx.numOutputs());
  std::vector<int64_t> splits;
  if (ctx.hasInput(1)) {
    NPU_ASSIGN_OR_RETURN(splits, intsOf(ctx, *ctx.input(1), "split"));
  } else if (auto s = ctx.attrs().get<std::vector<int64_t>>("split")) {
    splits = *s;
  } else if (auto num = ctx.attrs().get<int64_t>("num_outputs")) {
    if (*num != n || n <= 0) return ctx.fail("num_outputs {} but {} outputs", *num, n);
    int64_t chunk = (dim + n - 1) / n;
    for (int64_t i = 0; i < n; ++i) splits.push_back(std::max<int64_t>(0, std::min(chunk, dim - i * chunk)));
  } else {
    if (n <= 0 || dim % n != 0) return ctx.fail("cannot split a dim of {} into {} equal parts", dim, n);
    splits.assign(static_cast<size_t>(n), dim / n);
  }
  if (static_cast<int64_t>(splits.size()) != n)
    return ctx.fail("{} split sizes for {} outputs", splits.size(), n);
  int64_t sum = 0;
  for (int64_t s : splits) {
    if (s < 0) return ctx.fail("negative split size {}", s);
    sum += s;
  }
  if (sum != dim) return ctx.fail("split sizes sum to {}, the dim is {}", sum, dim);
  int64_t start = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (ctx.wantsOutput(static_cast<size_t>(i)))
      ctx.setOutput(static_cast<size_t>(i), sliceAxis(x, axis, start, splits[static_cast<size_t>(i)], &ctx.pool()));
    start += splits[static_cast<size_t>(i)];
  }
  return Status::ok();
}

Status sliceKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 1);
  const Tensor& x = *ctx.input(0);
  std::vector<int64_t> starts, ends, axes, steps;
  bool hasAxes = false, hasSteps = false;
  if (ctx.hasInput(1) || ctx.hasInput(2)) {
    NPU_REQUIRE_INPUTS(ctx, 3);
    NPU_ASSIGN_OR_RETURN(starts, intsOf(ctx, *ctx.input(1), "starts"));
    NPU_ASSIGN_OR_RETURN(ends, intsOf(ctx, *ctx.input(2), "ends"));
    if (ctx.hasInput(3)) {
      NPU_ASSIGN_OR_RETURN(axes, intsOf(ctx, *ctx.input(3), "axes"));
      hasAxes = true;
    }
    if (ctx.hasInput(4)) {
      NPU_ASSIGN_OR_RETURN(steps, intsOf(ctx, *ctx.input(4), "steps"));
      hasSteps = true;
    }
  } else {
    auto s = ctx.attrs().get<std::vector<int64_t>>("starts");
    auto e = ctx.attrs().get<std::vector<int64_t>>("ends");
    if (!s || !e) return ctx.fail("no starts/ends inputs or attributes");
    starts = *s;
    ends = *e;
    if (auto a = ctx.attrs().get<std::vector<int64_t>>("axes")) {
      axes = *a;
      hasAxes = true;
    }
  }
  if (ends.size() != starts.size()) return ctx.fail("{} starts but {} ends", starts.size(), ends.size());
  if (!hasAxes) {
    axes.resize(starts.size());
    std::iota(axes.begin(), axes.end(), 0);
  }
  if (!hasSteps) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size())
    return ctx.fail("starts, ends, axes and steps differ in length");
  const size_t r = static_cast<size_t>(x.rank());
  std::vector<int64_t> outDims = x.dims(), inSt = stridesOf(x.dims()), st = inSt;
  int64_t offset = 0;
  std::vector<bool> seen(r, false);
  for (size_t k = 0; k < starts.size(); ++k) {
    NPU_ASSIGN_OR_RETURN(int64_t ax, normAxis(ctx, axes[k], x.rank()));
    size_t a = static_cast<size_t>(ax);
    if (seen[a]) return ctx.fail("axis {} repeated", axes[k]);
    seen[a] = true;
    const int64_t d = x.dims()[a];
    int64_t step = steps[k], s = starts[k], e = ends[k];
    if (step == 0) return ctx.fail("step 0 on axis {}", axes[k]);
    if (s < 0) s += d;
    if (e < 0) e += d;
    int64_t len;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, d);
      e = std::clamp<int64_t>(e, 0, d);
      step = std::min(step, std::max<int64_t>(d, 1));
      len = e > s ? (e - s - 1) / step + 1 : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, d - 1);
      e = std::clamp<int64_t>(e, -1, d - 1);
      step = std::max(step, -std::max<int64_t>(d, 1));
      len = s > e ? (s - e - 1) / (-step) + 1 : 0;
    }
    outDims[a] = len;
    st[a] = inSt[a] * step;
    if (len > 0) offset += s * inSt[a];
  }
  Tensor& out = ctx.allocate(0, x.dtype(), outDims);
  if (out.numElements() > 0)
    stridedCopy(mutableBytesOf(out), bytesOf(x), outDims, st, offset, dtypeSize(x.dtype()), &ctx.pool());
  return Status::ok();
}

// --- Gather family, Scatter family ------------------------------------------------------------

Status gatherKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 2);
  const Tensor& x = *ctx.input(0);
  if (x.rank() < 1) return ctx.fail("data must have rank >= 1");
  NPU_ASSIGN_OR_RETURN(int64_t axis, normAxis(ctx, ctx.attrs().getInt("axis", 0), x.rank()));
  NPU_ASSIGN_OR_RETURN(std::vector<int64_t> idx, indicesOf(ctx, *ctx.input(1)));
  const size_t a = static_cast<size_t>(axis);
  const int64_t n = x.dims()[a];
  for (int64_t& k : idx) {
    NPU_ASSIGN_OR_RETURN(k, normIndex(ctx, k, n));
  }
  std::vector<int64_t> outDims(x.dims().begin(), x.dims().begin() + axis);
  outDims.insert(outDims.end(), ctx.input(1)->dims().begin(), ctx.input(1)->dims().end());
  outDims.insert(outDims.end(), x.dims().begin() + axis + 1, x.dims().end());
  Tensor& out = ctx.allocate(0, x.dtype(), outDims);
  const size_t esz = dtypeSize(x.dtype());
  const int64_t outer = product(x.dims(), 0, a), inner = product(x.dims(), a + 1, x.dims().size());
  const int64_t ni = static_cast<int64_t>(idx.size());
  const size_t chunk = static_cast<size_t>(inner) * esz;
  const std::byte* src = bytesOf(x);
  std::byte* dst = mutableBytesOf(out);
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t w = begin; w < end; ++w) {
      int64_t o = w / ni, j = w % ni;
      std::memcpy(dst + static_cast<size_t>(w) * chunk, src + static_cast<size_t>(o * n + idx[static_cast<size_t>(j)]) * chunk, chunk);
    }
  };
  if (out.byteSize() >= (1u << 20)) ctx.pool().parallelFor(outer * ni, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, int64_t(chunk))), work);
  else work(0, outer * ni);
  return Status::ok();
}

/// Visits every position of `dims` in row-major order: f(linear, multiIndex).
template <typename F>
void forEachIndex(const std::vector<int64_t>& dims, F&& f) {
  int64_t total = elementCount(dims);
  std::vector<int64_t> idx(dims.size(), 0);
  for (int64_t lin = 0; lin < total; ++lin) {
    f(lin, idx);
    for (size_t i = dims.size(); i-- > 0;) {
      if (++idx[i] < dims[i]) break;
      idx[i] = 0;
    }
  }
}

/// Offsets into `data` for each element of `indices` along `axis` (GatherElements/ScatterElements).
Expected<std::vector<int64_t>> elementOffsets(const KernelContext& ctx, const Tensor& data, const Tensor& indices,
                                              int64_t axis) {
  if (indices.rank() != data.rank()) return ctx.fail("indices rank {} != data rank {}", indices.rank(), data.rank());
  NPU_ASSIGN_OR_RETURN(std::vector<int64_t> idx, indicesOf(ctx, indices));
  std::vector<int64_t> st = stridesOf(data.dims());
  const size_t a = static_cast<size_t>(axis);
  const int64_t n = data.dims()[a];
  std::vector<int64_t> offs(idx.size());
  Status bad;
  forEachIndex(indices.dims(), [&](int64_t lin, const std::vector<int64_t>& pos) {
    if (!bad.isOk()) return;
    int64_t k = idx[static_cast<size_t>(lin)];
    if (k < -n || k >= n) {
      bad = ctx.fail("index {} is out of range for a dim of size {}", k, n);
      return;
    }
    if (k < 0) k += n;
    int64_t off = 0;
    for (size_t d = 0; d < pos.size(); ++d) off += (d == a ? k : pos[d]) * st[d];
    offs[static_cast<size_t>(lin)] = off;
  });
  if (!bad.isOk()) return bad;
  return offs;
}

Status gatherElementsKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 2);
  const Tensor& x = *ctx.input(0);
  NPU_ASSIGN_OR_RETURN(int64_t axis, normAxis(ctx, ctx.attrs().getInt("axis", 0), x.rank()));
  const Tensor& ind = *ctx.input(1);
  for (int64_t d = 0; d < x.rank() && d < ind.rank(); ++d)
    if (d != axis && ind.dims()[size_t(d)] > x.dims()[size_t(d)])
      return ctx.fail("indices {} exceed data {} on dim {}", ind.describe(), x.describe(), d);
  NPU_ASSIGN_OR_RETURN(std::vector<int64_t> offs, elementOffsets(ctx, x, ind, axis));
  Tensor& out = ctx.allocate(0, x.dtype(), ind.dims());
  const size_t esz = dtypeSize(x.dtype());
  for (size_t i = 0; i < offs.size(); ++i)
    std::memcpy(mutableBytesOf(out) + i * esz, bytesOf(x) + static_cast<size_t>(offs[i]) * esz, esz);
  return Status::ok();
}

Status gatherNdKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 2);
  const Tensor& x = *ctx.input(0);
  const Tensor& ind = *ctx.input(1);
  const int64_t b = ctx.attrs().getInt("batch_dims", 0);
  const int64_t r = x.rank(), q = ind.rank();
  if (q < 1 || b < 0 || b >= std::min(r, q)) return ctx.fail("batch_dims {} invalid for ranks {} and {}", b, r, q);
  for (int64_t i = 0; i < b; ++i)
    if (x.dims()[size_t(i)] != ind.dims()[size_t(i)]) return ctx.fail("batch dims of data and indices differ");
  const int64_t last = ind.dims().back();
  if (last < 1 || last > r - b) return ctx.fail("indices last dim {} invalid for data rank {}", last, r);
  NPU_ASSIGN_OR_RETURN(std::vector<int64_t> idx, indicesOf(ctx, ind));
  std::vector<int64_t> outDims(ind.dims().begin(), ind.dims().end() - 1);
  outDims.insert(outDims.end(), x.dims().begin() + b + last, x.dims().end());
  Tensor& out = ctx.allocate(0, x.dtype(), outDims);
  const size_t esz = dtypeSize(x.dtype());
  const std::vector<int64_t> st = stridesOf(x.dims());
  const int64_t batches = product(x.dims(), 0, size_t(b));
  const int64_t batchStride = product(x.dims(), size_t(b), x.dims().size());
  const int64_t perBatch = product(ind.dims(), size_t(b), ind.dims().size() - 1);
  const size_t slice = static_cast<size_t>(product(x.dims(), size_t(b + last), x.dims().size())) * esz;
  for (int64_t bi = 0; bi < batches; ++bi)
    for (int64_t j = 0; j < perBatch; ++j) {
      const int64_t* tuple = idx.data() + (bi * perBatch + j) * last;
      int64_t off = bi * batchStride;
      for (int64_t k = 0; k < last; ++k) {
        NPU_ASSIGN_OR_RETURN(int64_t v, normIndex(ctx, tuple[k], x.dims()[size_t(b + k)]));
        off += v * st[size_t(b + k)];
      }
      std::memcpy(mutableBytesOf(out) + static_cast<size_t>(bi * perBatch + j) * slice,
                  bytesOf(x) + static_cast<size_t>(off) * esz, slice);
    }
  return Status::ok();
}

enum class Reduction { None, Add, Mul, Max, Min };

Expected<Reduction> reductionOf(const KernelContext& ctx) {
  std::string r = ctx.attrs().getString("reduction", "none");
  if (r == "none") return Reduction::None;
  if (r == "add") return Reduction::Add;
  if (r == "mul") return Reduction::Mul;
  if (r == "max") return Reduction::Max;
  if (r == "min") return Reduction::Min;
  return ctx.unsupported("reduction \"{}\"", r);
}

/// dst[dOff + i] (op)= src[sOff + i] for i < n, elements of `out`'s dtype.
struct Combiner {
  Reduction red;
  DType dtype;
  size_t esz;
  void operator()(std::byte* dst, const std::byte* src, int64_t n) const {
    if (red == Reduction::None) {
      std::memcpy(dst, src, static_cast<size_t>(n) * esz);
      return;
    }
    dispatchNumeric(dtype, [&](auto tag) {
      using T = decltype(tag);
      using A = Arith<T>;
      for (int64_t i = 0; i < n; ++i) {
        T a, b;
        std::memcpy(&a, dst + i * int64_t(sizeof(T)), sizeof(T));
        std::memcpy(&b, src + i * int64_t(sizeof(T)), sizeof(T));
        auto x = A::load(a), y = A::load(b);
        decltype(x) v;
        switch (red) {
          case Reduction::Add: v = static_cast<decltype(x)>(x + y); break;
          case Reduction::Mul: v = static_cast<decltype(x)>(x * y); break;
          case Reduction::Max: v = std::max(x, y); break;
          default: v = std::min(x, y); break;
        }
        T r = A::store(v);
        std::memcpy(dst + i * int64_t(sizeof(T)), &r, sizeof(T));
      }
    });
  }
};

Status scatterNdKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 3);
  const Tensor& x = *ctx.input(0);
  const Tensor& ind = *ctx.input(1);
  const Tensor& upd = *ctx.input(2);
  NPU_ASSIGN_OR_RETURN(Reduction red, reductionOf(ctx));
  if (upd.dtype() != x.dtype()) return ctx.fail("updates dtype differs from data");
  const int64_t r = x.rank(), q = ind.rank();
  if (q < 1) return ctx.fail("indices must have rank >= 1");
  const int64_t k = ind.dims().back();
  if (k > r) return ctx.fail("indices last dim {} exceeds data rank {}", k, r);
  std::vector<int64_t> updDims(ind.dims().begin(), ind.dims().end() - 1);
  updDims.insert(updDims.end(), x.dims().begin() + k, x.dims().end());
  if (updDims != upd.dims()) return ctx.fail("updates {} do not match [{}]", upd.describe(), fmt::join(updDims, ","));
  NPU_ASSIGN_OR_RETURN(std::vector<int64_t> idx, indicesOf(ctx, ind));
  Tensor& out = ctx.allocate(0, x.dtype(), x.dims());
  std::memcpy(out.mutableRaw(), x.raw(), x.byteSize());
  const size_t esz = dtypeSize(x.dtype());
  const std::vector<int64_t> st = stridesOf(x.dims());
  const int64_t slice = product(x.dims(), size_t(k), x.dims().size());
  const int64_t tuples = product(ind.dims(), 0, ind.dims().size() - 1);
  Combiner comb{red, x.dtype(), esz};
  if (red != Reduction::None && !dispatchNumeric(x.dtype(), [](auto) {}))
    return ctx.unsupported("reduction on {}", dtypeName(x.dtype()));
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t off = 0;
    for (int64_t j = 0; j < k; ++j) {
      NPU_ASSIGN_OR_RETURN(int64_t v, normIndex(ctx, idx[size_t(t * k + j)], x.dims()[size_t(j)]));
      off += v * st[size_t(j)];
    }
    comb(mutableBytesOf(out) + static_cast<size_t>(off) * esz, bytesOf(upd) + static_cast<size_t>(t * slice) * esz, slice);
  }
  return Status::ok();
}

Status scatterElementsKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 3);
  const Tensor& x = *ctx.input(0);
  const Tensor& ind = *ctx.input(1);
  const Tensor& upd = *ctx.input(2);
  NPU_ASSIGN_OR_RETURN(Reduction red, reductionOf(ctx));
  if (upd.dtype() != x.dtype()) return ctx.fail("updates dtype differs from data");
  if (upd.dims() != ind.dims()) return ctx.fail("updates {} and indices {} differ in shape", upd.describe(), ind.describe());
  NPU_ASSIGN_OR_RETURN(int64_t axis, normAxis(ctx, ctx.attrs().getInt("axis", 0), x.rank()));
  NPU_ASSIGN_OR_RETURN(std::vector<int64_t> offs, elementOffsets(ctx, x, ind, axis));
  if (red != Reduction::None && !dispatchNumeric(x.dtype(), [](auto) {}))
    return ctx.unsupported("reduction on {}", dtypeName(x.dtype()));
  Tensor& out = ctx.allocate(0, x.dtype(), x.dims());
  std::memcpy(out.mutableRaw(), x.raw(), x.byteSize());
  const size_t esz = dtypeSize(x.dtype());
  Combiner comb{red, x.dtype(), esz};
  for (size_t i = 0; i < offs.size(); ++i)
    comb(mutableBytesOf(out) + static_cast<size_t>(offs[i]) * esz, bytesOf(upd) + i * esz, 1);
  return Status::ok();
}

// --- Transpose, Expand, Tile, DepthToSpace, SpaceToDepth -----------------------------------------

Status transposeKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 1);
  const Tensor& x = *ctx.input(0);
  const size_t r = static_cast<size_t>(x.rank());
  std::vector<int64_t> perm = ctx.attrs().getInts("perm");
  if (perm.empty()) {
    perm.resize(r);
    for (size_t i = 0; i < r; ++i) perm[i] = static_cast<int64_t>(r - 1 - i);
  }
  if (perm.size() != r) return ctx.fail("perm has {} entries for rank {}", perm.size(), r);
  std::vector<bool> used(r, false);
  std::vector<int64_t> inSt = stridesOf(x.dims()), dims(r), st(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t p = perm[i] < 0 ? perm[i] + int64_t(r) : perm[i];
    if (p < 0 || p >= int64_t(r) || used[size_t(p)]) return ctx.fail("perm is not a permutation");
    used[size_t(p)] = true;
    dims[i] = x.dims()[size_t(p)];
    st[i] = inSt[size_t(p)];
  }
  bool identity = true;
  for (size_t i = 0; i < r; ++i) identity &= perm[i] == int64_t(i) || dims[i] == 1;
  if (identity) {  // only unit dims move: same bytes
    ctx.setOutput(0, Tensor::alias(x, dims));
    return Status::ok();
  }
  Tensor& out = ctx.allocate(0, x.dtype(), dims);
  stridedCopy(mutableBytesOf(out), bytesOf(x), dims, st, 0, dtypeSize(x.dtype()), &ctx.pool());
  return Status::ok();
}

Status expandKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 2);
  const Tensor& x = *ctx.input(0);
  NPU_ASSIGN_OR_RETURN(std::vector<int64_t> shape, intsOf(ctx, *ctx.input(1), "shape"));
  const size_t r = std::max(static_cast<size_t>(x.rank()), shape.size());
  std::vector<int64_t> dims(r), st(r), inSt = stridesOf(x.dims());
  for (size_t i = 0; i < r; ++i) {
    int64_t xi = int64_t(i) - int64_t(r) + x.rank(), si = int64_t(i) - int64_t(r) + int64_t(shape.size());
    int64_t a = xi >= 0 ? x.dims()[size_t(xi)] : 1, b = si >= 0 ? shape[size_t(si)] : 1;
    if (b < 0) return ctx.fail("negative dim {} in shape", b);
    if (a == 1) dims[i] = b;
    else if (b == 1 || b == a) dims[i] = a;
    else return ctx.fail("cannot expand {} to [{}]", x.describe(), fmt::join(shape, ","));
    st[i] = (xi >= 0 && a != 1) ? inSt[size_t(xi)] : 0;
  }
  Tensor& out = ctx.allocate(0, x.dtype(), dims);
  stridedCopy(mutableBytesOf(out), bytesOf(x), dims, st, 0, dtypeSize(x.dtype()), &ctx.pool());
  return Status::ok();
}

Status tileKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 2);
  const Tensor& x = *ctx.input(0);
  if (ctx.hasInput(2)) return ctx.unsupported("Tile-1 (tiles and axis inputs)");
  NPU_ASSIGN_OR_RETURN(std::vector<int64_t> reps, intsOf(ctx, *ctx.input(1), "repeats"));
  if (int64_t(reps.size()) != x.rank()) return ctx.fail("{} repeats for rank {}", reps.size(), x.rank());
  std::vector<int64_t> inSt = stridesOf(x.dims()), viewDims, viewSt, outDims;
  for (size_t i = 0; i < reps.size(); ++i) {
    if (reps[i] < 0) return ctx.fail("negative repeat {}", reps[i]);
    viewDims.insert(viewDims.end(), {reps[i], x.dims()[i]});
    viewSt.insert(viewSt.end(), {0, inSt[i]});
    outDims.push_back(reps[i] * x.dims()[i]);
  }
  Tensor& out = ctx.allocate(0, x.dtype(), outDims);
  stridedCopy(mutableBytesOf(out), bytesOf(x), viewDims, viewSt, 0, dtypeSize(x.dtype()), &ctx.pool());
  return Status::ok();
}

/// out = transpose(reshape(x, shape), perm) reshaped to outDims.
void reshapeTranspose(KernelContext& ctx, const Tensor& x, const std::vector<int64_t>& shape,
                      const std::vector<size_t>& perm, std::vector<int64_t> outDims) {
  std::vector<int64_t> st = stridesOf(shape), d(perm.size()), s(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    d[i] = shape[perm[i]];
    s[i] = st[perm[i]];
  }
  Tensor& out = ctx.allocate(0, x.dtype(), std::move(outDims));
  stridedCopy(mutableBytesOf(out), bytesOf(x), d, s, 0, dtypeSize(x.dtype()), &ctx.pool());
}

Status depthToSpaceKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 1);
  const Tensor& x = *ctx.input(0);
  if (x.rank() != 4) return ctx.fail("input must be 4-D, got {}", x.describe());
  int64_t b = ctx.attrs().getInt("blocksize", 0);
  int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  if (b <= 0 || C % (b * b) != 0) return ctx.fail("blocksize {} does not divide {} channels", b, C);
  std::string mode = ctx.attrs().getString("mode", "DCR");
  int64_t c = C / (b * b);
  if (mode == "DCR") {
    reshapeTranspose(ctx, x, {N, b, b, c, H, W}, {0, 3, 4, 1, 5, 2}, {N, c, H * b, W * b});
  } else if (mode == "CRD") {
    reshapeTranspose(ctx, x, {N, c, b, b, H, W}, {0, 1, 4, 2, 5, 3}, {N, c, H * b, W * b});
  } else {
    return ctx.fail("unknown mode \"{}\"", mode);
  }
  return Status::ok();
}

Status spaceToDepthKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 1);
  const Tensor& x = *ctx.input(0);
  if (x.rank() != 4) return ctx.fail("input must be 4-D, got {}", x.describe());
  int64_t b = ctx.attrs().getInt("blocksize", 0);
  int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  if (b <= 0 || H % b != 0 || W % b != 0) return ctx.fail("blocksize {} does not divide {}x{}", b, H, W);
  reshapeTranspose(ctx, x, {N, C, H / b, b, W / b, b}, {0, 3, 5, 1, 2, 4}, {N, C * b * b, H / b, W / b});
  return Status::ok();
}

// --- Constant, ConstantOfShape, Range, EyeLike, OneHot ------------------------------------------

Status constantKernel(KernelContext& ctx) {
  const AttrMap& at = ctx.attrs();
  if (auto v = at.get<TensorRef>("value")) {
    if (!*v) return ctx.fail("empty value");
    if ((*v)->dtype() == DType::String || dtypeSize((*v)->dtype()) == 0)
      return ctx.unsupported("{} constants", dtypeName((*v)->dtype()));
    ctx.setOutput(0, Tensor::fromData(*v));
  } else if (auto f = at.get<float>("value_float")) {
    ctx.allocate(0, DType::F32, {}).mutableData<float>()[0] = *f;
  } else if (auto fs = at.get<std::vector<float>>("value_floats")) {
    Tensor& t = ctx.allocate(0, DType::F32, {int64_t(fs->size())});
    if (!fs->empty()) std::memcpy(t.mutableRaw(), fs->data(), fs->size() * sizeof(float));
  } else if (auto i = at.get<int64_t>("value_int")) {
    ctx.allocate(0, DType::I64, {}).mutableData<int64_t>()[0] = *i;
  } else if (auto is = at.get<std::vector<int64_t>>("value_ints")) {
    Tensor& t = ctx.allocate(0, DType::I64, {int64_t(is->size())});
    if (!is->empty()) std::memcpy(t.mutableRaw(), is->data(), is->size() * sizeof(int64_t));
  } else if (at.has("sparse_value")) {
    return ctx.unsupported("sparse_value constants");
  } else if (at.has("value_string") || at.has("value_strings")) {
    return ctx.unsupported("string constants");
  } else {
    return ctx.fail("no value attribute");
  }
  return Status::ok();
}

Status constantOfShapeKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 1);
  NPU_ASSIGN_OR_RETURN(std::vector<int64_t> dims, intsOf(ctx, *ctx.input(0), "shape"));
  NPU_TRY(checkDims(ctx, dims));
  auto v = ctx.attrs().get<TensorRef>("value");
  if (!v || !*v) {
    ctx.allocate(0, DType::F32, dims);
    return Status::ok();
  }
  const TensorData& val = **v;
  if (val.numElements() != 1) return ctx.fail("value must hold one element");
  if (dtypeSize(val.dtype()) == 0) return ctx.unsupported("{} values", dtypeName(val.dtype()));
  Tensor& out = ctx.allocate(0, val.dtype(), dims);
  shapeops::detail::copyRun(mutableBytesOf(out), val.bytes(), out.numElements(), 0, dtypeSize(val.dtype()));
  return Status::ok();
}

Status rangeKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 3);
  const Tensor &s = *ctx.input(0), &l = *ctx.input(1), &d = *ctx.input(2);
  if (s.numElements() != 1 || l.numElements() != 1 || d.numElements() != 1)
    return ctx.fail("start, limit and delta must be scalars");
  if (l.dtype() != s.dtype() || d.dtype() != s.dtype()) return ctx.fail("start, limit and delta differ in dtype");
  Status st;
  bool ok = dispatchNumeric(s.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = Arith<T>;
    using C = typename A::C;
    C start = A::load(s.data<T>()[0]), limit = A::load(l.data<T>()[0]), delta = A::load(d.data<T>()[0]);
    if (delta == C(0)) {
      st = ctx.fail("delta is zero");
      return;
    }
    int64_t n;
    if constexpr (std::is_floating_point_v<C>) {
      n = static_cast<int64_t>(std::max(0.0, std::ceil((double(limit) - double(start)) / double(delta))));
    } else {
      double span = double(limit) - double(start), dd = double(delta);
      n = static_cast<int64_t>(std::max(0.0, std::ceil(span / dd)));
    }
    Tensor& out = ctx.allocate(0, s.dtype(), {n});
    T* o = out.mutableData<T>();
    for (int64_t i = 0; i < n; ++i) o[i] = A::store(static_cast<C>(start + static_cast<C>(i) * delta));
  });
  if (!ok) return ctx.unsupported("dtype {}", dtypeName(s.dtype()));
  return st;
}

Status eyeLikeKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 1);
  const Tensor& x = *ctx.input(0);
  if (x.rank() != 2) return ctx.fail("input must be 2-D, got {}", x.describe());
  DType dt = x.dtype();
  if (auto code = ctx.attrs().get<int64_t>("dtype")) {
    auto d = dtypeFromCode(static_cast<int32_t>(*code));
    if (!d || dtypeSize(*d) == 0) return ctx.unsupported("dtype {}", *code);
    dt = *d;
  }
  int64_t k = ctx.attrs().getInt("k", 0);
  Tensor& out = ctx.allocate(0, dt, x.dims());
  const size_t esz = dtypeSize(dt);
  std::byte one[16];
  if (!shapeops::encodeScalar(dt, 1.0, one)) return ctx.unsupported("dtype {}", dtypeName(dt));
  for (int64_t i = 0; i < x.dim(0); ++i) {
    int64_t j = i + k;
    if (j >= 0 && j < x.dim(1)) std::memcpy(mutableBytesOf(out) + size_t(i * x.dim(1) + j) * esz, one, esz);
  }
  return Status::ok();
}

Status oneHotKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 3);
  const Tensor &ind = *ctx.input(0), &dep = *ctx.input(1), &vals = *ctx.input(2);
  if (vals.numElements() != 2) return ctx.fail("values must hold [off, on]");
  if (dep.numElements() != 1) return ctx.fail("depth must be a scalar");
  if (!dispatchNumeric(ind.dtype(), [](auto) {}) || !dispatchNumeric(dep.dtype(), [](auto) {}))
    return ctx.fail("indices and depth must be numeric");
  int64_t depth = static_cast<int64_t>(dep.toDoubles()[0]);
  if (depth < 1) return ctx.fail("depth {} < 1", depth);
  const int64_t r = ind.rank();
  int64_t axis = ctx.attrs().getInt("axis", -1);
  if (axis < -r - 1 || axis > r) return ctx.fail("axis {} is out of range", axis);
  if (axis < 0) axis += r + 1;
  std::vector<int64_t> outDims = ind.dims();
  outDims.insert(outDims.begin() + axis, depth);
  std::vector<double> idx = ind.toDoubles();
  Tensor& out = ctx.allocate(0, vals.dtype(), outDims);
  const size_t esz = dtypeSize(vals.dtype());
  std::byte* dst = mutableBytesOf(out);
  shapeops::detail::copyRun(dst, bytesOf(vals), out.numElements(), 0, esz);
  const int64_t inner = product(ind.dims(), size_t(axis), ind.dims().size());
  for (size_t i = 0; i < idx.size(); ++i) {
    int64_t k = static_cast<int64_t>(idx[i]);
    if (k < 0) k += depth;
    if (k < 0 || k >= depth) continue;
    int64_t o = int64_t(i) / inner, in = int64_t(i) % inner;
    std::memcpy(dst + size_t((o * depth + k) * inner + in) * esz, bytesOf(vals) + esz, esz);
  }
  return Status::ok();
}

// --- Pad, Trilu ----------------------------------------------------------------------------

Status padKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 1);
  const Tensor& x = *ctx.input(0);
  const int64_t r = x.rank();
  const size_t esz = dtypeSize(x.dtype());
  std::string mode = ctx.attrs().getString("mode", "constant");
  std::vector<int64_t> pads;
  std::byte fill[16] = {};
  std::vector<int64_t> axes;
  if (ctx.hasInput(1)) {
    NPU_ASSIGN_OR_RETURN(pads, intsOf(ctx, *ctx.input(1), "pads"));
    if (ctx.hasInput(2) && ctx.input(2)->numElements() > 0) {
      const Tensor& cv = *ctx.input(2);
      if (cv.dtype() != x.dtype()) return ctx.fail("constant_value dtype differs from data");
      std::memcpy(fill, cv.raw(), esz);
    }
    if (ctx.hasInput(3)) {
      NPU_ASSIGN_OR_RETURN(std::vector<int64_t> a, intsOf(ctx, *ctx.input(3), "axes"));
      for (int64_t v : a) {
        NPU_ASSIGN_OR_RETURN(int64_t ax, normAxis(ctx, v, r));
        axes.push_back(ax);
      }
    }
  } else {
    auto p = ctx.attrs().get<std::vector<int64_t>>("pads");
    if (!p) p = ctx.attrs().get<std::vector<int64_t>>("paddings");
    if (!p) return ctx.fail("no pads input or attribute");
    pads = *p;
    if (!shapeops::encodeScalar(x.dtype(), ctx.attrs().getFloat("value", 0.0f), fill))
      return ctx.unsupported("dtype {}", dtypeName(x.dtype()));
  }
  if (axes.empty())
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  if (pads.size() != 2 * axes.size()) return ctx.fail("{} pads for {} axes", pads.size(), axes.size());
  std::vector<int64_t> before(size_t(r), 0), after(size_t(r), 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    before[size_t(axes[i])] = pads[i];
    after[size_t(axes[i])] = pads[i + axes.size()];
  }
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
    return ctx.unsupported("mode \"{}\"", mode);
  // Per dim: input index for each output index, -1 for the constant fill.
  std::vector<std::vector<int64_t>> maps(static_cast<size_t>(r));
  std::vector<int64_t> outDims(static_cast<size_t>(r));
  for (size_t d = 0; d < size_t(r); ++d) {
    int64_t n = x.dims()[d], o = n + before[d] + after[d];
    if (o < 0) return ctx.fail("pads crop dim {} below zero", d);
    outDims[d] = o;
    maps[d].resize(size_t(o));
    for (int64_t j = 0; j < o; ++j) {
      int64_t i = j - before[d];
      if (i < 0 || i >= n) {
        if (mode == "constant") {
          i = -1;
        } else if (n == 0) {
          return ctx.fail("cannot {}-pad an empty dim", mode);
        } else if (mode == "edge") {
          i = std::clamp<int64_t>(i, 0, n - 1);
        } else if (mode == "wrap") {
          i = ((i % n) + n) % n;
        } else if (n == 1) {
          i = 0;
        } else {  // reflect, repeating the reflection like numpy
          int64_t period = 2 * (n - 1);
          i = ((i % period) + period) % period;
          if (i >= n) i = period - i;
        }
      }
      maps[d][size_t(j)] = i;
    }
  }
  Tensor& out = ctx.allocate(0, x.dtype(), outDims);
  if (out.numElements() == 0) return Status::ok();
  bool zeroFill = std::all_of(fill, fill + esz, [](std::byte b) { return b == std::byte{0}; });
  std::byte* dst = mutableBytesOf(out);
  const std::byte* src = bytesOf(x);
  if (r == 0) {
    std::memcpy(dst, src, esz);
    return Status::ok();
  }
  const std::vector<int64_t> st = stridesOf(x.dims());
  // Inner dim as runs of consecutive source indices (or fill runs).
  struct Run { int64_t dst, src, len; };
  std::vector<Run> runs;
  const std::vector<int64_t>& im = maps.back();
  for (int64_t j = 0; j < outDims.back();) {
    int64_t k = j + 1;
    if (im[size_t(j)] < 0) {
      while (k < outDims.back() && im[size_t(k)] < 0) ++k;
    } else {
      while (k < outDims.back() && im[size_t(k)] == im[size_t(k - 1)] + 1) ++k;
    }
    runs.push_back({j, im[size_t(j)], k - j});
    j = k;
  }
  const int64_t inner = outDims.back();
  std::vector<int64_t> outerDims(outDims.begin(), outDims.end() - 1);
  forEachIndex(outerDims, [&](int64_t row, const std::vector<int64_t>& pos) {
    std::byte* d = dst + size_t(row * inner) * esz;
    int64_t off = 0;
    bool isFill = false;
    for (size_t k = 0; k < pos.size(); ++k) {
      int64_t m = maps[k][size_t(pos[k])];
      if (m < 0) {
        isFill = true;
        break;
      }
      off += m * st[k];
    }
    for (const Run& run : runs) {
      std::byte* dd = d + size_t(run.dst) * esz;
      if (isFill || run.src < 0) {
        if (!zeroFill) shapeops::detail::copyRun(dd, fill, run.len, 0, esz);
      } else {
        std::memcpy(dd, src + size_t(off + run.src) * esz, size_t(run.len) * esz);
      }
    }
  });
  return Status::ok();
}

Status triluKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 1);
  const Tensor& x = *ctx.input(0);
  if (x.rank() < 2) return ctx.fail("input must have rank >= 2, got {}", x.describe());
  int64_t k = 0;
  if (ctx.hasInput(1)) {
    NPU_ASSIGN_OR_RETURN(k, scalarInt(ctx, *ctx.input(1), "k"));
  }
  bool upper = ctx.attrs().getInt("upper", 1) != 0;
  Tensor& out = ctx.allocate(0, x.dtype(), x.dims());
  const int64_t R = x.dim(-2), C = x.dim(-1), batch = x.numElements() / std::max<int64_t>(1, R * C);
  const size_t esz = dtypeSize(x.dtype());
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < R; ++i) {
      int64_t lo = upper ? std::clamp<int64_t>(i + k, 0, C) : 0;
      int64_t hi = upper ? C : std::clamp<int64_t>(i + k + 1, 0, C);
      if (hi <= lo) continue;
      size_t off = size_t((b * R + i) * C + lo) * esz;
      std::memcpy(mutableBytesOf(out) + off, bytesOf(x) + off, size_t(hi - lo) * esz);
    }
  return Status::ok();
}

// --- NonZero, TopK, Compress, ReverseSequence --------------------------------------------------

Status nonZeroKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 1);
  const Tensor& x = *ctx.input(0);
  std::vector<int64_t> hits;
  bool ok = dispatchNumeric(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = x.data<T>();
    for (int64_t i = 0; i < x.numElements(); ++i)
      if (Arith<T>::load(p[i]) != typename Arith<T>::C(0)) hits.push_back(i);
  });
  if (!ok) return ctx.unsupported("dtype {}", dtypeName(x.dtype()));
  const int64_t r = x.rank(), n = int64_t(hits.size());
  Tensor& out = ctx.allocate(0, DType::I64, {r, n});
  int64_t* o = out.mutableData<int64_t>();
  for (int64_t j = 0; j < n; ++j) {
    int64_t rem = hits[size_t(j)];
    for (int64_t d = r - 1; d >= 0; --d) {
      o[d * n + j] = rem % x.dims()[size_t(d)];
      rem /= x.dims()[size_t(d)];
    }
  }
  return Status::ok();
}

Status topKKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 1);
  const Tensor& x = *ctx.input(0);
  if (x.rank() < 1) return ctx.fail("input must have rank >= 1");
  NPU_ASSIGN_OR_RETURN(int64_t axis, normAxis(ctx, ctx.attrs().getInt("axis", -1), x.rank()));
  int64_t k;
  if (ctx.hasInput(1)) {
    NPU_ASSIGN_OR_RETURN(k, scalarInt(ctx, *ctx.input(1), "K"));
  } else if (auto ka = ctx.attrs().get<int64_t>("k")) {
    k = *ka;
  } else {
    return ctx.fail("no K input or k attribute");
  }
  const size_t a = size_t(axis);
  const int64_t n = x.dims()[a];
  if (k < 0 || k > n) return ctx.fail("k {} is out of range for a dim of size {}", k, n);
  const bool largest = ctx.attrs().getInt("largest", 1) != 0;
  std::vector<int64_t> outDims = x.dims();
  outDims[a] = k;
  const int64_t outer = product(x.dims(), 0, a), inner = product(x.dims(), a + 1, x.dims().size());
  bool ok = dispatchNumeric(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = Arith<T>;
    using C = typename A::C;
    Tensor& vals = ctx.allocate(0, x.dtype(), outDims);
    Tensor& idxs = ctx.allocate(1, DType::I64, outDims);
    const T* p = x.data<T>();
    T* vo = vals.mutableData<T>();
    int64_t* io = idxs.mutableData<int64_t>();
    std::vector<std::pair<C, int64_t>> buf(static_cast<size_t>(n));
    auto before = [&](const std::pair<C, int64_t>& l, const std::pair<C, int64_t>& rr) {
      if constexpr (std::is_floating_point_v<C>) {  // NaN sorts as the largest value
        bool ln = std::isnan(l.first), rn = std::isnan(rr.first);
        if (ln || rn) {
          if (ln && rn) return l.second < rr.second;
          return largest ? ln : rn;
        }
      }
      if (l.first != rr.first) return largest ? l.first > rr.first : l.first < rr.first;
      return l.second < rr.second;
    };
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t in = 0; in < inner; ++in) {
        for (int64_t j = 0; j < n; ++j) buf[size_t(j)] = {A::load(p[(o * n + j) * inner + in]), j};
        std::partial_sort(buf.begin(), buf.begin() + k, buf.end(), before);
        for (int64_t j = 0; j < k; ++j) {
          vo[(o * k + j) * inner + in] = p[(o * n + buf[size_t(j)].second) * inner + in];
          io[(o * k + j) * inner + in] = buf[size_t(j)].second;
        }
      }
  });
  if (!ok) return ctx.unsupported("dtype {}", dtypeName(x.dtype()));
  return Status::ok();
}

Status compressKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 2);
  const Tensor& x = *ctx.input(0);
  const Tensor& cond = *ctx.input(1);
  if (cond.rank() != 1) return ctx.fail("condition must be 1-D");
  if (!dispatchNumeric(cond.dtype(), [](auto) {})) return ctx.fail("condition must be bool");
  std::vector<double> c = cond.toDoubles();
  const size_t esz = dtypeSize(x.dtype());
  auto axisAttr = ctx.attrs().get<int64_t>("axis");
  if (!axisAttr) {
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < std::min<int64_t>(x.numElements(), int64_t(c.size())); ++i)
      if (c[size_t(i)] != 0) keep.push_back(i);
    Tensor& out = ctx.allocate(0, x.dtype(), {int64_t(keep.size())});
    for (size_t i = 0; i < keep.size(); ++i)
      std::memcpy(mutableBytesOf(out) + i * esz, bytesOf(x) + size_t(keep[i]) * esz, esz);
    return Status::ok();
  }
  NPU_ASSIGN_OR_RETURN(int64_t axis, normAxis(ctx, *axisAttr, x.rank()));
  const size_t a = size_t(axis);
  const int64_t n = x.dims()[a];
  if (int64_t(c.size()) > n) return ctx.fail("condition length {} exceeds dim {}", c.size(), n);
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < int64_t(c.size()); ++i)
    if (c[size_t(i)] != 0) keep.push_back(i);
  std::vector<int64_t> outDims = x.dims();
  outDims[a] = int64_t(keep.size());
  Tensor& out = ctx.allocate(0, x.dtype(), outDims);
  const int64_t outer = product(x.dims(), 0, a);
  const size_t chunk = size_t(product(x.dims(), a + 1, x.dims().size())) * esz;
  std::byte* d = mutableBytesOf(out);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i : keep) {
      std::memcpy(d, bytesOf(x) + size_t(o * n + i) * chunk, chunk);
      d += chunk;
    }
  return Status::ok();
}

Status reverseSequenceKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 2);
  const Tensor& x = *ctx.input(0);
  if (x.rank() < 2) return ctx.fail("input must have rank >= 2");
  int64_t ta = ctx.attrs().getInt("time_axis", 0), ba = ctx.attrs().getInt("batch_axis", 1);
  if (!((ta == 0 && ba == 1) || (ta == 1 && ba == 0))) return ctx.fail("time_axis/batch_axis must be 0 and 1");
  NPU_ASSIGN_OR_RETURN(std::vector<int64_t> lens, intsOf(ctx, *ctx.input(1), "sequence_lens"));
  const int64_t B = x.dims()[size_t(ba)], T = x.dims()[size_t(ta)];
  if (int64_t(lens.size()) != B) return ctx.fail("{} sequence lengths for batch {}", lens.size(), B);
  Tensor& out = ctx.allocate(0, x.dtype(), x.dims());
  std::memcpy(out.mutableRaw(), x.raw(), x.byteSize());
  const std::vector<int64_t> st = stridesOf(x.dims());
  const size_t esz = dtypeSize(x.dtype());
  const size_t chunk = size_t(product(x.dims(), 2, x.dims().size())) * esz;
  for (int64_t b = 0; b < B; ++b) {
    int64_t len = lens[size_t(b)];
    if (len < 0 || len > T) return ctx.fail("sequence length {} is out of range [0, {}]", len, T);
    for (int64_t t = 0; t < len; ++t)
      std::memcpy(mutableBytesOf(out) + size_t(t * st[size_t(ta)] + b * st[size_t(ba)]) * esz,
                  bytesOf(x) + size_t((len - 1 - t) * st[size_t(ta)] + b * st[size_t(ba)]) * esz, chunk);
  }
  return Status::ok();
}

/// Unique: items are the elements (no axis) or the slices along `axis`, compared
/// lexicographically by value; equal items keep their first occurrence.
Status uniqueKernel(KernelContext& ctx) {
  NPU_REQUIRE_INPUTS(ctx, 1);
  const Tensor& x = *ctx.input(0);
  const bool sorted = ctx.attrs().getInt("sorted", 1) != 0;
  auto axisAttr = ctx.attrs().get<int64_t>("axis");
  int64_t axis = -1, n = x.numElements(), outer = 1, inner = 1;
  if (axisAttr) {
    NPU_ASSIGN_OR_RETURN(axis, normAxis(ctx, *axisAttr, x.rank()));
    n = x.dims()[size_t(axis)];
    outer = product(x.dims(), 0, size_t(axis));
    inner = product(x.dims(), size_t(axis) + 1, x.dims().size());
  }
  const int64_t m = n > 0 ? x.numElements() / n : 0;  // elements per item
  std::vector<int64_t> order(static_cast<size_t>(n)), group(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  int64_t groups = 0;
  bool ok = dispatchNumeric(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = Arith<T>;
    using C = typename A::C;
    const T* p = x.data<T>();
    // Element j of item k (j runs over the slice in row-major order).
    auto at = [&](int64_t k, int64_t j) -> C {
      if (!axisAttr) return A::load(p[k]);
      int64_t o = j / inner, i = j % inner;
      return A::load(p[(o * n + k) * inner + i]);
    };
    auto cmp = [&](int64_t a, int64_t b) {
      for (int64_t j = 0; j < m; ++j) {
        C va = at(a, j), vb = at(b, j);
        if (va < vb) return -1;
        if (vb < va) return 1;
      }
      return 0;
    };
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return cmp(a, b) < 0; });
    for (size_t i = 0; i < order.size(); ++i) {
      if (i == 0 || cmp(order[i - 1], order[i]) != 0) ++groups;
      group[size_t(order[i])] = groups - 1;
    }
  });
  if (!ok) return ctx.unsupported("dtype {}", dtypeName(x.dtype()));
  // First occurrence and count of each group (in sorted-group order).
  std::vector<int64_t> first(size_t(groups), -1), count(size_t(groups), 0);
  for (int64_t k = 0; k < n; ++k) {
    int64_t g = group[size_t(k)];
    if (first[size_t(g)] < 0) first[size_t(g)] = k;
    ++count[size_t(g)];
  }
  // Output position of each group.
  std::vector<int64_t> pos(static_cast<size_t>(groups));
  std::iota(pos.begin(), pos.end(), 0);
  if (!sorted) {
    std::vector<int64_t> byFirst(static_cast<size_t>(groups));
    std::iota(byFirst.begin(), byFirst.end(), 0);
    std::sort(byFirst.begin(), byFirst.end(), [&](int64_t a, int64_t b) { return first[size_t(a)] < first[size_t(b)]; });
    for (int64_t q = 0; q < groups; ++q) pos[size_t(byFirst[size_t(q)])] = q;
  }
  std::vector<int64_t> rep(static_cast<size_t>(groups)), cnt(static_cast<size_t>(groups));
  for (int64_t g = 0; g < groups; ++g) {
    rep[size_t(pos[size_t(g)])] = first[size_t(g)];
    cnt[size_t(pos[size_t(g)])] = count[size_t(g)];
  }
  const size_t esz = dtypeSize(x.dtype());
  std::vector<int64_t> yDims = {groups};
  if (axisAttr) {
    yDims = x.dims();
    yDims[size_t(axis)] = groups;
  }
  Tensor& y = ctx.allocate(0, x.dtype(), yDims);
  const int64_t rowItems = axisAttr ? inner : 1;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t q = 0; q < groups; ++q)
      std::memcpy(mutableBytesOf(y) + size_t((o * groups + q) * rowItems) * esz,
                  bytesOf(x) + size_t((o * n + rep[size_t(q)]) * rowItems) * esz, size_t(rowItems) * esz);
  auto put = [&](size_t i, const std::vector<int64_t>& v) {
    if (i >= ctx.numOutputs()) return;
    Tensor& t = ctx.allocate(i, DType::I64, {int64_t(v.size())});
    if (!v.empty()) std::memcpy(t.mutableRaw(), v.data(), v.size() * sizeof(int64_t));
  };
  std::vector<int64_t> inverse(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) inverse[size_t(k)] = pos[size_t(group[size_t(k)])];
  put(1, rep);
  put(2, inverse);
  put(3, cnt);
  return Status::ok();
}

}  // namespace

void registerShapeKernels(KernelRegistry& r) {
  r.add("", "Unique", uniqueKernel);
  r.add("", "Shape", shapeKernel);
  r.add("", "Size", sizeKernel);
  r.add("", "Reshape", reshapeKernel);
  r.add("", "Flatten", flattenKernel);
  r.add("", "Squeeze", squeezeKernel);
  r.add("", "Unsqueeze", unsqueezeKernel);
  r.add("", "Concat", concatKernel);
  r.add("", "Split", splitKernel);
  r.add("", "Slice", sliceKernel);
  r.add("", "Gather", gatherKernel);
  r.add("", "GatherElements", gatherElementsKernel);
  r.add("", "GatherND", gatherNdKernel);
  r.add("", "ScatterND", scatterNdKernel);
  r.add("", "ScatterElements", scatterElementsKernel);
  r.add("", "Scatter", scatterElementsKernel);
  r.add("", "Transpose", transposeKernel);
  r.add("", "Expand", expandKernel);
  r.add("", "Tile", tileKernel);
  r.add("", "DepthToSpace", depthToSpaceKernel);
  r.add("", "SpaceToDepth", spaceToDepthKernel);
  r.add("", "Constant", constantKernel);
  r.add("", "ConstantOfShape", constantOfShapeKernel);
  r.add("", "Range", rangeKernel);
  r.add("", "EyeLike", eyeLikeKernel);
  r.add("", "OneHot", oneHotKernel);
  r.add("", "Pad", padKernel);
  r.add("", "Trilu", triluKernel);
  r.add("", "NonZero", nonZeroKernel);
  r.add("", "TopK", topKKernel);
  r.add("", "Compress", compressKernel);
  r.add("", "ReverseSequence", reverseSequenceKernel);
}

}  // namespace npuconv
