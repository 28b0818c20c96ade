// fuse_layer_norm.cc - fuse-layer-norm: the pre-opset-17 LayerNorm decomposition into one op.
//
// Before: %mu = ReduceMean(%x, axes)   %d = Sub(%x, %mu)   %p = Pow(%d, 2)  (or Mul(%d, %d))
//         %var = ReduceMean(%p, axes)  %ve = Add(%var, eps)  %s = Sqrt(%ve)  %n = Div(%d, %s)
//         [%o = Mul(%n, %gamma)]  [%y = Add(%o, %beta)]          (Mul/Add in either order)
// After:  %y = LayerNormalization(%x, %gamma, %beta, axis=-k, epsilon=eps)
// The IR keeps the fused op whatever the model's opset. When the target opset (the model's, or
// the PassContext option "opset") is 17 or more the model's opset is raised to it; otherwise
// lower-to-opset writes the decomposition back (as a "layer-norm" fusion group) when the model
// is emitted as ONNX.
// The algebra is LayerNormalization's definition: (x - mean) / sqrt(var + eps) * gamma + beta
// over the last k axes, with var the biased variance.
// Preconditions: axes are the last k axes (negative, or positive with the rank known),
// keepdims=1 on both ReduceMeans; eps, gamma and beta constant, gamma/beta holding exactly the
// normalized dims (they are reshaped to them); without a gamma the normalized dims must be
// static (a ones scale is made); every intermediate used only inside the pattern.
#include <algorithm>

#include "passes/match.h"
#include "passes/passes.h"

namespace npuconv {
namespace {

/// The operand of binary `n` that is not `v`, or null when `v` is not an operand.

/// Normalized axes of a ReduceMean as negative numbers (-k..-1), sorted; nullopt otherwise.
std::optional<std::vector<int64_t>> trailingAxes(const Node& rm, std::optional<int64_t> rank) {
  if (rm.attrs().getInt("keepdims", 1) != 1) return std::nullopt;
  m::IntsArg a = m::intsFromAttrOrInput(rm, "axes", 1);
  if (!a.values || a.values->empty()) return std::nullopt;
  std::vector<int64_t> axes;
  for (int64_t v : *a.values) {
    if (v >= 0) {
      if (!rank) return std::nullopt;
      v -= *rank;
    }
    axes.push_back(v);
  }
  std::sort(axes.begin(), axes.end());
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i] != -static_cast<int64_t>(axes.size() - i)) return std::nullopt;
  return axes;
}

class FuseLayerNormPass final : public Pass {
 public:
  std::string_view name() const override { return "fuse-layer-norm"; }

  Status run(Model& model, PassContext& ctx) override {
    Graph& g = *model.graph;
    int64_t opset = m::targetOpset(model, ctx);
    // A fusion erases nodes after the anchor: rescan from the start after each one.
    for (bool again = true; again;) {
      again = false;
      for (Node* n : g.nodeList())
        if (n->is("ReduceMean") && tryFuse(model, g, n, opset, ctx)) {
          again = true;
          break;
        }
    }
    return Status::ok();
  }

