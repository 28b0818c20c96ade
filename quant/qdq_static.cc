// qdq_static.cc - INT8 static quantization written as QuantizeLinear/DequantizeLinear pairs,
// the form ONNX Runtime's quantize_static(quant_format=QDQ) writes.
//
// Two steps over the float IR. Planning (shared with tensorsToCalibrate) groups each quantized
// op with what it absorbs: a MatMul's bias Add and the activation a device fuses (Conv -> Relu
// quantizes Relu's output only). Activation tensors are put in scale groups with a union-find:
// a pass-through op's output joins its input's group, Concat (and Add on request) join their
// inputs and output; a group's range is the union of its members' calibrated ranges. Emission
// then writes, per tensor, one Q/DQ pair shared by all quantized consumers; weights as int8
// initializers behind a DequantizeLinear (per output channel), biases as int32 with scale
// s_in * s_w[c].
//
//   before: %y = Conv(%x, %W, %B)  %z = Relu(%y)
//   after:  %xq = QuantizeLinear(%x, s_x, z_x)  %xd = DequantizeLinear(%xq, s_x, z_x)
//           %Wd = DequantizeLinear(%W_quantized, s_W[c], 0, axis=0)
//           %Bd = DequantizeLinear(%B_quantized, s_x * s_W[c], 0, axis=0)
//           %y = Conv(%xd, %Wd, %Bd)  %z = Relu(%y)
//           %zq = QuantizeLinear(%z, s_z, z_z)  %zd = DequantizeLinear(%zq, s_z, z_z)
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include "passes/fuse/fusion_groups.h"
#include "passes/lower/upgrade_opset.h"
#include "passes/match.h"
#include "quant/mixed_config.h"
#include "quant/qdq_rules.h"
#include "quant/quant_math.h"
#include "quant/quantize.h"

namespace npuconv {
namespace {

/// A quantized op and the nodes it absorbs (bias Add, fused activation), anchor first.
struct Unit {
  std::vector<Node*> nodes;
  QdqKind kind = QdqKind::Compute;
  std::vector<OperandRule> rules;  // of the anchor
  Node* biasUser = nullptr;        // the node and operand taking the int32 bias
  size_t biasOperand = 0;
  std::vector<std::pair<Node*, size_t>> activationUses;  // operands fed a DQ output
  std::vector<Value*> activationValues;                  // what they read before emission
  std::vector<Value*> outputs;                           // quantized results of the unit
  std::vector<std::string> outputNames;                  // their names before emission
  bool wide = false;                                     // 16-bit activations
  Node* anchor() const { return nodes.front(); }
};

class Plan {
 public:
  std::vector<Unit> units;
  std::vector<Value*> values;  // activation tensors with a scale group, in first-seen order
  std::map<const Value*, size_t> index;
  std::vector<size_t> parent;
  std::vector<bool> rangeSource;  // its own range counts in its group's union
  std::set<const Value*> producedQuantized;  // outputs of quantized units
  std::map<size_t, TensorRange> fixedRange;  // outputs whose range the op defines (Sigmoid: [0, 1])
  std::set<size_t> wide;  // values a 16-bit unit reads or writes: their group is 16-bit

