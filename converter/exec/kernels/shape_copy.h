// shape_copy.h - dtype-agnostic data movement for the shape and control-flow kernels.
//
// stridedCopy fills a contiguous destination from a source read through arbitrary element
// strides (negative for reversed slices, zero for broadcast dims). Slice, Transpose, Expand,
// Tile, DepthToSpace, SpaceToDepth and the Scan/Loop slicing all reduce to it. Elements are
// moved as raw bytes of the dtype's size, so every fixed-size dtype (f16, bool, ...) works.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "converter/exec/tensor.h"
#include "converter/exec/thread_pool.h"

namespace npuconv::shapeops {

inline const std::byte* bytesOf(const Tensor& t) { return static_cast<const std::byte*>(t.raw()); }
inline std::byte* mutableBytesOf(const Tensor& t) { return static_cast<std::byte*>(t.mutableRaw()); }

/// Row-major element strides of `dims`.
inline std::vector<int64_t> stridesOf(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
}

namespace detail {

template <typename T>
inline void copyRunT(std::byte* d, const std::byte* s, int64_t n, int64_t stride) {
  // memcpy loads/stores: constant data may view unaligned protobuf bytes.
  const int64_t step = stride * static_cast<int64_t>(sizeof(T));
  if (stride == 0) {
    T v;
    std::memcpy(&v, s, sizeof(T));
    for (int64_t i = 0; i < n; ++i) std::memcpy(d + i * sizeof(T), &v, sizeof(T));
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, s + i * step, sizeof(T));
    std::memcpy(d + i * sizeof(T), &v, sizeof(T));
  }
}

/// Copies n elements of `esz` bytes from s (element stride `stride`) to contiguous d.
inline void copyRun(std::byte* d, const std::byte* s, int64_t n, int64_t stride, size_t esz) {
  if (stride == 1) {
    std::memcpy(d, s, static_cast<size_t>(n) * esz);
    return;
  }
  switch (esz) {
    case 1: copyRunT<uint8_t>(d, s, n, stride); return;
    case 2: copyRunT<uint16_t>(d, s, n, stride); return;
    case 4: copyRunT<uint32_t>(d, s, n, stride); return;
    case 8: copyRunT<uint64_t>(d, s, n, stride); return;
    default:
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(d + static_cast<size_t>(i) * esz, s + i * stride * static_cast<int64_t>(esz), esz);
  }
}

template <typename T>
inline void transposeTileT(std::byte* d, const std::byte* s, int64_t a0, int64_t a1, int64_t b0, int64_t b1,
                           int64_t dA, int64_t sB) {
  // dst[a * dA + b] = src[a + b * sB]
  for (int64_t a = a0; a < a1; ++a)
    for (int64_t b = b0; b < b1; ++b) {
      T v;
      std::memcpy(&v, s + (a + b * sB) * static_cast<int64_t>(sizeof(T)), sizeof(T));
      std::memcpy(d + (a * dA + b) * static_cast<int64_t>(sizeof(T)), &v, sizeof(T));
    }
}

}  // namespace detail

