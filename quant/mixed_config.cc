// mixed_config.cc - see mixed_config.h.
#include "quant/mixed_config.h"

#include <algorithm>
#include <set>

namespace npuconv {
namespace {

/// The names a node answers to: its original ONNX names, else its IR name.
std::vector<std::string> namesOf(const Node& n) {
  if (!n.provenance().empty()) return n.provenance();
  return {n.name()};
}

using Entries = std::vector<std::pair<std::string, LayerPrecision>>;

Status parseEntries(const nlohmann::ordered_json& j, const char* key, const std::string& source, Entries& out) {
  if (!j.contains(key)) return Status::ok();
  const nlohmann::ordered_json& obj = j.at(key);
  if (!obj.is_object()) return Status::invalidArgument("{}: \"{}\" must be an object of name: precision", source, key);
  for (const auto& [name, v] : obj.items()) {
    if (!v.is_string())
      return Status::invalidArgument("{}: {}[\"{}\"]: precision must be a string (int8, int16, fp16, fp32)", source,
                                     key, name);
    auto p = parseLayerPrecision(v.get<std::string>());
    if (!p) return Status::invalidArgument("{}: {}[\"{}\"]: {}", source, key, name, p.status().message());
    out.push_back({name, *p});
  }
  return Status::ok();
}

const std::pair<std::string, LayerPrecision>* findEntry(const std::vector<std::pair<std::string, LayerPrecision>>& v,
                                                        const std::string& key) {
  auto it = std::lower_bound(v.begin(), v.end(), key, [](const auto& e, const std::string& k) { return e.first < k; });
  return it != v.end() && it->first == key ? &*it : nullptr;
}

}  // namespace

Expected<LayerPrecision> parseLayerPrecision(std::string_view name) {
  if (name == "int8") return LayerPrecision::Int8;
  if (name == "int16") return LayerPrecision::Int16;
  if (name == "fp16") return LayerPrecision::Fp16;
  if (name == "fp32") return LayerPrecision::Fp32;
  return Status::invalidArgument("unknown precision \"{}\" (int8, int16, fp16 or fp32)", name);
}

const char* layerPrecisionName(LayerPrecision p) {
  switch (p) {
    case LayerPrecision::Int8: return "int8";
    case LayerPrecision::Int16: return "int16";
    case LayerPrecision::Fp16: return "fp16";
    case LayerPrecision::Fp32: return "fp32";
  }
  return "?";
}

bool MixedConfig::mentions(LayerPrecision p) const {
  if (defaultPrecision == p) return true;
  for (const auto& e : nodes) if (e.second == p) return true;
  for (const auto& e : patterns) if (e.precision == p) return true;
  for (const auto& e : opTypes) if (e.second == p) return true;
  return false;
}

void MixedConfig::setNode(const std::string& name, LayerPrecision p) {
  auto it = std::lower_bound(nodes.begin(), nodes.end(), name, [](const auto& e, const std::string& k) { return e.first < k; });
  if (it != nodes.end() && it->first == name) it->second = p;
  else nodes.insert(it, {name, p});
}

Expected<MixedConfig> parseMixedConfig(const nlohmann::ordered_json& j, const std::string& source) {
  if (!j.is_object()) return Status::invalidArgument("{}: a mixed-precision config is a JSON object", source);
  static const std::set<std::string> kKeys = {"default", "nodes", "patterns", "op_types", "comment"};
  for (const auto& [key, v] : j.items())
    if (!kKeys.count(key))
      return Status::invalidArgument("{}: unknown key \"{}\" (default, nodes, patterns, op_types, comment)", source, key);
  MixedConfig c;
  if (j.contains("default")) {
    if (!j["default"].is_string()) return Status::invalidArgument("{}: \"default\" must be a precision string", source);
    auto p = parseLayerPrecision(j["default"].get<std::string>());
    if (!p) return Status::invalidArgument("{}: default: {}", source, p.status().message());
    c.defaultPrecision = *p;
  }
  NPU_TRY(parseEntries(j, "nodes", source, c.nodes));
  NPU_TRY(parseEntries(j, "op_types", source, c.opTypes));
  Entries patterns;
  NPU_TRY(parseEntries(j, "patterns", source, patterns));
  for (auto& [text, p] : patterns) {
    try {
      c.patterns.push_back({text, std::make_shared<const std::regex>(text, std::regex::ECMAScript), p});
    } catch (const std::regex_error& e) {
      return Status::invalidArgument("{}: patterns[\"{}\"]: not a valid regular expression: {}", source, text, e.what());
    }
  }
  std::sort(c.nodes.begin(), c.nodes.end());
  std::sort(c.opTypes.begin(), c.opTypes.end());
  return c;
}

nlohmann::ordered_json mixedConfigToJson(const MixedConfig& c) {
  nlohmann::ordered_json j;
  j["default"] = layerPrecisionName(c.defaultPrecision);
  nlohmann::ordered_json nodes = nlohmann::ordered_json::object(), patterns = nlohmann::ordered_json::object(),
                         ops = nlohmann::ordered_json::object();
  for (const auto& [k, p] : c.nodes) nodes[k] = layerPrecisionName(p);
  for (const auto& e : c.patterns) patterns[e.text] = layerPrecisionName(e.precision);
  for (const auto& [k, p] : c.opTypes) ops[k] = layerPrecisionName(p);
  if (!nodes.empty()) j["nodes"] = nodes;
  if (!patterns.empty()) j["patterns"] = patterns;
  if (!ops.empty()) j["op_types"] = ops;
  return j;
}

LayerPrecision precisionOf(const MixedConfig& c, const Node& n) {
  if (c.empty()) return LayerPrecision::Int8;
  std::vector<std::string> names = namesOf(n);
  bool found = false;
  LayerPrecision best = LayerPrecision::Int8;
  for (const std::string& name : names)
    if (const auto* e = findEntry(c.nodes, name)) best = found ? std::max(best, e->second) : e->second, found = true;
  if (found) return best;
  for (const auto& pat : c.patterns) {
    for (const std::string& name : names)
      if (std::regex_match(name, *pat.re)) best = found ? std::max(best, pat.precision) : pat.precision, found = true;
    if (found) return best;
  }
  if (const auto* e = findEntry(c.opTypes, n.opType())) return e->second;
  return c.defaultPrecision;
}

Status checkMixedConfigKeys(const MixedConfig& c, const Graph& g, const std::string& source) {
  std::set<std::string> names, ops;
  for (const Node* n : g.nodes()) {
    for (const std::string& s : namesOf(*n)) names.insert(s);
    ops.insert(n->opType());
  }
  for (const auto& [k, p] : c.nodes)
    if (!names.count(k))
      return Status::invalidArgument("{}: nodes[\"{}\"]: no node of the model has that name (or the passes folded "
                                     "it away: see `npuconv optimize` output)",
                                     source, k);
  for (const auto& pat : c.patterns) {
    bool any = std::any_of(names.begin(), names.end(), [&](const std::string& s) { return std::regex_match(s, *pat.re); });
    if (!any) return Status::invalidArgument("{}: patterns[\"{}\"]: matches no node name of the model", source, pat.text);
  }
  for (const auto& [k, p] : c.opTypes)
    if (!ops.count(k)) return Status::invalidArgument("{}: op_types[\"{}\"]: the optimized model has no such op", source, k);
  return Status::ok();
}

}  // namespace npuconv
