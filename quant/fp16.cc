// fp16.cc - fp16: float32 weights and activations become float16; block-listed ops stay in
// float32 behind Casts.
//
// Every node is either a float16 node (its float32 operands and results become float16) or a
// float32 node (block list, excluded nodes, ops whose float types are fixed, non-ONNX domains).
// Values keep their producer's precision; a consumer of the other precision reads it through
// one Cast per (value, type), shared by all such consumers. Constants are never cast at run
// time: a constant read in both precisions is stored twice. Operands that ONNX requires in
// float32 (Resize's roi and scales, Upsample's scales) stay float32. Integer and bool tensors are
// untouched. Subgraphs (If/Loop/Scan bodies) follow their node: their float inputs and outputs
// become float16 when it is a float16 node. Finally Casts that undo each other
// (f32 -> f16 -> f32, f16 -> f32 -> f16) and identity Casts are removed.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "quant/fp16_block_list.h"
#include "quant/fp16_dtypes.h"
#include "quant/quantize.h"
#include "quant/weights_util.h"

namespace npuconv {
namespace {

constexpr float kHalfMax = 65504.0f;

bool isF32OrF16(DType t) { return t == DType::F32 || t == DType::F16; }

class Fp16Converter {
 public:
  Fp16Converter(Model& m, const QuantizeOptions& opt, QuantizeReport& report) : m_(m), opt_(opt), report_(report) {
    if (opt.fp16BlockOps.empty())
      for (const Fp16Blocked& b : kFp16DefaultBlockList) block_.insert(std::string(b.op));
    else
      block_.insert(opt.fp16BlockOps.begin(), opt.fp16BlockOps.end());
  }

  Status run();

 private:
  void classify(Graph& g);
  bool wantsHalf(const Node* n, size_t operand) const;
  /// The type a use of an originally-float32 value wants (F16 or F32).
  DType wanted(const Use& u) const { return wantsHalf(u.user, u.operand) ? DType::F16 : DType::F32; }
  DType outputWanted(const Graph& g) const;
  TensorRef toHalf(const TensorData& t, const std::string& name);
  void convertConstant(Graph& g, Value* v);
  void convertNode(Graph& g, Node* n);
  void insertCasts(Graph& g);
  Value* castOf(Graph& g, Value* v, DType to, Node* before);
  void removeRedundantCasts(Graph& g);

