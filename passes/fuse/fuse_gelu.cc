// fuse_gelu.cc - fuse-gelu: the decomposed Gelu formulas into one Gelu.
//
// Before (erf form):  %t = Div(%x, 1.41421)  (or Mul(%x, 0.70711))   %e = Erf(%t)
//                     %a = Add(%e, 1)   then one of the orderings of 0.5 * x * a:
//                       Mul(Mul(%x, 0.5), %a) | Mul(Mul(%x, %a), 0.5) | Mul(Mul(%a, 0.5), %x)
// Before (tanh form): %c = Pow(%x, 3) (or Mul(Mul(%x, %x), %x))   %m = Mul(%c, 0.044715)
//                     %s = Add(%x, %m)   %u = Mul(%s, 0.79788)   %h = Tanh(%u)   %a = Add(%h, 1)
//                     and the same final orderings
// After:  %y = Gelu(%x)  (approximate="tanh" for the tanh form)
// The IR keeps the fused op whatever the model's opset. When the target opset (the model's, or
// the PassContext option "opset") is 20 or more the model's opset is raised to it; otherwise
// lower-to-opset writes the decomposition back (as a "gelu" fusion group) when the model is
// emitted as ONNX.
// Algebra: Gelu(x) = 0.5 x (1 + erf(x / sqrt 2)); tanh form 0.5 x (1 + tanh(sqrt(2/pi) (x +
// 0.044715 x^3))). Binary ops match in either operand order; constants within 1e-4 relative.
// Preconditions: every intermediate used only inside the pattern; all uses of x the same
// value.
#include <cmath>
#include <numbers>

#include "passes/match.h"
#include "passes/passes.h"

namespace npuconv {
namespace {

/// The Mul that is the sole user of `v`, with its other operand; nulls otherwise.
std::pair<Node*, Value*> mulAfter(const Value* v) {
  Node* u = m::soleUser(v);
  if (!u || !u->is("Mul")) return {nullptr, nullptr};
  return {u, m::otherOperand(u, v)};
}

struct Match {
  Value* x = nullptr;
  std::vector<Node*> nodes;
  Value* out = nullptr;
};

class FuseGeluPass final : public Pass {
 public:
  std::string_view name() const override { return "fuse-gelu"; }

  Status run(Model& model, PassContext& ctx) override {
    Graph& g = *model.graph;
    int64_t opset = m::targetOpset(model, ctx);
    for (bool again = true; again;) {
      again = false;
      for (Node* n : g.nodeList()) {
        std::optional<Match> mt;
        bool tanh = false;
        if (n->is("Erf")) mt = matchErf(n);
        else if (n->is("Tanh")) {
          mt = matchTanh(n);
          tanh = true;
        } else {
          continue;
        }
        if (!mt) {
          m::notMatched(ctx, name(), *n, "not a Gelu formula");
          continue;
        }
        Node* gelu = g.createNode("Gelu", {mt->x}, 1, mt->nodes.back());
        // x may be untyped (no value_info); the formula's constants say the float type, which
        // lower-to-opset needs to write them back.
        for (Node* p : mt->nodes)
          for (Value* v : p->operands())
            if (TensorRef c = m::constTensor(v); c && gelu->result(0)->dtype() == DType::Undefined)
              gelu->result(0)->setType(TensorType{c->dtype(), mt->out->type().shape, {}, {}});
        if (tanh) gelu->mutableAttrs().set<std::string>("approximate", "tanh");
        gelu->setProvenance({});
        for (Node* p : mt->nodes) gelu->addProvenance(*p);
        m::replaceValue(g, mt->out, gelu->result(0));
        for (auto it = mt->nodes.rbegin(); it != mt->nodes.rend(); ++it) g.eraseNode(*it);
        // Kept at the old opset when it cannot be raised: lower-to-opset writes Gelu decomposed.
        if (model.opsetVersion("") < 20 && opset >= 20 && !m::requireOpset(model, opset))
          ++ctx.stat("fuse-gelu.opset-not-raised");
        ++ctx.stat("fuse-gelu.fused");
        again = true;
        break;
      }
    }
    return Status::ok();
  }

