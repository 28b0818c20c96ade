// lower_nhwc_to_onnx.cc - lower-nhwc-to-onnx: NHWC twins back to standard ONNX ops.
//
// Before: %yh = ai.npuconv.nhwc.Conv(%xh, W'[M,kH,kW,C/g], b)
// After:  %x = Transpose(%xh, [0,3,1,2])  %y = Conv(%x, W[M,C/g,kH,kW], b)
//         %yh = Transpose(%y, [0,2,3,1])
// Algebra: the twin is defined as exactly this composition (passes/layout/nhwc.h); the weight
// is permuted back (a constant becomes a new initializer, anything else gets a Transpose).
// ONNX Runtime has no CPU kernel for an NHWC float Conv (com.microsoft.NhwcConv fails to
// load on the CPU EP), so `npuconv optimize` runs this before writing ONNX: the output passes
// onnx's checker and ORT computes what the executor does. Adjacent Transpose pairs between
// two lowered ops are left for ORT's own transpose optimizer (or fold-transpose-chains).
// Preconditions: none; the domain's opset import goes when no twin is left.
#include "passes/layout/nhwc.h"
#include "passes/match.h"

namespace npuconv {
namespace {

using nhwc::kToNchw;
using nhwc::kToNhwc;

class LowerNhwcToOnnxPass final : public Pass {
 public:
  std::string_view name() const override { return "lower-nhwc-to-onnx"; }

  Status run(Model& model, PassContext& ctx) override {
    for (Graph* g : m::allGraphs(model)) {
      std::unordered_map<Value*, Value*> weights;
      for (Node* n : g->nodeList())
        if (nhwc::isNhwcNode(*n)) NPU_TRY(lower(*g, n, weights, ctx));
    }
    nhwc::syncOpsetImport(model);
    return Status::ok();
  }

 private:
  Status lower(Graph& g, Node* n, std::unordered_map<Value*, Value*>& weights, PassContext& ctx) {
    if (!nhwc::hasNhwcTwin(n->opType()) || !n->operand(0) || n->numResults() < 1 || !n->result(0))
      return Status::unsupported("{}: not an NHWC op this build knows", n->describe());
    std::vector<Value*> operands = n->operands();
    operands[0] = nhwc::addTranspose(g, n->operand(0), kToNchw, n, n, "_to_nchw");
    if (n->opType() == "Conv" && n->operand(1)) {
      Value* w = n->operand(1);
      if (auto it = weights.find(w); it != weights.end()) {
        operands[1] = it->second;
      } else if (TensorRef c = m::constTensor(w); c && c->rank() == 4) {
        operands[1] = weights[w] = m::addConstant(g, w->name() + "_oihw", nhwc::permute(*c, kToNchw));
      } else {
        operands[1] = weights[w] = nhwc::addTranspose(g, w, kToNchw, n, n, "_weight_oihw");
      }
    }
    Node* t = g.createNode(n->opType(), operands, 1, n, n->name());
    t->mutableAttrs() = n->attrs();
    t->setProvenance(n->provenance());
    t->setDocString(n->docString());
    t->result(0)->setType(nhwc::permuteType(n->result(0)->type(), kToNchw));
    Value* back = nhwc::addTranspose(g, t->result(0), kToNhwc, n, n, "_to_nhwc");
    back->setType(n->result(0)->type());
    Value* oldWeight = n->opType() == "Conv" ? n->operand(1) : nullptr;
    m::replaceValue(g, n->result(0), back);
    g.eraseNode(n);
    if (oldWeight && oldWeight->isInitializer() && !oldWeight->isGraphInput() && !oldWeight->hasUses() &&
        !oldWeight->isGraphOutput())
      g.eraseInitializer(oldWeight);
    ++ctx.stat("lower-nhwc-to-onnx.lowered");
    return Status::ok();
  }
};

}  // namespace

std::unique_ptr<Pass> createLowerNhwcToOnnxPass() { return std::make_unique<LowerNhwcToOnnxPass>(); }

}  // namespace npuconv
