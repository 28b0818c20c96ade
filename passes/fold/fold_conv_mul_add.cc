// fold_conv_mul_add.cc - fold-conv-mul-add: fold a per-channel Mul or Add into the Conv before it.
//
// Before: %y = Conv(%x, %W, %b?)   %z = Mul(%y, %c)      (or Mul(%c, %y))
// After:  %z = Conv(%x, %W', %b')  W' = W * c[o] along axis 0, b' = b * c[o]
// Before: %y = Conv(%x, %W, %b?)   %z = Add(%y, %c)      (or Add(%c, %y))
// After:  %z = Conv(%x, %W, %b')   b' = b + c[o]         (b = 0 when absent)
// Preconditions: %c constant and per output channel: one element, or rank <= the Conv's rank
// with every dim 1 except the channel dim (axis 1 of the Conv result, counted from the right
// when %c has a lower rank) equal to O; so the Mul/Add does not broadcast %y to a bigger
// shape. %y private; W (and b) constant f32. New weights are new initializers.
#include "passes/match.h"
#include "passes/passes.h"

namespace npuconv {
namespace {

class FoldConvMulAddPass final : public Pass {
 public:
  std::string_view name() const override { return "fold-conv-mul-add"; }

  Status run(Model& model, PassContext& ctx) override {
    for (Graph* g : m::allGraphs(model))
      for (Node* n : g->nodeList())
        if (n->is("Mul") || n->is("Add")) tryFold(*g, n, ctx);
    return Status::ok();
  }

 private:
  /// Per-channel values of %c for a Conv result of `rank` with `channels` channels.
  static std::optional<std::vector<double>> perChannel(const Value* c, int64_t rank, int64_t channels) {
    auto vals = m::constDoubles(c);
    auto dims = m::staticDims(c);
    if (!vals || !dims || static_cast<int64_t>(dims->size()) > rank) return std::nullopt;
    if (vals->size() == 1) return std::vector<double>(static_cast<size_t>(channels), (*vals)[0]);
    int64_t chAxis = 1 - (rank - static_cast<int64_t>(dims->size()));  // axis 1 of %y in %c
    for (int64_t i = 0; i < static_cast<int64_t>(dims->size()); ++i) {
      int64_t d = (*dims)[static_cast<size_t>(i)];
      if (i == chAxis ? d != channels : d != 1) return std::nullopt;
    }
    return vals;
  }

  bool tryFold(Graph& g, Node* n, PassContext& ctx) {
    Node* conv = m::producer(n->operand(0), "Conv");
    size_t yi = 0;
    if (!conv) {
      conv = m::producer(n->operand(1), "Conv");
      yi = 1;
    }
    if (!conv) return false;  // not a Conv epilogue
    Value* y = n->operand(yi);
    Value* c = n->operand(1 - yi);
    if (!m::isPrivate(y)) return m::notMatched(ctx, name(), *n, "Conv result has other uses");
    TensorRef w = m::constTensor(conv->operand(1));
    if (!w || w->dtype() != DType::F32 || w->rank() < 3)
      return m::notMatched(ctx, name(), *n, "Conv weight not a constant f32");
    int64_t channels = w->dims()[0];
    auto k = perChannel(c, w->rank(), channels);
    if (!k) return m::notMatched(ctx, name(), *n, "operand is not a per-channel constant");
    std::vector<double> bias(static_cast<size_t>(channels), 0.0);
    if (Value* b = conv->operand(2)) {
      auto bd = m::constDoubles(b);
      if (!bd || static_cast<int64_t>(bd->size()) != channels) return m::notMatched(ctx, name(), *n, "bias not constant");
      bias = *bd;
    }
    if (n->is("Mul")) {
      std::vector<double> wf = *m::constDoubles(conv->operand(1));
      size_t per = wf.size() / static_cast<size_t>(channels);
      for (size_t i = 0; i < wf.size(); ++i) wf[i] *= (*k)[i / per];
      for (size_t o = 0; o < bias.size(); ++o) bias[o] *= (*k)[o];
      conv->setOperand(1, m::addConstant(g, conv->operand(1)->name() + "_scaled", m::f32Tensor(w->dims(), wf)));
    } else {
      for (size_t o = 0; o < bias.size(); ++o) bias[o] += (*k)[o];
    }
    Value* nb = m::addConstant(g, conv->operand(1)->name() + "_bias", m::f32Tensor({channels}, bias));
    if (conv->numOperands() > 2) conv->setOperand(2, nb);
    else conv->addOperand(nb);
    conv->addProvenance(*n);
    m::replaceValue(g, n->result(0), y);
    g.eraseNode(n);
    ++ctx.stat("fold-conv-mul-add.folded");
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> createFoldConvMulAddPass() { return std::make_unique<FoldConvMulAddPass>(); }

}  // namespace npuconv
