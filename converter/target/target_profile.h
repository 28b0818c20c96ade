// target_profile.h - what an NPU can run, and which nodes of a graph it runs.
//
// A TargetProfile describes one accelerator: whether it needs static shapes, its preferred
// layout and channel alignment, the quantization schemes it supports, and a table of the ops it
// executes with their constraints (kernel sizes, strides, dilation, groups, channels, rank,
// broadcasting, element types). Profiles come from JSON files (formats/target/target_json.h);
// the core knows no file format.
//
// placeNodes() checks every node of a graph against a profile and says, for each node, whether
// it runs on the NPU or falls back to the CPU and why, in one line ("kernel 7x7 exceeds max
// 5x5"). It reads only static information: value types, attributes and the shapes of constant
// initializers (weights). A check that needs a shape the IR does not know is skipped (the node
// is given the benefit of the doubt); run shape inference or freezing first for exact results.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "converter/ir/dtype.h"
#include "converter/ir/graph.h"

namespace npuconv {

/// Which Conv `group` values an op accepts.
enum class GroupSupport { None, Depthwise, Any };
/// Which broadcasts an element-wise op accepts: none (equal shapes), channel (also a scalar, or
/// one operand varying only along the channel axis, 1 or last), full (numpy broadcasting).
enum class BroadcastSupport { None, Channel, Full };

const char* groupSupportName(GroupSupport g);        // "none", "depthwise", "any"
const char* broadcastSupportName(BroadcastSupport b);  // "none", "channel", "full"

/// The constraints of one op on a target. Absent optionals mean "no limit".
struct OpConstraints {
  std::string opType;
  std::string domain;                       // "" for the default ONNX domain
  std::vector<int64_t> kernelSizes;         // allowed sizes of each spatial kernel dim; empty: any
  std::optional<int64_t> maxKernel;         // per spatial dim
  std::optional<int64_t> maxStride;         // per spatial dim
  bool dilationAllowed = true;              // false: every dilation must be 1
  std::optional<int64_t> maxDilation;       // per spatial dim
  std::optional<int64_t> maxPad;            // per pad value
  GroupSupport groups = GroupSupport::Any;  // Conv/ConvTranspose
  std::optional<int64_t> maxDepthMultiplier;  // depthwise: output channels per input channel
  std::optional<int64_t> maxChannels;       // input and output channels
  std::optional<int64_t> maxRank;           // overrides the profile's max rank
  std::optional<int64_t> maxBatch;          // dim 0 of the data input
  BroadcastSupport broadcast = BroadcastSupport::Full;
  std::vector<DType> dtypes;                // compute types accepted; empty: the profile's
  bool constantWeights = false;             // operand 1 must be a constant (Conv, Gemm, MatMul)
  /// Allowed values of int or string attributes, as text ("0", "NOTSET"); absent attrs pass.
  std::map<std::string, std::vector<std::string>> attrValues;
  std::string note;                         // free text for the report
  std::string source;                       // where the constraint comes from
  bool operator==(const OpConstraints&) const = default;
};

struct QuantizationSupport {
  bool int8Symmetric = false;
  bool int8Asymmetric = false;
  bool perChannelWeights = false;
  bool int16Activations = false;
  bool fp16 = false;
  bool fp32Compute = false;
  bool int8() const { return int8Symmetric || int8Asymmetric; }
  /// Whether a float model can run unquantized (in fp16 or fp32).
  bool floatCompute() const { return fp16 || fp32Compute; }
  bool operator==(const QuantizationSupport&) const = default;
};

struct TargetProfile {
  std::string name;
  std::string description;
  std::vector<std::string> sources;  // documents the profile is based on
  bool requiresStaticShapes = false;
  std::string preferredLayout = "nchw";  // "nchw" or "nhwc"
  int64_t channelAlignment = 1;
  std::optional<int64_t> maxRank;
  /// Only the N innermost dims of a tensor may exceed 1 (Edge TPU: 3).
  std::optional<int64_t> maxInnermostDims;
  /// The NPU runs one segment: every node that depends on a CPU node runs on the CPU too.
  bool singleNpuSegment = false;
  QuantizationSupport quantization;
  std::vector<OpConstraints> ops;

  /// The constraints of an op, or null when the target does not run it.
  const OpConstraints* findOp(const std::string& domain, const std::string& opType) const;
  /// Element types the NPU computes in, from the quantization support.
  std::vector<DType> computeTypes() const;
  bool operator==(const TargetProfile&) const = default;
};

struct NodePlacement {
  std::string name;
  std::string opType;
  std::string domain;
  std::vector<std::string> originalNames;  // Node::provenance(): the user's ONNX node names
  bool onNpu = true;
  std::string reason;  // why it falls back to the CPU; empty on the NPU
};

/// Counts per op type, as the Edge TPU compiler's operator table.
struct OpPlacementSummary {
  std::string opType;  // "domain:Op" outside the default domain
  int64_t onNpu = 0;
  int64_t onCpu = 0;
  std::vector<std::string> reasons;  // distinct CPU reasons, in first-seen order
};

/// One entry per node of the main graph, in node order.
std::vector<NodePlacement> placeNodes(const Graph& g, const TargetProfile& profile);
/// Per op type, sorted by op type.
std::vector<OpPlacementSummary> summarizePlacement(const std::vector<NodePlacement>& placement);

}  // namespace npuconv
