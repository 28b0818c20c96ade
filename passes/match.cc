// match.cc - see match.h.
#include "passes/match.h"

#include "passes/lower/upgrade_opset.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace npuconv::m {

Node* producer(const Value* v, std::string_view opType) {
  if (!v || !v->producer()) return nullptr;
  Node* p = v->producer();
  return p->is(opType) ? p : nullptr;
}

bool isPrivate(const Value* v) { return v && v->uses().size() == 1 && !v->isGraphOutput(); }

Node* soleUser(const Value* v) { return isPrivate(v) ? v->uses()[0].user : nullptr; }

Value* otherOperand(const Node* n, const Value* v) {
  if (!n || n->numOperands() != 2) return nullptr;
  if (n->operand(0) == v) return n->operand(1);
  if (n->operand(1) == v) return n->operand(0);
  return nullptr;
}

TensorRef constTensor(const Value* v) {
  if (!v) return nullptr;
  if (v->isInitializer()) return v->isGraphInput() ? nullptr : v->initializer();
  const Node* p = v->producer();
  if (!p || !p->is("Constant") || p->numResults() != 1) return nullptr;
  const AttrMap& a = p->attrs();
  if (auto t = a.get<TensorRef>("value")) return *t;
  if (auto f = a.get<float>("value_float")) return std::make_shared<TensorData>(TensorData::scalarF32(*f));
  if (auto fs = a.get<std::vector<float>>("value_floats")) {
    std::vector<int64_t> dims = {static_cast<int64_t>(fs->size())};
    return std::make_shared<TensorData>(TensorData::fromValues<float>(DType::F32, dims, *fs));
  }
  if (auto i = a.get<int64_t>("value_int")) {
    int64_t x = *i;
    return std::make_shared<TensorData>(TensorData::fromValues<int64_t>(DType::I64, {}, std::span<const int64_t>(&x, 1)));
  }
  if (auto is = a.get<std::vector<int64_t>>("value_ints")) return std::make_shared<TensorData>(TensorData::vectorI64(*is));
  return nullptr;
}

bool isConstant(const Value* v) { return constTensor(v) != nullptr; }

std::optional<std::vector<double>> constDoubles(const Value* v) {
  TensorRef t = constTensor(v);
  if (!t || t->dtype() == DType::String || dtypeSize(t->dtype()) == 0) return std::nullopt;
  std::vector<double> out(static_cast<size_t>(t->numElements()));
  for (int64_t i = 0; i < t->numElements(); ++i) out[static_cast<size_t>(i)] = t->elementAsDouble(i);
  return out;
}

std::optional<std::vector<int64_t>> constInts(const Value* v) {
  TensorRef t = constTensor(v);
  if (!t || !isInteger(t->dtype())) return std::nullopt;
  return t->toInt64s();
}

std::optional<double> constScalar(const Value* v) {
  TensorRef t = constTensor(v);
  if (!t || t->numElements() != 1 || t->dtype() == DType::String) return std::nullopt;
  return t->elementAsDouble(0);
}

bool isScalarNear(const Value* v, double want, double rtol) {
  auto s = constScalar(v);
  return s && std::abs(*s - want) <= rtol * std::abs(want);
}

std::optional<std::vector<int64_t>> staticDims(const Value* v) {
  if (!v) return std::nullopt;
  if (TensorRef t = constTensor(v)) return t->dims();
  if (v->type().hasStaticShape()) return npuconv::staticDims(*v->type().shape);
  return std::nullopt;
}

std::optional<int64_t> rankOf(const Value* v) {
  if (!v) return std::nullopt;
  if (TensorRef t = constTensor(v)) return t->rank();
  if (v->type().shape) return static_cast<int64_t>(v->type().shape->size());
  return std::nullopt;
}

IntsArg intsFromAttrOrInput(const Node& n, std::string_view attr, size_t input) {
  IntsArg r;
  if (auto a = n.attrs().get<std::vector<int64_t>>(attr)) {
    r.present = true;
    r.values = *a;
  } else if (n.operand(input)) {
    r.present = true;
    r.values = constInts(n.operand(input));
  }
  return r;
}

