// static_shapes.cc - see static_shapes.h.
#include "passes/shape/static_shapes.h"

#include <algorithm>
#include <set>
#include <string_view>

#include <fmt/format.h>

#include "converter/exec/executor.h"
#include "passes/match.h"

namespace npuconv::shapes {
namespace {

std::vector<std::string> splitEntries(const std::string& spec) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : spec) {
    if (c == ';' || c == '\n') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::optional<int64_t> parseCount(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// Ops whose result shapes come from the *values* of these operands.
const std::map<std::string_view, std::vector<size_t>>& shapeOperands() {
  static const std::map<std::string_view, std::vector<size_t>> k = {
      {"Reshape", {1}},        {"Expand", {1}},          {"Tile", {1}},           {"ConstantOfShape", {0}},
      {"Range", {0, 1, 2}},    {"Slice", {1, 2, 3, 4}},  {"Pad", {1, 3}},         {"Resize", {1, 2, 3}},
      {"Upsample", {1}},       {"OneHot", {1}},          {"Squeeze", {1}},        {"Unsqueeze", {1}},
      {"Split", {1}},          {"TopK", {1}},            {"CenterCropPad", {1}},  {"MaxUnpool", {2}},
      {"Col2Im", {1, 2}},      {"ReduceSum", {1}},       {"ReduceMean", {1}},     {"ReduceMax", {1}},
      {"ReduceMin", {1}},      {"ReduceProd", {1}},      {"ReduceL1", {1}},       {"ReduceL2", {1}},
      {"ReduceLogSum", {1}},   {"ReduceLogSumExp", {1}}, {"ReduceSumSquare", {1}}, {"DFT", {1}},
      {"BlackmanWindow", {0}}, {"HannWindow", {0}},      {"HammingWindow", {0}},  {"MelWeightMatrix", {0, 1}},
  };
  return k;
}

// The default domain, or our NHWC twins of its ops (same shape rules, channels last).
bool isOnnxLike(const Node& n) { return n.domain().empty() || n.domain() == "ai.npuconv.nhwc"; }

// Ops whose result sizes depend on their operands' values whatever they are.
bool alwaysDataDependent(const Node& n) {
  static const std::set<std::string_view> k = {"NonZero", "Unique", "Compress", "NonMaxSuppression", "StringSplit",
                                               "If", "Loop", "Scan", "SplitToSequence", "SequenceAt",
                                               "SequenceConstruct", "SequenceInsert", "SequenceErase",
                                               "ConcatFromSequence", "Optional", "OptionalGetElement"};
  return !isOnnxLike(n) || k.count(n.opType()) > 0;
}

bool isRandom(const Node& n) { return n.domain().empty() && n.opType().rfind("Random", 0) == 0; }

}  // namespace

Expected<std::map<std::string, std::vector<int64_t>>> parseInputShapes(const std::string& spec) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const std::string& e : splitEntries(spec)) {
    size_t eq = e.rfind('=');
    if (eq == std::string::npos || eq == 0)
      return Status::invalidArgument("--input-shape \"{}\": expected NAME=DIMS such as input_ids=1x256", e);
    std::string name = e.substr(0, eq), dims = e.substr(eq + 1);
    std::vector<int64_t> v;
    size_t start = 0;
    while (start <= dims.size()) {
      size_t end = dims.find_first_of("x,", start);
      if (end == std::string::npos) end = dims.size();
      auto d = parseCount(std::string_view(dims).substr(start, end - start));
      if (!d) return Status::invalidArgument("--input-shape \"{}\": \"{}\" is not a list of sizes like 1x3x224x224", e, dims);
      v.push_back(*d);
      start = end + 1;
    }
    if (!out.emplace(name, v).second) return Status::invalidArgument("--input-shape: input \"{}\" given twice", name);
  }
  return out;
}

Expected<std::map<std::string, int64_t>> parseDims(const std::string& spec) {
  std::map<std::string, int64_t> out;
  for (const std::string& e : splitEntries(spec)) {
    size_t eq = e.rfind('=');
    auto v = eq == std::string::npos ? std::nullopt : parseCount(std::string_view(e).substr(eq + 1));
    if (eq == 0 || !v) return Status::invalidArgument("--dim \"{}\": expected NAME=SIZE such as sequence=256", e);
    if (!out.emplace(e.substr(0, eq), *v).second)
      return Status::invalidArgument("--dim: \"{}\" given twice", e.substr(0, eq));
  }
  return out;
}

