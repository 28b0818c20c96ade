// target_profile.cc - placement of graph nodes on a target's NPU or the CPU.
//
// Each node gets the first failing check, in this order: op listed by the target; compute type
// (an int8-only target rejects float ops); static shapes; tensor rank; then the op's own
// constraints (kernel, stride, dilation, pads, groups, channels, batch, broadcast, constant
// weights, attribute values). Last, on a single-segment target, a node that depends on a CPU
// node moves to the CPU too.
//
// Types and dynamism of values the IR leaves unknown (no shape inference yet) are propagated
// in node order from the operands: a value produced by DequantizeLinear, or carrying quant
// params, counts as its quantized storage type.
#include "converter/target/target_profile.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <unordered_map>

namespace npuconv {

const char* groupSupportName(GroupSupport g) {
  switch (g) {
    case GroupSupport::None: return "none";
    case GroupSupport::Depthwise: return "depthwise";
    case GroupSupport::Any: return "any";
  }
  return "any";
}

const char* broadcastSupportName(BroadcastSupport b) {
  switch (b) {
    case BroadcastSupport::None: return "none";
    case BroadcastSupport::Channel: return "channel";
    case BroadcastSupport::Full: return "full";
  }
  return "full";
}

const OpConstraints* TargetProfile::findOp(const std::string& domain, const std::string& opType) const {
  const std::string d = domain == "ai.onnx" ? std::string() : domain;
  for (const OpConstraints& c : ops)
    if (c.opType == opType && c.domain == d) return &c;
  return nullptr;
}

std::vector<DType> TargetProfile::computeTypes() const {
  std::vector<DType> t;
  if (quantization.int8()) t.insert(t.end(), {DType::I8, DType::U8});
  if (quantization.int16Activations) t.insert(t.end(), {DType::I16, DType::U16});
  if (quantization.fp16) t.push_back(DType::F16);
  if (quantization.floatCompute()) t.push_back(DType::F32);  // fp32 models run in fp16 on fp16 NPUs
  return t;
}

namespace {

std::string dimsText(const std::vector<int64_t>& d) {
  std::string s;
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "x" : "") + std::to_string(d[i]);
  return s;
}

std::string repeatText(int64_t v, size_t n) { return dimsText(std::vector<int64_t>(std::max<size_t>(n, 1), v)); }

std::string listText(const std::vector<int64_t>& d) {
  std::string s;
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s;
}

bool isElementwiseBinary(const Node& n) {
  static const std::set<std::string> kOps = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean", "Sum",
                                             "PRelu", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual",
                                             "And", "Or", "Xor", "Mod", "BitShift", "Where"};
  return n.domain().empty() && kOps.count(n.opType());
}

bool isConvLike(const Node& n) {
  return n.is("Conv") || n.is("ConvTranspose") || n.is("ConvInteger") || n.is("QLinearConv");
}

/// The weight operand of a conv-like or matrix op.
const Value* weightOperand(const Node& n) {
  if (n.is("QLinearConv") || n.is("QLinearMatMul")) return n.operand(3);
  if (isConvLike(n) || n.is("Gemm") || n.is("MatMul") || n.is("MatMulInteger")) return n.operand(1);
  return nullptr;
}

/// Operand index from which on an op's inputs are shapes, sizes or axes (must be constant for
/// the result shape to be static); -1 when none.
int shapeOperandStart(const Node& n) {
  static const std::unordered_map<std::string, int> kOps = {
      {"Reshape", 1}, {"Expand", 1},    {"Tile", 1},     {"ConstantOfShape", 0}, {"Range", 0},
      {"Slice", 1},   {"Pad", 1},       {"Resize", 1},   {"Upsample", 1},        {"TopK", 1},
      {"OneHot", 1},  {"Squeeze", 1},   {"Unsqueeze", 1}, {"Split", 1},          {"ReduceSum", 1},
      {"ReduceMean", 1}, {"ReduceMax", 1}, {"ReduceMin", 1}, {"ReduceProd", 1}, {"CenterCropPad", 1}};
  if (!n.domain().empty()) return -1;
  auto it = kOps.find(n.opType());
  return it == kOps.end() ? -1 : it->second;
}

