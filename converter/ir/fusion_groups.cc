// fusion_groups.cc - see fusion_groups.h.
#include "converter/ir/fusion_groups.h"

#include <algorithm>
#include <set>
#include <sstream>

namespace npuconv {
namespace {

using Metadata = decltype(Model::metadata);

Metadata::iterator findEntry(Model& m) {
  return std::find_if(m.metadata.begin(), m.metadata.end(), [](const auto& kv) { return kv.first == kFusionGroupsKey; });
}

/// Writes `groups` back as the entry (erased when none is left); the graph is marked changed.
void storeGroups(Model& m, Metadata::iterator it, const std::vector<FusionGroup>& groups) {
  std::string text;
  for (const FusionGroup& g : groups) {
    text += (text.empty() ? "" : "\n") + g.kind + ":";
    for (const std::string& n : g.nodes) text += " " + n;
  }
  if (text.empty()) m.metadata.erase(it);
  else it->second = text;
  m.graph->touch();
}

}  // namespace

std::vector<FusionGroup> fusionGroups(const Model& m) {
  std::vector<FusionGroup> out;
  for (const auto& [k, v] : m.metadata) {
    if (k != kFusionGroupsKey) continue;
    std::istringstream lines(v);
    std::string line;
    while (std::getline(lines, line)) {
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      FusionGroup g;
      g.kind = line.substr(0, colon);
      std::istringstream names(line.substr(colon + 1));
      std::string n;
      while (names >> n) g.nodes.push_back(n);
      out.push_back(std::move(g));
    }
  }
  return out;
}

bool inFusionGroup(const Model& m, std::string_view name) {
  for (const FusionGroup& g : fusionGroups(m))
    if (std::find(g.nodes.begin(), g.nodes.end(), name) != g.nodes.end()) return true;
  return false;
}

void dropFromFusionGroups(Model& m, std::string_view name) {
  auto it = findEntry(m);
  if (it == m.metadata.end()) return;
  std::vector<FusionGroup> kept;
  bool changed = false;
  for (FusionGroup g : fusionGroups(m)) {
    auto pos = std::find(g.nodes.begin(), g.nodes.end(), name);
    if (pos != g.nodes.end()) {
      changed = true;
      g.nodes.erase(pos);
      // "linear-act" without its activation is a "linear" group; a single node is no group.
      if (g.kind.size() > 4 && g.kind.ends_with("-act")) g.kind.resize(g.kind.size() - 4);
      if (g.nodes.size() < 2) continue;
    }
    kept.push_back(std::move(g));
  }
  if (changed) storeGroups(m, it, kept);
}

void dropFusionGroupsNaming(Model& m, const std::vector<std::string>& names) {
  auto it = findEntry(m);
  if (it == m.metadata.end() || names.empty()) return;
  std::set<std::string, std::less<>> gone(names.begin(), names.end());
  std::vector<FusionGroup> all = fusionGroups(m), kept;
  for (FusionGroup& g : all)
    if (std::none_of(g.nodes.begin(), g.nodes.end(), [&](const std::string& n) { return gone.count(n) > 0; }))
      kept.push_back(std::move(g));
  if (kept.size() != all.size()) storeGroups(m, it, kept);
}

}  // namespace npuconv
