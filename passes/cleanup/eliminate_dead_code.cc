// eliminate_dead_code.cc - eliminate-dead-code: drop what no graph output depends on.
//
// Before: %t = Relu(%x)   (no use, not an output)     initializer %w (no use)
// After:  (gone)                                      (gone)
// Also: the value_info flag on graph inputs, outputs and initializers is redundant (ONNX
// describes them elsewhere) and is cleared; opset imports of domains that no node or function
// uses are dropped, except the default domain.
// Preconditions: a node goes only when none of its results is used or a graph output, and it
// has no side effects: ONNX-domain ops have none; nodes of other domains (custom ops whose
// effects we cannot know) are kept. Applied to subgraphs too; function bodies are left alone.
#include <set>

#include "passes/match.h"
#include "passes/passes.h"

namespace npuconv {
namespace {

bool isOnnxDomain(const std::string& d) { return d.empty() || d == "ai.onnx" || d == "ai.onnx.ml"; }

class EliminateDeadCodePass final : public Pass {
 public:
  std::string_view name() const override { return "eliminate-dead-code"; }

  Status run(Model& model, PassContext& ctx) override {
    // Children first: a dead node in a subgraph may be what keeps an outer value alive.
    std::vector<Graph*> graphs = m::allGraphs(model);
    for (auto it = graphs.rbegin(); it != graphs.rend(); ++it) sweep(**it, ctx);
    pruneOpsets(model, ctx);
    return Status::ok();
  }

 private:
  void sweep(Graph& g, PassContext& ctx) {
    // Reverse order: users come after producers, so one sweep removes whole dead chains.
    std::vector<Node*> nodes = g.nodeList();
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
      Node* n = *it;
      bool dead = true;
      for (Value* r : n->results())
        if (r && (r->hasUses() || r->isGraphOutput())) dead = false;
      if (!dead) continue;
      if (!isOnnxDomain(n->domain())) {
        m::notMatched(ctx, name(), *n, "custom-domain op may have side effects; kept");
        continue;
      }
      g.eraseNode(n);
      ++ctx.stat("eliminate-dead-code.nodes");
    }
    std::vector<Value*> inits = g.initializers();
    for (Value* v : inits)
      if (!v->isGraphInput() && !v->hasUses() && !v->isGraphOutput()) {
        g.eraseInitializer(v);
        ++ctx.stat("eliminate-dead-code.initializers");
      }
    bool flags = false;
    for (Value* v : g.valueList())
      if (v->declaredInValueInfo() && (v->isGraphInput() || v->isGraphOutput() || v->isInitializer())) {
        v->setDeclaredInValueInfo(false);
        flags = true;
      }
    if (flags) g.touch();
  }

  static void collectDomains(const Graph& g, std::set<std::string>& used) {
    for (const Node* n : g.nodes()) {
      used.insert(n->domain() == "ai.onnx" ? "" : n->domain());
      for (const Graph* s : n->subgraphs()) collectDomains(*s, used);
    }
  }

  void pruneOpsets(Model& model, PassContext& ctx) {
    std::set<std::string> used = {""};
    collectDomains(*model.graph, used);
    for (const Function& f : model.functions) {
      used.insert(f.domain);
      if (f.body) collectDomains(*f.body, used);
      for (const OpsetImport& o : f.opsetImports) used.insert(o.domain == "ai.onnx" ? "" : o.domain);
    }
    size_t before = model.opsetImports.size();
    std::erase_if(model.opsetImports, [&](const OpsetImport& o) {
      return !(o.domain.empty() || o.domain == "ai.onnx") && !used.count(o.domain);
    });
    if (model.opsetImports.size() != before) {
      ctx.stat("eliminate-dead-code.opset-imports") += static_cast<int64_t>(before - model.opsetImports.size());
      model.graph->touch();
    }
  }
};

}  // namespace

std::unique_ptr<Pass> createEliminateDeadCodePass() { return std::make_unique<EliminateDeadCodePass>(); }

}  // namespace npuconv