bool dataDependentShape(const Node& n) {
  return n.is("NonZero") || n.is("Unique") || n.is("Compress") || n.is("NonMaxSuppression");
}

/// Facts about values, computed once in node order.
class ValueFacts {
 public:
  explicit ValueFacts(const Graph& g) {
    for (const Value* v : g.inputs()) {
      dtype_[v] = declared(v);
      if (!v->isInitializer() && !v->type().hasStaticShape())
        dynamic_[v] = fmt::format("graph input '{}' {}", v->name(), v->type().shape ? shapeToString(*v->type().shape) : "[*]");
    }
    for (const Value* v : g.initializers()) dtype_[v] = declared(v);
    for (const Node* n : g.nodes()) visit(*n);
  }

  /// The element type a value carries on the device (quantized storage type when quantized).
  DType dtype(const Value* v) const {
    if (!v) return DType::Undefined;
    auto it = dtype_.find(v);
    return it != dtype_.end() ? it->second : declared(v);
  }
  /// Why a value's shape is not static (empty when it is, or when unknown and not derived
  /// from anything dynamic).
  std::string dynamicOrigin(const Value* v) const {
    auto it = dynamic_.find(v);
    return it == dynamic_.end() ? std::string() : it->second;
  }

  static bool isConstant(const Value* v) {
    for (int depth = 0; v && depth < 8; ++depth) {
      if (v->isInitializer()) return true;
      const Node* p = v->producer();
      if (!p) return false;
      if (p->is("Constant")) return true;
      if (!(p->isQdq("DequantizeLinear") || p->is("Identity") || p->is("Cast"))) return false;
      v = p->operand(0);
    }
    return false;
  }

  /// Static dims of a value: its declared shape, or those of the constant it comes from.
  static std::optional<std::vector<int64_t>> staticShape(const Value* v) {
    for (int depth = 0; v && depth < 8; ++depth) {
      if (v->isInitializer()) return v->initializer()->dims();
      if (v->type().hasStaticShape()) return staticDims(*v->type().shape);
      const Node* p = v->producer();
      if (!p) return std::nullopt;
      if (p->is("Constant")) {
        if (auto t = p->attrs().get<TensorRef>("value"); t && *t) return (*t)->dims();
        return std::nullopt;
      }
      if (!(p->isQdq("DequantizeLinear") || p->is("Identity") || p->is("Cast"))) return std::nullopt;
      v = p->operand(0);
    }
    return std::nullopt;
  }

  /// Known rank of a value, or nullopt.
  static std::optional<size_t> rank(const Value* v) {
    if (v->type().shape) return v->type().shape->size();
    if (auto s = staticShape(v)) return s->size();
    return std::nullopt;
  }

 private:
  static DType declared(const Value* v) { return v->dtype(); }

