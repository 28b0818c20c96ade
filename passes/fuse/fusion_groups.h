// fusion_groups.h - fusion groups: chains of standard ONNX nodes the device runs as one op.
//
// The IR and the exported model keep standard ONNX ops; a fusion pass makes the chain
// adjacent in node order and records it as one line "kind: node1 node2 ..." (node names, in
// order, the anchor first) in the model metadata entry "npuconv.fusion_groups". Metadata is
// plain ONNX, so the model stays valid for every runtime; the device emitter reads the groups
// and re-checks them (a group whose nodes are gone or no longer chained is ignored).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "converter/ir/fusion_groups.h"
#include "converter/ir/model.h"

namespace npuconv {

// The record itself (kFusionGroupsKey, FusionGroup, fusionGroups, inFusionGroup,
// dropFromFusionGroups) lives in converter/ir/fusion_groups.h, shared with quant/.

/// Records a group (naming unnamed nodes); no-op and false when the same group is recorded.
bool recordFusionGroup(Model& m, std::string_view kind, const std::vector<Node*>& nodes);

/// The activation reading `y`, when it is one the device fuses: Relu, Clip with constant
/// bounds (Relu6 among them), LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Gelu (one node), or
/// SiLU y * Sigmoid(y) (Sigmoid, Mul). Empty when there is none or `y` has other users.
std::vector<Node*> activationAfter(const Value* y);

/// Moves the nodes of a group next to each other, keeping their order, by moving each one down
/// to just before the next. Valid when every value a group node produces is used only by later
/// group nodes (the last node's results excepted).
void makeContiguous(Graph& g, std::vector<Node*> nodes);

}  // namespace npuconv