  Model& m_;
  const QuantizeOptions& opt_;
  QuantizeReport& report_;
  std::set<std::string> block_;
  std::unordered_map<const Node*, bool> half_;
  std::unordered_set<const Value*> wasF32_;
  std::map<std::pair<const Value*, DType>, Value*> casts_;
  std::vector<std::string> clamped_;
};

void Fp16Converter::classify(Graph& g) {
  bool parentHalf = g.parentNode() ? half_.at(g.parentNode()) : true;
  for (Node* n : g.nodes()) {
    bool fixed = std::find(std::begin(kFp16FixedFloat32Ops), std::end(kFp16FixedFloat32Ops), n->opType()) !=
                 std::end(kFp16FixedFloat32Ops);
    bool h = parentHalf && n->domain().empty() && !fixed && !block_.count(n->opType()) && !wq::isExcluded(*n, opt_);
    // Mixed precision: only the config's fp16 layers (the rest is quantized or float32).
    if (!opt_.mixed.empty() && g.parentNode() == nullptr) h = h && precisionOf(opt_.mixed, *n) == LayerPrecision::Fp16;
    half_[n] = h;
    for (const Value* v : n->results())
      if (v && v->dtype() == DType::F32) wasF32_.insert(v);
    if (!h && parentHalf && g.parentNode() == nullptr && (block_.count(n->opType()) || wq::isExcluded(*n, opt_)))
      report_.nodes.push_back({{"node", wq::reportKey(*n)},
                               {"op", n->opType()},
                               {"precision", "fp32"},
                               {"reason", block_.count(n->opType()) ? "fp16 block list" : "excluded"}});
  }
  for (const Value* v : g.inputs())
    if (v->dtype() == DType::F32) wasF32_.insert(v);
  for (const Value* v : g.initializers())
    if (v->dtype() == DType::F32) wasF32_.insert(v);
}

bool Fp16Converter::wantsHalf(const Node* n, size_t i) const {
  if (!half_.at(n)) return false;
  if ((n->is("Resize") && (i == 1 || i == 2)) || (n->is("Upsample") && i == 1)) return false;
  return true;
}

DType Fp16Converter::outputWanted(const Graph& g) const {
  if (!g.parentNode()) return opt_.keepIoTypes ? DType::F32 : DType::F16;
  return half_.at(g.parentNode()) ? DType::F16 : DType::F32;
}

TensorRef Fp16Converter::toHalf(const TensorData& t, const std::string& name) {
  std::span<const float> x = t.as<float>();
  std::vector<uint16_t> h(x.size());
  bool clamped = false;
  for (size_t i = 0; i < x.size(); ++i) {
    float v = x[i];
    if (std::isfinite(v) && std::fabs(v) > kHalfMax) {
      v = std::copysign(kHalfMax, v);
      clamped = true;
    }
    h[i] = floatToHalf(v);  // IEEE round to nearest even; tiny values become subnormals or zero
  }
  if (clamped) clamped_.push_back(name);
  t.releasePages();  // read once: its mapped pages need not stay resident (a 2 GiB model)
  return std::make_shared<const TensorData>(TensorData::fromValues(DType::F16, t.dims(), std::span<const uint16_t>(h)));
}

/// A float32 initializer or Constant result: float16 in place when every reader wants float16,
/// kept when none does, both when both do (the float16 copy named `<name>_fp16`).
void Fp16Converter::convertConstant(Graph& g, Value* v) {
  bool anyHalf = false, anyFloat = false;
  for (const Use& u : v->uses()) (wanted(u) == DType::F16 ? anyHalf : anyFloat) = true;
  if (v->isGraphOutput()) (outputWanted(g) == DType::F16 ? anyHalf : anyFloat) = true;
  if (!anyHalf && anyFloat) return;
  Node* constant = v->producer();
  TensorRef data = v->isInitializer() ? v->initializer() : *constant->attrs().get<TensorRef>("value");
  TensorRef h = toHalf(*data, v->name());
  if (!anyFloat) {
    if (constant) {
      constant->mutableAttrs().set<TensorRef>("value", h);
      v->mutableType().dtype = DType::F16;
    } else {
      g.setInitializerData(v, h);
    }
    return;
  }
  Value* copy = g.addInitializer(g.uniqueName(v->name() + "_fp16"), h);
  std::vector<Use> uses = v->uses();
  for (const Use& u : uses)
    if (wanted(u) == DType::F16) u.user->setOperand(u.operand, copy);
}

void Fp16Converter::convertNode(Graph& g, Node* n) {
  if (n->is("Constant")) {
    auto value = n->attrs().get<TensorRef>("value");
    if (value && *value && (*value)->dtype() == DType::F32) convertConstant(g, n->result());
    return;
  }
  if (!half_.at(n)) return;
  if (n->is("Cast") && n->attrs().getInt("to", 0) == static_cast<int64_t>(DType::F32))
    n->mutableAttrs().set<int64_t>("to", static_cast<int64_t>(DType::F16));
  if (n->is("ConstantOfShape")) {
    auto value = n->attrs().get<TensorRef>("value");
    if (!value || !*value) {
      // The default value is float32 zero.
      float zero = 0.0f;
      n->mutableAttrs().set<TensorRef>("value", toHalf(TensorData::fromValues(DType::F32, {1}, std::span<const float>(&zero, 1)),
                                                       n->result()->name()));
    } else if ((*value)->dtype() == DType::F32) {
      n->mutableAttrs().set<TensorRef>("value", toHalf(**value, n->result()->name()));
    }
  }
  for (Value* r : n->results())
    if (r && r->dtype() == DType::F32) r->mutableType().dtype = DType::F16;
}

Value* Fp16Converter::castOf(Graph& g, Value* v, DType to, Node* before) {
  // Reading back through a Cast that made `v` from a value of the wanted type: use that value.
  if (Node* p = v->producer(); p && p->is("Cast") && p->operand(0) && p->operand(0)->dtype() == to &&
                               isF32OrF16(v->dtype()))
    return p->operand(0);
  auto key = std::make_pair(static_cast<const Value*>(v), to);
  auto it = casts_.find(key);
  if (it != casts_.end() && it->second->graph() == &g) return it->second;
  Node* c = g.createNode("Cast", {v}, 1, before);
  c->setProvenance({});
  c->mutableAttrs().set<int64_t>("to", static_cast<int64_t>(to));
  g.renameValue(c->result(), g.uniqueName(v->name() + (to == DType::F16 ? "_fp16" : "_fp32")));
  c->result()->setType(wq::tensorType(to, v->shape()));
  casts_[key] = c->result();
  return c->result();
}

/// Operands of the other precision read through a Cast; graph outputs get the wanted type.
void Fp16Converter::insertCasts(Graph& g) {
  casts_.clear();
  for (Node* n : g.nodeList()) {
    if (n->is("Cast") || n->is("Shape") || n->is("Size")) continue;  // any input type
    for (size_t i = 0; i < n->numOperands(); ++i) {
      Value* v = n->operand(i);
      if (!v || !wasF32_.count(v) || !isF32OrF16(v->dtype())) continue;
      DType want = wantsHalf(n, i) ? DType::F16 : DType::F32;
      if (v->dtype() != want) n->setOperand(i, castOf(g, v, want, n));
    }
  }
  DType want = outputWanted(g);
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    Value* v = g.outputs()[i];
    if (!wasF32_.count(v) || v->dtype() == want || !isF32OrF16(v->dtype())) continue;
    Node* c = g.createNode("Cast", {v}, 1, nullptr);
    c->setProvenance({});
    c->mutableAttrs().set<int64_t>("to", static_cast<int64_t>(want));
    c->result()->setType(wq::tensorType(want, v->shape()));
    if (!g.parentNode() && v->graph() == &g) {
      // The interface keeps its names: the Cast's result takes the output's name.
      std::string name = v->name();
      g.renameValue(v, g.uniqueName(name + (want == DType::F32 ? "_fp16" : "_fp32")));
      g.renameValue(c->result(), name);
    }
    g.setOutput(i, c->result());
  }
}

void Fp16Converter::removeRedundantCasts(Graph& g) {
  for (bool changed = true; changed;) {
    changed = false;
    for (Node* c : g.nodeList()) {
      if (!c->is("Cast") || !c->operand(0)) continue;
      Value* out = c->result();
      if (out->isGraphOutput()) continue;
      Value* in = c->operand(0);
      Value* replacement = nullptr;
      if (in->dtype() == out->dtype() && isF32OrF16(in->dtype())) replacement = in;  // identity
      else if (Node* p = in->producer(); p && p->is("Cast") && p->operand(0) && isF32OrF16(in->dtype()) &&
                                         p->operand(0)->dtype() == out->dtype() && isF32OrF16(out->dtype()))
        replacement = p->operand(0);  // f32 -> f16 -> f32 or f16 -> f32 -> f16
      if (!replacement) continue;
      g.replaceAllUsesWith(out, replacement);
      g.eraseNode(c);
      changed = true;
    }
    for (Node* c : g.nodeList())
      if (c->is("Cast") && !c->result()->hasUses() && !c->result()->isGraphOutput()) g.eraseNode(c), changed = true;
  }
}

Status Fp16Converter::run() {
  inferUndeclaredDtypes(m_);
  std::vector<Graph*> graphs = wq::allGraphs(m_);
  for (Graph* g : graphs) classify(*g);
  for (Graph* g : graphs) {
    // Inputs: float16 unless the main graph keeps its interface types.
    bool inputsHalf = g->parentNode() ? half_.at(g->parentNode()) : !opt_.keepIoTypes;
    for (Value* v : g->inputs()) {
      if (v->dtype() != DType::F32 || !inputsHalf) continue;
      if (v->isInitializer()) g->setInputDefault(v, toHalf(*v->initializer(), v->name()));
      v->mutableType().dtype = DType::F16;
    }
    std::vector<Value*> inits = g->initializers();
    for (Value* v : inits)
      if (!v->isGraphInput() && v->dtype() == DType::F32) convertConstant(*g, v);
    for (Node* n : g->nodeList()) convertNode(*g, n);
  }
  // Casts after every value has its final type (subgraphs read values of their parents).
  for (Graph* g : graphs) insertCasts(*g);
  for (Graph* g : graphs) {
    removeRedundantCasts(*g);
    wq::eraseUnusedConstants(*g);
  }
  if (!clamped_.empty()) {
    std::string names;
    for (const std::string& n : clamped_) names += (names.empty() ? "" : ", ") + n;
    report_.warnings.push_back(fmt::format("fp16: values outside the float16 range clamped to +-65504 in: {}", names));
  }
  return Status::ok();
}

}  // namespace

Status convertToFp16(Model& m, const QuantizeOptions& opt, QuantizeReport& report) {
  Fp16Converter c(m, opt, report);
  return c.run();
}

}  // namespace npuconv