 private:
  bool tryFuse(Model& model, Graph& g, Node* mean, int64_t opset, PassContext& ctx) {
    Value* x = mean->operand(0);
    auto axes = trailingAxes(*mean, m::rankOf(x));
    if (!axes) return false;
    Node* sub = m::soleUser(mean->result(0));
    if (!sub || !sub->is("Sub") || sub->operand(0) != x || sub->operand(1) != mean->result(0)) return false;
    Value* d = sub->result(0);
    if (d->isGraphOutput()) return false;
    Node* sq = nullptr;
    Node* div = nullptr;
    for (const Use& u : d->uses()) {
      Node* un = u.user;
      if (un->is("Div") && u.operand == 0) div = un;
      else if ((un->is("Pow") && u.operand == 0 && m::isScalarNear(un->operand(1), 2.0, 1e-6)) ||
               (un->is("Mul") && un->operand(0) == d && un->operand(1) == d))
        sq = un;
      else return m::notMatched(ctx, name(), *mean, "x - mean has another user");
    }
    size_t expectedUses = sq && sq->is("Mul") ? 3 : 2;
    if (!sq || !div || d->uses().size() != expectedUses) return m::notMatched(ctx, name(), *mean, "no square and division of x - mean");
    Node* mean2 = m::soleUser(sq->result(0));
    if (!mean2 || !mean2->is("ReduceMean") || trailingAxes(*mean2, m::rankOf(x)) != axes)
      return m::notMatched(ctx, name(), *mean, "variance is not a ReduceMean over the same axes");
    Node* addEps = m::soleUser(mean2->result(0));
    Value* epsV = m::otherOperand(addEps, mean2->result(0));
    if (!addEps || !addEps->is("Add") || !m::constScalar(epsV)) return m::notMatched(ctx, name(), *mean, "no constant epsilon");
    double eps = *m::constScalar(epsV);
    Node* root = m::soleUser(addEps->result(0));
    if (!root || !root->is("Sqrt") || m::soleUser(root->result(0)) != div || div->operand(1) != root->result(0))
      return m::notMatched(ctx, name(), *mean, "no Div by Sqrt(var + eps)");
    std::vector<Node*> nodes = {mean, sub, sq, mean2, addEps, root, div};
    Value* out = div->result(0);
    Value* gamma = nullptr;
    Value* beta = nullptr;
    if (Node* mul = m::soleUser(out); mul && mul->is("Mul") && m::isConstant(m::otherOperand(mul, out))) {
      gamma = m::otherOperand(mul, out);
      nodes.push_back(mul);
      out = mul->result(0);
      if (Node* add = m::soleUser(out); add && add->is("Add") && m::isConstant(m::otherOperand(add, out))) {
        beta = m::otherOperand(add, out);
        nodes.push_back(add);
        out = add->result(0);
      }
    }
    int64_t k = static_cast<int64_t>(axes->size());
    // Normalized dims: from x's static shape, else from gamma/beta when they are k-D.
    std::optional<std::vector<int64_t>> normDims;
    if (auto xd = m::staticDims(x); xd && static_cast<int64_t>(xd->size()) >= k)
      normDims = std::vector<int64_t>(xd->end() - k, xd->end());
    auto fit = [&](Value* v) -> Value* {  // v reshaped to the normalized dims, or null
      TensorRef t = m::constTensor(v);
      if (!t || (x->dtype() != DType::Undefined && t->dtype() != x->dtype())) return nullptr;
      std::vector<int64_t> td = t->dims();
      while (!td.empty() && td.front() == 1 && static_cast<int64_t>(td.size()) > k) td.erase(td.begin());
      if (!normDims && static_cast<int64_t>(td.size()) == k && std::none_of(td.begin(), td.end(), [](int64_t e) { return e == 1; }))
        normDims = td;
      if (!normDims || td != *normDims) return nullptr;
      if (t->dims() == *normDims) return v;
      return g.addInitializer(g.uniqueName(v->name() + "_ln"), std::make_shared<TensorData>(t->dtype(), *normDims, t->buffer()));
    };
    Value* scale = gamma ? fit(gamma) : nullptr;
    Value* bias = beta ? fit(beta) : nullptr;
    if (gamma && !scale) return m::notMatched(ctx, name(), *mean, "gamma does not hold the normalized dims");
    if (beta && !bias) return m::notMatched(ctx, name(), *mean, "beta does not hold the normalized dims");
    if (!scale) {
      if (!normDims || x->dtype() != DType::F32) return m::notMatched(ctx, name(), *mean, "no gamma and normalized dims unknown");
      if (!checkedByteSize(*normDims, DType::F32))  // declared dims may be anything
        return m::notMatched(ctx, name(), *mean, "normalized dims too large for a scale tensor");
      scale = m::addConstant(g, x->name() + "_ln_scale", m::f32Tensor(*normDims, std::vector<double>(static_cast<size_t>(elementCount(*normDims)), 1.0)));
    }
    std::vector<Value*> ops = {x, scale};
    if (bias) ops.push_back(bias);
    Node* ln = g.createNode("LayerNormalization", ops, 1, nodes.back());
    ln->mutableAttrs().set<int64_t>("axis", -k);
    ln->mutableAttrs().set<float>("epsilon", static_cast<float>(eps));
    ln->setProvenance({});
    for (Node* n : nodes) ln->addProvenance(*n);
    m::replaceValue(g, out, ln->result(0));
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) g.eraseNode(*it);
    // Kept at the old opset when it cannot be raised: lower-to-opset writes it decomposed.
    if (model.opsetVersion("") < 17 && opset >= 17 && !m::requireOpset(model, opset))
      ++ctx.stat("fuse-layer-norm.opset-not-raised");
    ++ctx.stat("fuse-layer-norm.fused");
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> createFuseLayerNormPass() { return std::make_unique<FuseLayerNormPass>(); }

}  // namespace npuconv
