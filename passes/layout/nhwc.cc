// nhwc.cc - see nhwc.h.
#include "passes/layout/nhwc.h"

#include <algorithm>
#include <array>

#include "converter/exec/kernels/shape_copy.h"
#include "passes/match.h"

namespace npuconv::nhwc {

bool hasNhwcTwin(std::string_view opType) {
  static constexpr std::array<std::string_view, 11> kOps = {
      "AveragePool",  "BatchNormalization", "Conv", "DepthToSpace", "GlobalAveragePool", "GlobalMaxPool",
      "InstanceNormalization", "LRN", "MaxPool", "Resize", "SpaceToDepth"};
  return std::find(kOps.begin(), kOps.end(), opType) != kOps.end();
}

TensorData permute(const TensorData& t, const std::vector<int64_t>& perm) {
  const std::vector<int64_t>& in = t.dims();
  NPU_CHECK(in.size() == perm.size(), "permute: rank {} with a perm of {}", in.size(), perm.size());
  std::vector<int64_t> st = shapeops::stridesOf(in), dims(perm.size()), strides(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    dims[i] = in[static_cast<size_t>(perm[i])];
    strides[i] = st[static_cast<size_t>(perm[i])];
  }
  auto buf = std::make_shared<AlignedBuffer>(t.byteSize());
  shapeops::stridedCopy(buf->mutableData(), t.bytes(), dims, strides, 0, dtypeSize(t.dtype()));
  return TensorData(t.dtype(), std::move(dims), std::move(buf));
}

TensorType permuteType(const TensorType& t, const std::vector<int64_t>& perm) {
  TensorType out = t;
  if (!t.shape) {
    out.shape = Shape(perm.size());  // every value we permute has this rank; dims unknown
    return out;
  }
  if (t.shape->size() != perm.size()) {
    out.shape.reset();
    return out;
  }
  for (size_t i = 0; i < perm.size(); ++i) (*out.shape)[i] = (*t.shape)[static_cast<size_t>(perm[i])];
  return out;
}

Value* addTranspose(Graph& g, Value* v, const std::vector<int64_t>& perm, Node* before, const Node* origin,
                    std::string_view suffix) {
  std::string base = (origin && !origin->name().empty() ? origin->name() : std::string("layout")) + std::string(suffix);
  Node* t = g.createNode("Transpose", {v}, 1, before, g.freshNodeName(base));
  t->mutableAttrs().set<std::vector<int64_t>>("perm", perm);
  (void)origin;
  t->setProvenance({});  // replaces no user node: folding it into a neighbour adds no origin
  t->result(0)->setType(permuteType(v->type(), perm));
  return t->result(0);
}

bool isTransposeWith(const Node* n, const std::vector<int64_t>& perm) {
  return n && n->is("Transpose") && n->attrs().getInts("perm") == perm;
}

namespace {
bool usesDomain(const Graph& g) {
  for (const Node* n : g.nodes()) {
    if (n->domain() == kDomain) return true;
    for (const Graph* s : n->subgraphs())
      if (usesDomain(*s)) return true;
  }
  return false;
}
}  // namespace

void syncOpsetImport(Model& m) {
  bool used = usesDomain(*m.graph);
  auto it = std::find_if(m.opsetImports.begin(), m.opsetImports.end(),
                         [](const OpsetImport& o) { return o.domain == kDomain; });
  if (used && it == m.opsetImports.end()) m.opsetImports.push_back({std::string(kDomain), kDomainVersion});
  if (!used && it != m.opsetImports.end()) m.opsetImports.erase(it);
}

}  // namespace npuconv::nhwc
