// fuse_matmul_add.cc - fuse-matmul-add: MatMul + bias Add (+ activation) as one linear op.
//
// Before: %m = MatMul(%a, %B)   %y = Add(%m, %c)   (or Add(%c, %m))   [%z = act(%y)]
// After, %a and %B of rank 2:  %y = Gemm(%a, %B, %c)                    [group "linear-act":
//                              Gemm, act]
// After, otherwise:            MatMul, Add [, act] kept, adjacent, recorded as group
//                              "linear" or "linear-act" (see fusion_groups.h)
// Gemm(a, B, c) = a @ B + c with c broadcast to [M, N], the same as MatMul + Add when c
// broadcasts to [N] or [1, N] without growing the result.
// Preconditions: %m private; %c constant with one element or shape [N] / [1, N]; the target
// opset has Gemm with an optional-broadcast C (>= 7), else the group is recorded instead.
// Activations as in fuse-conv-act. Main graph only.
#include <algorithm>

#include "passes/fuse/fusion_groups.h"
#include "passes/match.h"
#include "passes/passes.h"

namespace npuconv {
namespace {

class FuseMatMulAddPass final : public Pass {
 public:
  std::string_view name() const override { return "fuse-matmul-add"; }

  Status run(Model& model, PassContext& ctx) override {
    Graph& g = *model.graph;
    int64_t opset = m::targetOpset(model, ctx);
    for (Node* add : g.nodeList()) {
      if (!add->is("Add") || add->numOperands() != 2) continue;
      size_t mi = m::producer(add->operand(0), "MatMul") ? 0 : 1;
      Node* mm = m::producer(add->operand(mi), "MatMul");
      if (!mm) continue;
      Value* c = add->operand(1 - mi);
      if (!m::isPrivate(mm->result(0))) {
        m::notMatched(ctx, name(), *add, "MatMul result has other uses");
        continue;
      }
      if (inFusionGroup(model, mm->name())) continue;  // grouped by an earlier run
      auto bd = m::staticDims(mm->operand(1));
      auto cd = m::staticDims(c);
      bool twoD = m::rankOf(mm->operand(0)) == 2 && bd && bd->size() == 2 && opset >= 7;
      if (!m::isConstant(c) || !cd) {
        m::notMatched(ctx, name(), *add, "the other operand is not a constant bias");
        continue;
      }
      // A bias along the last axis: every dim but the last is 1.
      bool lastAxisBias = std::all_of(cd->begin(), cd->empty() ? cd->end() : cd->end() - 1, [](int64_t d) { return d == 1; });
      if (!lastAxisBias) {
        m::notMatched(ctx, name(), *add, "constant is not a bias along the last axis");
        continue;
      }
      bool biasOk = twoD && (elementCount(*cd) == 1 || *cd == std::vector<int64_t>{(*bd)[1]} ||
                             *cd == std::vector<int64_t>{1, (*bd)[1]});
      std::vector<Node*> act = activationAfter(add->result(0));
      if (twoD && biasOk) {
        Node* gemm = g.createNode("Gemm", {mm->operand(0), mm->operand(1), c}, 1, add);
        gemm->setProvenance(mm->provenance());
        gemm->addProvenance(*add);
        Value* y = add->result(0);
        m::replaceValue(g, y, gemm->result(0));
        g.eraseNode(add);
        g.eraseNode(mm);
        ++ctx.stat("fuse-matmul-add.gemm");
        if (!act.empty()) {
          std::vector<Node*> group = {gemm};
          group.insert(group.end(), act.begin(), act.end());
          makeContiguous(g, group);
          recordFusionGroup(model, "linear-act", group);
        }
        continue;
      }
      m::notMatched(ctx, name(), *add, "not 2-D with a [N] bias: kept as a MatMul+Add group");
      std::vector<Node*> group = {mm, add};
      group.insert(group.end(), act.begin(), act.end());
      makeContiguous(g, group);
      if (recordFusionGroup(model, act.empty() ? "linear" : "linear-act", group)) ++ctx.stat("fuse-matmul-add.grouped");
    }
    return Status::ok();
  }
};

}  // namespace

std::unique_ptr<Pass> createFuseMatMulAddPass() { return std::make_unique<FuseMatMulAddPass>(); }

}  // namespace npuconv