  size_t add(Value* v, bool source) {
    auto it = index.find(v);
    if (it != index.end()) {
      if (source) rangeSource[it->second] = true;
      return it->second;
    }
    size_t i = values.size();
    values.push_back(v);
    index[v] = i;
    parent.push_back(i);
    rangeSource.push_back(source);
    return i;
  }
  size_t find(size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  }
  void unite(size_t a, size_t b) {
    a = find(a), b = find(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);  // the first-seen value is the root
  }
};

/// Left in float: --exclude, or a float precision in the mixed-precision config.
bool excluded(const Node& n, const QuantizeOptions& opt) {
  if (!isQuantized(precisionOf(opt.mixed, n))) return true;
  if (opt.excludeNodes.empty()) return false;
  if (opt.excludeNodes.count(n.name())) return true;
  for (const auto& p : n.provenance())
    if (opt.excludeNodes.count(p)) return true;
  return false;
}

/// A unit computing with 16-bit activations (A16W8): any of its nodes is int16 in the config.
bool wideUnit(const std::vector<Node*>& nodes, const QuantizeOptions& opt) {
  if (!opt.mixed.mentions(LayerPrecision::Int16)) return false;
  for (const Node* n : nodes)
    if (precisionOf(opt.mixed, *n) == LayerPrecision::Int16) return true;
  return false;
}

/// MatMul(x, W) + b with b a float32 constant [N]: the Add is the MatMul's bias.
Node* matMulBiasAdd(const Node& matmul, const std::vector<OperandRule>& rules, size_t* biasOperand) {
  if (!matmul.is("MatMul") || rules.size() < 2 || rules[1].role != OperandRole::Weight) return nullptr;
  Node* add = m::soleUser(matmul.result(0));
  if (!add || !add->is("Add")) return nullptr;
  size_t other = add->operand(0) == matmul.result(0) ? 1 : 0;
  TensorRef b = m::constTensor(add->operand(other));
  if (!b || b->dtype() != DType::F32 || b->rank() != 1 || b->dims()[0] != weightChannels(matmul)) return nullptr;
  // The Add must not broadcast the output to a larger shape: b [N] against y [..., N] never does.
  *biasOperand = other;
  return add;
}

/// A default-domain node whose operands other than `from` are all one-element constants.
bool scalarOperandsBesides(const Node& n, const Value* from) {
  if (!n.domain().empty()) return false;
  for (const Value* v : n.operands())
    if (v != from && (!v || !m::constScalar(v))) return false;
  return true;
}

/// y * f(y) with f a chain of scalar elementwise ops (Add 3 -> Clip 0..6 [-> Div 6], or
/// HardSigmoid): HardSwish as exporters write it decomposed, optionally followed by a scalar Div
/// or Mul (x * relu6(x + 3) / 6). A device runs it fused into the producing layer. Returns the
/// nodes in order (the gating chain, the Mul, the scale), or empty.
std::vector<Node*> decomposedHardSwishAfter(Value* y) {
  if (!y || y->isGraphOutput() || y->uses().size() != 2) return {};
  Node* a = y->uses()[0].user;
  Node* b = y->uses()[1].user;
  if (a == b) return {};
  for (int swap = 0; swap < 2; ++swap, std::swap(a, b)) {
    // a: the gating chain's first node; b: the Mul of y and the chain's end.
    if (!b->is("Mul") || b->numOperands() != 2) continue;
    std::vector<Node*> chain;
    Value* v = y;
    for (Node* k = a; k && chain.size() < 3; k = m::soleUser(v)) {
      bool ok = (k->is("Add") || k->is("Clip") || k->is("Div") || k->is("Mul") || k->is("HardSigmoid")) &&
                k->operand(0) == v && scalarOperandsBesides(*k, v);
      if (!ok || !k->result(0) || k->result(0)->isGraphOutput()) break;
      chain.push_back(k);
      v = k->result(0);
      if (m::soleUser(v) == b) break;
    }
    bool gates = !chain.empty() && m::soleUser(v) == b &&
                 (chain.back()->is("Clip") || chain.back()->is("HardSigmoid") || chain.back()->is("Div") ||
                  chain.back()->is("Mul"));
    bool hasClamp = false;
    for (Node* k : chain) hasClamp = hasClamp || k->is("Clip") || k->is("HardSigmoid");
    if (!gates || !hasClamp) continue;
    chain.push_back(b);
    Value* out = b->result(0);
    if (Node* s = m::soleUser(out); s && !out->isGraphOutput() && (s->is("Div") || s->is("Mul")) &&
                                    s->operand(0) == out && scalarOperandsBesides(*s, out))
      chain.push_back(s);
    return chain;
  }
  return {};
}

/// Scalar Mul/Add/Sub/Div after `z` (a learnable affine after an activation): requantization
/// absorbs it, so a device never rounds in between. Up to two nodes, in order.
std::vector<Node*> scalarAffineAfter(Value* z) {
  std::vector<Node*> out;
  while (out.size() < 2 && z && !z->isGraphOutput()) {
    Node* s = m::soleUser(z);
    if (!s || !(s->is("Mul") || s->is("Add") || s->is("Sub") || s->is("Div")) || s->numOperands() != 2) break;
    // Sub and Div only with z on the left: c - z and c / z are not affine maps of z.
    if ((s->is("Sub") || s->is("Div")) && s->operand(0) != z) break;
    if (!scalarOperandsBesides(*s, z) || !s->result(0)) break;
    out.push_back(s);
    z = s->result(0);
  }
  return out;
}

/// Add and Mul nodes whose result only float ops read (an attention mask's scale and its Add
/// before Softmax): quantizing them would add two roundings and no int8 op would use them.
/// Judged from the consumers, in reverse topological order.
std::set<const Node*> floatGlue(const Graph& g, const QuantizeOptions& opt) {
  std::set<const Node*> glue;
  std::map<const Node*, bool> wantsInput;  // the node reads its inputs quantized
  std::vector<Node*> order = g.nodeList();
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Node* n = *it;
    QdqKind kind = excluded(*n, opt) ? QdqKind::Float : qdqKind(*n);
    bool consumersWant = false;
    for (const Value* r : n->results()) {
      if (!r) continue;
      consumersWant = consumersWant || r->isGraphOutput();
      for (const Use& u : r->uses()) {
        auto w = wantsInput.find(u.user);
        consumersWant = consumersWant || (w != wantsInput.end() && w->second);
      }
    }
    bool wants = kind == QdqKind::Compute;
    if (kind == QdqKind::PassThrough) wants = consumersWant;
    if (kind == QdqKind::Compute && (n->is("Add") || n->is("Mul")) && !consumersWant) {
      glue.insert(n);
      wants = false;
    }
    wantsInput[n] = wants;
  }
  return glue;
}

Plan makePlan(const Model& m, const QuantizeOptions& opt) {
  Plan plan;
  const Graph& g = *m.graph;
  std::set<const Node*> absorbed;
  const std::set<const Node*> glue = floatGlue(g, opt);
  for (Node* n : g.nodes()) {
    if (absorbed.count(n) || excluded(*n, opt) || glue.count(n)) continue;
    QdqKind kind = qdqKind(*n);
    if (kind == QdqKind::Float) continue;
    Unit u;
    u.kind = kind;
    u.nodes = {n};
    if (kind == QdqKind::PassThrough) {
      Value* x = n->operand(0);
      // Only behind a quantized tensor (or a graph input): a pass-through op after a float op
      // would only add a rounding.
      if (!plan.producedQuantized.count(x) && !x->isGraphInput()) continue;
      size_t xi = plan.add(x, !plan.producedQuantized.count(x));
      u.activationUses.push_back({n, 0});
      u.activationValues.push_back(x);
      u.wide = wideUnit(u.nodes, opt);
      if (u.wide) plan.wide.insert(xi);
      for (Value* r : n->results()) {
        if (!r) continue;
        plan.unite(xi, plan.add(r, false));
        plan.producedQuantized.insert(r);
        u.outputs.push_back(r);
        u.outputNames.push_back(r->name());
      }
      plan.units.push_back(std::move(u));
      continue;
    }
    u.rules = operandRules(*n);
    for (size_t i = 0; i < u.rules.size(); ++i) {
      if (u.rules[i].role == OperandRole::Bias) u.biasUser = n, u.biasOperand = i;
      if (u.rules[i].role == OperandRole::Activation && n->operand(i)) {
        u.activationUses.push_back({n, i});
        u.activationValues.push_back(n->operand(i));
      }
    }
    Value* y = n->result(0);
    const bool linear = n->is("Conv") || n->is("ConvTranspose") || n->is("Gemm") || n->is("MatMul");
    size_t biasOperand = 0;
    if (Node* add = matMulBiasAdd(*n, u.rules, &biasOperand); add && !excluded(*add, opt)) {
      u.nodes.push_back(add);
      u.biasUser = add, u.biasOperand = biasOperand;
      y = add->result(0);
    }
    auto absorb = [&](const std::vector<Node*>& tail, bool (*allowed)(const Node&)) {
      bool ok = !tail.empty();
      for (Node* a : tail) ok = ok && !excluded(*a, opt) && !absorbed.count(a) && allowed(*a);
      if (!ok) return false;
      u.nodes.insert(u.nodes.end(), tail.begin(), tail.end());
      y = tail.back()->result(0);
      return true;
    };
    auto any = [](const Node&) { return true; };
    auto reluOrClip = [](const Node& a) { return a.is("Relu") || a.is("Clip"); };
    if (linear) {
      if (!absorb(activationAfter(y), any)) absorb(decomposedHardSwishAfter(y), any);
      absorb(scalarAffineAfter(y), any);
    } else if (n->is("Add")) {
      absorb(activationAfter(y), reluOrClip);
    }
    for (size_t k = 1; k < u.nodes.size(); ++k) absorbed.insert(u.nodes[k]);
    u.wide = wideUnit(u.nodes, opt);
    std::vector<size_t> members;
    for (auto [user, i] : u.activationUses) members.push_back(plan.add(user->operand(i), true));
    size_t yi = plan.add(y, true);
    if (u.wide) {
      plan.wide.insert(members.begin(), members.end());
      plan.wide.insert(yi);
    }
    if (const Node* last = u.nodes.back(); last->is("Sigmoid") || last->is("HardSigmoid"))
      plan.fixedRange[yi] = {0.0f, 1.0f};  // TFLite's fixed 1/256 output: the top is never clipped
    plan.producedQuantized.insert(y);
    u.outputs.push_back(y);
    u.outputNames.push_back(y->name());
    if ((n->is("Concat") && opt.shareConcatScales) || (n->is("Add") && u.nodes.size() == 1 && opt.shareAddScales))
      for (size_t mi : members) plan.unite(mi, yi);
    plan.units.push_back(std::move(u));
  }
  return plan;
}

/// The range of a constant activation operand (Add/Mul/Concat with a constant): min/max of data.
TensorRange constantRange(const TensorData& t) {
  std::span<const float> x = t.as<float>();
  TensorRange r;
  if (!x.empty()) {
    auto [lo, hi] = std::minmax_element(x.begin(), x.end());
    r = {*lo, *hi};
  }
  return r;
}

nlohmann::ordered_json paramsJson(const std::string& tensor, const QuantParams& p) {
  nlohmann::ordered_json j;
  j["tensor"] = tensor;
  j["type"] = dtypeName(p.type);
  j["scale"] = p.scale.size() == 1 ? nlohmann::ordered_json(p.scale[0]) : nlohmann::ordered_json(p.scale);
  j["zero_point"] = p.zeroPoint.size() == 1 ? nlohmann::ordered_json(p.zeroPoint[0]) : nlohmann::ordered_json(p.zeroPoint);
  return j;
}

/// The emitter: owns the graph edits of one quantizeStatic call.
class Emitter {
 public:
  Emitter(Model& m, Plan& plan, const QuantizeOptions& opt, QuantizeReport& report)
      : m_(m), g_(*m.graph), plan_(plan), opt_(opt), report_(report) {
    size_t i = 0;
    for (Node* n : g_.nodes()) order_[n] = i++;
    nodes_ = g_.nodeList();
    for (Value* v : plan_.values) inputNames_[v] = v->name();
  }

