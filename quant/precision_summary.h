// precision_summary.h - what a converted model computes its weighted layers in, read back from
// the graph itself (not from what the quantizer meant to do): per Conv, ConvTranspose, Gemm and
// MatMul with a constant weight, the precision of its weight and input, and the share of weight
// elements stored as int8. The mixed-precision report and its accuracy goals are stated in it.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "converter/ir/graph.h"

namespace npuconv {

struct PrecisionSummary {
  /// [{"node": "<first original name>", "op", "precision": "int8|int16|fp16|fp32",
  ///   "weight_elements"}] in graph order. int16 = int8 weights with a 16-bit input (A16W8).
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  int64_t weightElements = 0, int8WeightElements = 0;
  double int8WeightShare() const {
    return weightElements ? static_cast<double>(int8WeightElements) / static_cast<double>(weightElements) : 0.0;
  }
  /// {"layers": [...], "counts": {"int8": n, ...}, "weight_elements", "int8_weight_share"}.
  nlohmann::ordered_json toJson() const;
};

PrecisionSummary summarizePrecisions(const Graph& g);

}  // namespace npuconv
