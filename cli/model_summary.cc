#include "cli/model_summary.h"

#include <fmt/format.h>

#include <map>
#include <set>

namespace npuconv {
namespace {

using json = nlohmann::ordered_json;

json valueJson(const Value& v) {
  json j;
  j["name"] = v.name();
  const TensorType& t = v.type();
  if (!t.isTensor()) {
    j["dtype"] = "non-tensor";
    return j;
  }
  j["dtype"] = std::string(dtypeName(t.dtype));
  if (t.shape) {
    json dims = json::array();
    for (const Dim& d : *t.shape) {
      if (d.isStatic()) dims.push_back(d.value());
      else if (d.isSymbolic()) dims.push_back(d.symbolName());
      else dims.push_back(nullptr);
    }
    j["shape"] = dims;
  } else {
    j["shape"] = nullptr;
  }
  return j;
}

struct Counts {
  std::map<std::string, int64_t> ops;
  int64_t nodes = 0;
  int64_t subgraphs = 0;
  int64_t subgraphNodes = 0;
  std::map<std::string, std::pair<int64_t, uint64_t>> params;  // dtype -> (elements, bytes)
  bool allStatic = true;
  std::set<std::string> symbols;
};

void countShape(const TensorType& t, Counts& c) {
  if (!t.isTensor()) return;
  if (!t.shape) {
    c.allStatic = false;
    return;
  }
  for (const Dim& d : *t.shape) {
    if (d.isSymbolic()) c.symbols.insert(d.symbolName());
    if (!d.isStatic()) c.allStatic = false;
  }
}

void countGraph(const Graph& g, Counts& c, bool nested) {
  for (const Value* v : g.initializers()) {
    auto& [elems, bytes] = c.params[std::string(dtypeName(v->initializer()->dtype()))];
    elems += v->initializer()->numElements();
    bytes += v->initializer()->byteSize();
  }
  for (const Value* v : g.inputs()) countShape(v->type(), c);
  for (const Value* v : g.outputs()) countShape(v->type(), c);
  for (const Node* n : g.nodes()) {
    ++c.ops[n->domain().empty() ? n->opType() : n->domain() + "." + n->opType()];
    if (nested) ++c.subgraphNodes; else ++c.nodes;
    for (const Value* r : n->results())
      if (r) countShape(r->type(), c);
    if (n->is("Constant"))
      if (auto t = n->attrs().get<TensorRef>("value"); t && *t) {
        auto& [elems, bytes] = c.params[std::string(dtypeName((*t)->dtype()))];
        elems += (*t)->numElements();
        bytes += (*t)->byteSize();
      }
    for (const Graph* s : n->subgraphs()) {
      ++c.subgraphs;
      countGraph(*s, c, true);
    }
  }
}

std::string shapeText(const json& v) {
  if (v["dtype"] == "non-tensor") return "non-tensor";
  std::string s = v["dtype"].get<std::string>();
  if (v["shape"].is_null()) return s + "[*]";
  s += "[";
  bool first = true;
  for (const auto& d : v["shape"]) {
    s += first ? "" : ",";
    first = false;
    if (d.is_number()) s += std::to_string(d.get<int64_t>());
    else if (d.is_string()) s += d.get<std::string>();
    else s += "?";
  }
  return s + "]";
}

std::string humanBytes(uint64_t b) {
  if (b >= (1ull << 30)) return fmt::format("{:.2f} GiB", double(b) / double(1ull << 30));
  if (b >= (1ull << 20)) return fmt::format("{:.2f} MiB", double(b) / double(1ull << 20));
  if (b >= (1ull << 10)) return fmt::format("{:.1f} KiB", double(b) / double(1ull << 10));
  return fmt::format("{} B", b);
}

}  // namespace

json summarizeModel(const Model& m, const OnnxFileInfo& file, const std::string& path) {
  json j;
  j["model"] = path;
  j["file_bytes"] = file.fileBytes;
  j["ir_version"] = m.irVersion;
  json opsets = json::object();
  for (const auto& o : m.opsetImports) opsets[o.domain.empty() ? "ai.onnx" : o.domain] = o.version;
  j["opsets"] = opsets;
  j["producer"] = {{"name", m.producerName}, {"version", m.producerVersion}};
  json ins = json::array(), outs = json::array();
  for (const Value* v : m.graph->inputs())
    if (!v->isInitializer()) ins.push_back(valueJson(*v));
  for (const Value* v : m.graph->outputs()) outs.push_back(valueJson(*v));
  j["inputs"] = ins;
  j["outputs"] = outs;
  Counts c;
  countGraph(*m.graph, c, false);
  j["node_count"] = c.nodes;
  json hist = json::object();
  std::vector<std::pair<std::string, int64_t>> ops(c.ops.begin(), c.ops.end());
  std::stable_sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [op, n] : ops) hist[op] = n;
  j["op_histogram"] = hist;
  int64_t totalParams = 0;
  uint64_t totalBytes = 0;
  json params = json::object();
  for (const auto& [dt, p] : c.params) {
    params[dt] = {{"count", p.first}, {"bytes", p.second}};
    totalParams += p.first;
    totalBytes += p.second;
  }
  j["parameters"] = {{"count", totalParams}, {"bytes", totalBytes}, {"by_dtype", params}};
  json ext = json::array();
  for (const auto& [f, bytes] : file.externalFiles) ext.push_back({{"location", f}, {"bytes", bytes}});
  j["external_data"] = {{"tensors", file.externalTensors}, {"files", ext}};
  j["subgraphs"] = {{"count", c.subgraphs}, {"nodes", c.subgraphNodes}};
  j["functions"] = static_cast<int64_t>(m.functions.size());
  j["symbolic_dims"] = json(std::vector<std::string>(c.symbols.begin(), c.symbols.end()));
  j["all_shapes_static"] = c.allStatic;
  return j;
}

