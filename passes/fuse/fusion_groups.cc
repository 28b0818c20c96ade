// fusion_groups.cc - see fusion_groups.h.
#include "passes/fuse/fusion_groups.h"

#include <algorithm>
#include <sstream>
#include <unordered_map>

#include "passes/match.h"

namespace npuconv {

bool recordFusionGroup(Model& m, std::string_view kind, const std::vector<Node*>& nodes) {
  FusionGroup g{std::string(kind), {}};
  for (Node* n : nodes) g.nodes.push_back(m::ensureName(*n->graph(), n));
  std::vector<FusionGroup> all = fusionGroups(m);
  if (std::find(all.begin(), all.end(), g) != all.end()) return false;
  std::string line = g.kind + ":";
  for (const std::string& n : g.nodes) line += " " + n;
  auto it = std::find_if(m.metadata.begin(), m.metadata.end(), [](const auto& kv) { return kv.first == kFusionGroupsKey; });
  if (it == m.metadata.end()) m.metadata.emplace_back(std::string(kFusionGroupsKey), line);
  else it->second += "\n" + line;
  m.graph->touch();
  return true;
}

std::vector<Node*> activationAfter(const Value* y) {
  if (!y || y->isGraphOutput()) return {};
  if (Node* u = m::soleUser(y)) {
    if (!u->domain().empty() || u->operand(0) != y) return {};
    const std::string& op = u->opType();
    if (op == "Relu" || op == "LeakyRelu" || op == "Sigmoid" || op == "HardSigmoid" || op == "HardSwish" || op == "Gelu")
      return {u};
    if (op == "Clip") {
      for (size_t i = 1; i < u->numOperands(); ++i)
        if (u->operand(i) && !m::constScalar(u->operand(i))) return {};
      return {u};
    }
    return {};
  }
  // SiLU: y feeds a Sigmoid and the Mul that multiplies y by it.
  if (y->uses().size() != 2) return {};
  Node* sig = nullptr;
  Node* mul = nullptr;
  for (const Use& u : y->uses()) {
    if (u.user->is("Sigmoid")) sig = u.user;
    else if (u.user->is("Mul")) mul = u.user;
  }
  if (!sig || !mul || m::soleUser(sig->result(0)) != mul) return {};
  return {sig, mul};
}

void makeContiguous(Graph& g, std::vector<Node*> nodes) {
  std::unordered_map<const Node*, size_t> pos;
  size_t i = 0;
  for (Node* n : g.nodes()) pos[n] = i++;
  std::sort(nodes.begin(), nodes.end(), [&](Node* a, Node* b) { return pos[a] < pos[b]; });
  for (size_t k = nodes.size(); k-- > 1;) m::placeRightBefore(g, nodes[k - 1], nodes[k]);
}

}  // namespace npuconv