  /// Scales from the calibrated ranges; a 16-bit group takes its range from `wideRanges` (the
  /// observed min/max: 65536 levels need no clipping) when it has one.
  Status computeParams(const QuantRanges& ranges, const QuantRanges& wideRanges) {
    std::map<size_t, TensorRange> groupRange;
    std::map<size_t, bool> seen;
    std::set<size_t> wideRoots;
    for (size_t i : plan_.wide) wideRoots.insert(plan_.find(i));
    for (size_t i = 0; i < plan_.values.size(); ++i) {
      if (!plan_.rangeSource[i]) continue;
      const Value* v = plan_.values[i];
      size_t root = plan_.find(i);
      TensorRange r;
      if (auto f = plan_.fixedRange.find(i); f != plan_.fixedRange.end()) {
        r = f->second;
      } else if (TensorRef c = m::constTensor(v)) {
        r = constantRange(*c);
      } else {
        auto it = ranges.find(v->name());
        if (it == ranges.end())
          return Status::invalidArgument("int8 quantization: tensor \"{}\": no calibrated range (calibrate the tensors "
                                         "tensorsToCalibrate lists)",
                                         v->name());
        if (auto w = wideRanges.find(v->name()); wideRoots.count(root) && w != wideRanges.end()) it = w;
        r = it->second;
        if (!std::isfinite(r.lo) || !std::isfinite(r.hi) || r.lo > r.hi)
          return Status::invalidArgument("int8 quantization: tensor \"{}\": invalid range [{}, {}]", v->name(), r.lo, r.hi);
      }
      if (!seen[root]) groupRange[root] = r, seen[root] = true;
      else groupRange[root] = {std::min(groupRange[root].lo, r.lo), std::max(groupRange[root].hi, r.hi)};
    }
    const DType wideType = opt_.activationType == DType::I8 ? DType::I16 : DType::U16;
    for (size_t i = 0; i < plan_.values.size(); ++i) {
      size_t root = plan_.find(i);
      if (!seen[root])
        return Status::internal("int8 quantization: tensor \"{}\": scale group without a range", plan_.values[i]->name());
      TensorRange r = groupRange[root];
      DType type = wideRoots.count(root) ? wideType : opt_.activationType;
      params_[plan_.values[i]] = activationParams(r.lo, r.hi, type, opt_.activationSymmetric);
    }
    return Status::ok();
  }