  void visit(const Node& n) {
    // Element types of the results.
    DType in = DType::Undefined;
    for (const Value* v : n.operands())
      if (v && dtype(v) != DType::Bool) {
        in = dtype(v);
        break;
      }
    if (in == DType::Undefined && n.operand(0)) in = dtype(n.operand(0));
    for (size_t i = 0; i < n.numResults(); ++i) {
      const Value* r = n.result(i);
      if (!r) continue;
      DType t = declared(r);
      if (n.isQdq("DequantizeLinear")) {
        t = dtype(n.operand(0));  // a dequantized value is still quantized data on the device
      } else if (t == DType::Undefined) {
        if (n.is("Shape") || n.is("Size") || n.is("ArgMax") || n.is("ArgMin") || n.is("NonZero"))
          t = DType::I64;
        else if (n.is("Equal") || n.is("Less") || n.is("Greater") || n.is("LessOrEqual") ||
                 n.is("GreaterOrEqual") || n.is("Not") || n.is("And") || n.is("Or") || n.is("Xor") ||
                 n.is("IsNaN") || n.is("IsInf"))
          t = DType::Bool;
        else if (n.is("Cast"))
          t = dtypeFromCode(static_cast<int32_t>(n.attrs().getInt("to", 0))).value_or(DType::Undefined);
        else if (n.isQdq("QuantizeLinear"))
          t = n.operand(2) ? dtype(n.operand(2)) : DType::U8;
        else if (n.is("TopK") && i == 1)
          t = DType::I64;
        else
          t = in;
      }
      dtype_[r] = t;
    }
    // Dynamism of the results.
    std::string inherited;
    for (const Value* v : n.operands())
      if (v && inherited.empty()) inherited = dynamicOrigin(v);
    if (inherited.empty() && dataDependentShape(n))
      inherited = fmt::format("the output shape of node '{}' ({}) depends on data", n.name(), n.opType());
    if (int start = shapeOperandStart(n); inherited.empty() && start >= 0)
      for (size_t i = static_cast<size_t>(start); i < n.numOperands(); ++i)
        if (const Value* v = n.operand(i); v && !isConstant(v)) {
          inherited = fmt::format("node '{}' ({}) takes its shape from non-constant '{}'", n.name(), n.opType(), v->name());
          break;
        }
    for (const Value* r : n.results()) {
      if (!r) continue;
      if (r->type().shape) {
        if (!isStaticShape(*r->type().shape))
          dynamic_[r] = fmt::format("'{}' {}", r->name(), shapeToString(*r->type().shape));
      } else if (!inherited.empty()) {
        dynamic_[r] = inherited;
      }
    }
  }

  std::unordered_map<const Value*, DType> dtype_;
  std::unordered_map<const Value*, std::string> dynamic_;
};

std::string dtypesText(const std::vector<DType>& ts) {
  std::string s;
  for (size_t i = 0; i < ts.size(); ++i) s += (i ? ", " : "") + std::string(dtypeName(ts[i]));
  return s;
}

/// The element type the node computes in: its first non-bool data operand's, or its result's.
DType computeType(const Node& n, const ValueFacts& f) {
  if (n.isQdq("QuantizeLinear") && n.result(0)) return f.dtype(n.result(0));
  for (const Value* v : n.operands())
    if (v && f.dtype(v) != DType::Bool) return f.dtype(v);
  if (n.operand(0)) return f.dtype(n.operand(0));
  return n.result(0) ? f.dtype(n.result(0)) : DType::Undefined;
}

std::string checkDType(const Node& n, const TargetProfile& p, const OpConstraints& c, const ValueFacts& f) {
  DType t = computeType(n, f);
  if (t == DType::Undefined) return {};
  const std::vector<DType> allowed = c.dtypes.empty() ? p.computeTypes() : c.dtypes;
  if (std::find(allowed.begin(), allowed.end(), t) != allowed.end()) return {};
  if (isFloat(t) && !p.quantization.floatCompute())
    return fmt::format("int8-only target: float op ({})", dtypeName(t));
  if ((t == DType::I16 || t == DType::U16) && !p.quantization.int16Activations)
    return "int16 activations not supported by the target";
  return fmt::format("dtype {} not supported for {} (allowed: {})", dtypeName(t), n.opType(), dtypesText(allowed));
}

std::string checkShapes(const Node& n, const TargetProfile& p, const OpConstraints& c, const ValueFacts& f) {
  auto describe = [](const Value* v, bool input, const std::string& origin) {
    // The origin names the value itself when its own declared shape is dynamic.
    bool self = v->isGraphInput() || origin.rfind("'" + v->name() + "'", 0) == 0;
    std::string shape = v->type().shape ? shapeToString(*v->type().shape) : "[*]";
    return fmt::format("dynamic shape on {} '{}' {}", input ? "input" : "output", v->name(),
                       self ? shape : fmt::format("(from {})", origin));
  };
  if (p.requiresStaticShapes) {
    for (const Value* v : n.operands())
      if (v)
        if (std::string o = f.dynamicOrigin(v); !o.empty()) return describe(v, true, o);
    for (const Value* v : n.results())
      if (v)
        if (std::string o = f.dynamicOrigin(v); !o.empty()) return describe(v, false, o);
  }
  std::optional<int64_t> maxRank = c.maxRank ? c.maxRank : p.maxRank;
  auto checkTensor = [&](const Value* v, bool input) -> std::string {
    if (!v) return {};
    auto r = ValueFacts::rank(v);
    if (maxRank && r && static_cast<int64_t>(*r) > *maxRank)
      return fmt::format("rank {} of {} '{}' exceeds max {}", *r, input ? "input" : "output", v->name(), *maxRank);
    if (p.maxInnermostDims && !ValueFacts::isConstant(v) && v->type().shape) {
      const Shape& s = *v->type().shape;
      int64_t outer = static_cast<int64_t>(s.size()) - *p.maxInnermostDims;
      for (int64_t i = 0; i < outer; ++i)
        if (s[i].isStatic() && s[i].value() > 1)
          return fmt::format("tensor '{}' {}: only the {} innermost dimensions may exceed 1", v->name(),
                             shapeToString(s), *p.maxInnermostDims);
    }
    return {};
  };
  for (const Value* v : n.operands())
    if (std::string r = checkTensor(v, true); !r.empty()) return r;
  for (const Value* v : n.results())
    if (std::string r = checkTensor(v, false); !r.empty()) return r;
  return {};
}

