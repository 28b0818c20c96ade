// eliminate_identity.cc - eliminate-identity: remove ops that provably return their input.
//
// Before: %y = Identity(%x)          After: uses of %y read %x
// The same for: Dropout in inference mode with its mask unused; Cast to the type %x already
// has; Reshape to the shape %x already has; Transpose with perm 0..n-1; Pad whose pads are all
// zero; Slice that keeps every element of every sliced axis with step 1; Expand to a shape
// that does not grow %x; Squeeze without axes of a tensor with no 1-sized dim.
// Preconditions: the no-op must follow from constants and static shapes alone. When %y is a
// graph output, %x takes over its name, so %x must be a private node result (not a graph
// input, initializer or another output); otherwise the op stays.
#include <limits>
#include <numeric>

#include "passes/match.h"
#include "passes/passes.h"

namespace npuconv {
namespace {

using Dims = std::vector<int64_t>;

class EliminateIdentityPass final : public Pass {
 public:
  std::string_view name() const override { return "eliminate-identity"; }

  Status run(Model& model, PassContext& ctx) override {
    for (Graph* g : m::allGraphs(model))
      for (Node* n : g->nodeList()) {
        if (!n->domain().empty() || n->numOperands() == 0 || !n->operand(0)) continue;
        std::string_view why;
        if (!isNoOp(*n, why)) {
          if (!why.empty()) m::notMatched(ctx, name(), *n, why);
          continue;
        }
        Value* x = n->operand(0);
        Value* y = n->result(0);
        if (!y || !m::canTakeOver(y, x)) {
          m::notMatched(ctx, name(), *n, "result is a graph output and the input is part of the interface");
          continue;
        }
        m::replaceValue(*g, y, x);
        if (x->producer()) x->producer()->addProvenance(*n);
        g->eraseNode(n);
        ++ctx.stat("eliminate-identity.removed");
      }
    return Status::ok();
  }

 private:
  static bool otherResultsUnused(const Node& n) {
    for (size_t i = 1; i < n.numResults(); ++i)
      if (Value* r = n.result(i); r && (r->hasUses() || r->isGraphOutput())) return false;
    return true;
  }

  /// Whether `n` returns operand 0 unchanged; `why` explains a refusal for the ops we know.
  static bool isNoOp(const Node& n, std::string_view& why) {
    const std::string& op = n.opType();
    Value* x = n.operand(0);
    if (op == "Identity") return true;
    if (op == "Dropout") {
      if (m::isNondeterministic(n)) return (why = "training-mode Dropout"), false;
      if (!otherResultsUnused(n)) return (why = "the mask output is used"), false;
      return true;
    }
    if (op == "Cast") {
      auto to = n.attrs().get<int64_t>("to");
      if (!to || x->dtype() == DType::Undefined) return (why = "input dtype unknown"), false;
      return static_cast<int64_t>(x->dtype()) == *to;
    }
    if (op == "Transpose") {
      auto r = m::rankOf(x);
      Dims perm = n.attrs().getInts("perm");
      if (perm.empty()) return r && *r <= 1;
      for (size_t i = 0; i < perm.size(); ++i)
        if (perm[i] != static_cast<int64_t>(i)) return false;
      return true;
    }
    if (op == "Pad") {
      m::IntsArg pads = m::intsFromAttrOrInput(n, "pads", 1);
      if (!pads.values) return (why = "pads not constant"), false;
      for (int64_t p : *pads.values)
        if (p != 0) return false;
      return true;
    }
    auto dims = m::staticDims(x);
    if (op == "Reshape") {
      auto shape = m::constInts(n.operand(1));
      if (!shape) return (why = "target shape not constant"), false;
      bool allowZero = n.attrs().getInt("allowzero", 0) != 0;
      auto rank = m::rankOf(x);
      if (!allowZero && rank && static_cast<int64_t>(shape->size()) == *rank &&
          std::all_of(shape->begin(), shape->end(), [](int64_t d) { return d == 0; }))
        return true;  // every dim copied from the input
      if (!dims) return (why = "input shape not static"), false;
      if (shape->size() != dims->size()) return false;
      int64_t minusOne = -1;
      Dims out(shape->size()), knownDims;
      for (size_t i = 0; i < shape->size(); ++i) {
        int64_t d = (*shape)[i];
        if (d == 0 && !allowZero) d = (*dims)[i];
        if (d == -1) {
          minusOne = static_cast<int64_t>(i);
          continue;
        }
        out[i] = d;
        knownDims.push_back(d);
      }
      if (minusOne >= 0) {
        // The shape's values come from the model: negative or overflowing products are no identity.
        std::optional<int64_t> total = checkedElementCount(*dims), known = checkedElementCount(knownDims);
        if (!total || !known || *known == 0) return false;
        out[static_cast<size_t>(minusOne)] = *total / *known;
      }
      return out == *dims;
    }
    if (op == "Slice") {
      m::IntsArg starts = m::intsFromAttrOrInput(n, "starts", 1);
      m::IntsArg ends = m::intsFromAttrOrInput(n, "ends", 2);
      m::IntsArg axes = m::intsFromAttrOrInput(n, "axes", 3);
      m::IntsArg steps = m::intsFromAttrOrInput(n, "steps", 4);
      if (!starts.values || !ends.values || (axes.present && !axes.values) || (steps.present && !steps.values))
        return (why = "slice parameters not constant"), false;
      auto rank = m::rankOf(x);
      for (size_t i = 0; i < starts.values->size(); ++i) {
        int64_t axis = axes.values ? axes.values->at(i) : static_cast<int64_t>(i);
        int64_t step = steps.values ? steps.values->at(i) : 1;
        int64_t s = (*starts.values)[i], e = ends.values->at(i);
        if (step != 1) return false;
        if (axis < 0) {
          if (!rank) return (why = "rank unknown"), false;
          axis += *rank;
        }
        std::optional<int64_t> dim;
        if (dims && axis >= 0 && axis < static_cast<int64_t>(dims->size())) dim = (*dims)[static_cast<size_t>(axis)];
        bool startsAtZero = s == 0 || (dim && s <= -*dim);
        bool endsAtEnd = e >= std::numeric_limits<int32_t>::max() || (dim && e >= *dim);
        if (!startsAtZero || !endsAtEnd) return (why = dim ? "slice drops elements" : "input shape not static"), false;
      }
      return true;
    }
    if (op == "Expand") {
      auto shape = m::constInts(n.operand(1));
      if (!shape || !dims) return (why = "shape not constant or input shape not static"), false;
      if (shape->size() > dims->size()) return false;
      size_t off = dims->size() - shape->size();
      for (size_t i = 0; i < shape->size(); ++i)
        if ((*shape)[i] != 1 && (*shape)[i] != (*dims)[off + i]) return false;
      return true;
    }
    if (op == "Squeeze") {
      m::IntsArg axes = m::intsFromAttrOrInput(n, "axes", 1);
      if (axes.present && !(axes.values && axes.values->empty())) return false;
      if (!dims) return (why = "input shape not static"), false;
      return std::none_of(dims->begin(), dims->end(), [](int64_t d) { return d == 1; });
    }
    return false;
  }
};

}  // namespace

std::unique_ptr<Pass> createEliminateIdentityPass() { return std::make_unique<EliminateIdentityPass>(); }

}  // namespace npuconv