  Status emit() {
    std::set<const Node*> unitNodes;
    std::map<const Value*, std::vector<std::pair<Node*, size_t>>> quantUses;
    for (const Unit& u : plan_.units) {
      for (Node* n : u.nodes) unitNodes.insert(n);
      for (auto use : u.activationUses) quantUses[use.first->operand(use.second)].push_back(use);
    }
    // Activations, in first-seen order (deterministic names and node order).
    for (Value* v : plan_.values) {
      auto uses = quantUses[v];
      bool produced = plan_.producedQuantized.count(v) > 0;
      if (!produced && uses.empty()) continue;
      const QuantParams& p = params_.at(v);
      if (TensorRef c = m::constTensor(v)) {
        Value* dq = constantDq(v, *c, p, firstUser(uses));
        for (auto [user, i] : uses) user->setOperand(i, dq);
        continue;
      }
      Node* at = produced ? after(v->producer()) : firstUser(uses);
      Value* dq = qdqPair(v, p, at);
      if (produced) {
        redirectAll(v, dq);
      } else {
        for (auto [user, i] : uses) user->setOperand(i, dq);
      }
    }
    for (const Unit& u : plan_.units) NPU_TRY(emitUnit(u));
    cleanup();
    std::string cycle;
    if (!g_.topologicalSort(&cycle))
      return Status::internal("int8 quantization: node \"{}\" is on a cycle after inserting Q/DQ", cycle);
    return Status::ok();
  }