/// Spatial kernel dims of a conv or pool, when known.
std::optional<std::vector<int64_t>> kernelOf(const Node& n) {
  if (auto k = n.attrs().get<std::vector<int64_t>>("kernel_shape")) return *k;
  if (isConvLike(n))
    if (auto w = ValueFacts::staticShape(weightOperand(n)); w && w->size() > 2)
      return std::vector<int64_t>(w->begin() + 2, w->end());
  return std::nullopt;
}

std::string checkWindow(const Node& n, const OpConstraints& c) {
  if (auto k = kernelOf(n)) {
    for (int64_t d : *k) {
      if (c.maxKernel && d > *c.maxKernel)
        return fmt::format("kernel {} exceeds max {}", dimsText(*k), repeatText(*c.maxKernel, k->size()));
      if (!c.kernelSizes.empty() && std::find(c.kernelSizes.begin(), c.kernelSizes.end(), d) == c.kernelSizes.end())
        return fmt::format("kernel {} not supported (allowed sizes: {})", dimsText(*k), listText(c.kernelSizes));
    }
  }
  if (auto s = n.attrs().get<std::vector<int64_t>>("strides"); s && c.maxStride)
    for (int64_t d : *s)
      if (d > *c.maxStride) return fmt::format("stride {} exceeds max {}", dimsText(*s), repeatText(*c.maxStride, s->size()));
  if (auto d = n.attrs().get<std::vector<int64_t>>("dilations")) {
    bool dilated = std::any_of(d->begin(), d->end(), [](int64_t x) { return x != 1; });
    if (dilated && !c.dilationAllowed) return fmt::format("dilation {} not supported", dimsText(*d));
    if (c.maxDilation)
      for (int64_t x : *d)
        if (x > *c.maxDilation)
          return fmt::format("dilation {} exceeds max {}", dimsText(*d), repeatText(*c.maxDilation, d->size()));
  }
  if (auto pads = n.attrs().get<std::vector<int64_t>>("pads"); pads && c.maxPad)
    for (int64_t x : *pads)
      if (x > *c.maxPad) return fmt::format("pad {} exceeds max {} (pads {})", x, *c.maxPad, listText(*pads));
  return {};
}

