// fold_squeeze_unsqueeze.cc - fold-squeeze-unsqueeze: cancel or merge Squeeze/Unsqueeze pairs.
//
// Before: %t = Squeeze(%x, axes=a)   %y = Unsqueeze(%t, axes=a)   (or Unsqueeze then Squeeze)
// After:  uses of %y read %x
// Before: the same pair with different axes
// After:  %y = Reshape(%x, shape(%y))  when %x's shape is static
// Axes are normalized (negative axes: Squeeze counts against the rank of its input, Unsqueeze
// against the rank of its output) and sorted before comparing; axes come from the attribute
// (older opsets) or the constant input.
// Preconditions: axes constant (a Squeeze without axes needs %x's static shape); %t may have
// other users (it stays for them). When %y is a graph output and %x part of the interface,
// the pair is left alone.
#include <algorithm>

#include "passes/match.h"
#include "passes/passes.h"

namespace npuconv {
namespace {

using Dims = std::vector<int64_t>;

/// Sorted, non-negative axes of a Squeeze/Unsqueeze whose reference rank is `rank`.
std::optional<Dims> axesOf(const Node& n, std::optional<int64_t> rank, const std::optional<Dims>& inDims) {
  m::IntsArg a = m::intsFromAttrOrInput(n, "axes", 1);
  Dims axes;
  if (!a.present || (a.values && a.values->empty())) {
    if (!n.is("Squeeze") || !inDims) return std::nullopt;
    for (size_t i = 0; i < inDims->size(); ++i)
      if ((*inDims)[i] == 1) axes.push_back(static_cast<int64_t>(i));
    return axes;
  }
  if (!a.values) return std::nullopt;
  for (int64_t v : *a.values) {
    if (v < 0) {
      if (!rank) return std::nullopt;
      v += *rank;
    }
    axes.push_back(v);
  }
  std::sort(axes.begin(), axes.end());
  return axes;
}

class FoldSqueezeUnsqueezePass final : public Pass {
 public:
  std::string_view name() const override { return "fold-squeeze-unsqueeze"; }

  Status run(Model& model, PassContext& ctx) override {
    for (Graph* g : m::allGraphs(model))
      for (Node* n : g->nodeList())
        if (n->is("Squeeze") || n->is("Unsqueeze")) fold(*g, n, ctx);
    return Status::ok();
  }

 private:
  void fold(Graph& g, Node* outer, PassContext& ctx) {
    Node* inner = m::producer(outer->operand(0), outer->is("Squeeze") ? "Unsqueeze" : "Squeeze");
    if (!inner) return;
    Value* x = inner->operand(0);
    Value* t = outer->operand(0);
    auto xDims = m::staticDims(x);
    auto xRank = m::rankOf(x);
    std::optional<Dims> ai, ao;
    std::optional<int64_t> tRank;
    if (inner->is("Squeeze")) {
      ai = axesOf(*inner, xRank, xDims);
      if (ai && xRank) tRank = *xRank - static_cast<int64_t>(ai->size());
      // Unsqueeze axes refer to its output rank.
      m::IntsArg a = m::intsFromAttrOrInput(*outer, "axes", 1);
      std::optional<int64_t> outRank;
      if (tRank && a.values) outRank = *tRank + static_cast<int64_t>(a.values->size());
      ao = axesOf(*outer, outRank, std::nullopt);
    } else {
      m::IntsArg a = m::intsFromAttrOrInput(*inner, "axes", 1);
      if (xRank && a.values) tRank = *xRank + static_cast<int64_t>(a.values->size());
      ai = axesOf(*inner, tRank, std::nullopt);
      ao = axesOf(*outer, tRank, std::nullopt);
    }
    if (!ai || !ao) return (void)m::notMatched(ctx, name(), *outer, "axes not constant or rank unknown");
    Value* y = outer->result(0);
    if (*ai == *ao) {
      if (!m::canTakeOver(y, x)) return (void)m::notMatched(ctx, name(), *outer, "result is a graph output of an interface value");
      if (x->producer()) x->producer()->addProvenance(*outer);
      m::replaceValue(g, y, x);
      g.eraseNode(outer);
      if (!t->hasUses() && !t->isGraphOutput()) g.eraseNode(inner);
      ++ctx.stat("fold-squeeze-unsqueeze.cancelled");
      return;
    }
    if (!xDims) return (void)m::notMatched(ctx, name(), *outer, "different axes and the input shape is not static");
    // Shape of %y: apply inner then outer to the static dims.
    auto apply = [](const Node& n, const Dims& in, const Dims& axes) {
      Dims out;
      if (n.is("Squeeze")) {
        for (size_t i = 0; i < in.size(); ++i)
          if (!std::binary_search(axes.begin(), axes.end(), static_cast<int64_t>(i))) out.push_back(in[i]);
      } else {
        size_t k = 0;
        for (int64_t i = 0; i < static_cast<int64_t>(in.size() + axes.size()); ++i)
          out.push_back(std::binary_search(axes.begin(), axes.end(), i) ? 1 : in[k++]);
      }
      return out;
    };
    Dims yd = apply(*outer, apply(*inner, *xDims, *ai), *ao);
    Node* r = g.createNode("Reshape", {x, m::addConstant(g, y->name() + "_shape", m::i64Tensor(yd))}, 1, outer);
    r->setProvenance(inner->provenance());
    r->addProvenance(*outer);
    r->result(0)->setType(TensorType{x->dtype(), shapeOf(yd), {}, {}});
    m::replaceValue(g, y, r->result(0));
    g.eraseNode(outer);
    if (!t->hasUses() && !t->isGraphOutput()) g.eraseNode(inner);
    ++ctx.stat("fold-squeeze-unsqueeze.reshaped");
  }
};

}  // namespace

std::unique_ptr<Pass> createFoldSqueezeUnsqueezePass() { return std::make_unique<FoldSqueezeUnsqueezePass>(); }

}  // namespace npuconv
