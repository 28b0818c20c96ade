#include "converter/exec/executor.h"

#include <algorithm>

#include "converter/ir/verifier.h"

namespace npuconv {

struct Executor::Step {
  const Node* node;
  KernelFn kernel;
  std::vector<int64_t> inputSlots;   // -1: absent optional input, -2 - k: outer-scope value k
  std::vector<int64_t> outputSlots;  // -1: unnamed optional output
  std::vector<size_t> releaseAfter;  // slots whose last use is this step
};

Executor::Executor(const Graph& g, int64_t opset, std::shared_ptr<ThreadPool> pool)
    : graph_(g), opset_(opset), pool_(std::move(pool)) {}
Executor::~Executor() = default;

Expected<std::unique_ptr<Executor>> Executor::create(const Graph& g, int64_t opset, ExecOptions opt) {
  auto pool = std::make_shared<ThreadPool>(opt.threads);
  std::unique_ptr<Executor> e(new Executor(g, opset, std::move(pool)));
  NPU_TRY(e->prepare());
  return e;
}

Expected<std::unique_ptr<Executor>> Executor::create(const Model& m, ExecOptions opt) {
  return create(*m.graph, m.opsetVersion(""), opt);
}

Status Executor::prepare() {
  const KernelRegistry& reg = KernelRegistry::global();
  auto slotOf = [&](const Value* v) {
    auto [it, inserted] = slot_.emplace(v, numSlots_);
    if (inserted) ++numSlots_;
    return it->second;
  };
  for (const Value* v : graph_.inputs()) slotOf(v);
  for (const Value* v : graph_.initializers()) slotOf(v);
  std::map<const Value*, size_t> lastUse;
  for (const Node* n : graph_.nodes()) {
    KernelFn fn = reg.find(n->domain(), n->opType());
    if (!fn)
      return Status::unsupported("{}: operator {}{} is not supported by the executor", n->describe(),
                                 n->domain().empty() ? "" : n->domain() + ".", n->opType());
    Step s{n, fn, {}, {}, {}};
    for (const Value* v : n->operands()) {
      if (!v) {
        s.inputSlots.push_back(-1);
      } else if (v->graph() != &graph_) {
        s.inputSlots.push_back(-2 - static_cast<int64_t>(slotOf(v)));
      } else {
        s.inputSlots.push_back(static_cast<int64_t>(slotOf(v)));
        lastUse[v] = steps_.size();
      }
    }
    for (const Value* r : n->results()) s.outputSlots.push_back(r ? static_cast<int64_t>(slotOf(r)) : -1);
    steps_.push_back(std::move(s));
  }
  // Values used by nested subgraphs stay alive until the node holding the subgraph has run.
  for (size_t i = 0; i < steps_.size(); ++i) {
    std::function<void(const Graph&)> visit = [&](const Graph& sub) {
      for (const Node* inner : sub.nodes()) {
        for (const Value* v : inner->operands())
          if (v && v->graph() == &graph_) lastUse[v] = std::max(lastUse[v], i);
        for (const Graph* g2 : inner->subgraphs()) visit(*g2);
      }
      for (const Value* o : sub.outputs())
        if (o && o->graph() == &graph_) lastUse[o] = std::max(lastUse[o], i);
    };
    for (const Graph* sub : steps_[i].node->subgraphs()) visit(*sub);
  }
  for (const Value* o : graph_.outputs()) lastUse.erase(o);
  for (const auto& [v, step] : lastUse)
    if (!v->isInitializer() || v->isGraphInput()) steps_[step].releaseAfter.push_back(slot_[v]);
  for (const Value* o : graph_.outputs()) slotOf(o);
  return Status::ok();
}

Status checkInputAgainstType(const Value& input, const Tensor& t) {
  const TensorType& type = input.type();
  if (type.dtype != DType::Undefined && type.dtype != t.dtype())
    return Status::invalidArgument("input \"{}\": given {}, the model expects {}", input.name(),
                                   t.describe(), type.toString());
  if (type.shape) {
    const Shape& s = *type.shape;
    bool ok = static_cast<int64_t>(s.size()) == t.rank();
    for (size_t i = 0; ok && i < s.size(); ++i)
      if (s[i].isStatic() && s[i].value() != t.dims()[i]) ok = false;
    if (!ok)
      return Status::invalidArgument("input \"{}\": given {}, the model expects {}", input.name(),
                                     t.describe(), type.toString());
  }
  return Status::ok();
}

Expected<NamedTensors> Executor::run(const NamedTensors& inputs) {
  for (const auto& [name, t] : inputs) {
    bool known = false;
    for (const Value* v : graph_.inputs()) known |= v->name() == name;
    if (!known) return Status::invalidArgument("\"{}\" is not an input of the model", name);
  }
  std::vector<Tensor> ordered;
  for (const Value* v : graph_.inputs()) {
    auto it = inputs.find(v->name());
    if (it != inputs.end()) {
      ordered.push_back(it->second);
    } else if (v->isInitializer()) {
      ordered.push_back(Tensor());  // filled from the default below
    } else {
      return Status::invalidArgument("missing input \"{}\" ({})", v->name(), v->type().toString());
    }
  }
  NPU_ASSIGN_OR_RETURN(std::vector<Tensor> outs, runOrdered(ordered));
  NamedTensors result;
  for (size_t i = 0; i < outs.size(); ++i) result[graph_.outputs()[i]->name()] = std::move(outs[i]);
  return result;
}

Expected<std::vector<Tensor>> Executor::runOrdered(const std::vector<Tensor>& inputs) {
  if (inputs.size() != graph_.inputs().size())
    return Status::invalidArgument("the model has {} inputs, {} given", graph_.inputs().size(), inputs.size());
  std::map<std::string, int64_t> symbols;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value* v = graph_.inputs()[i];
    if (!inputs[i].defined()) continue;
    NPU_TRY(checkInputAgainstType(*v, inputs[i]));
    if (v->shape())
      for (size_t d = 0; d < v->shape()->size(); ++d) {
        const Dim& dim = (*v->shape())[d];
        if (!dim.isSymbolic()) continue;
        auto [it, inserted] = symbols.emplace(dim.symbolName(), inputs[i].dims()[d]);
        if (!inserted && it->second != inputs[i].dims()[d])
          return Status::invalidArgument(
              "input \"{}\": dim \"{}\" is {} here but {} in an earlier input", v->name(),
              dim.symbolName(), inputs[i].dims()[d], it->second);
      }
  }
  return execute(inputs, nullptr);
}