std::string checkChannels(const Node& n, const OpConstraints& c) {
  const Value* data = n.operand(0);
  if (isConvLike(n)) {
    auto w = ValueFacts::staticShape(weightOperand(n));
    if (!w || w->size() < 3) return {};
    int64_t g = n.attrs().getInt("group", 1);
    bool transpose = n.is("ConvTranspose");
    int64_t cin = transpose ? (*w)[0] : (*w)[1] * g;
    int64_t cout = transpose ? (*w)[1] * g : (*w)[0];
    bool depthwise = g > 1 && !transpose && (*w)[1] == 1;
    if (g > 1) {
      if (c.groups == GroupSupport::None)
        return fmt::format("{} convolution (group={}) not supported", depthwise ? "depthwise" : "grouped", g);
      if (c.groups == GroupSupport::Depthwise && !depthwise)
        return fmt::format("grouped convolution (group={}, {} input channels per group) not supported; only depthwise",
                           g, cin / g);
      if (depthwise && c.maxDepthMultiplier && cout / g > *c.maxDepthMultiplier)
        return fmt::format("depthwise channel multiplier {} exceeds max {}", cout / g, *c.maxDepthMultiplier);
    }
    if (c.maxChannels && cin > *c.maxChannels)
      return fmt::format("input channels {} exceed max {}", cin, *c.maxChannels);
    if (c.maxChannels && cout > *c.maxChannels)
      return fmt::format("output channels {} exceed max {}", cout, *c.maxChannels);
  } else if (c.maxChannels && data && data->type().shape && data->type().shape->size() >= 2) {
    const Dim& d = (*data->type().shape)[1];
    if (d.isStatic() && d.value() > *c.maxChannels)
      return fmt::format("channels {} of input '{}' exceed max {}", d.value(), data->name(), *c.maxChannels);
  }
  if (c.maxBatch && data)
    if (auto s = ValueFacts::staticShape(data); s && !s->empty() && (*s)[0] > *c.maxBatch)
      return fmt::format("batch {} exceeds max {}", (*s)[0], *c.maxBatch);
  return {};
}

/// The broadcast an element-wise node needs; nullopt when a shape is unknown.
std::optional<BroadcastSupport> neededBroadcast(const Node& n, std::string* which, std::string* shapes) {
  std::vector<std::vector<int64_t>> in;
  std::vector<const Value*> vals;
  for (const Value* v : n.operands()) {
    if (!v) continue;
    auto s = ValueFacts::staticShape(v);
    if (!s) return std::nullopt;
    in.push_back(*s);
    vals.push_back(v);
  }
  if (in.size() < 2) return BroadcastSupport::None;
  size_t rank = 0;
  for (const auto& s : in) rank = std::max(rank, s.size());
  std::vector<int64_t> out(rank, 1);
  for (const auto& s : in)
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t& o = out[rank - s.size() + i];
      if (s[i] != 1) o = s[i];
    }
  BroadcastSupport need = BroadcastSupport::None;
  for (size_t k = 0; k < in.size(); ++k) {
    std::vector<int64_t> a(rank - in[k].size(), 1);
    a.insert(a.end(), in[k].begin(), in[k].end());
    if (a == out && in[k].size() == rank) continue;
    BroadcastSupport here = BroadcastSupport::Full;
    const bool scalar = checkedElementCount(a) == 1;  // declared dims: a plain product may overflow
    std::vector<size_t> varying;
    for (size_t i = 0; i < rank; ++i)
      if (a[i] != 1) varying.push_back(i);
    if (scalar || a == out) {
      here = a == out ? BroadcastSupport::None : BroadcastSupport::Channel;  // scalar, or rank-only
    } else if (varying.size() == 1 && (varying[0] == 1 || varying[0] == rank - 1) && a[varying[0]] == out[varying[0]]) {
      here = BroadcastSupport::Channel;
    }
    if (static_cast<int>(here) > static_cast<int>(need)) {
      need = here;
      *which = vals[k]->name();
      *shapes = fmt::format("[{}] to [{}]", listText(in[k]), listText(out));
    }
  }
  return need;
}

std::string checkOpSpecific(const Node& n, const OpConstraints& c) {
  if (std::string r = checkWindow(n, c); !r.empty()) return r;
  if (std::string r = checkChannels(n, c); !r.empty()) return r;
  if (c.broadcast != BroadcastSupport::Full && isElementwiseBinary(n)) {
    std::string which, shapes;
    auto need = neededBroadcast(n, &which, &shapes);
    if (need && static_cast<int>(*need) > static_cast<int>(c.broadcast))
      return fmt::format("{} broadcast of '{}' {} not supported (target allows {})", broadcastSupportName(*need), which,
                         shapes, broadcastSupportName(c.broadcast));
  }
  if (c.constantWeights)
    if (const Value* w = weightOperand(n); w && !ValueFacts::isConstant(w))
      return fmt::format("weights '{}' are not constant", w->name());
  for (const auto& [attr, allowed] : c.attrValues) {
    const Attribute* a = n.attrs().find(attr);
    if (!a) continue;
    std::string value;
    if (const int64_t* i = std::get_if<int64_t>(&a->value)) value = std::to_string(*i);
    else if (const std::string* s = std::get_if<std::string>(&a->value)) value = *s;
    else continue;
    if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
      std::string list;
      for (size_t i = 0; i < allowed.size(); ++i) list += (i ? ", " : "") + allowed[i];
      return fmt::format("attribute {}={} not supported (allowed: {})", attr, value, list);
    }
  }
  return {};
}