/// dst (contiguous, shape `dims`)[i0,..,ik] = src[offset + sum_j ij * strides[j]], counted in
/// elements of `esz` bytes. Runs on `pool` when given and the copy is large.
inline void stridedCopy(std::byte* dst, const std::byte* src, const std::vector<int64_t>& dimsIn,
                        const std::vector<int64_t>& stridesIn, int64_t offset, size_t esz,
                        ThreadPool* pool = nullptr) {
  int64_t total = 1;
  for (int64_t d : dimsIn) total *= d;
  if (total == 0) return;
  src += offset * static_cast<int64_t>(esz);
  // Coalesce: drop unit dims, merge dims that are contiguous with each other in the source.
  std::vector<int64_t> dims, strides;
  for (size_t i = 0; i < dimsIn.size(); ++i) {
    if (dimsIn[i] == 1) continue;
    if (!dims.empty() && strides.back() == stridesIn[i] * dimsIn[i]) {
      dims.back() *= dimsIn[i];
      strides.back() = stridesIn[i];
    } else {
      dims.push_back(dimsIn[i]);
      strides.push_back(stridesIn[i]);
    }
  }
  if (dims.empty()) {
    std::memcpy(dst, src, esz);
    return;
  }
  const size_t r = dims.size();
  const int64_t inner = dims.back(), innerStride = strides.back();
  const int64_t iesz = static_cast<int64_t>(esz);

  // A transpose (some output dim p before the last reads the source contiguously while the
  // last one does not): copy [p, last] planes in cache-sized tiles, the other dims as batch.
  size_t p = r;
  for (size_t i = 0; i + 1 < r; ++i)
    if (strides[i] == 1) p = i;
  if (p < r && innerStride != 1 && (esz == 1 || esz == 2 || esz == 4 || esz == 8) && inner >= 8 && dims[p] >= 8) {
    const std::vector<int64_t> dstSt = stridesOf(dims);
    const int64_t A = dims[p], B = inner, sB = innerStride, dA = dstSt[p];
    std::vector<size_t> batchDims;
    int64_t batch = 1;
    for (size_t i = 0; i + 1 < r; ++i)
      if (i != p) {
        batchDims.push_back(i);
        batch *= dims[i];
      }
    constexpr int64_t kTile = 32;
    const int64_t tilesA = (A + kTile - 1) / kTile, tilesB = (B + kTile - 1) / kTile;
    auto work = [&](int64_t begin, int64_t end) {
      for (int64_t w = begin; w < end; ++w) {
        int64_t bi = w / (tilesA * tilesB), t = w % (tilesA * tilesB);
        int64_t ta = t / tilesB, tb = t % tilesB;
        int64_t soff = 0, doff = 0, rem = bi;
        for (size_t k = batchDims.size(); k-- > 0;) {
          size_t i = batchDims[k];
          int64_t c = rem % dims[i];
          rem /= dims[i];
          soff += c * strides[i];
          doff += c * dstSt[i];
        }
        std::byte* d = dst + doff * iesz;
        const std::byte* s = src + soff * iesz;
        int64_t a0 = ta * kTile, a1 = std::min(A, a0 + kTile), b0 = tb * kTile, b1 = std::min(B, b0 + kTile);
        switch (esz) {
          case 1: detail::transposeTileT<uint8_t>(d, s, a0, a1, b0, b1, dA, sB); break;
          case 2: detail::transposeTileT<uint16_t>(d, s, a0, a1, b0, b1, dA, sB); break;
          case 4: detail::transposeTileT<uint32_t>(d, s, a0, a1, b0, b1, dA, sB); break;
          default: detail::transposeTileT<uint64_t>(d, s, a0, a1, b0, b1, dA, sB); break;
        }
      }
    };
    int64_t units = batch * tilesA * tilesB;
    if (pool && total * iesz >= (1 << 20)) pool->parallelFor(units, 4, work);
    else work(0, units);
    return;
  }

  const int64_t rows = total / inner;
  auto work = [&](int64_t begin, int64_t end) {
    std::vector<int64_t> idx(r - 1, 0);
    int64_t soff = 0, rem = begin;
    for (size_t i = r - 1; i-- > 0;) {
      idx[i] = rem % dims[i];
      rem /= dims[i];
      soff += idx[i] * strides[i];
    }
    for (int64_t row = begin; row < end; ++row) {
      detail::copyRun(dst + row * inner * iesz, src + soff * iesz, inner, innerStride, esz);
      for (size_t i = r - 1; i-- > 0;) {
        soff += strides[i];
        if (++idx[i] < dims[i]) break;
        soff -= strides[i] * dims[i];
        idx[i] = 0;
      }
    }
  };
  if (pool && total * iesz >= (1 << 20)) {
    int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, inner * iesz));
    pool->parallelFor(rows, grain, work);
  } else {
    work(0, rows);
  }
}

/// The sub-tensor at index `i` of `axis` (that axis removed), copied.
inline Tensor takeAlongAxis(const Tensor& t, int64_t axis, int64_t i) {
  std::vector<int64_t> dims = t.dims(), st = stridesOf(t.dims());
  int64_t off = i * st[static_cast<size_t>(axis)];
  dims.erase(dims.begin() + axis);
  st.erase(st.begin() + axis);
  Tensor out(t.dtype(), dims);
  stridedCopy(mutableBytesOf(out), bytesOf(t), dims, st, off, dtypeSize(t.dtype()));
  return out;
}

/// Writes `part` (shape of `whole` without `axis`) into `whole` at index `i` of `axis`.
inline void putAlongAxis(const Tensor& whole, int64_t axis, int64_t i, const Tensor& part) {
  // Iterate the part in its own order: whole offset = outer * (n * inner) + i * inner + rest.
  const std::vector<int64_t>& wd = whole.dims();
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < axis; ++k) outer *= wd[static_cast<size_t>(k)];
  for (size_t k = static_cast<size_t>(axis) + 1; k < wd.size(); ++k) inner *= wd[k];
  const int64_t n = wd[static_cast<size_t>(axis)];
  const size_t esz = dtypeSize(whole.dtype());
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(mutableBytesOf(whole) + static_cast<size_t>((o * n + i) * inner) * esz,
                bytesOf(part) + static_cast<size_t>(o * inner) * esz, static_cast<size_t>(inner) * esz);
}

}  // namespace npuconv::shapeops