Expected<bool> bindShapes(Model& m, const std::map<std::string, std::vector<int64_t>>& inputShapes,
                          const std::map<std::string, int64_t>& dims) {
  Graph& g = *m.graph;
  std::map<std::string, int64_t> symbols = dims;
  std::set<std::string> known;  // every symbolic dim name in the model
  for (Graph* sg : m::allGraphs(m))
    for (Value* v : sg->valueList())
      if (v->type().shape)
        for (const Dim& d : *v->type().shape)
          if (d.isSymbolic()) known.insert(d.symbolName());

  bool changed = false;
  for (const auto& [name, sizes] : inputShapes) {
    auto it = std::find_if(g.inputs().begin(), g.inputs().end(), [&n = name](Value* v) { return v->name() == n; });
    if (it == g.inputs().end() || (*it)->isInitializer()) {
      std::string names;
      for (Value* v : g.inputs())
        if (!v->isInitializer()) names += (names.empty() ? "" : ", ") + v->name();
      return Status::invalidArgument("--input-shape: the model has no input \"{}\" (inputs: {})", name, names);
    }
    Value* in = *it;
    TensorType t = in->type();
    if (!t.isTensor()) return Status::unsupported("--input-shape: input \"{}\" is not a tensor ({})", name, t.toString());
    std::string given = shapeToString(shapeOf(sizes));
    if (t.shape && t.shape->size() != sizes.size())
      return Status::invalidArgument("--input-shape: input \"{}\" has rank {} ({}), {} has rank {}", name,
                                     t.shape->size(), t.toString(), given, sizes.size());
    Shape s = t.shape ? *t.shape : Shape(sizes.size());
    for (size_t i = 0; i < sizes.size(); ++i) {
      Dim& d = s[i];
      if (d.isStatic() && d.value() != sizes[i])
        return Status::invalidArgument("--input-shape: input \"{}\" has static dim {} = {} ({}), {} gives {}", name, i,
                                       d.value(), t.toString(), given, sizes[i]);
      if (d.isSymbolic()) {
        auto [sym, inserted] = symbols.emplace(d.symbolName(), sizes[i]);
        if (!inserted && sym->second != sizes[i])
          return Status::invalidArgument("dim \"{}\" of input \"{}\" is given as {} and as {}", d.symbolName(), name,
                                         sizes[i], sym->second);
      }
      std::string denotation = d.denotation();
      d = Dim(sizes[i]);
      d.setDenotation(denotation);
    }
    if (!t.shape || *t.shape != s) {
      t.shape = s;
      in->setType(t);
      changed = true;
    }
  }
  for (const auto& [name, size] : dims)
    if (!known.count(name)) {
      std::string list;
      for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
      return Status::invalidArgument("--dim {}: the model has no symbolic dim \"{}\" (symbolic dims: {})", name, name,
                                     list.empty() ? "none" : list);
    }
  for (Graph* sg : m::allGraphs(m)) {
    bool touched = false;
    for (Value* v : sg->valueList()) {
      if (!v->type().shape) continue;
      TensorType t = v->type();
      bool hit = false;
      for (Dim& d : *t.shape)
        if (d.isSymbolic())
          if (auto it = symbols.find(d.symbolName()); it != symbols.end()) {
            std::string denotation = d.denotation();
            d = Dim(it->second);
            d.setDenotation(denotation);
            hit = true;
          }
      if (hit) {
        v->setType(t);
        touched = true;
      }
    }
    if (touched) {
      sg->touch();
      changed = true;
    }
  }
  if (changed) g.touch();
  return changed;
}