bool perChannelWeights(const Node& n) {
  const Value* w = weightOperand(n);
  if (!w) return false;
  if (const Node* p = w->producer(); p && p->isQdq("DequantizeLinear"))
    if (auto s = ValueFacts::staticShape(p->operand(1))) {
      std::optional<int64_t> e = checkedElementCount(*s);
      return !e || *e > 1;
    }
  return false;
}

std::string placeOne(const Node& n, const TargetProfile& p, const ValueFacts& f) {
  // Constants are baked into the model; dequantized weights fold into their consumer.
  if (n.is("Constant")) return {};
  if (n.isQdq("DequantizeLinear") && ValueFacts::isConstant(n.operand(0)) && p.quantization.int8()) return {};
  // ONNX Runtime's com.microsoft Q/DQ are the 16-bit form of ONNX's: the same device op.
  const bool qdq = n.isQdq("QuantizeLinear") || n.isQdq("DequantizeLinear");
  const OpConstraints* c = p.findOp(qdq ? std::string() : n.domain(), n.opType());
  if (!c) return "op not supported by target";
  if (std::string r = checkDType(n, p, *c, f); !r.empty()) return r;
  if (std::string r = checkShapes(n, p, *c, f); !r.empty()) return r;
  if (std::string r = checkOpSpecific(n, *c); !r.empty()) return r;
  if (!p.quantization.perChannelWeights && perChannelWeights(n)) return "per-channel weight quantization not supported";
  return {};
}

}  // namespace

std::vector<NodePlacement> placeNodes(const Graph& g, const TargetProfile& profile) {
  ValueFacts facts(g);
  std::vector<NodePlacement> out;
  std::unordered_map<const Value*, std::string> cpuOrigin;  // single segment: value -> CPU node
  for (const Node* n : g.nodes()) {
    NodePlacement pl;
    pl.name = n->name();
    pl.opType = n->opType();
    pl.domain = n->domain();
    pl.originalNames = n->provenance();
    pl.reason = placeOne(*n, profile, facts);
    if (pl.reason.empty() && profile.singleNpuSegment)
      for (const Value* v : n->operands())
        if (auto it = cpuOrigin.find(v); v && it != cpuOrigin.end()) {
          pl.reason = fmt::format("after CPU node '{}' (the target runs one NPU segment)", it->second);
          break;
        }
    pl.onNpu = pl.reason.empty();
    if (!pl.onNpu && profile.singleNpuSegment) {
      std::string origin = n->name();
      for (const Value* v : n->operands())
        if (auto it = cpuOrigin.find(v); v && it != cpuOrigin.end()) origin = it->second;
      for (const Value* r : n->results())
        if (r) cpuOrigin[r] = origin;
    }
    out.push_back(std::move(pl));
  }
  return out;
}

std::vector<OpPlacementSummary> summarizePlacement(const std::vector<NodePlacement>& placement) {
  std::map<std::string, OpPlacementSummary> byOp;
  for (const NodePlacement& p : placement) {
    std::string key = p.domain.empty() || p.domain == "ai.onnx" ? p.opType : p.domain + ":" + p.opType;
    OpPlacementSummary& s = byOp[key];
    s.opType = key;
    if (p.onNpu) {
      ++s.onNpu;
    } else {
      ++s.onCpu;
      if (std::find(s.reasons.begin(), s.reasons.end(), p.reason) == s.reasons.end()) s.reasons.push_back(p.reason);
    }
  }
  std::vector<OpPlacementSummary> out;
  for (auto& [k, s] : byOp) out.push_back(std::move(s));
  return out;
}

}  // namespace npuconv
