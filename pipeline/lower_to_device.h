// lower_to_device.h - the optimized (and quantized) IR as a device program (converter/device):
// each QuantizeLinear -> op -> QuantizeLinear pattern whose weights are quantized constants becomes
// an integer op (int8/uint8 x int8 -> int32, int32 bias at scale s_in * s_w, fixed-point
// requantization, fused Relu/Clip as a clamp); everything else stays a float op run on the CPU,
// with Quantize/Dequantize at its borders. Then the static memory plan.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "converter/device/device_program.h"
#include "converter/ir/model.h"
#include "converter/support/status.h"

namespace npuconv {

/// Values without a static shape (a model read back from a file keeps no value_info) are typed
/// first by evaluating the graph on zeros, which changes only value types in `m`. Fails
/// (unsupported) when a shape stays dynamic or an op cannot be held by the blob (subgraphs,
/// tensor-valued attributes); `provenance` goes into the program as given.
/// `widenInputScale` (several shape variants sharing their weights): per Conv/Gemm node, by its
/// first original ONNX name (an unnamed node's is its first output's: node names may be empty), the
/// input scale at which a bias that passes the accumulator widens the layer's weight scales: the
/// smallest input scale of all variants, so every variant widens the same channels to the same
/// scales and the requantized int8 weights stay one copy in WGHT. Absent: the layer's own.
Expected<device::Program> lowerToDevice(Model& m, std::vector<device::KeyValue> provenance,
                                        const std::map<std::string, double>* widenInputScale = nullptr);

}  // namespace npuconv
