// fuse_conv_act.cc - fuse-conv-act: group a Conv with the activation that follows it.
//
// Before: %y = Conv(%x, %W, %b)   ...   %z = Relu(%y)
// After:  %y = Conv(%x, %W, %b)   %z = Relu(%y)        adjacent, and the model metadata
//         "npuconv.fusion_groups" gains the line "conv-act: <conv> <relu>"
// The graph stays standard ONNX: the device emitter turns each group into one fused op (see
// docs/passes.md, "Fusion groups"). Activations: Relu, Clip with constant bounds (Relu6),
// LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Gelu, and SiLU as y * Sigmoid(y).
// Preconditions: %y used only by the activation (SiLU: by its Sigmoid and Mul) and not a
// graph output; the Conv is not already in a group. Main graph only (group names are
// main-graph node names).
#include "passes/fuse/fusion_groups.h"
#include "passes/match.h"
#include "passes/passes.h"

namespace npuconv {
namespace {

class FuseConvActPass final : public Pass {
 public:
  std::string_view name() const override { return "fuse-conv-act"; }

  Status run(Model& model, PassContext& ctx) override {
    Graph& g = *model.graph;
    for (Node* conv : g.nodeList()) {
      if (!conv->is("Conv")) continue;
      std::vector<Node*> act = activationAfter(conv->result(0));
      if (act.empty()) {
        m::notMatched(ctx, name(), *conv, "no private fusable activation after it");
        continue;
      }
      if (!conv->name().empty() && inFusionGroup(model, conv->name())) {
        bool same = false;
        for (const FusionGroup& fg : fusionGroups(model))
          if (fg.kind == "conv-act" && fg.nodes.size() == act.size() + 1 && fg.nodes[0] == conv->name()) same = true;
        if (!same) m::notMatched(ctx, name(), *conv, "already in another fusion group");
        continue;
      }
      std::vector<Node*> group = {conv};
      group.insert(group.end(), act.begin(), act.end());
      makeContiguous(g, group);
      if (recordFusionGroup(model, "conv-act", group)) ++ctx.stat("fuse-conv-act.fused");
    }
    return Status::ok();
  }
};

}  // namespace

std::unique_ptr<Pass> createFuseConvActPass() { return std::make_unique<FuseConvActPass>(); }

}  // namespace npuconv
