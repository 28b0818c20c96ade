// node_keys.h - a node's counterpart in a copy of its graph: the float model and its quantized
// copy (bias correction, the per-layer error table), or two shape variants imported from one file.
//
// Node names cannot be the key: ONNX does not require them, so exporters leave many empty ("")
// or repeat them, and a map by name then pairs a layer with another layer. The key is the op
// type and the user's name or, for an unnamed node, what import recorded for it (its first
// output's name: the node's provenance); the k-th node (k >= 2) with the same op type and name
// gets "#k". Copies keep their nodes' order, names and provenance, so a node and its counterpart
// get the same key.
#pragma once

#include <map>
#include <string>
#include <unordered_map>

#include "converter/ir/graph.h"

namespace npuconv {

/// The key of every node of `g` (main graph only).
std::unordered_map<const Node*, std::string> nodeKeys(const Graph& g);

/// nodeKeys inverted: each key's node.
std::map<std::string, Node*> nodesByKey(const Graph& g);

}  // namespace npuconv