 private:
  /// From %a = Add(inner, 1): the final 0.5 * x * a in its three orderings.
  static bool matchTail(Value* inner, Match& mt) {
    Node* add = m::soleUser(inner);
    if (!add || !add->is("Add") || !m::isScalarNear(m::otherOperand(add, inner), 1.0)) return false;
    mt.nodes.push_back(add);
    Value* a = add->result(0);
    auto [m1, o1] = mulAfter(a);
    if (!m1) return false;
    mt.nodes.push_back(m1);
    if (o1 == mt.x) {  // Mul(Mul(x, a), 0.5)
      auto [m2, o2] = mulAfter(m1->result(0));
      if (!m2 || !m::isScalarNear(o2, 0.5)) return false;
      mt.nodes.push_back(m2);
      mt.out = m2->result(0);
      return true;
    }
    if (m::isScalarNear(o1, 0.5)) {  // Mul(Mul(a, 0.5), x)
      auto [m2, o2] = mulAfter(m1->result(0));
      if (!m2 || o2 != mt.x) return false;
      mt.nodes.push_back(m2);
      mt.out = m2->result(0);
      return true;
    }
    // Mul(Mul(x, 0.5), a)
    Node* h = o1 ? m::producer(o1, "Mul") : nullptr;
    if (!h || !m::isPrivate(o1) || m::otherOperand(h, mt.x) == nullptr || !m::isScalarNear(m::otherOperand(h, mt.x), 0.5))
      return false;
    mt.nodes.insert(mt.nodes.begin(), h);
    mt.out = m1->result(0);
    return true;
  }

  static std::optional<Match> matchErf(Node* erf) {
    Match mt;
    Node* t = erf->operand(0) ? erf->operand(0)->producer() : nullptr;
    if (!t || !m::isPrivate(erf->operand(0))) return std::nullopt;
    if (t->is("Div") && m::isScalarNear(t->operand(1), std::sqrt(2.0))) mt.x = t->operand(0);
    else if (t->is("Mul") && m::isScalarNear(t->operand(1), std::sqrt(0.5))) mt.x = t->operand(0);
    else if (t->is("Mul") && m::isScalarNear(t->operand(0), std::sqrt(0.5))) mt.x = t->operand(1);
    else return std::nullopt;
    mt.nodes = {t, erf};
    if (!matchTail(erf->result(0), mt)) return std::nullopt;
    return mt;
  }

  static std::optional<Match> matchTanh(Node* th) {
    Match mt;
    auto scaled = [](Node* mul, double c) -> Value* {  // Mul(v, c) either order: v
      if (!mul || !mul->is("Mul")) return nullptr;
      if (m::isScalarNear(mul->operand(1), c)) return mul->operand(0);
      if (m::isScalarNear(mul->operand(0), c)) return mul->operand(1);
      return nullptr;
    };
    Value* u = th->operand(0);
    Node* mu = u ? u->producer() : nullptr;
    Value* s = scaled(mu, std::sqrt(2.0 / std::numbers::pi));
    if (!s || !m::isPrivate(u) || !m::isPrivate(s)) return std::nullopt;
    Node* add = s->producer();
    if (!add || !add->is("Add")) return std::nullopt;
    for (size_t i = 0; i < 2 && !mt.x; ++i) {
      Value* cand = add->operand(i);
      Value* m3 = add->operand(1 - i);
      Node* mc = m3 ? m3->producer() : nullptr;
      Value* cube = scaled(mc, 0.044715);
      if (!cube || !m::isPrivate(m3) || !m::isPrivate(cube)) continue;
      Node* cn = cube->producer();
      if (!cn) continue;
      if (cn->is("Pow") && cn->operand(0) == cand && m::isScalarNear(cn->operand(1), 3.0)) {
        mt.x = cand;
        mt.nodes = {cn, mc, add, mu, th};
      } else if (cn->is("Mul")) {
        Value* sqV = m::otherOperand(cn, cand);
        Node* sq = sqV ? m::producer(sqV, "Mul") : nullptr;
        if (sq && m::isPrivate(sqV) && sq->operand(0) == cand && sq->operand(1) == cand) {
          mt.x = cand;
          mt.nodes = {sq, cn, mc, add, mu, th};
        }
      }
    }
    if (!mt.x || !matchTail(th->result(0), mt)) return std::nullopt;
    return mt;
  }
};

}  // namespace

std::unique_ptr<Pass> createFuseGeluPass() { return std::make_unique<FuseGeluPass>(); }

}  // namespace npuconv
