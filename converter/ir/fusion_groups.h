// fusion_groups.h - the record of fusion groups in a model: chains of standard ONNX nodes the
// device runs as one op, kept as model metadata so the exported ONNX stays plain.
//
// Format: the metadata entry "npuconv.fusion_groups", one line per group "kind: node1 node2 ..."
// (node names in order, the anchor first). The fusion passes write it
// (passes/fuse/fusion_groups.h); the quantizers and lower-to-opset drop the groups of nodes
// they rewrite; a device emitter reads them and re-checks each chain. In the IR (not passes/)
// so that quant/, which cannot link passes/, reads and edits the same record.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "converter/ir/model.h"

namespace npuconv {

inline constexpr std::string_view kFusionGroupsKey = "npuconv.fusion_groups";

struct FusionGroup {
  std::string kind;                // "conv-act", "linear", "linear-act", "layer-norm", "gelu"
  std::vector<std::string> nodes;  // node names, anchor first
  bool operator==(const FusionGroup&) const = default;
};

std::vector<FusionGroup> fusionGroups(const Model& m);
/// Whether a node named `name` belongs to a recorded group.
bool inFusionGroup(const Model& m, std::string_view name);
/// Removes node `name` from the groups (a node a later pass replaced): an "X-act" group that
/// loses it becomes "X"; a group left with one node is dropped.
void dropFromFusionGroups(Model& m, std::string_view name);
/// Removes every group that names one of `names` (a rewritten node no longer forms the chain
/// its group describes, e.g. a MatMul turned into MatMulInteger).
void dropFusionGroupsNaming(Model& m, const std::vector<std::string>& names);

}  // namespace npuconv
