// layer_match.h - the tensors two models compute for the same node of the user's original ONNX
// file, matched by original node name (Node::provenance, kept across npuconv's writes by
// converter/ir/provenance_record.h): what `npuconv compare --per-layer` compares.
//
// In each model a node stands for the last of its original names (a Conv with a folded
// BatchNormalization computes the BatchNormalization's output; a decomposition's last node the
// decomposed op's output); when several nodes stand for one name the last in graph order wins.
// Q/DQ nodes stand for nothing. A quantized tensor is observed where downstream reads it: after
// its DequantizeLinear.
#pragma once

#include <string>
#include <vector>

#include "converter/ir/model.h"

namespace npuconv {

struct LayerValue {
  std::string key;                  // original ONNX node name
  std::string op;                   // the op type of the node standing for it in this model
  const Value* value = nullptr;     // what consumers read (the DQ output after a Q/DQ pair)
  const Value* computed = nullptr;  // the node's own result (== value without a Q/DQ pair)
  std::vector<std::string> originals;  // every original node it computes (a Conv + its folded BN)
};

/// The values standing for original node names in `g`, in graph order.
std::vector<LayerValue> layerValues(const Graph& g);

struct MatchedLayer {
  std::string key;
  LayerValue a, b;
};

/// The original names both models compute, in `a`'s graph order.
std::vector<MatchedLayer> matchLayers(const Model& a, const Model& b);

}  // namespace npuconv