  bool usedPerAxis() const { return perAxis_; }

 private:
  Node* firstUser(const std::vector<std::pair<Node*, size_t>>& uses) const {
    Node* best = nullptr;
    for (auto [user, i] : uses)
      if (!best || order_.at(user) < order_.at(best)) best = user;
    return best;
  }
  Node* after(Node* producer) const {
    size_t i = order_.at(producer) + 1;
    return i < nodes_.size() ? nodes_[i] : nullptr;
  }

  Value* qdqPair(Value* x, const QuantParams& p, Node* before) {
    Value* s = m::addConstant(g_, x->name() + "_scale", TensorData(*scaleTensor(p)));
    Value* z = m::addConstant(g_, x->name() + "_zero_point", TensorData(*zeroPointTensor(p)));
    Node* q = g_.createNode("QuantizeLinear", {x, s, z}, 1, before, g_.freshNodeName(x->name() + "_QuantizeLinear"),
                            domainFor(p.type));
    g_.renameValue(q->result(0), g_.uniqueName(x->name() + "_QuantizeLinear_Output"));
    q->result(0)->setType(TensorType{p.type, x->shape(), {}, {}});
    Node* dq = g_.createNode("DequantizeLinear", {q->result(0), s, z}, 1, before,
                             g_.freshNodeName(x->name() + "_DequantizeLinear"), domainFor(p.type));
    g_.renameValue(dq->result(0), g_.uniqueName(x->name() + "_DequantizeLinear_Output"));
    dq->result(0)->setType(x->type());
    inserted_.insert(q);
    inserted_.insert(dq);
    return dq->result(0);
  }

  /// Every use of x (graph outputs included) reads `dq` instead; the Q node keeps reading x. A
  /// graph output keeps its name: the DQ result takes it over.
  void redirectAll(Value* x, Value* dq) {
    std::vector<Use> uses = x->uses();
    for (const Use& u : uses)
      if (!inserted_.count(u.user)) u.user->setOperand(u.operand, dq);
    if (x->isGraphOutput()) {
      for (size_t i = 0; i < g_.outputs().size(); ++i)
        if (g_.outputs()[i] == x) g_.setOutput(i, dq);
      std::string name = x->name();
      g_.renameValue(x, g_.uniqueName(name + "_float"));
      g_.renameValue(dq, name);
    }
  }

