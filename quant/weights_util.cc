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

}  // namespace npuconv::wq
