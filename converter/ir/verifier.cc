#include "converter/ir/verifier.h"

#include <algorithm>
#include <unordered_set>

namespace npuconv {
namespace {

bool definedIn(const Value* v, const Graph& g) {
  for (const Graph* s = &g; s; s = s->parentGraph())
    if (v->graph() == s) return true;
  return false;
}

Status verifyIn(const Graph& g, std::unordered_set<const Value*>& visible) {
  std::unordered_set<std::string> names;
  for (Value* v : g.valueList()) {
    if (!names.insert(v->name()).second)
      return Status::invalidModel("duplicate value name \"{}\"", v->name());
    for (const Use& u : v->uses()) {
      if (u.operand >= u.user->numOperands() || u.user->operand(u.operand) != v)
        return Status::internal("use-list of \"{}\" names operand {} of {}, which is not it",
                                v->name(), u.operand, u.user->describe());
    }
    if (v->isInitializer()) {
      const TensorData& t = *v->initializer();
      if (v->dtype() != t.dtype())
        return Status::invalidModel("initializer \"{}\" declared {} but holds {}", v->name(),
                                    dtypeName(v->dtype()), dtypeName(t.dtype()));
      if (v->shape() && !(*v->shape() == shapeOf(t.dims())) && isStaticShape(*v->shape()))
        return Status::invalidModel("initializer \"{}\" declared {} but holds {}", v->name(),
                                    shapeToString(*v->shape()), shapeToString(shapeOf(t.dims())));
    }
  }
  std::unordered_set<const Value*> local = visible;
  for (Value* v : g.inputs()) local.insert(v);
  for (Value* v : g.initializers()) local.insert(v);
  for (Node* n : g.nodes()) {
    if (n->graph() != &g) return Status::internal("{} lists the wrong owning graph", n->describe());
    for (size_t i = 0; i < n->numOperands(); ++i) {
      Value* v = n->operand(i);
      if (!v) continue;
      if (!definedIn(v, g))
        return Status::invalidModel("{}: input \"{}\" is not defined in this graph or an enclosing one",
                                    n->describe(), v->name());
      if (!local.count(v))
        return Status::invalidModel("{}: input \"{}\" is used before it is produced (cycle or unsorted graph)",
                                    n->describe(), v->name());
      const auto& uses = v->uses();
      if (std::find(uses.begin(), uses.end(), Use{n, static_cast<uint32_t>(i)}) == uses.end())
        return Status::internal("{}: use-list of \"{}\" misses operand {}", n->describe(), v->name(), i);
    }
    for (Graph* sub : n->subgraphs()) {
      if (sub->parentNode() != n)
        return Status::internal("{}: subgraph \"{}\" has the wrong parent", n->describe(), sub->name());
      NPU_TRY(verifyIn(*sub, local).in(n->describe() + ": subgraph \"" + sub->name() + "\""));
    }
    for (size_t i = 0; i < n->numResults(); ++i) {
      Value* r = n->result(i);
      if (!r) continue;
      if (r->producer() != n || r->resultIndex() != i || r->graph() != &g)
        return Status::internal("{}: result {} \"{}\" names another producer", n->describe(), i, r->name());
      if (!local.insert(r).second)
        return Status::invalidModel("{}: value \"{}\" has more than one producer", n->describe(), r->name());
    }
  }
  for (Value* o : g.outputs()) {
    if (!o) return Status::invalidModel("graph \"{}\" has an empty output", g.name());
    if (!local.count(o))
      return Status::invalidModel("graph output \"{}\" is not produced in graph \"{}\"", o->name(), g.name());
    // An output is not a use: one of an enclosing graph's values would look unused there (the
    // importer wraps such branch outputs in an Identity).
    if (o->graph() != &g)
      return Status::internal("output \"{}\" of graph \"{}\" is a value of an enclosing graph", o->name(),
                              g.name());
  }
  return Status::ok();
}

}  // namespace

Status verifyGraph(const Graph& g) {
  std::unordered_set<const Value*> outer;
  // A subgraph verified on its own may use values of its enclosing graphs.
  for (const Graph* p = g.parentGraph(); p; p = p->parentGraph())
    for (Value* v : p->valueList()) outer.insert(v);
  return verifyIn(g, outer);
}

Status verifyModel(const Model& m) {
  NPU_TRY(verifyGraph(*m.graph));
  for (const Function& f : m.functions)
    if (f.body) NPU_TRY(verifyGraph(*f.body).in("function \"" + f.name + "\""));
  return Status::ok();
}

}  // namespace npuconv