Expected<std::vector<Tensor>> Executor::execute(std::vector<Tensor> inputs, const OuterScope* outer) {
  std::vector<Tensor> slots(numSlots_);
  for (size_t i = 0; i < graph_.inputs().size(); ++i) {
    const Value* v = graph_.inputs()[i];
    slots[slot_[v]] = inputs[i].defined() ? std::move(inputs[i]) : Tensor::fromData(v->initializer());
  }
  for (const Value* v : graph_.initializers())
    if (!v->isGraphInput()) slots[slot_[v]] = Tensor::fromData(v->initializer());

  // Tensors of enclosing scopes that our subgraphs may read.
  OuterScope scope;
  if (outer) scope = *outer;
  std::map<int64_t, const Value*> outerBySlot;
  for (const auto& [v, s] : slot_)
    if (v->graph() != &graph_) outerBySlot[static_cast<int64_t>(s)] = v;

  SubgraphRunner runner = [&](const Graph& body, const std::vector<Tensor>& in) -> Expected<std::vector<Tensor>> {
    auto& sub = subExecutors_[&body];
    if (!sub) {
      sub.reset(new Executor(body, opset_, pool_));
      NPU_TRY(sub->prepare());
    }
    for (const auto& [v, s] : slot_)
      if (v->graph() == &graph_ && slots[s].defined()) scope[v] = &slots[s];
    if (in.size() != body.inputs().size())
      return Status::invalidModel("subgraph \"{}\" takes {} inputs, {} given", body.name(), body.inputs().size(), in.size());
    return sub->execute(in, &scope);
  };

  for (const Step& s : steps_) {
    std::vector<const Tensor*> in;
    in.reserve(s.inputSlots.size());
    for (int64_t k : s.inputSlots) {
      if (k == -1) {
        in.push_back(nullptr);
      } else if (k <= -2) {
        const Value* v = outerBySlot[-2 - k];
        auto it = scope.find(v);
        if (it == scope.end())
          return Status::internal("{}: outer-scope value \"{}\" is not available", s.node->describe(), v->name());
        in.push_back(it->second);
      } else {
        in.push_back(&slots[static_cast<size_t>(k)]);
      }
    }
    std::vector<Tensor> out(s.outputSlots.size());
    KernelContext ctx(*s.node, std::move(in), out, *pool_, opset_, &runner);
    NPU_TRY(s.kernel(ctx));
    for (size_t i = 0; i < out.size(); ++i) {
      if (s.outputSlots[i] < 0) continue;
      if (!out[i].defined())
        return Status::internal("{}: kernel produced no output {}", s.node->describe(), i);
      if (observer_) observer_(*s.node, i, out[i]);
      slots[static_cast<size_t>(s.outputSlots[i])] = std::move(out[i]);
    }
    for (size_t r : s.releaseAfter) slots[r] = Tensor();
  }
  std::vector<Tensor> result;
  for (const Value* o : graph_.outputs()) {
    if (o->graph() != &graph_) {
      auto it = scope.find(o);
      if (it == scope.end()) return Status::internal("graph output \"{}\" is not available", o->name());
      result.push_back(*it->second);
    } else {
      result.push_back(slots[slot_[o]]);
    }
  }
  return result;
}

}  // namespace npuconv
