// provenance_record.cc - see provenance_record.h.
#include "converter/ir/provenance_record.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <vector>

namespace npuconv {
namespace {

bool encodable(std::string_view s) { return !s.empty() && s.find_first_of("\t\n") == std::string_view::npos; }

}  // namespace

std::string encodeProvenance(const Graph& g) {
  std::string out;
  for (const Node* n : g.nodes()) {
    const auto& p = n->provenance();
    // Nodes npuconv generated (Q/DQ, Casts) have none: after a read they are known by their own
    // names, which is what the written file holds; recording them would add a line per Q/DQ.
    if (p.empty() || !encodable(n->name()) || (p.size() == 1 && p[0] == n->name())) continue;
    if (!std::all_of(p.begin(), p.end(), [](const std::string& s) { return encodable(s); })) continue;
    if (!out.empty()) out += '\n';
    out += n->name();
    for (const std::string& s : p) out += '\t' + s;
  }
  return out;
}

void restoreProvenance(Model& m) {
  auto it = std::find_if(m.metadata.begin(), m.metadata.end(), [](const auto& kv) { return kv.first == kProvenanceKey; });
  if (it == m.metadata.end()) return;
  std::string text = it->second;
  m.metadata.erase(it);
  if (!m.graph) return;
  std::map<std::string, Node*, std::less<>> byName;
  for (Node* n : m.graph->nodes())
    if (!n->name().empty()) byName.emplace(n->name(), n);
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> fields;
    std::istringstream f(line);
    for (std::string s; std::getline(f, s, '\t');) fields.push_back(s);
    if (fields.empty()) continue;
    auto n = byName.find(fields[0]);
    if (n == byName.end()) continue;
    n->second->setProvenance(std::vector<std::string>(fields.begin() + 1, fields.end()));
  }
}

}  // namespace npuconv
