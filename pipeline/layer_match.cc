// layer_match.cc - see layer_match.h.
#include "pipeline/layer_match.h"

#include <algorithm>
#include <map>

namespace npuconv {
namespace {

/// The DequantizeLinear output after `r` when r's only reader is a QuantizeLinear whose every
/// reader is a DequantizeLinear (the pair the int8 quantizer writes); else null.
const Value* dequantizedAfter(const Value* r) {
  if (r->uses().size() != 1 || !r->uses()[0].user->isQdq("QuantizeLinear")) return nullptr;
  const Value* q = r->uses()[0].user->result(0);
  if (!q || q->uses().empty()) return nullptr;
  for (const Use& u : q->uses())
    if (!u.user->isQdq("DequantizeLinear")) return nullptr;
  return q->uses()[0].user->result(0);
}

}  // namespace

std::vector<LayerValue> layerValues(const Graph& g) {
  std::map<std::string, size_t> last;  // key -> index in `all`
  std::vector<LayerValue> all;
  for (const Node* n : g.nodes()) {
    if (n->provenance().empty() || n->isQdq("QuantizeLinear") || n->isQdq("DequantizeLinear")) continue;
    const Value* r = n->result(0);
    if (!r) continue;
    LayerValue v{n->provenance().back(), n->opType(), r, r, n->provenance()};
    if (const Value* dq = dequantizedAfter(r)) v.value = dq;
    last[v.key] = all.size();
    all.push_back(std::move(v));
  }
  std::vector<LayerValue> out;
  for (size_t i = 0; i < all.size(); ++i)
    if (last[all[i].key] == i) out.push_back(all[i]);
  return out;
}

std::vector<MatchedLayer> matchLayers(const Model& a, const Model& b) {
  std::map<std::string, LayerValue> inB;
  for (LayerValue& v : layerValues(*b.graph)) inB.emplace(v.key, v);
  std::vector<MatchedLayer> out;
  for (LayerValue& v : layerValues(*a.graph)) {
    auto it = inB.find(v.key);
    if (it != inB.end()) out.push_back({v.key, v, it->second});
  }
  return out;
}

}  // namespace npuconv
