#include "converter/ir/node_keys.h"

namespace npuconv {

std::unordered_map<const Node*, std::string> nodeKeys(const Graph& g) {
  std::unordered_map<const Node*, std::string> keys;
  std::map<std::string, int> seen;
  for (const Node* n : g.nodes()) {
    const std::string& who = !n->name().empty() || n->provenance().empty() ? n->name() : n->provenance().front();
    std::string key = n->opType() + ":" + who;
    if (const int k = ++seen[key]; k > 1) key += "#" + std::to_string(k);
    keys.emplace(n, std::move(key));
  }
  return keys;
}

std::map<std::string, Node*> nodesByKey(const Graph& g) {
  const std::unordered_map<const Node*, std::string> keys = nodeKeys(g);
  std::map<std::string, Node*> byKey;
  for (Node* n : g.nodeList()) byKey.emplace(keys.at(n), n);
  return byKey;
}

}  // namespace npuconv
