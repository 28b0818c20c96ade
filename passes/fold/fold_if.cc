// fold_if.cc - fold-if: an If whose condition is a constant becomes the branch it takes.
//
// Before: %c = Constant<true>   %y = If(%c) then { %t = Relu(%x)  -> %t } else { ... -> %e }
// After:  %t = Relu(%x)   (uses of %y read %t)
// Exporters write shape-dependent control flow (`if seq_len > max_len`) as an If on a Shape
// computation; once freeze-shapes fixes the shapes, fold-constants makes the condition a
// constant and this pass removes the control flow, which NPUs cannot run.
// The taken branch's nodes are copied in front of the If (names and provenance kept, value
// names made unique), its initializers become initializers of the enclosing graph, and the
// values it reads from enclosing scopes are used directly.
// Preconditions: a constant scalar (or one-element) condition; no node of the branch holds a
// subgraph itself (its body would still name the branch's values).
#include <map>

#include "passes/match.h"
#include "passes/passes.h"

namespace npuconv {
namespace {

class FoldIfPass final : public Pass {
 public:
  std::string_view name() const override { return "fold-if"; }

  Status run(Model& model, PassContext& ctx) override {
    // Inner graphs first: an If folded inside a branch lets the outer one fold too.
    std::vector<Graph*> graphs = m::allGraphs(model);
    for (auto it = graphs.rbegin(); it != graphs.rend(); ++it)
      for (Node* n : (*it)->nodeList())
        if (n->is("If")) fold(**it, n, ctx);
    return Status::ok();
  }

 private:
  void fold(Graph& g, Node* n, PassContext& ctx) {
    auto cond = m::constDoubles(n->operand(0));
    if (!cond || cond->size() != 1) return;
    const char* attr = (*cond)[0] != 0.0 ? "then_branch" : "else_branch";
    auto branchAttr = n->attrs().get<GraphPtr>(attr);
    if (!branchAttr || !*branchAttr) return;
    Graph& body = **branchAttr;
    if (body.outputs().size() != n->numResults()) return;
    for (const Node* b : body.nodes())
      if (!b->subgraphs().empty()) {
        m::notMatched(ctx, name(), *n, "the branch holds a subgraph");
        return;
      }
    std::map<const Value*, Value*> map;  // branch value -> value in g
    auto resolve = [&](Value* v) -> Value* {
      if (!v) return nullptr;
      if (v->graph() != &body) return v;  // from an enclosing scope
      auto it = map.find(v);
      if (it != map.end()) return it->second;
      if (v->isInitializer()) {
        Value* c = g.addInitializer(g.uniqueName(v->name()), v->initializer());
        map[v] = c;
        return c;
      }
      return nullptr;  // not produced yet: impossible in a sorted branch
    };
    for (Node* b : body.nodeList()) {
      std::vector<Value*> operands;
      for (Value* v : b->operands()) {
        Value* r = resolve(v);
        if (v && !r) return;  // a use before definition: leave the If alone
        operands.push_back(r);
      }
      std::vector<std::optional<std::string>> results;
      for (Value* r : b->results())
        results.push_back(r ? std::optional<std::string>(g.uniqueName(r->name())) : std::nullopt);
      Node* copy = g.createNodeWithResults(b->opType(), b->domain(), b->name(), operands, results, n);
      copy->mutableAttrs() = b->attrs();
      copy->setDocString(b->docString());
      copy->setProvenance(b->provenance());
      for (size_t i = 0; i < b->numResults(); ++i)
        if (Value* r = b->result(i)) {
          copy->result(i)->setType(r->type());
          map[r] = copy->result(i);
        }
    }
    std::vector<Value*> outs;
    for (Value* o : body.outputs()) {
      Value* r = resolve(o);
      if (!r) return;
      outs.push_back(r);
    }
    for (size_t i = 0; i < n->numResults(); ++i)
      if (Value* r = n->result(i)) {
        Value* to = outs[i];
        // A graph output keeps its name: a value from outside the branch (or another output)
        // cannot take it over, so it is copied through an Identity.
        if (!m::canTakeOver(r, to)) {
          Node* id = g.createNode("Identity", {to}, 1, n);
          id->setProvenance(n->provenance());  // stands for the If it replaces
          to = id->result(0);
        }
        m::replaceValue(g, r, to);
      }
    m::eraseDead(g, n);
    ++ctx.stat("fold-if.folded");
  }
};

}  // namespace

std::unique_ptr<Pass> createFoldIfPass() { return std::make_unique<FoldIfPass>(); }

}  // namespace npuconv
