// mixed_config.h - mixed precision by configuration: which precision each layer computes in,
// keyed by the user's original ONNX node names, name patterns and op types.
//
//   {
//     "default": "int8",
//     "nodes":    {"p2o.Conv.0": "int16", "p2o.Softmax.0": "fp32"},
//     "patterns": {"p2o\\.Conv\\.[0-3]": "fp16"},
//     "op_types": {"MatMul": "fp16"}
//   }
//
// Precedence: a node's exact original name (`nodes`) > the first pattern in file order that
// matches one of its original names as a whole (ECMAScript regex) > its op type > `default`.
// A node of the optimized graph carries every original name it came from (Conv with its folded
// BatchNormalization): it takes the highest precision any of them is given at the winning
// level. Precisions, lowest to highest: int8, int16 (16-bit activations, int8 weights: A16W8),
// fp16, fp32. An int8 or int16 layer the quantizer cannot quantize stays float32.
#pragma once

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "converter/ir/graph.h"
#include "converter/support/status.h"

namespace npuconv {

enum class LayerPrecision { Int8 = 0, Int16 = 1, Fp16 = 2, Fp32 = 3 };
Expected<LayerPrecision> parseLayerPrecision(std::string_view name);  // int8 int16 fp16 fp32
const char* layerPrecisionName(LayerPrecision p);
inline bool isQuantized(LayerPrecision p) { return p == LayerPrecision::Int8 || p == LayerPrecision::Int16; }

struct MixedConfig {
  struct Pattern {
    std::string text;
    std::shared_ptr<const std::regex> re;
    LayerPrecision precision;
  };
  LayerPrecision defaultPrecision = LayerPrecision::Int8;
  std::vector<std::pair<std::string, LayerPrecision>> nodes;    // sorted by name
  std::vector<Pattern> patterns;                                // file order
  std::vector<std::pair<std::string, LayerPrecision>> opTypes;  // sorted by op type

  /// Nothing but the int8 default: plain int8 quantization.
  bool empty() const {
    return defaultPrecision == LayerPrecision::Int8 && nodes.empty() && patterns.empty() && opTypes.empty();
  }
  /// Some layer may be given `p`.
  bool mentions(LayerPrecision p) const;
  /// Keeps the fewest entries: `name` at `p` (replacing an earlier entry for it).
  void setNode(const std::string& name, LayerPrecision p);
};

/// Parses the JSON form; `source` names the file in errors. Unknown keys, unknown precisions
/// and invalid patterns are errors naming them.
Expected<MixedConfig> parseMixedConfig(const nlohmann::ordered_json& j, const std::string& source);
/// The JSON form, byte-for-byte deterministic (sorted nodes and op types, patterns in order).
nlohmann::ordered_json mixedConfigToJson(const MixedConfig& c);

/// The precision `n` computes in.
LayerPrecision precisionOf(const MixedConfig& c, const Node& n);

/// Every key names something in `g` (the optimized graph): an error naming the first key that
/// matches no node (an original name folded away by the passes, a typo, an op type absent).
Status checkMixedConfigKeys(const MixedConfig& c, const Graph& g, const std::string& source);

}  // namespace npuconv