std::map<const Value*, DynamicShape> dynamicShapes(const Graph& g) {
  std::map<const Value*, DynamicShape> dyn;  // shape depends on data or on a dynamic input shape
  std::set<const Value*> varies;             // values depend on input data
  for (Value* in : g.inputs()) {
    if (in->isInitializer()) continue;
    varies.insert(in);
    if (!in->type().hasStaticShape())
      dyn[in] = {in, nullptr, fmt::format("graph input \"{}\" has the dynamic shape {}", in->name(), in->type().toString())};
  }
  for (const Node* n : g.nodes()) {
    const DynamicShape* inherited = nullptr;
    bool anyVaries = isRandom(*n);
    for (const Value* v : n->operands()) {
      if (!v) continue;
      if (auto it = dyn.find(v); it != dyn.end() && !inherited) inherited = &it->second;
      if (varies.count(v)) anyVaries = true;
    }
    // Values a subgraph reads from this graph count as operands.
    for (const Graph* sub : n->subgraphs())
      for (const Node* sn : sub->nodes())
        for (const Value* v : sn->operands())
          if (v && v->graph() == &g && varies.count(v)) anyVaries = true;

    bool shapeOp = n->is("Shape") || n->is("Size");
    std::optional<DynamicShape> cause;
    if (inherited) {
      cause = *inherited;
    } else if (alwaysDataDependent(*n)) {
      cause = DynamicShape{nullptr, n, fmt::format("the size of what {} computes depends on its input values", n->opType())};
    } else if (auto it = isOnnxLike(*n) ? shapeOperands().find(n->opType()) : shapeOperands().end();
               it != shapeOperands().end()) {
      for (size_t i : it->second)
        if (const Value* v = n->operand(i); v && varies.count(v)) {
          cause = DynamicShape{nullptr, n, fmt::format("its shape operand \"{}\" depends on input values", v->name())};
          break;
        }
    }
    for (const Value* r : n->results()) {
      if (!r) continue;
      if (shapeOp) {
        // Shape/Size read only the operand's shape: they vary exactly when that shape does.
        if (inherited) varies.insert(r);
        continue;
      }
      if (anyVaries) varies.insert(r);
      if (cause) {
        DynamicShape d = *cause;
        if (!d.value) d.value = r;
        dyn[r] = d;
      }
    }
  }
  return dyn;
}

const Value* firstDynamicInput(const Graph& g) {
  for (const Value* in : g.inputs())
    if (!in->isInitializer() && !in->type().hasStaticShape()) return in;
  return nullptr;
}

std::string describeDynamic(const DynamicShape& d) {
  if (!d.node) return d.reason;
  return fmt::format("tensor \"{}\" of node {} has a dynamic shape: {}", d.value ? d.value->name() : "?",
                     d.node->describe(), d.reason);
}

Expected<size_t> inferShapesByEvaluation(Model& m, const std::map<const Value*, DynamicShape>& skip) {
  Graph& g = *m.graph;
  std::vector<Tensor> inputs;
  for (const Value* in : g.inputs()) {
    if (in->isInitializer()) {
      inputs.emplace_back();
      continue;
    }
    const TensorType& t = in->type();
    if (!t.isTensor() || dtypeSize(t.dtype) == 0)
      return Status::unsupported("shape inference: input \"{}\" of type {} cannot be fed", in->name(), t.toString());
    if (!t.hasStaticShape())
      return Status::invalidArgument("shape inference: input \"{}\" has the dynamic shape {}", in->name(), t.toString());
    inputs.emplace_back(t.dtype, staticDims(*t.shape));
  }
  NPU_ASSIGN_OR_RETURN(auto exec, Executor::create(m, ExecOptions{0, nullptr}));
  std::map<const Value*, std::pair<DType, std::vector<int64_t>>> seen;
  exec->setObserver([&](const Node& n, size_t i, const Tensor& t) {
    if (n.graph() == &g && n.result(i)) seen[n.result(i)] = {t.dtype(), t.dims()};
  });
  auto outs = exec->runOrdered(inputs);
  // Zeros are wrong data for a data-dependent shape (a Reshape to a computed shape, say): the
  // run may stop there. The types seen up to that point still hold; the rest stay declared.
  if (!outs && skip.empty()) return outs.status().in("shape inference (running the model on zeros)");
  size_t changed = 0;
  for (const auto& [cv, dt] : seen) {
    if (skip.count(cv)) continue;
    Value* v = const_cast<Value*>(cv);
    TensorType want = v->type();
    const auto& [dtype, dims] = dt;
    bool conflict = (want.dtype != DType::Undefined && want.dtype != dtype) ||
                    (want.shape && want.shape->size() != dims.size());
    if (want.shape && !conflict)
      for (size_t k = 0; k < dims.size(); ++k)
        if ((*want.shape)[k].isStatic() && (*want.shape)[k].value() != dims[k]) conflict = true;
    TensorType got = want;
    got.dtype = dtype;
    Shape s = shapeOf(dims);
    if (want.shape && want.shape->size() == s.size())
      for (size_t k = 0; k < s.size(); ++k) s[k].setDenotation((*want.shape)[k].denotation());
    got.shape = s;
    if (conflict)
      return Status::invalidModel("tensor \"{}\" is declared {} but computes {} with the given input shapes", v->name(),
                                  want.toString(), got.toString());
    if (got != want || !v->declaredInValueInfo()) {
      v->setType(got);
      v->setDeclaredInValueInfo(true);  // written to value_info: the output model says its shapes
      ++changed;
    }
  }
  if (changed) g.touch();
  return changed;
}

}  // namespace npuconv::shapes
