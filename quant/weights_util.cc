// weights_util.cc - see weights_util.h.
#include "quant/weights_util.h"

#include <algorithm>
#include <set>
#include <sstream>

namespace npuconv::wq {

TensorRef constantTensor(const Value* v) {
  if (!v) return nullptr;
  if (v->isInitializer()) return v->isGraphInput() ? nullptr : v->initializer();
  const Node* p = v->producer();
  if (!p || !p->is("Constant")) return nullptr;
  auto t = p->attrs().get<TensorRef>("value");
  return t ? *t : nullptr;
}

bool isExcluded(const Node& n, const QuantizeOptions& opt) {
  if (opt.excludeNodes.empty()) return false;
  for (const std::string& p : n.provenance())
    if (opt.excludeNodes.count(p)) return true;
  return n.provenance().empty() && opt.excludeNodes.count(n.name());
}

std::string reportKey(const Node& n) {
  std::string key;
  for (const std::string& p : n.provenance()) key += (key.empty() ? "" : "+") + p;
  return key.empty() ? n.name() : key;
}

int64_t weightAxis(const Node& n, int64_t rank) {
  if (n.is("Conv")) return 0;
  if (n.is("ConvTranspose")) return rank >= 2 ? 1 : -1;
  if (n.is("Gemm")) return n.attrs().getInt("transB", 0) ? 0 : 1;
  if (n.is("MatMul")) return rank >= 2 ? rank - 1 : -1;
  return -1;
}

void requireOpset(Model& m, int64_t version) {
  for (OpsetImport& o : m.opsetImports)
    if (o.domain.empty() || o.domain == "ai.onnx") {
      if (o.version < version) {
        o.version = version;
        m.graph->touch();
      }
      return;
    }
  m.opsetImports.push_back({"", version});
  m.graph->touch();
}

void replaceKeepingName(Graph& g, Value* from, Value* to) {
  std::string name = from->name();
  g.renameValue(from, g.uniqueName(name + "_orig"));
  g.renameValue(to, name);
  g.replaceAllUsesWith(from, to);
}

void eraseUnusedConstants(Graph& g) {
  for (Node* n : g.nodeList())
    if (n->is("Constant") && n->result() && !n->result()->hasUses() && !n->result()->isGraphOutput())
      g.eraseNode(n);
  std::vector<Value*> inits = g.initializers();
  for (Value* v : inits)
    if (!v->isGraphInput() && !v->hasUses() && !v->isGraphOutput()) g.eraseInitializer(v);
}

namespace {
void collectGraphs(Graph* g, std::vector<Graph*>& out) {
  out.push_back(g);
  for (Node* n : g->nodes())
    for (Graph* sub : n->subgraphs()) collectGraphs(sub, out);
}
}  // namespace

std::vector<Graph*> allGraphs(Model& m) {
  std::vector<Graph*> out;
  collectGraphs(m.graph.get(), out);
  return out;
}

void dropFusionGroupsNaming(Model& m, const std::vector<std::string>& nodes) {
  static constexpr std::string_view kKey = "npuconv.fusion_groups";  // passes/fuse/fusion_groups.h
  std::set<std::string> gone(nodes.begin(), nodes.end());
  for (auto it = m.metadata.begin(); it != m.metadata.end(); ++it) {
    if (it->first != kKey) continue;
    std::istringstream lines(it->second);
    std::string line, kept;
    while (std::getline(lines, line)) {
      std::istringstream names(line.substr(std::min(line.size(), line.find(':') + 1)));
      std::string n;
      bool hit = false;
      while (names >> n) hit = hit || gone.count(n);
      if (!hit) kept += (kept.empty() ? "" : "\n") + line;
    }
    if (kept.empty()) m.metadata.erase(it);
    else it->second = kept;
    m.graph->touch();
    return;
  }
}

}  // namespace npuconv::wq

namespace npuconv::wq {
namespace {
bool usesOpChangedIn13(const Graph& g) {
  static const std::set<std::string> kChanged = {"Softmax", "LogSoftmax", "Hardmax", "Split",
                                                 "Squeeze", "Unsqueeze", "ReduceSum"};
  for (const Node* n : g.nodes()) {
    if (n->domain().empty() && kChanged.count(n->opType())) return true;
    for (const Graph* sub : n->subgraphs())
      if (usesOpChangedIn13(*sub)) return true;
  }
  return false;
}
}  // namespace

bool canRaiseOpsetTo13(const Model& m) {
  int64_t v = m.opsetVersion("");
  if (v >= 13) return true;
  return v >= 11 && !usesOpChangedIn13(*m.graph);
}
}  // namespace npuconv::wq