bool isNondeterministic(const Node& n) {
  if (!n.domain().empty()) return false;
  static const char* const kRandom[] = {"RandomNormal", "RandomNormalLike", "RandomUniform",
                                        "RandomUniformLike", "Multinomial", "Bernoulli"};
  for (const char* op : kRandom)
    if (n.opType() == op) return true;
  if (n.opType() == "Dropout") {
    // Inference mode unless training_mode is given and not a constant false (is_test=0 of the
    // first versions is training mode too).
    if (n.attrs().getInt("is_test", 1) == 0) return true;
    if (Value* t = n.operand(2)) {
      auto s = constScalar(t);
      return !s || *s != 0;
    }
  }
  return false;
}

Value* addConstant(Graph& g, std::string_view base, TensorData data) {
  return g.addInitializer(g.uniqueName(base), std::make_shared<TensorData>(std::move(data)));
}

TensorData f32Tensor(std::vector<int64_t> dims, const std::vector<double>& values) {
  std::vector<float> f(values.begin(), values.end());
  return TensorData::fromValues<float>(DType::F32, std::move(dims), f);
}

TensorData i64Tensor(const std::vector<int64_t>& values) { return TensorData::vectorI64(values); }

bool canTakeOver(const Value* from, const Value* to) {
  if (!from->isGraphOutput()) return true;
  // `to` gets `from`'s name: it must not be part of the interface itself.
  return !to->isGraphInput() && !to->isGraphOutput() && to->graph() == from->graph();
}

void replaceValue(Graph& g, Value* from, Value* to) {
  bool output = from->isGraphOutput();
  if (!to->isInitializer() && from->type().known() && (!to->type().known() || !to->type().shape))
    to->setType(from->type());
  if (from->declaredInValueInfo()) to->setDeclaredInValueInfo(true);
  g.replaceAllUsesWith(from, to);
  if (output) {
    NPU_CHECK(canTakeOver(from, to), "{} cannot take over graph output {}", to->name(), from->name());
    std::string name = from->name();
    g.renameValue(from, g.uniqueName(name + "_replaced"));
    g.renameValue(to, name);
  }
}

size_t eraseDead(Graph& g, Node* n) {
  for (Value* r : n->results())
    if (r && (r->hasUses() || r->isGraphOutput())) return 0;
  if (!n->domain().empty() && n->domain() != "ai.onnx") return 0;
  std::vector<Value*> operands = n->operands();
  g.eraseNode(n);
  size_t erased = 1;
  for (Value* v : operands)
    if (v && v->producer() && v->producer()->graph() == &g) erased += eraseDead(g, v->producer());
  return erased;
}

void placeRightBefore(Graph& g, Node* producer, Node* consumer) {
  auto nodes = g.nodes();
  Node* prev = nullptr;
  for (Node* n : nodes) {
    if (n == consumer) break;
    prev = n;
  }
  if (prev != producer) g.moveNode(producer, consumer);
}

int64_t targetOpset(const Model& model, const PassContext& ctx) {
  int64_t v = model.opsetVersion("");
  std::string opt = ctx.option("opset");
  if (!opt.empty()) {
    char* end = nullptr;
    long long o = std::strtoll(opt.c_str(), &end, 10);
    if (end && *end == 0 && o > v) v = o;
  }
  return v;
}

Status requireOpset(Model& model, int64_t version) { return upgradeOpset(model, version); }

bool notMatched(PassContext& ctx, std::string_view pass, const Node& n, std::string_view reason) {
  ++ctx.stat(std::string(pass) + ".not-matched");
  std::string dbg = ctx.option("debug-only");
  if (!dbg.empty() && (dbg == pass || dbg == "all"))
    std::fprintf(stderr, "%.*s: %s: %.*s\n", int(pass.size()), pass.data(), n.describe().c_str(),
                 int(reason.size()), reason.data());
  return false;
}

namespace {
void collectGraphs(Graph* g, std::vector<Graph*>& out) {
  out.push_back(g);
  for (Node* n : g->nodes())
    for (Graph* s : n->subgraphs()) collectGraphs(s, out);
}
}  // namespace

std::vector<Graph*> allGraphs(Model& model) {
  std::vector<Graph*> out;
  collectGraphs(model.graph.get(), out);
  return out;
}

const std::string& ensureName(Graph& g, Node* n) {
  if (n->name().empty()) {
    n->setName(g.freshNodeName(n->opType()));
    g.touch();
  }
  return n->name();
}

}  // namespace npuconv::m
