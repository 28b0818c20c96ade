// broadcast.h - numpy-style (multidirectional) broadcasting for kernels of any family.
//
//   std::vector<int64_t> out;
//   if (!bcast::broadcastDims({&a.dims(), &b.dims()}, out)) return ctx.fail(...);
//   bcast::Plan plan(out, {&a.dims(), &b.dims()});
//   bcast::parallelRows(ctx.pool(), plan, [&](int64_t o, const int64_t* in, int64_t n) {
//     // out[o + i] for i < n uses input k at in[k] + i * plan.innerStride(k)
//   });
//
// A Plan merges adjacent dims that broadcast alike, so a same-shape op is one contiguous row
// and a per-channel op is rows of the channel block; the innermost stride of an input is 1
// (it varies along the row) or 0 (one value for the whole row), which lets the row callback
// use tight loops the compiler vectorizes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "converter/exec/thread_pool.h"

namespace npuconv::bcast {

/// Elements per parallelFor chunk for cheap elementwise work.
inline constexpr int64_t kGrain = 16384;

/// The broadcast of all shapes into `out`; false when some dims are incompatible.
inline bool broadcastDims(const std::vector<const std::vector<int64_t>*>& shapes, std::vector<int64_t>& out) {
  size_t rank = 0;
  for (const auto* s : shapes) rank = std::max(rank, s->size());
  out.assign(rank, 1);
  std::vector<bool> seen(rank, false);
  for (const auto* s : shapes) {
    size_t off = rank - s->size();
    for (size_t i = 0; i < s->size(); ++i) {
      int64_t d = (*s)[i];
      int64_t& o = out[off + i];
      if (d == 1) continue;
      if (!seen[off + i] || o == 1) {
        o = d;
        seen[off + i] = true;
      } else if (o != d) {
        return false;
      }
    }
  }
  return true;
}

/// Whether `from` broadcasts unidirectionally to `to` (ONNX "unidirectional broadcasting").
inline bool broadcastsTo(const std::vector<int64_t>& from, const std::vector<int64_t>& to) {
  if (from.size() > to.size()) return false;
  size_t off = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i)
    if (from[i] != 1 && from[i] != to[off + i]) return false;
  return true;
}

/// How to walk the output of a broadcasting op row by row. Inputs must broadcast to `out`.
class Plan {
 public:
  Plan(const std::vector<int64_t>& out, const std::vector<const std::vector<int64_t>*>& inputs) {
    size_t k = inputs.size();
    total_ = 1;
    for (int64_t d : out) total_ *= d;
    // Per output dim (size-1 dims dropped): for each input whether it varies along the dim.
    std::vector<int64_t> dims;
    std::vector<std::vector<bool>> varies;  // [dim][input]
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i] == 1) continue;
      std::vector<bool> v(k);
      for (size_t j = 0; j < k; ++j) {
        const auto& s = *inputs[j];
        size_t off = out.size() - s.size();
        v[j] = i >= off && s[i - off] != 1;
      }
      if (!dims.empty() && varies.back() == v) {
        dims.back() *= out[i];
      } else {
        dims.push_back(out[i]);
        varies.push_back(std::move(v));
      }
    }
    if (dims.empty()) {
      dims.push_back(1);
      varies.push_back(std::vector<bool>(k, false));
    }
    dims_ = dims;
    strides_.assign(k, std::vector<int64_t>(dims.size(), 0));
    for (size_t j = 0; j < k; ++j) {
      int64_t s = 1;
      for (size_t i = dims.size(); i-- > 0;) {
        if (varies[i][j]) {
          strides_[j][i] = s;
          s *= dims[i];
        }
      }
    }
  }

  int64_t total() const { return total_; }
  int64_t inner() const { return dims_.back(); }
  size_t numInputs() const { return strides_.size(); }
  /// 1 when input k varies along a row, 0 when it is constant along it.
  int64_t innerStride(size_t k) const { return strides_[k].back(); }

  /// Calls f(outOffset, inputOffsets, count) for the rows (or parts of rows) covering the
  /// output elements [begin, end).
  template <typename F>
  void forRange(int64_t begin, int64_t end, F&& f) const {
    if (begin >= end) return;
    size_t k = strides_.size(), r = dims_.size();
    int64_t inner = dims_.back();
    int64_t row = begin / inner, col = begin % inner;
    std::vector<int64_t> idx(r, 0);
    std::vector<int64_t> off(k, 0);
    {
      int64_t rem = row;
      for (size_t i = r - 1; i-- > 0;) {
        idx[i] = rem % dims_[i];
        rem /= dims_[i];
      }
      for (size_t j = 0; j < k; ++j) {
        int64_t o = 0;
        for (size_t i = 0; i + 1 < r; ++i) o += idx[i] * strides_[j][i];
        off[j] = o;
      }
    }
    std::vector<int64_t> cur(k);
    int64_t pos = begin;
    while (pos < end) {
      int64_t n = std::min(inner - col, end - pos);
      for (size_t j = 0; j < k; ++j) cur[j] = off[j] + col * strides_[j][r - 1];
      f(pos, cur.data(), n);
      pos += n;
      col = 0;
      // Next row: odometer over the outer dims.
      for (size_t i = r - 1; i-- > 0;) {
        ++idx[i];
        for (size_t j = 0; j < k; ++j) off[j] += strides_[j][i];
        if (idx[i] < dims_[i]) break;
        for (size_t j = 0; j < k; ++j) off[j] -= strides_[j][i] * dims_[i];
        idx[i] = 0;
      }
    }
  }

 private:
  std::vector<int64_t> dims_;
  std::vector<std::vector<int64_t>> strides_;  // [input][dim], elements
  int64_t total_ = 0;
};

/// Runs plan.forRange over the whole output in parallel chunks of about `grain` elements.
template <typename F>
void parallelRows(ThreadPool& pool, const Plan& plan, F&& f, int64_t grain = kGrain) {
  pool.parallelFor(plan.total(), grain, [&](int64_t b, int64_t e) { plan.forRange(b, e, f); });
}

/// out[i] = op(a[i], b[i]) over one row where sa/sb (0 or 1) are the inputs' strides.
template <typename TA, typename TB, typename TO, typename Op>
inline void binaryRow(const TA* a, int64_t sa, const TB* b, int64_t sb, TO* o, int64_t n, const Op& op) {
  if (sa && sb) {
    for (int64_t i = 0; i < n; ++i) o[i] = op(a[i], b[i]);
  } else if (sa) {
    const TB bv = *b;
    for (int64_t i = 0; i < n; ++i) o[i] = op(a[i], bv);
  } else if (sb) {
    const TA av = *a;
    for (int64_t i = 0; i < n; ++i) o[i] = op(av, b[i]);
  } else {
    const TO v = op(*a, *b);
    for (int64_t i = 0; i < n; ++i) o[i] = v;
  }
}

}  // namespace npuconv::bcast
