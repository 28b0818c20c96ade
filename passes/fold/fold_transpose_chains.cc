// fold_transpose_chains.cc - fold-transpose-chains: compose consecutive Transposes.
//
// Before: %t = Transpose(%x, perm=p1)   %y = Transpose(%t, perm=p2)
// After:  %y = Transpose(%x, perm=p)    p[i] = p1[p2[i]]   (y[..i..] reads x along p1[p2[i]])
//         and when p is the identity, uses of %y read %x directly.
// A single Transpose with an identity perm is dropped the same way.
// Preconditions: perms given, or the rank known (an absent perm reverses the axes). %t may
// have other users: it stays for them and the chain still gets shorter. An identity
// Transpose whose result is a graph output stays when %x is part of the interface.
#include <numeric>

#include "passes/match.h"
#include "passes/passes.h"

namespace npuconv {
namespace {

std::optional<std::vector<int64_t>> permOf(const Node& t) {
  std::vector<int64_t> p = t.attrs().getInts("perm");
  if (!p.empty()) return p;
  auto r = m::rankOf(t.operand(0));
  if (!r) return std::nullopt;
  p.resize(static_cast<size_t>(*r));
  for (int64_t i = 0; i < *r; ++i) p[static_cast<size_t>(i)] = *r - 1 - i;
  return p;
}

bool isIdentity(const std::vector<int64_t>& p) {
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != static_cast<int64_t>(i)) return false;
  return true;
}

class FoldTransposeChainsPass final : public Pass {
 public:
  std::string_view name() const override { return "fold-transpose-chains"; }

  Status run(Model& model, PassContext& ctx) override {
    for (Graph* g : m::allGraphs(model))
      for (Node* n : g->nodeList())
        if (n->is("Transpose")) fold(*g, n, ctx);
    return Status::ok();
  }

 private:
  void fold(Graph& g, Node* n, PassContext& ctx) {
    auto p2 = permOf(*n);
    if (!p2) return (void)m::notMatched(ctx, name(), *n, "perm absent and rank unknown");
    std::vector<int64_t> perm = *p2;
    if (Node* inner = m::producer(n->operand(0), "Transpose")) {
      auto p1 = permOf(*inner);
      if (!p1 || p1->size() != p2->size()) return (void)m::notMatched(ctx, name(), *n, "inner perm unknown");
      for (size_t i = 0; i < perm.size(); ++i) perm[i] = (*p1)[static_cast<size_t>((*p2)[i])];
      Value* t = n->operand(0);
      n->setOperand(0, inner->operand(0));
      n->mutableAttrs().set<std::vector<int64_t>>("perm", perm);
      n->addProvenance(*inner);
      if (!t->hasUses() && !t->isGraphOutput()) g.eraseNode(inner);
      ++ctx.stat("fold-transpose-chains.composed");
    }
    if (!isIdentity(perm)) return;
    Value* x = n->operand(0);
    if (!m::canTakeOver(n->result(0), x)) return (void)m::notMatched(ctx, name(), *n, "identity result is a graph output of an interface value");
    if (x->producer()) x->producer()->addProvenance(*n);
    m::replaceValue(g, n->result(0), x);
    g.eraseNode(n);
    ++ctx.stat("fold-transpose-chains.identities");
  }
};

}  // namespace

std::unique_ptr<Pass> createFoldTransposeChainsPass() { return std::make_unique<FoldTransposeChainsPass>(); }

}  // namespace npuconv
