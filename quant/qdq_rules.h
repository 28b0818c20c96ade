// qdq_rules.h - per-op rules of INT8 static quantization: which ops are quantized, which pass
// quantization through, and what role each operand plays (activation, weight with its channel
// axis, int32 bias, or left alone).
#pragma once

#include <cstdint>
#include <vector>

#include "converter/ir/graph.h"

namespace npuconv {

enum class QdqKind {
  Float,        // stays float
  Compute,      // its activation inputs and its output get their own Q/DQ
  PassThrough,  // output reuses the data input's scale and zero point (ORT's QDQ propagation)
};

enum class OperandRole { Untouched, Activation, Weight, Bias };

struct OperandRule {
  OperandRole role = OperandRole::Untouched;
  int64_t axis = -1;  // Weight: the output-channel axis (-1: per tensor only)
};

/// How `n` is quantized, judged from the node alone (op type, attributes, constant operands).
/// Float for ops outside the list, other domains, non-float32 data, and nodes whose weight is
/// not a float32 constant of the expected rank.
QdqKind qdqKind(const Node& n);

/// The role of each operand of a Compute node (same length as its operands). A weight is a
/// float32 constant (initializer or Constant node); a bias a float32 1-D constant with one
/// value per output channel, only when the layer computes x*W + b exactly (Gemm alpha = beta
/// = 1).
std::vector<OperandRule> operandRules(const Node& n);

/// The output channels of a weight along `axis` for the bias check (-1: unknown).
int64_t weightChannels(const Node& n);

}  // namespace npuconv