  Value* dqOfConstant(const std::string& base, TensorRef q, const QuantParams& p, Node* before,
                      std::optional<TensorType> type) {
    Value* qv = m::addConstant(g_, base + "_quantized", TensorData(*q));
    Value* s = m::addConstant(g_, base + "_scale", TensorData(*scaleTensor(p)));
    Value* z = m::addConstant(g_, base + "_zero_point", TensorData(*zeroPointTensor(p)));
    Node* dq = g_.createNode("DequantizeLinear", {qv, s, z}, 1, before, g_.freshNodeName(base + "_DequantizeLinear"),
                             domainFor(p.type));
    if (p.axis >= 0) {
      dq->mutableAttrs().set<int64_t>("axis", p.axis);
      perAxis_ = true;
    }
    g_.renameValue(dq->result(0), g_.uniqueName(base + "_DequantizeLinear_Output"));
    dq->result(0)->setType(type ? *type : TensorType{DType::F32, shapeOf(q->dims()), {}, {}});
    inserted_.insert(dq);
    return dq->result(0);
  }

  Value* constantDq(Value* v, const TensorData& c, const QuantParams& p, Node* before) {
    std::span<const float> x = c.as<float>();
    std::vector<int32_t> k(x.size());
    for (size_t i = 0; i < x.size(); ++i) k[i] = quantizeValue(x[i], p.scale[0], p.zeroPoint[0], p.type);
    auto data = std::make_shared<const TensorData>(quantizedTensor(p.type, c.dims(), k));
    constantsToDrop_.push_back(v);
    return dqOfConstant(v->name(), data, p, before, std::nullopt);
  }

  Status emitUnit(const Unit& u) {
    Node* n = u.anchor();
    nlohmann::ordered_json e;
    std::vector<std::string> names;
    std::string op;
    for (Node* k : u.nodes) {
      for (const auto& p : k->provenance()) names.push_back(p);
      if (k->provenance().empty()) names.push_back(k->name());
      op += (op.empty() ? "" : "+") + k->opType();
    }
    e["nodes"] = names;
    e["op"] = op;
    e["mode"] = u.kind == QdqKind::PassThrough ? "pass-through" : "quantized";
    e["precision"] = u.wide ? "int16" : "int8";
    nlohmann::ordered_json ins = nlohmann::ordered_json::array(), outs = nlohmann::ordered_json::array();
    for (size_t k = 0; k < u.activationValues.size(); ++k)
      ins.push_back(paramsJson(inputNames_.at(u.activationValues[k]), params_.at(u.activationValues[k])));
    for (size_t k = 0; k < u.outputs.size(); ++k) outs.push_back(paramsJson(u.outputNames[k], params_.at(u.outputs[k])));
    if (u.kind == QdqKind::Compute) {
      for (size_t i = 0; i < u.rules.size(); ++i) {
        if (u.rules[i].role != OperandRole::Weight) continue;
        NPU_ASSIGN_OR_RETURN(QuantParams wp, emitWeight(*n, i, u.rules[i].axis));
        nlohmann::ordered_json w;
        w["tensor"] = weightNames_.back();
        w["type"] = dtypeName(wp.type);
        w["scheme"] = wp.axis >= 0 ? fmt::format("symmetric per-channel, axis {}", wp.axis) : "symmetric per-tensor";
        w["bits"] = opt_.reduceRange ? 7 : 8;
        w["channels"] = wp.scale.size();
        e["weight"] = w;
        if (u.biasUser) {
          const QuantParams& xp = params_.at(u.activationValues.at(0));
          if (biasFitsInt32(*u.biasUser, u.biasOperand, xp.scale[0], wp)) {
            emitBias(*u.biasUser, u.biasOperand, xp.scale[0], wp);
            e["bias"] = "int32, scale s_in * s_w";
          } else {
            e["bias"] = "float32: b / (s_in * s_w) exceeds int32 at this input scale";
          }
        }
      }
    }
    e["inputs"] = ins;
    e["outputs"] = outs;
    report_.nodes.push_back(std::move(e));
    return Status::ok();
  }