std::string renderSummary(const json& s) {
  std::string out;
  auto line = [&out](const std::string& k, const std::string& v) { out += fmt::format("{:<18} {}\n", k, v); };
  line("model", s["model"].get<std::string>());
  line("file size", humanBytes(s["file_bytes"].get<uint64_t>()));
  line("ir_version", std::to_string(s["ir_version"].get<int64_t>()));
  std::string opsets;
  for (const auto& [k, v] : s["opsets"].items()) opsets += (opsets.empty() ? "" : ", ") + k + " " + std::to_string(v.get<int64_t>());
  line("opsets", opsets);
  std::string prod = s["producer"]["name"].get<std::string>() + " " + s["producer"]["version"].get<std::string>();
  line("producer", prod == " " ? "-" : prod);
  out += "inputs\n";
  for (const auto& v : s["inputs"]) out += fmt::format("  {:<30} {}\n", v["name"].get<std::string>(), shapeText(v));
  out += "outputs\n";
  for (const auto& v : s["outputs"]) out += fmt::format("  {:<30} {}\n", v["name"].get<std::string>(), shapeText(v));
  line("nodes", std::to_string(s["node_count"].get<int64_t>()));
  out += "op histogram\n";
  for (const auto& [op, n] : s["op_histogram"].items()) out += fmt::format("  {:<30} {}\n", op, n.get<int64_t>());
  const auto& p = s["parameters"];
  line("parameters", fmt::format("{} ({})", p["count"].get<int64_t>(), humanBytes(p["bytes"].get<uint64_t>())));
  for (const auto& [dt, v] : p["by_dtype"].items())
    out += fmt::format("  {:<30} {} ({})\n", dt, v["count"].get<int64_t>(), humanBytes(v["bytes"].get<uint64_t>()));
  const auto& ext = s["external_data"];
  if (ext["tensors"].get<int64_t>() == 0) {
    line("external data", "none");
  } else {
    line("external data", fmt::format("{} tensors", ext["tensors"].get<int64_t>()));
    for (const auto& f : ext["files"])
      out += fmt::format("  {:<30} {}\n", f["location"].get<std::string>(), humanBytes(f["bytes"].get<uint64_t>()));
  }
  line("subgraphs", fmt::format("{} ({} nodes)", s["subgraphs"]["count"].get<int64_t>(), s["subgraphs"]["nodes"].get<int64_t>()));
  line("functions", std::to_string(s["functions"].get<int64_t>()));
  std::string syms;
  for (const auto& d : s["symbolic_dims"]) syms += (syms.empty() ? "" : ", ") + d.get<std::string>();
  line("symbolic dims", syms.empty() ? "none" : syms);
  line("static shapes", s["all_shapes_static"].get<bool>() ? "yes" : "no");
  return out;
}

}  // namespace npuconv
