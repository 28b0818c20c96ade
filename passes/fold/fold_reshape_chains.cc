// fold_reshape_chains.cc - fold-reshape-chains: a Reshape of a shape-only op reshapes its input.
//
// Before: %t = Reshape(%x, %s1)  (or Flatten, Squeeze, Unsqueeze)   %y = Reshape(%t, %s2)
// After:  %y = Reshape(%x, %s2')
// Reshape keeps the row-major element order, and so do Flatten, Squeeze and Unsqueeze: only
// the last shape matters. s2' = s2, except that a 0 entry (copy the dim of %t, allowzero=0)
// is resolved from %t's static shape first.
// Preconditions: %s2 constant; a 0 entry needs %t's static shape; with allowzero=1 the 0s are
// literal and need nothing. %t may have other users: it stays for them.
#include <algorithm>

#include "passes/match.h"
#include "passes/passes.h"

namespace npuconv {
namespace {

class FoldReshapeChainsPass final : public Pass {
 public:
  std::string_view name() const override { return "fold-reshape-chains"; }

  Status run(Model& model, PassContext& ctx) override {
    for (Graph* g : m::allGraphs(model))
      for (Node* n : g->nodeList())
        if (n->is("Reshape")) fold(*g, n, ctx);
    return Status::ok();
  }

 private:
  void fold(Graph& g, Node* n, PassContext& ctx) {
    Value* t = n->operand(0);
    Node* inner = t ? t->producer() : nullptr;
    if (!inner || !(inner->is("Reshape") || inner->is("Flatten") || inner->is("Squeeze") || inner->is("Unsqueeze")))
      return;
    auto s2 = m::constInts(n->operand(1));
    if (!s2) return (void)m::notMatched(ctx, name(), *n, "shape not constant");
    std::vector<int64_t> shape = *s2;
    bool allowZero = n->attrs().getInt("allowzero", 0) != 0;
    if (!allowZero && std::find(shape.begin(), shape.end(), 0) != shape.end()) {
      auto td = m::staticDims(t);
      if (!td) return (void)m::notMatched(ctx, name(), *n, "0 in the shape and the intermediate shape unknown");
      for (size_t i = 0; i < shape.size(); ++i)
        if (shape[i] == 0) {
          if (i >= td->size()) return (void)m::notMatched(ctx, name(), *n, "0 beyond the intermediate rank");
          shape[i] = (*td)[i];
        }
      n->setOperand(1, m::addConstant(g, n->operand(1)->name() + "_resolved", m::i64Tensor(shape)));
    }
    n->setOperand(0, inner->operand(0));
    n->addProvenance(*inner);
    if (!t->hasUses() && !t->isGraphOutput()) m::eraseDead(g, inner);
    ++ctx.stat("fold-reshape-chains.folded");
  }
};

}  // namespace

std::unique_ptr<Pass> createFoldReshapeChainsPass() { return std::make_unique<FoldReshapeChainsPass>(); }

}  // namespace npuconv
