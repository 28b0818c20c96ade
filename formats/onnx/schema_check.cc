// schema_check.cc - see schema_check.h.
#include "formats/onnx/schema_check.h"

#include <fmt/ranges.h>
#include <onnx/defs/schema.h>

#include <algorithm>
#include <optional>
#include <variant>
#include <vector>

namespace npuconv {
namespace {

using AP = onnx::AttributeProto;

/// The AttributeProto type an imported attribute came from; UNDEFINED for the kept-opaque ones
/// (sparse tensors, type protos), which are not checked.
AP::AttributeType protoTypeOf(const AttrValue& v) {
  struct Visit {
    AP::AttributeType operator()(float) const { return AP::FLOAT; }
    AP::AttributeType operator()(int64_t) const { return AP::INT; }
    AP::AttributeType operator()(const std::string&) const { return AP::STRING; }
    AP::AttributeType operator()(const std::vector<float>&) const { return AP::FLOATS; }
    AP::AttributeType operator()(const std::vector<int64_t>&) const { return AP::INTS; }
    AP::AttributeType operator()(const std::vector<std::string>&) const { return AP::STRINGS; }
    AP::AttributeType operator()(const TensorRef&) const { return AP::TENSOR; }
    AP::AttributeType operator()(const std::vector<TensorRef>&) const { return AP::TENSORS; }
    AP::AttributeType operator()(const GraphPtr&) const { return AP::GRAPH; }
    AP::AttributeType operator()(const std::vector<GraphPtr>&) const { return AP::GRAPHS; }
    AP::AttributeType operator()(const OpaqueAttr&) const { return AP::UNDEFINED; }
  };
  return std::visit(Visit{}, v);
}

const char* protoTypeName(AP::AttributeType t) {
  return AP::AttributeType_IsValid(t) ? AP::AttributeType_Name(t).c_str() : "?";
}

Status checkAgainstSchema(const Node& n, const onnx::OpSchema& s) {
  const int ins = static_cast<int>(n.numOperands()), outs = static_cast<int>(n.numResults());
  if (ins < s.min_input() || ins > s.max_input())
    return Status::invalidModel("{}: has {} inputs, {}-{} takes {} to {}", n.describe(), ins, n.opType(),
                                s.since_version(), s.min_input(), s.max_input());
  if (outs < s.min_output() || outs > s.max_output())
    return Status::invalidModel("{}: has {} outputs, {}-{} has {} to {}", n.describe(), outs, n.opType(),
                                s.since_version(), s.min_output(), s.max_output());
  const auto& formal = s.inputs();
  for (size_t i = 0; i < formal.size() && i < n.numOperands(); ++i)
    if (formal[i].GetOption() == onnx::OpSchema::Single && !n.operand(i))
      return Status::invalidModel("{}: required input {} ({}) is empty", n.describe(), i, formal[i].GetName());
  for (const Attribute& a : n.attrs().all()) {
    if (!a.refAttrName.empty()) continue;
    auto it = s.attributes().find(a.name);
    if (it == s.attributes().end()) continue;  // unknown names reach no pass or kernel: tolerated
    AP::AttributeType have = protoTypeOf(a.value), want = it->second.type;
    if (have != AP::UNDEFINED && have != want)
      return Status::invalidModel("{}: attribute \"{}\" is {}, the op takes {}", n.describe(), a.name,
                                  protoTypeName(have), protoTypeName(want));
  }
  for (const auto& [name, a] : s.attributes())
    if (a.required && !n.attrs().has(name))
      return Status::invalidModel("{}: required attribute \"{}\" is missing", n.describe(), name);
  return Status::ok();
}

std::optional<int64_t> rankOf(const Value* v) {
  if (!v || !v->shape()) return std::nullopt;
  return static_cast<int64_t>(v->shape()->size());
}

/// Dim i of v when static and non-negative.
std::optional<int64_t> dimOf(const Value* v, size_t i) {
  if (!v || !v->shape() || i >= v->shape()->size()) return std::nullopt;
  const Dim& d = (*v->shape())[i];
  if (!d.isStatic() || d.value() < 0) return std::nullopt;
  return d.value();
}

Status checkAxis(const Node& n, std::optional<int64_t> rank) {
  auto axis = n.attrs().get<int64_t>("axis");
  if (!axis || !rank) return Status::ok();
  if (*axis < -*rank || *axis >= *rank)
    return Status::invalidModel("{}: axis {} is out of range for rank {}", n.describe(), *axis, *rank);
  return Status::ok();
}

Status checkTranspose(const Node& n) {
  auto perm = n.attrs().get<std::vector<int64_t>>("perm");
  if (!perm) return Status::ok();
  const int64_t len = static_cast<int64_t>(perm->size());
  std::vector<bool> seen(perm->size(), false);
  bool ok = true;
  for (int64_t p : *perm) {
    ok = ok && p >= 0 && p < len && !seen[static_cast<size_t>(p)];
    if (ok) seen[static_cast<size_t>(p)] = true;
  }
  if (!ok) return Status::invalidModel("{}: perm [{}] is not a permutation", n.describe(), fmt::join(*perm, ","));
  if (auto r = rankOf(n.operand(0)); r && *r != len)
    return Status::invalidModel("{}: perm [{}] has {} entries for an input of rank {}", n.describe(),
                                fmt::join(*perm, ","), len, *r);
  return Status::ok();
}

/// kernel_shape, strides, dilations (> 0) and pads (>= 0) of convolutions and pools: lengths agree
/// with one another and with the spatial rank of the input, or of the weights.
Status checkWindow(const Node& n, const Value* x, const Value* w) {
  std::optional<int64_t> spatial;
  if (auto r = rankOf(x); r && *r >= 2) spatial = *r - 2;
  else if (auto rw = rankOf(w); rw && *rw >= 2) spatial = *rw - 2;
  struct Spec {
    const char* name;
    int64_t min;
    int64_t perAxis;
  };
  for (const Spec& sp : {Spec{"kernel_shape", 1, 1}, Spec{"strides", 1, 1}, Spec{"dilations", 1, 1},
                         Spec{"pads", 0, 2}}) {
    auto v = n.attrs().get<std::vector<int64_t>>(sp.name);
    if (!v) continue;
    for (int64_t e : *v)
      if (e < sp.min)
        return Status::invalidModel("{}: {} [{}] has a value below {}", n.describe(), sp.name, fmt::join(*v, ","),
                                    sp.min);
    const int64_t len = static_cast<int64_t>(v->size());
    if (len % sp.perAxis != 0)
      return Status::invalidModel("{}: {} [{}] needs {} values per spatial axis", n.describe(), sp.name,
                                  fmt::join(*v, ","), sp.perAxis);
    if (!spatial) {
      spatial = len / sp.perAxis;  // the first one present sets it for the others
    } else if (len != *spatial * sp.perAxis) {
      return Status::invalidModel("{}: {} [{}] has {} values for {} spatial axes", n.describe(), sp.name,
                                  fmt::join(*v, ","), len, *spatial);
    }
  }
  return Status::ok();
}

/// Conv weights are [M, C/group, k...], ConvTranspose weights [C, M/group, k...]; X is [N, C, ...].
Status checkGroup(const Node& n) {
  const int64_t group = n.attrs().getInt("group", 1);
  if (group < 1) return Status::invalidModel("{}: group {} is not positive", n.describe(), group);
  const Value* x = n.operand(0);
  const Value* w = n.operand(1);
  const bool transpose = n.is("ConvTranspose");
  std::optional<int64_t> c = dimOf(x, 1);
  if (!c && transpose) c = dimOf(w, 0);
  if (c && *c % group != 0)
    return Status::invalidModel("{}: group {} does not divide the {} input channels", n.describe(), group, *c);
  if (transpose) {
    if (auto wc = dimOf(w, 0); wc && c && *wc != *c)
      return Status::invalidModel("{}: weights for {} input channels, the input has {}", n.describe(), *wc, *c);
  } else {
    if (auto m = dimOf(w, 0); m && *m % group != 0)
      return Status::invalidModel("{}: group {} does not divide the {} output channels", n.describe(), group, *m);
    if (auto wc = dimOf(w, 1); wc && c && *wc * group != *c)
      return Status::invalidModel("{}: weights for {} x {} input channels, the input has {}", n.describe(), *wc,
                                  group, *c);
  }
  return Status::ok();
}

Status checkSemantics(const Node& n) {
  const std::string& op = n.opType();
  if (op == "Transpose") return checkTranspose(n);
  if (op == "Conv" || op == "ConvTranspose") {
    NPU_TRY(checkGroup(n));
    return checkWindow(n, n.operand(0), n.operand(1));
  }
  if (op == "ConvInteger") return checkWindow(n, n.operand(0), n.operand(1));
  if (op == "QLinearConv") return checkWindow(n, n.operand(0), n.operand(3));
  if (op == "MaxPool" || op == "AveragePool" || op == "LpPool") return checkWindow(n, n.operand(0), nullptr);
  if (op == "Gather" || op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") return checkAxis(n, rankOf(n.operand(0)));
  if (op == "Concat") {
    for (const Value* v : n.operands())
      if (auto r = rankOf(v)) return checkAxis(n, r);
  }
  return Status::ok();
}

Status checkGraph(const Graph& g, int64_t opset, bool useRegistry) {
  for (const Node* n : g.nodes()) {
    const bool onnxDomain = n->domain().empty() || n->domain() == "ai.onnx";
    if (onnxDomain) {
      if (useRegistry)
        if (const onnx::OpSchema* s = onnx::OpSchemaRegistry::Schema(n->opType(), static_cast<int>(opset)))
          NPU_TRY(checkAgainstSchema(*n, *s));
      NPU_TRY(checkSemantics(*n));
    }
    for (const Graph* sub : n->subgraphs())
      NPU_TRY(checkGraph(*sub, opset, useRegistry).in(n->describe() + ": subgraph \"" + sub->name() + "\""));
  }
  return Status::ok();
}

}  // namespace

Status checkNodeSchemas(const Model& m) {
  const int64_t opset = m.opsetVersion("");
  // A registry older than the model's opset would hold superseded schemas (ReduceMean's axes
  // moved from attribute to input in opset 18): trust only versions it knows.
  const auto& ranges = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  auto it = ranges.find(onnx::ONNX_DOMAIN);
  const bool useRegistry = it != ranges.end() && opset >= 1 && opset <= it->second.second;
  return checkGraph(*m.graph, opset, useRegistry);
}

}  // namespace npuconv
