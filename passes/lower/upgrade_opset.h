// upgrade_opset.h - raising a model's default-domain opset import (to 13 for per-axis
// DequantizeLinear, to 11 for DynamicQuantizeLinear), rewriting the ops whose form changed on
// the way so that they keep their meaning.
//
// Rewritten: Clip (min/max attributes -> inputs, opset 11), Slice (attributes -> inputs, 10),
// Pad (pads/value -> inputs, 11), TopK (k -> input, 10), Resize opset 10 (-> roi input,
// asymmetric coordinates, floor rounding, 11), Dropout (ratio -> input, 12), Squeeze,
// Unsqueeze, Split, ReduceSum (axes/split -> inputs, 13), Softmax, LogSoftmax, Hardmax (their
// pre-13 axis flattened the trailing dims: equal to the 13 meaning when the axis is the last
// one, which must be provable from the rank). Anything else with a changed meaning (Upsample,
// Scatter, a Softmax over a middle axis, a rank-unknown one) refuses, naming the node.
#pragma once

#include <cstdint>

#include "converter/ir/model.h"
#include "converter/support/status.h"

namespace npuconv {

/// Raises the default-domain opset of `m` (all graphs) to `target` when it is lower; no change
/// and ok when it is already there. On error nothing has been changed.
Status upgradeOpset(Model& m, int64_t target);

}  // namespace npuconv
