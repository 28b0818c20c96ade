// fold_pad_into_conv.cc - fold-pad-into-conv: move an explicit Pad into the pads of its consumer.
//
// Before: %p = Pad(%x, pads=[0,0,t,l, 0,0,b,r], mode=constant, value=v)   %y = Conv(%p, ...)
// After:  %y = Conv(%x, ...) with pads += [t,l, b,r]
// The same for AveragePool and MaxPool. Pad's layout is [x1_begin, x2_begin, ..., x1_end, ...]
// over all axes; the consumer's pads cover the spatial axes only.
// Preconditions: constant mode with non-negative constant pads that leave the batch and
// channel axes alone; the consumer's auto_pad is NOTSET; %p private. Per consumer:
//   Conv:        v = 0 (Conv pads with zeros).
//   AveragePool: v = 0, and count_include_pad = 1, or the pool has no pads yet (then it is
//                set to 1, so the padded zeros still count in the average, as they did).
//   MaxPool:     v = -inf; or v = 0 when %x >= 0 (produced by Relu, or Clip with min >= 0),
//                and (both cases) every total pad is below the dilated kernel extent, so no
//                window lies entirely in the padding.
#include <algorithm>
#include <cmath>
#include <limits>

#include "passes/match.h"
#include "passes/passes.h"

namespace npuconv {
namespace {

class FoldPadIntoConvPass final : public Pass {
 public:
  std::string_view name() const override { return "fold-pad-into-conv"; }

  Status run(Model& model, PassContext& ctx) override {
    for (Graph* g : m::allGraphs(model))
      for (Node* n : g->nodeList())
        if (n->is("Conv") || n->is("AveragePool") || n->is("MaxPool")) tryFold(*g, n, ctx);
    return Status::ok();
  }

 private:
  static bool nonNegative(const Value* v) {
    if (m::producer(v, "Relu")) return true;
    if (Node* c = m::producer(v, "Clip")) {
      if (auto lo = c->attrs().get<float>("min")) return *lo >= 0;
      auto lo = m::constScalar(c->operand(1));
      return lo && *lo >= 0;
    }
    return false;
  }

