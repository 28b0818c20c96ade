// nn_einsum.cc - Einsum: explicit and implicit outputs, ellipsis broadcasting, repeated labels
// (diagonals), any number of operands. Runs as a direct loop over the label space: correct,
// not fast (no GEMM path yet).
#include <algorithm>
#include <array>
#include <map>

#include "converter/exec/kernel.h"
#include "converter/exec/kernels/nn_common.h"

namespace npuconv::nn {
namespace {

constexpr int kEllipsisBase = 64;  // labels: 'a'..'z' -> 0..25, 'A'..'Z' -> 26..51, ellipsis dims 64+

struct Term {
  std::vector<int> labels;  // ellipsis expanded after parsing
  bool hasEllipsis = false;
  size_t ellipsisAt = 0;
  std::vector<int> raw;  // letters only
};

Expected<Term> parseTerm(const KernelContext& ctx, std::string_view t) {
  Term term;
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (c == ' ') continue;
    if (c == '.') {
      if (term.hasEllipsis || t.substr(i, 3) != "...") return ctx.fail("bad ellipsis in equation");
      term.hasEllipsis = true;
      term.ellipsisAt = term.raw.size();
      i += 2;
    } else if (c >= 'a' && c <= 'z') {
      term.raw.push_back(c - 'a');
    } else if (c >= 'A' && c <= 'Z') {
      term.raw.push_back(26 + c - 'A');
    } else {
      return ctx.fail("bad character '{}' in equation", c);
    }
  }
  return term;
}

void expand(Term& t, int64_t ellDims) {
  t.labels.clear();
  for (size_t i = 0; i <= t.raw.size(); ++i) {
    if (t.hasEllipsis && i == t.ellipsisAt)
      for (int64_t e = 0; e < ellDims; ++e) t.labels.push_back(kEllipsisBase + int(e));
    if (i < t.raw.size()) t.labels.push_back(t.raw[i]);
  }
}

template <typename T>
void einsumLoop(const std::vector<Tensor>& ins, const std::vector<Term>& terms, const Term& outTerm,
                const std::map<int, int64_t>& sizes, Tensor& y) {
  // All labels: output ones first, then summed ones.
  std::vector<int> order = outTerm.labels;
  for (const auto& [l, sz] : sizes)
    if (std::find(order.begin(), order.end(), l) == order.end()) order.push_back(l);
  size_t nl = order.size(), nOut = outTerm.labels.size();
  std::vector<int64_t> extent(nl);
  for (size_t i = 0; i < nl; ++i) extent[i] = sizes.at(order[i]);
  // Per operand, the stride of each label (summed for repeated labels; 0 when broadcast).
  std::vector<std::vector<int64_t>> strides(ins.size(), std::vector<int64_t>(nl, 0));
  for (size_t k = 0; k < ins.size(); ++k) {
    const auto& d = ins[k].dims();
    int64_t st = 1;
    for (size_t j = d.size(); j-- > 0;) {
      int l = terms[k].labels[j];
      size_t pos = size_t(std::find(order.begin(), order.end(), l) - order.begin());
      if (d[j] != 1 || extent[pos] == 1) strides[k][pos] += st;
      st *= d[j];
    }
  }
  T* Y = y.mutableData<T>();
  int64_t outCount = y.numElements();
  int64_t sumCount = 1;
  for (size_t i = nOut; i < nl; ++i) sumCount *= extent[i];
  std::vector<int64_t> idx(nl, 0);
  for (int64_t o = 0; o < outCount; ++o) {
    int64_t rem = o;
    for (size_t i = nOut; i-- > 0;) {
      idx[i] = rem % extent[i];
      rem /= extent[i];
    }
    for (size_t i = nOut; i < nl; ++i) idx[i] = 0;
    T acc = 0;
    for (int64_t s = 0; s < sumCount; ++s) {
      T prod = 1;
      for (size_t k = 0; k < ins.size(); ++k) {
        int64_t off = 0;
        for (size_t i = 0; i < nl; ++i) off += idx[i] * strides[k][i];
        prod *= ins[k].data<T>()[off];
      }
      acc += prod;
      for (size_t i = nl; i-- > nOut;) {
        if (++idx[i] < extent[i]) break;
        idx[i] = 0;
      }
    }
    Y[o] = acc;
  }
}

Status einsumKernel(KernelContext& ctx) {
  std::string eq = ctx.attrs().getString("equation");
  if (eq.empty()) return ctx.fail("missing equation");
  size_t arrow = eq.find("->");
  std::string lhs = eq.substr(0, arrow);
  std::vector<Term> terms;
  size_t start = 0;
  for (;;) {
    size_t comma = lhs.find(',', start);
    NPU_ASSIGN_OR_RETURN(Term t, parseTerm(ctx, std::string_view(lhs).substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    terms.push_back(std::move(t));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != ctx.numInputs()) return ctx.fail("equation has {} operands, node has {} inputs", terms.size(), ctx.numInputs());
  DType dt = ctx.input(0) ? ctx.input(0)->dtype() : DType::Undefined;
  std::vector<Tensor> ins;
  int64_t ellDims = 0;
  for (size_t k = 0; k < terms.size(); ++k) {
    const Tensor* p = ctx.input(k);
    if (!p) return ctx.fail("missing input {}", k);
    if (p->dtype() != dt) return ctx.fail("input dtypes differ");
    int64_t extra = p->rank() - int64_t(terms[k].raw.size());
    if (extra < 0 || (extra > 0 && !terms[k].hasEllipsis))
      return ctx.fail("operand {} {} does not match its subscripts", k, p->describe());
    ellDims = std::max(ellDims, extra);
    ins.push_back(widenToF32(*p));
  }
  std::map<int, int64_t> sizes;
  std::map<int, int> counts;
  for (size_t k = 0; k < terms.size(); ++k) {
    int64_t extra = ins[k].rank() - int64_t(terms[k].raw.size());
    // Right-align this operand's ellipsis dims among ellDims.
    expand(terms[k], extra);
    for (int& l : terms[k].labels)
      if (l >= kEllipsisBase) l += int(ellDims - extra);
    for (size_t j = 0; j < terms[k].labels.size(); ++j) {
      int l = terms[k].labels[j];
      int64_t d = ins[k].dim(int64_t(j));
      auto it = sizes.find(l);
      if (it == sizes.end() || it->second == 1)
        sizes[l] = d;
      else if (d != it->second && d != 1)
        return ctx.fail("label sizes disagree ({} vs {})", d, it->second);
      if (l < kEllipsisBase) ++counts[l];
    }
  }
  Term outTerm;
  if (arrow != std::string::npos) {
    NPU_ASSIGN_OR_RETURN(outTerm, parseTerm(ctx, std::string_view(eq).substr(arrow + 2)));
    expand(outTerm, ellDims);
    for (int l : outTerm.raw)
      if (!counts.count(l)) return ctx.fail("output label not in any input");
  } else {
    for (int64_t e = 0; e < ellDims; ++e) outTerm.labels.push_back(kEllipsisBase + int(e));
    for (const auto& [l, c] : counts)
      if (c == 1) outTerm.labels.push_back(l);
  }
  for (int64_t e = 0; e < ellDims; ++e)
    if (!sizes.count(kEllipsisBase + int(e))) sizes[kEllipsisBase + int(e)] = 1;
  std::vector<int64_t> outDims;
  for (int l : outTerm.labels) outDims.push_back(sizes.at(l));
  Tensor y(ins[0].dtype(), outDims);
  switch (ins[0].dtype()) {
    case DType::F32: einsumLoop<float>(ins, terms, outTerm, sizes, y); break;
    case DType::F64: einsumLoop<double>(ins, terms, outTerm, sizes, y); break;
    case DType::I32: einsumLoop<int32_t>(ins, terms, outTerm, sizes, y); break;
    case DType::I64: einsumLoop<int64_t>(ins, terms, outTerm, sizes, y); break;
    default: return ctx.unsupported("Einsum on {}", dtypeName(dt));
  }
  ctx.setOutput(0, narrowFromF32(y, dt));
  return Status::ok();
}

}  // namespace

void registerEinsumKernels(KernelRegistry& r) { r.add("", "Einsum", einsumKernel); }

}  // namespace npuconv::nn