  Expected<QuantParams> emitWeight(Node& n, size_t i, int64_t axis) {
    Value* w = n.operand(i);
    if (!opt_.perChannel) axis = -1;
    TensorRef data = m::constTensor(w);
    auto key = std::make_pair(static_cast<const Value*>(w), axis);
    auto it = weights_.find(key);
    if (it == weights_.end()) {
      QuantizedTensor q = quantizeWeight(*data, axis, opt_.weightType, opt_.reduceRange);
      checkOutliers(n, *data, axis);
      Value* dq = dqOfConstant(w->name(), q.data, q.params, &n, w->type());
      constantsToDrop_.push_back(w);
      it = weights_.emplace(key, std::make_pair(dq, q.params)).first;
    }
    n.setOperand(i, it->second.first);
    weightNames_.push_back(w->name());
    return it->second.second;
  }

  /// A 16-bit input scale is 256 times finer: b / (s_in * s_w) can pass 2^31.
  bool biasFitsInt32(const Node& user, size_t i, float inputScale, const QuantParams& wp) const {
    std::vector<float> b = m::constTensor(user.operand(i))->toFloats();
    for (size_t c = 0; c < b.size(); ++c) {
      double s = static_cast<double>(inputScale) * wp.scale[wp.scale.size() == 1 ? 0 : c];
      if (s > 0 && std::fabs(b[c] / s) > 2147483647.0) return false;
    }
    return true;
  }

  void emitBias(Node& user, size_t i, float inputScale, const QuantParams& wp) {
    Value* b = user.operand(i);
    TensorRef data = m::constTensor(b);
    QuantParams bp = biasParams(inputScale, wp);
    TensorRef q = quantizeBias(*data, inputScale, wp.scale);
    Value* dq = dqOfConstant(b->name(), q, bp, &user, b->type());
    constantsToDrop_.push_back(b);
    user.setOperand(i, dq);
  }

  /// Warns about channels whose largest weight dwarfs the rest: their int8 grid is coarse.
  void checkOutliers(const Node& n, const TensorData& w, int64_t axis) {
    std::span<const float> x = w.as<float>();
    const auto& d = w.dims();
    int64_t a = axis >= 0 ? axis : 0;
    int64_t channels = axis >= 0 ? d[static_cast<size_t>(a)] : 1;
    int64_t inner = 1;
    if (axis >= 0)
      for (size_t k = static_cast<size_t>(a) + 1; k < d.size(); ++k) inner *= d[k];
    else
      inner = static_cast<int64_t>(x.size());
    int64_t outer = channels * inner > 0 ? static_cast<int64_t>(x.size()) / (channels * inner) : 0;
    std::vector<int64_t> bad;
    double worst = 0;
    for (int64_t c = 0; c < channels; ++c) {
      double mx = 0, sum = 0;
      int64_t cnt = 0;
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t k = 0; k < inner; ++k) {
          double v = std::fabs(static_cast<double>(x[static_cast<size_t>((o * channels + c) * inner + k)]));
          mx = std::max(mx, v), sum += v, ++cnt;
        }
      double mean = cnt ? sum / static_cast<double>(cnt) : 0;
      if (mean > 0 && mx > 20 * mean) {
        bad.push_back(c);
        worst = std::max(worst, mx / mean);
      }
    }
    if (bad.empty()) return;
    std::string list;
    for (size_t k = 0; k < std::min<size_t>(bad.size(), 8); ++k) list += (k ? ", " : "") + std::to_string(bad[k]);
    if (bad.size() > 8) list += ", ...";
    std::string who = n.provenance().empty() ? n.name() : n.provenance().front();
    report_.warnings.push_back(fmt::format(
        "{} ({}): weight {}: {} of {} channels have outliers (max|w| > 20x the channel's mean |w|, worst {:.1f}x): "
        "channel{} {}; their int8 steps are coarse",
        who, n.opType(), n.operand(1)->name(), bad.size(), channels, worst, bad.size() > 1 ? "s" : "", list));
  }

  /// Float constants whose every use moved to a DequantizeLinear are dropped.
  void cleanup() {
    for (Value* v : constantsToDrop_) {
      if (!v || v->hasUses() || v->isGraphOutput() || dropped_.count(v)) continue;
      dropped_.insert(v);
      if (v->isInitializer() && !v->isGraphInput()) g_.eraseInitializer(v);
      else if (Node* p = v->producer(); p && p->is("Constant")) m::eraseDead(g_, p);
    }
  }

  /// ONNX's Q/DQ take 16-bit types from opset 21; before, ONNX Runtime's com.microsoft ones do.
  std::string domainFor(DType t) {
    if ((t != DType::I16 && t != DType::U16) || m_.opsetVersion() >= 21) return {};
    if (m_.opsetVersion("com.microsoft") == 0) m_.opsetImports.push_back({"com.microsoft", 1});
    return "com.microsoft";
  }

