// lower_to_opset.cc - lower-to-opset: write fused ops the model's opset lacks as their
// decomposition, so the emitted ONNX is valid for its opset.
//
// Before (model opset 14): %y = LayerNormalization(%x, %gamma, %beta, axis=-1, epsilon=1e-12)
// After:  %mu = ReduceMean<axes=[-1]>(%x)  %d = Sub(%x, %mu)  %sq = Mul(%d, %d)
//         %var = ReduceMean<axes=[-1]>(%sq)  %ve = Add(%var, eps)  %s = Sqrt(%ve)
//         %n = Div(%d, %s)  %o = Mul(%n, %gamma)  %y = Add(%o, %beta)
// Before (model opset < 20): %y = Gelu(%x)  ->  0.5 * x * (1 + erf(x / sqrt 2)), or the tanh
// form 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) for approximate="tanh".
// The fusion passes keep LayerNormalization (opset 17) and Gelu (opset 20) in the IR whatever
// the opset; this pass runs right before ONNX emission. The decomposed nodes keep the fused
// node's provenance and are recorded as a fusion group ("layer-norm", "gelu") so a device
// emitter still sees one op. Preconditions: float32 or float64; LayerNormalization's optional
// Mean/InvStdDev results unused; its axis negative or the rank of x known.
#include <cmath>
#include <numbers>

#include "passes/fuse/fusion_groups.h"
#include "passes/match.h"
#include "passes/passes.h"

namespace npuconv {
namespace {

class Builder {
 public:
  Builder(Graph& g, Node* at) : g_(g), at_(at) {}
  Value* op(std::string type, std::vector<Value*> operands) {
    Node* n = g_.createNode(std::move(type), std::move(operands), 1, at_);
    n->setProvenance(at_->provenance());
    nodes_.push_back(n);
    return n->result(0);
  }
  Node* last() const { return nodes_.back(); }
  Value* scalar(double v, DType t) {
    TensorData d = t == DType::F64 ? TensorData::fromValues<double>(DType::F64, {}, std::span<const double>(&v, 1))
                                   : m::f32Tensor({}, {v});
    return m::addConstant(g_, fmt::format("{}_c", at_->name().empty() ? at_->opType() : at_->name()), std::move(d));
  }
  const std::vector<Node*>& nodes() const { return nodes_; }

 private:
  Graph& g_;
  Node* at_;
  std::vector<Node*> nodes_;
};

class LowerToOpsetPass final : public Pass {
 public:
  std::string_view name() const override { return "lower-to-opset"; }

  Status run(Model& model, PassContext& ctx) override {
    int64_t opset = model.opsetVersion("");
    for (Graph* g : m::allGraphs(model))
      for (Node* n : g->nodeList()) {
        if (n->is("LayerNormalization") && opset < 17) NPU_TRY(lowerLayerNorm(model, *g, n, ctx));
        else if (n->is("Gelu") && opset < 20) NPU_TRY(lowerGelu(model, *g, n, ctx));
      }
    return Status::ok();
  }

 private:
  /// The float type of n's input x: x's own, else n's result's, else the scale's (x may
  /// have no value_info).
  static Expected<DType> floatType(const Node& n) {
    DType t = DType::Undefined;
    for (const Value* v : {n.operand(0), n.result(0), n.operand(1)})
      if (v && t == DType::Undefined) t = v->dtype();
    if (t != DType::F32 && t != DType::F64)
      return Status::unsupported("{}: cannot write {} on {} below its opset", n.describe(), n.opType(), dtypeName(t));
    return t;
  }

  void finish(Model& model, Graph& g, Node* fused, Builder& b, std::string_view kind, PassContext& ctx) {
    m::replaceValue(g, fused->result(0), b.last()->result(0));
    if (!fused->name().empty()) dropFromFusionGroups(model, fused->name());
    recordFusionGroup(model, kind, b.nodes());
    g.eraseNode(fused);
    ++ctx.stat(fmt::format("lower-to-opset.{}", kind));
  }

  Status lowerLayerNorm(Model& model, Graph& g, Node* ln, PassContext& ctx) {
    NPU_ASSIGN_OR_RETURN(DType t, floatType(*ln));
    for (size_t i = 1; i < ln->numResults(); ++i)
      if (ln->result(i) && !ln->result(i)->uses().empty())
        return Status::unsupported("node {}: its Mean/InvStdDev results are used; opset {} has no LayerNormalization",
                                   ln->describe(), model.opsetVersion(""));
    Value* x = ln->operand(0);
    int64_t axis = ln->attrs().getInt("axis", -1);
    if (axis >= 0) {
      auto r = m::rankOf(x);
      if (!r) return Status::unsupported("{}: axis {} on an input of unknown rank", ln->describe(), axis);
      axis -= *r;
    }
    std::vector<int64_t> axes;
    for (int64_t a = axis; a < 0; ++a) axes.push_back(a);
    Builder b(g, ln);
    auto reduceMean = [&](Value* v) {
      Value* r = b.op("ReduceMean", {v});
      b.last()->mutableAttrs().set<std::vector<int64_t>>("axes", axes);
      return r;
    };
    Value* mu = reduceMean(x);
    Value* d = b.op("Sub", {x, mu});
    Value* var = reduceMean(b.op("Mul", {d, d}));
    Value* s = b.op("Sqrt", {b.op("Add", {var, b.scalar(ln->attrs().getFloat("epsilon", 1e-5f), t)})});
    Value* y = b.op("Mul", {b.op("Div", {d, s}), ln->operand(1)});
    if (Value* beta = ln->operand(2)) y = b.op("Add", {y, beta});
    finish(model, g, ln, b, "layer-norm", ctx);
    return Status::ok();
  }

  Status lowerGelu(Model& model, Graph& g, Node* gelu, PassContext& ctx) {
    NPU_ASSIGN_OR_RETURN(DType t, floatType(*gelu));
    Value* x = gelu->operand(0);
    Builder b(g, gelu);
    Value* inner;
    if (gelu->attrs().getString("approximate", "none") == "tanh") {
      Value* cube = b.op("Mul", {b.op("Mul", {x, x}), x});
      Value* s = b.op("Add", {x, b.op("Mul", {cube, b.scalar(0.044715, t)})});
      inner = b.op("Tanh", {b.op("Mul", {s, b.scalar(std::sqrt(2.0 / std::numbers::pi), t)})});
    } else {
      inner = b.op("Erf", {b.op("Div", {x, b.scalar(std::numbers::sqrt2, t)})});
    }
    Value* a = b.op("Add", {inner, b.scalar(1.0, t)});
    b.op("Mul", {b.op("Mul", {x, b.scalar(0.5, t)}), a});
    finish(model, g, gelu, b, "gelu", ctx);
    return Status::ok();
  }
};

}  // namespace

std::unique_ptr<Pass> createLowerToOpsetPass() { return std::make_unique<LowerToOpsetPass>(); }

}  // namespace npuconv
