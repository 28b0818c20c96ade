// layer_probe.cc - see layer_probe.h.
#include "quant/layer_probe.h"

#include <set>

#include "converter/ir/node_keys.h"
#include "passes/match.h"

namespace npuconv {
namespace {

bool isLinear(const Node& n) { return n.is("Conv") || n.is("ConvTranspose") || n.is("Gemm") || n.is("MatMul"); }

/// The DequantizeLinear producing `v` when its input is a constant (a weight or bias).
const Node* constantDq(const Value* v) {
  const Node* p = v ? v->producer() : nullptr;
  return p && p->isQdq("DequantizeLinear") && m::isConstant(p->operand(0)) ? p : nullptr;
}

/// The Q and DQ producing `v` (an activation Q/DQ pair), or nulls.
std::pair<const Node*, const Node*> activationPair(const Value* v) {
  const Node* dq = v ? v->producer() : nullptr;
  if (!dq || !dq->isQdq("DequantizeLinear")) return {nullptr, nullptr};
  const Node* q = dq->operand(0)->producer();
  if (!q || !q->isQdq("QuantizeLinear")) return {nullptr, nullptr};
  return {q, dq};
}

/// A standalone model of copies of `nodes` (in order) from `src`: `inputs` become graph inputs
/// in0, in1...; constants are copied; `output` is the graph output.
Expected<Model> extract(const Model& src, const std::vector<const Node*>& nodes, const std::vector<const Value*>& inputs,
                        const Value* output) {
  Model out;
  out.irVersion = src.irVersion;
  out.opsetImports = src.opsetImports;
  Graph& g = *out.graph;
  std::map<const Value*, Value*> map;
  for (size_t i = 0; i < inputs.size(); ++i)
    map[inputs[i]] = g.addInput("in" + std::to_string(i), TensorType{DType::F32, std::nullopt, {}, {}});
  for (const Node* n : nodes) {
    std::vector<Value*> ops;
    for (const Value* v : n->operands()) {
      if (!v) {
        ops.push_back(nullptr);
        continue;
      }
      auto it = map.find(v);
      if (it == map.end()) {
        TensorRef c = m::constTensor(v);
        if (!c) return Status::internal("layer probe: {}: operand \"{}\" is not a constant", n->describe(), v->name());
        it = map.emplace(v, g.addInitializer(g.uniqueName(v->name()), c)).first;
      }
      ops.push_back(it->second);
    }
    std::vector<std::optional<std::string>> results;
    for (const Value* r : n->results()) results.push_back(r ? std::optional<std::string>(r->name()) : std::nullopt);
    Node* c = g.createNodeWithResults(n->opType(), n->domain(), n->name(), ops, results);
    c->mutableAttrs() = n->attrs();
    c->setProvenance(n->provenance());
    for (size_t i = 0; i < n->numResults(); ++i)
      if (n->result(i)) map[n->result(i)] = c->result(i);
  }
  auto it = map.find(output);
  if (it == map.end()) return Status::internal("layer probe: output \"{}\" not produced", output->name());
  g.addOutput(it->second);
  return out;
}

/// The nodes after `v` that a device fuses into the layer (activations with constant extra
/// operands, SiLU's Sigmoid and Mul), stopping at the output Q/DQ pair.
struct Tail {
  std::vector<const Node*> nodes;
  const Node* q = nullptr;
  const Node* dq = nullptr;
  const Value* out = nullptr;
};
Tail followTail(const Value* v) {
  Tail t;
  for (int step = 0; step < 4 && v; ++step) {
    for (const Use& u : v->uses())
      if (u.user->isQdq("QuantizeLinear")) {
        t.q = u.user;
        for (const Use& d : u.user->result(0)->uses())
          if (d.user->isQdq("DequantizeLinear")) t.dq = d.user;
        if (t.dq) {
          t.out = t.dq->result(0);
          return t;
        }
        t.q = nullptr;
      }
    const auto& uses = v->uses();
    if (uses.size() == 1 && !v->isGraphOutput()) {
      const Node* u = uses[0].user;
      bool ok = u->numResults() == 1;
      for (const Value* o : u->operands()) ok = ok && (o == v || !o || m::isConstant(o));
      if (!ok) break;
      t.nodes.push_back(u);
      v = u->result(0);
      continue;
    }
    if (uses.size() == 2) {  // SiLU: Sigmoid(v), Mul(v, sigmoid)
      const Node* sig = uses[0].user->is("Sigmoid") ? uses[0].user : uses[1].user;
      const Node* mul = uses[0].user->is("Mul") ? uses[0].user : uses[1].user;
      if (sig->is("Sigmoid") && mul->is("Mul") && m::soleUser(sig->result(0)) == mul) {
        t.nodes.push_back(sig);
        t.nodes.push_back(mul);
        v = mul->result(0);
        continue;
      }
    }
    break;
  }
  t.nodes.clear();  // no output Q/DQ reached: compare the layer up to its bias only
  return t;
}

}  // namespace

Expected<std::vector<ProbedLayer>> probeLayers(const Model& floatModel, const Model& quantized) {
  const std::map<std::string, Node*> floatByKey = nodesByKey(*floatModel.graph);
  const std::unordered_map<const Node*, std::string> quantKeys = nodeKeys(*quantized.graph);
  // The float twin of a node of the quantized model (nullptr: none), by node_keys.h's key: a
  // name may be empty or repeated.
  auto floatTwin = [&](const Node* q) -> const Node* {
    auto it = floatByKey.find(quantKeys.at(q));
    return it == floatByKey.end() ? nullptr : it->second;
  };
  std::vector<ProbedLayer> layers;
  for (const Node* a : quantized.graph->nodes()) {
    if (!isLinear(*a)) continue;
    const Node* fa = floatTwin(a);
    if (!fa) continue;
    auto [q0, dq0] = activationPair(a->operand(0));
    if (!q0) continue;
    ProbedLayer L;
    L.key = quantKeys.at(a);
    std::vector<const Node*> pre = {q0, dq0};
    std::vector<const Value*> qIn = {q0->operand(0)};
    L.floatInputs = {fa->operand(0)->name()};
    if (const Node* w = constantDq(a->operand(1))) {
      pre.push_back(w);
    } else if (auto [q1, dq1] = activationPair(a->operand(1)); q1) {
      pre.push_back(q1);
      pre.push_back(dq1);
      qIn.push_back(q1->operand(0));
      L.floatInputs.push_back(fa->operand(1)->name());
    } else {
      continue;
    }
    const Node* biasDq = constantDq(a->operand(2));
    if (biasDq) pre.push_back(biasDq);
    pre.push_back(a);
    std::vector<const Node*> fPre = {fa};
    const Value* qPreOut = a->result(0);
    const Value* fPreOut = fa->result(0);
    L.op = a->opType();
    if (a->is("MatMul") && !biasDq) {
      const Node* add = m::soleUser(a->result(0));
      const Node* fadd = m::soleUser(fa->result(0));
      if (add && add->is("Add") && fadd && fadd->is("Add") && floatTwin(add) == fadd) {
        const Value* other = add->operand(0) == a->result(0) ? add->operand(1) : add->operand(0);
        if ((biasDq = constantDq(other))) {
          pre.push_back(biasDq);
          pre.push_back(add);
          fPre.push_back(fadd);
          qPreOut = add->result(0);
          fPreOut = fadd->result(0);
          L.op += "+Add";
        }
      }
    }
    if (biasDq && m::constTensor(biasDq->operand(0))->dtype() == DType::I32 && biasDq->operand(0)->isInitializer()) {
      L.biasInit = biasDq->operand(0)->name();
      L.biasScale = m::constTensor(biasDq->operand(1))->toFloats();
    }
    L.channelAxis = a->is("Conv") || a->is("ConvTranspose") ? 1 : -1;
    std::vector<const Value*> fIn = {fa->operand(0)};
    if (qIn.size() > 1) fIn.push_back(fa->operand(1));
    NPU_ASSIGN_OR_RETURN(L.quantPre, extract(quantized, pre, qIn, qPreOut));
    NPU_ASSIGN_OR_RETURN(L.floatPre, extract(floatModel, fPre, fIn, fPreOut));
    // The whole unit: the same activations on both sides, the output Q/DQ on the quantized one.
    Tail tail = followTail(qPreOut);
    std::vector<const Node*> qFull = pre, fFull = fPre;
    const Value* fOut = fPreOut;
    bool matched = true;
    for (const Node* t : tail.nodes) {
      const Node* ft = floatTwin(t);
      if (!ft) {
        matched = false;
        break;
      }
      qFull.push_back(t);
      fFull.push_back(ft);
      fOut = ft->result(0);
      L.op += "+" + t->opType();
    }
    if (!matched) continue;
    const Value* qOut = qPreOut;
    if (tail.dq) {
      qFull.push_back(tail.q);
      qFull.push_back(tail.dq);
      qOut = tail.out;
    }
    NPU_ASSIGN_OR_RETURN(L.quantFull, extract(quantized, qFull, qIn, qOut));
    NPU_ASSIGN_OR_RETURN(L.floatFull, extract(floatModel, fFull, fIn, fOut));
    for (const Node* n : fFull) {
      for (const auto& p : n->provenance()) L.names.push_back(p);
      if (n->provenance().empty()) L.names.push_back(n->name());
    }
    layers.push_back(std::move(L));
  }
  return layers;
}

Status forEachCapture(const Model& floatModel, SampleStream& data, const std::vector<std::string>& capture, const ExecOptions& eo,
                      const std::function<Status(const NamedTensors&)>& onSample) {
  NPU_ASSIGN_OR_RETURN(auto exec, Executor::create(floatModel, eo));
  std::set<std::string> want(capture.begin(), capture.end());
  NamedTensors got;
  exec->setObserver([&](const Node& n, size_t i, const Tensor& t) {
    const Value* r = n.result(i);
    if (r && n.graph() == floatModel.graph.get() && want.count(r->name()))
      got.insert_or_assign(r->name(), Tensor::fromData(t.toData()));  // the pool reuses t's buffer
  });
  NPU_TRY(data.rewind());
  while (true) {
    NPU_ASSIGN_OR_RETURN(std::optional<NamedTensors> sample, data.next());
    if (!sample) break;
    got.clear();
    for (const auto& [name, t] : *sample)
      if (want.count(name)) got.insert_or_assign(name, t);
    // Constant inputs of a layer (a weight-like first operand) are not observed: take them here.
    for (const std::string& name : want)
      if (!got.count(name))
        if (const Value* v = floatModel.graph->findValue(name))
          if (TensorRef c = m::constTensor(v)) got.insert_or_assign(name, Tensor::fromData(c));
    NPU_ASSIGN_OR_RETURN(NamedTensors outs, exec->run(*sample));
    (void)outs;
    NPU_TRY(onSample(got));
  }
  return Status::ok();
}

Expected<Tensor> runLayer(Executor& exec, const std::vector<std::string>& inputs, const NamedTensors& captured) {
  std::vector<Tensor> in;
  for (const auto& name : inputs) {
    auto it = captured.find(name);
    if (it == captured.end()) return Status::internal("layer probe: float value \"{}\" was not captured", name);
    in.push_back(it->second);
  }
  NPU_ASSIGN_OR_RETURN(std::vector<Tensor> out, exec.runOrdered(in));
  if (out.size() != 1) return Status::internal("layer probe: one output expected");
  return std::move(out[0]);
}

}  // namespace npuconv
