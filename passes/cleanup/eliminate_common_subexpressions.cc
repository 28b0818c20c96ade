// eliminate_common_subexpressions.cc - eliminate-common-subexpressions: compute things once.
//
// Before: %a = Relu(%x)  %b = Relu(%x)  %c = Add(%a, %b)
// After:  %a = Relu(%x)                 %c = Add(%a, %a)
// Two nodes are the same when op, domain, operands (after earlier merges), attributes and
// result count agree; two constants (initializers, Constant nodes) when dtype, dims and bytes
// agree. The later one is replaced by the earlier one, which collects its provenance.
// Preconditions: not for nondeterministic ops, nodes with subgraphs (bodies are not
// compared), nodes of custom domains, or a duplicate whose result is a graph output (the
// interface keeps its names); initializers that are graph inputs are not constants.
#include <algorithm>
#include <map>
#include <unordered_map>

#include "passes/match.h"
#include "passes/passes.h"

namespace npuconv {
namespace {

bool sameAttr(const AttrValue& a, const AttrValue& b) {
  if (a.index() != b.index()) return false;
  if (const auto* t = std::get_if<TensorRef>(&a)) {
    const TensorRef& u = std::get<TensorRef>(b);
    return *t && u && (*t)->sameContent(*u);
  }
  if (const auto* ts = std::get_if<std::vector<TensorRef>>(&a)) {
    const auto& us = std::get<std::vector<TensorRef>>(b);
    if (ts->size() != us.size()) return false;
    for (size_t i = 0; i < ts->size(); ++i)
      if (!(*ts)[i] || !us[i] || !(*ts)[i]->sameContent(*us[i])) return false;
    return true;
  }
  if (std::holds_alternative<GraphPtr>(a) || std::holds_alternative<std::vector<GraphPtr>>(a)) return false;
  return a == b;
}

/// A cheap bucket key for constants: dtype, dims and the first and last bytes. Hashing whole
/// weights would cost a pass over every byte of the model (1.4 s for 512 MiB); equal keys are
/// then confirmed with memcmp, which stops at the first differing byte.
uint64_t constKey(const TensorData& t) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const void* p, size_t n) {
    auto* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  };
  int32_t code = static_cast<int32_t>(t.dtype());
  mix(&code, sizeof code);
  for (int64_t d : t.dims()) mix(&d, sizeof d);
  if (t.dtype() == DType::String || !t.bytes()) return h ^ t.contentHash();  // strings: small, rare
  constexpr size_t kEdge = 64;
  size_t n = t.byteSize();
  const std::byte* b = t.bytes();
  mix(b, std::min(n, kEdge));
  if (n > kEdge) mix(b + n - std::min(n - kEdge, kEdge), std::min(n - kEdge, kEdge));
  return h;
}

bool sameNode(const Node& a, const Node& b) {
  if (a.opType() != b.opType() || a.domain() != b.domain() || a.operands() != b.operands() ||
      a.numResults() != b.numResults() || a.attrs().size() != b.attrs().size())
    return false;
  for (size_t i = 0; i < a.numResults(); ++i)
    if ((a.result(i) == nullptr) != (b.result(i) == nullptr)) return false;
  const auto& x = a.attrs().all();
  const auto& y = b.attrs().all();
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i].name != y[i].name || x[i].refAttrName != y[i].refAttrName || !sameAttr(x[i].value, y[i].value))
      return false;
  return true;
}

class EliminateCommonSubexpressionsPass final : public Pass {
 public:
  std::string_view name() const override { return "eliminate-common-subexpressions"; }

  Status run(Model& model, PassContext& ctx) override {
    for (Graph* g : m::allGraphs(model)) runOn(*g, ctx);
    return Status::ok();
  }

 private:
  void runOn(Graph& g, PassContext& ctx) {
    // Constants by content, initializers first (they are defined before every node).
    std::unordered_multimap<uint64_t, Value*> consts;
    auto findConst = [&](const TensorData& t, const Value* self) -> Value* {
      auto [b, e] = consts.equal_range(constKey(t));
      for (auto it = b; it != e; ++it)
        if (it->second != self && m::constTensor(it->second)->sameContent(t)) return it->second;
      return nullptr;
    };
    for (Value* v : std::vector<Value*>(g.initializers())) {
      TensorRef t = m::constTensor(v);
      if (!t) continue;
      if (Value* same = findConst(*t, v); same && !v->isGraphOutput()) {
        g.replaceAllUsesWith(v, same);
        g.eraseInitializer(v);
        ++ctx.stat("eliminate-common-subexpressions.constants");
        continue;
      }
      consts.emplace(constKey(*t), v);
    }

    std::unordered_multimap<uint64_t, Node*> seen;
    for (Node* n : g.nodeList()) {
      if (n->is("Constant")) {
        TensorRef t = m::constTensor(n->result(0));
        if (!t) continue;
        Value* same = findConst(*t, n->result(0));
        if (same && !n->result(0)->isGraphOutput()) {
          g.replaceAllUsesWith(n->result(0), same);
          if (same->producer()) same->producer()->addProvenance(*n);
          g.eraseNode(n);
          ++ctx.stat("eliminate-common-subexpressions.constants");
        } else {
          consts.emplace(constKey(*t), n->result(0));
        }
        continue;
      }
      if (!n->domain().empty() || m::isNondeterministic(*n) || !n->subgraphs().empty()) continue;
      uint64_t h = std::hash<std::string>()(n->opType());
      for (Value* v : n->operands()) h = h * 1000003u ^ std::hash<const void*>()(v);
      Node* same = nullptr;
      auto [b, e] = seen.equal_range(h);
      for (auto it = b; it != e && !same; ++it)
        if (sameNode(*it->second, *n)) same = it->second;
      if (!same) {
        seen.emplace(h, n);
        continue;
      }
      bool output = false;
      for (Value* r : n->results())
        if (r && r->isGraphOutput()) output = true;
      if (output) {
        m::notMatched(ctx, name(), *n, "duplicate result is a graph output");
        continue;
      }
      for (size_t i = 0; i < n->numResults(); ++i)
        if (Value* r = n->result(i)) g.replaceAllUsesWith(r, same->result(i));
      same->addProvenance(*n);
      g.eraseNode(n);
      ++ctx.stat("eliminate-common-subexpressions.nodes");
    }
  }
};

}  // namespace

std::unique_ptr<Pass> createEliminateCommonSubexpressionsPass() {
  return std::make_unique<EliminateCommonSubexpressionsPass>();
}

}  // namespace npuconv