  bool tryFold(Graph& g, Node* n, PassContext& ctx) {
    Node* pad = m::producer(n->operand(0), "Pad");
    if (!pad) return false;
    if (!m::isPrivate(pad->result(0))) return m::notMatched(ctx, name(), *n, "Pad result has other uses");
    if (pad->attrs().getString("mode", "constant") != "constant") return m::notMatched(ctx, name(), *n, "Pad mode is not constant");
    if (n->attrs().getString("auto_pad", "NOTSET") != "NOTSET") return m::notMatched(ctx, name(), *n, "auto_pad is set");
    m::IntsArg padsArg = m::intsFromAttrOrInput(*pad, "pads", 1);
    if (!padsArg.values) return m::notMatched(ctx, name(), *n, "pads not constant");
    std::vector<int64_t> pads = *padsArg.values;
    auto rank = m::rankOf(pad->operand(0));
    if (!rank) rank = m::rankOf(n->operand(0));
    if (!rank && pads.size() % 2 == 0) rank = static_cast<int64_t>(pads.size() / 2);
    // Opset 18 axes: scatter the given pads to full rank.
    if (Value* axesV = pad->operand(3)) {
      auto axes = m::constInts(axesV);
      if (!axes || !rank) return m::notMatched(ctx, name(), *n, "Pad axes not constant");
      std::vector<int64_t> full(static_cast<size_t>(2 * *rank), 0);
      size_t na = axes->size();
      if (pads.size() != 2 * na) return m::notMatched(ctx, name(), *n, "pads and axes disagree");
      for (size_t i = 0; i < na; ++i) {
        int64_t a = (*axes)[i] < 0 ? (*axes)[i] + *rank : (*axes)[i];
        full[static_cast<size_t>(a)] = pads[i];
        full[static_cast<size_t>(a + *rank)] = pads[i + na];
      }
      pads = full;
    }
    if (!rank || static_cast<int64_t>(pads.size()) != 2 * *rank || *rank < 3)
      return m::notMatched(ctx, name(), *n, "pads do not match the input rank");
    // A Conv whose weights have another rank than its padded input is invalid; folding would
    // give it the unpadded input's known shape and write a model that no longer reads back.
    if (n->is("Conv"))
      if (auto wr = m::rankOf(n->operand(1)); wr && *wr != *rank)
        return m::notMatched(ctx, name(), *n, "weights rank differs from the input rank");
    int64_t r = *rank, spatial = r - 2;
    if (pads[0] || pads[1] || pads[static_cast<size_t>(r)] || pads[static_cast<size_t>(r + 1)])
      return m::notMatched(ctx, name(), *n, "Pad touches the batch or channel axis");
    for (int64_t p : pads)
      if (p < 0) return m::notMatched(ctx, name(), *n, "negative pads crop");
    double value = 0;
    if (auto v = pad->attrs().get<float>("value")) value = *v;
    else if (Value* cv = pad->operand(2)) {
      auto s = m::constScalar(cv);
      if (!s) return m::notMatched(ctx, name(), *n, "pad value not constant");
      value = *s;
    }
    std::vector<int64_t> own = n->attrs().getInts("pads", std::vector<int64_t>(static_cast<size_t>(2 * spatial), 0));
    if (static_cast<int64_t>(own.size()) != 2 * spatial) return m::notMatched(ctx, name(), *n, "pads attribute malformed");
    bool ownZero = std::all_of(own.begin(), own.end(), [](int64_t p) { return p == 0; });
    std::vector<int64_t> merged(own.size());
    for (int64_t i = 0; i < spatial; ++i) {
      merged[static_cast<size_t>(i)] = own[static_cast<size_t>(i)] + pads[static_cast<size_t>(2 + i)];
      merged[static_cast<size_t>(spatial + i)] = own[static_cast<size_t>(spatial + i)] + pads[static_cast<size_t>(r + 2 + i)];
    }
    bool setCountIncludePad = false;
    if (n->is("Conv")) {
      if (value != 0) return m::notMatched(ctx, name(), *n, "pad value is not 0");
    } else if (n->is("AveragePool")) {
      if (value != 0) return m::notMatched(ctx, name(), *n, "pad value is not 0");
      if (n->attrs().getInt("count_include_pad", 0) == 0) {
        if (!ownZero) return m::notMatched(ctx, name(), *n, "pool excludes its own padding from the average");
        setCountIncludePad = true;
      }
    } else {
      bool minusInf = std::isinf(value) && value < 0;
      if (!minusInf && (value != 0 || !nonNegative(pad->operand(0))))
        return m::notMatched(ctx, name(), *n, "pad value neither -inf nor 0 over a non-negative input");
      {
        std::vector<int64_t> kernel = n->attrs().getInts("kernel_shape");
        std::vector<int64_t> dil = n->attrs().getInts("dilations", std::vector<int64_t>(kernel.size(), 1));
        if (static_cast<int64_t>(kernel.size()) != spatial) return m::notMatched(ctx, name(), *n, "kernel_shape missing");
        for (int64_t i = 0; i < spatial; ++i) {
          int64_t extent = (kernel[static_cast<size_t>(i)] - 1) * dil[static_cast<size_t>(i)] + 1;
          if (merged[static_cast<size_t>(i)] >= extent || merged[static_cast<size_t>(spatial + i)] >= extent)
            return m::notMatched(ctx, name(), *n, "a window could lie entirely in the padding");
        }
      }
    }
    n->setOperand(0, pad->operand(0));
    n->mutableAttrs().set<std::vector<int64_t>>("pads", merged);
    if (setCountIncludePad) n->mutableAttrs().set<int64_t>("count_include_pad", 1);
    n->addProvenance(*pad);
    g.eraseNode(pad);
    ++ctx.stat("fold-pad-into-conv.folded");
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> createFoldPadIntoConvPass() { return std::make_unique<FoldPadIntoConvPass>(); }

}  // namespace npuconv