  Model& m_;
  Graph& g_;
  Plan& plan_;
  const QuantizeOptions& opt_;
  QuantizeReport& report_;
  std::map<const Node*, size_t> order_;
  std::vector<Node*> nodes_;
  std::map<const Value*, QuantParams> params_;
  std::map<const Value*, std::string> inputNames_;  // names before emission (outputs get renamed)
  std::set<const Node*> inserted_;
  std::map<std::pair<const Value*, int64_t>, std::pair<Value*, QuantParams>> weights_;
  std::vector<std::string> weightNames_;
  std::vector<Value*> constantsToDrop_;
  std::set<const Value*> dropped_;
  bool perAxis_ = false;
};

}  // namespace

std::vector<QuantUnitInfo> quantizedUnits(const Model& m, const QuantizeOptions& opt) {
  Plan plan = makePlan(m, opt);
  std::vector<QuantUnitInfo> out;
  for (const Unit& u : plan.units) {
    if (u.kind != QdqKind::Compute) continue;
    QuantUnitInfo info;
    for (const Node* n : u.nodes) {
      if (n->provenance().empty()) info.names.push_back(n->name());
      for (const auto& p : n->provenance()) info.names.push_back(p);
      info.op += (info.op.empty() ? "" : "+") + n->opType();
    }
    info.key = info.names.front();
    for (size_t i = 0; i < u.rules.size(); ++i)
      if (u.rules[i].role == OperandRole::Weight)
        if (TensorRef w = m::constTensor(u.anchor()->operand(i))) info.weightElements += w->numElements();
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<std::string> tensorsToCalibrate(const Model& m, const QuantizeOptions& opt) {
  Plan plan = makePlan(m, opt);
  std::vector<std::string> out;
  for (size_t i = 0; i < plan.values.size(); ++i)
    if (plan.rangeSource[i] && !m::isConstant(plan.values[i]) && !plan.fixedRange.count(i))
      out.push_back(plan.values[i]->name());
  return out;
}

Status quantizeStatic(Model& m, const QuantRanges& ranges, const QuantizeOptions& opt, QuantizeReport& report,
                      const QuantRanges& wideRanges) {
  if (opt.activationType != DType::U8 && opt.activationType != DType::I8)
    return Status::invalidArgument("int8 quantization: activation type {} (uint8 or int8)", dtypeName(opt.activationType));
  if (opt.weightType != DType::I8 && opt.weightType != DType::U8)
    return Status::invalidArgument("int8 quantization: weight type {} (int8 or uint8)", dtypeName(opt.weightType));
  Plan plan = makePlan(m, opt);
  Emitter e(m, plan, opt, report);
  NPU_TRY(e.computeParams(ranges, wideRanges));
  // Per-axis DequantizeLinear is opset 13; per-tensor QuantizeLinear opset 10.
  bool anyWeight = false;
  for (const Unit& u : plan.units)
    for (const auto& r : u.rules) anyWeight = anyWeight || (r.role == OperandRole::Weight && r.axis >= 0);
  if (!plan.units.empty()) NPU_TRY(upgradeOpset(m, opt.perChannel && anyWeight ? 13 : 10).in("int8 quantization (per-axis DequantizeLinear)"));
  NPU_TRY(e.emit());
  nlohmann::ordered_json scheme;
  scheme["activations"] = fmt::format("{} {}", dtypeName(opt.activationType), opt.activationSymmetric ? "symmetric" : "asymmetric");
  scheme["weights"] = fmt::format("{} symmetric {}", dtypeName(opt.weightType), opt.perChannel ? "per-channel" : "per-tensor");
  scheme["bias"] = "int32, scale s_in * s_w, zero point 0";
  scheme["reduce_range"] = opt.reduceRange;
  if (opt.reduceRange)
    report.warnings.push_back(
        "reduce-range is on: weights use 7 bits (-64..63). x86 CPUs with AVX2 but without VNNI multiply u8 x s8 pairs "
        "with vpmaddubsw, whose int16 sum of two products saturates at full 8-bit range; NPUs and VNNI CPUs do not need "
        "it and lose 6 dB of weight SQNR with it");
  report.scheme = std::move(scheme);
  return Status::ok();
}

}  // namespace npuconv
