// qdq_rules.cc - see qdq_rules.h. The op lists follow ONNX Runtime's QDQ quantizer (its
// registry of QDQ operators and "direct 8-bit" ops) restricted to what NPUs run in int8.
#include "quant/qdq_rules.h"

#include <set>
#include <string>

#include "passes/match.h"

namespace npuconv {
namespace {

// Quantized with their own output range.
const std::set<std::string, std::less<>> kComputeOps = {
    "Conv",     "ConvTranspose", "Gemm", "MatMul", "Add",       "Mul",  "Concat", "AveragePool", "GlobalAveragePool",
    "Resize",   "Sigmoid",       "HardSigmoid",    "HardSwish", "LeakyRelu",    "Tanh", "Relu", "Clip"};
// Data movement and max: the output holds input values (or nearest copies), so the input's
// scale is exact for it.
const std::set<std::string, std::less<>> kPassThroughOps = {"MaxPool", "Reshape", "Transpose", "Flatten", "Squeeze",
                                                            "Unsqueeze", "Slice", "Split", "Gather"};

bool isF32Constant(const Value* v) {
  TensorRef t = v ? m::constTensor(v) : nullptr;
  return t && t->dtype() == DType::F32;
}

// Ops whose result 0 has the element type of operand 0: a value without a recorded type (no
// shape inference ran) is float32 when the chain it comes from starts at a float32 value.
const std::set<std::string, std::less<>> kSameTypeOps = {
    "Conv",    "ConvTranspose", "Gemm",      "MatMul",   "Add",     "Sub",      "Mul",         "Div",
    "Concat",  "AveragePool",   "GlobalAveragePool",     "MaxPool", "Resize",   "Sigmoid",     "HardSigmoid",
    "HardSwish", "LeakyRelu",   "Tanh",      "Relu",     "Clip",    "Reshape",  "Transpose",   "Flatten",
    "Squeeze", "Unsqueeze",     "Slice",     "Split",    "Gather",  "BatchNormalization", "Softmax",
    "LayerNormalization",       "Gelu",      "Neg",      "Sqrt",    "Pow",      "Erf",         "Exp",
    "ReduceMean", "Pad",        "Identity",  "Dropout",  "Expand",  "Tile",     "Abs",         "PRelu",
    "InstanceNormalization",    "GlobalMaxPool", "Upsample", "DepthToSpace", "SpaceToDepth", "Where"};

bool isF32(const Value* v) {
  for (int depth = 0; v && depth < 256; ++depth) {
    if (TensorRef t = m::constTensor(v)) return t->dtype() == DType::F32;
    if (v->dtype() != DType::Undefined) return v->dtype() == DType::F32;
    const Node* p = v->producer();
    if (!p || !p->domain().empty()) return false;
    if (p->is("Cast")) return p->attrs().getInt("to", 0) == 1;  // TensorProto FLOAT
    if (!kSameTypeOps.count(p->opType())) return false;
    v = p->is("Where") ? p->operand(1) : p->operand(0);
  }
  return false;
}

/// The constant weight operand of a linear op, or null.
TensorRef weightOf(const Node& n) {
  if (!(n.is("Conv") || n.is("ConvTranspose") || n.is("Gemm") || n.is("MatMul"))) return nullptr;
  const Value* w = n.operand(1);
  if (!isF32Constant(w)) return nullptr;
  TensorRef t = m::constTensor(w);
  if (n.is("Conv") || n.is("ConvTranspose")) return t->rank() >= 3 ? t : nullptr;
  if (n.is("Gemm")) return t->rank() == 2 ? t : nullptr;
  return t->rank() >= 1 ? t : nullptr;
}

bool isNearestResize(const Node& n) { return n.attrs().getString("mode", "nearest") == "nearest"; }

}  // namespace

int64_t weightChannels(const Node& n) {
  TensorRef w = weightOf(n);
  if (!w) return -1;
  const auto& d = w->dims();
  if (n.is("Conv")) return d[0];
  if (n.is("ConvTranspose")) return d[1] * n.attrs().getInt("group", 1);
  if (n.is("Gemm")) return n.attrs().getInt("transB", 0) ? d[0] : d[1];
  return d.back();
}

std::vector<OperandRule> operandRules(const Node& n) {
  std::vector<OperandRule> r(n.numOperands());
  if (r.empty()) return r;
  const std::string& op = n.opType();
  if (op == "Add" || op == "Mul" || op == "Concat") {
    for (auto& x : r) x.role = OperandRole::Activation;
    return r;
  }
  r[0].role = OperandRole::Activation;
  if (!(op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul")) return r;
  TensorRef w = weightOf(n);
  if (r.size() > 1) {
    if (!w) {
      // MatMul / Gemm of two activations (attention): both quantized, no per-channel axis.
      r[1].role = OperandRole::Activation;
    } else {
      r[1].role = OperandRole::Weight;
      const int64_t rank = w->rank();
      if (op == "Conv") r[1].axis = 0;
      // ConvTranspose weights are [C_in, M/group, k...]: axis 1 is an output channel only
      // with one group.
      else if (op == "ConvTranspose") r[1].axis = n.attrs().getInt("group", 1) == 1 ? 1 : -1;
      else if (op == "Gemm") r[1].axis = n.attrs().getInt("transB", 0) ? 0 : 1;
      else r[1].axis = rank >= 2 ? rank - 1 : -1;
    }
  }
  if (r.size() > 2 && w && op != "MatMul") {
    const Value* b = n.operand(2);
    bool exact = op != "Gemm" || (n.attrs().getFloat("alpha", 1.0f) == 1.0f && n.attrs().getFloat("beta", 1.0f) == 1.0f);
    TensorRef bt = isF32Constant(b) ? m::constTensor(b) : nullptr;
    if (exact && bt && bt->rank() == 1 && bt->dims()[0] == weightChannels(n)) r[2].role = OperandRole::Bias;
  }
  return r;
}

QdqKind qdqKind(const Node& n) {
  if (!n.domain().empty() && n.domain() != "ai.onnx") return QdqKind::Float;
  const std::string& op = n.opType();
  if (n.numResults() == 0 || !n.result(0) || !isF32(n.result(0))) return QdqKind::Float;
  bool passThrough = kPassThroughOps.count(op) || (op == "Resize" && isNearestResize(n));
  if (passThrough) {
    if (!isF32(n.operand(0))) return QdqKind::Float;
    if (op == "MaxPool" && n.result(1)) return QdqKind::Float;  // Indices output
    if (op == "Gather" && m::isConstant(n.operand(0))) return QdqKind::Float;  // an embedding table
    for (const Value* r : n.results())
      if (r && !isF32(r)) return QdqKind::Float;
    return QdqKind::PassThrough;
  }
  if (!kComputeOps.count(op)) return QdqKind::Float;
  if (n.numResults() != 1) return QdqKind::Float;
  std::vector<OperandRule> rules = operandRules(n);
  for (size_t i = 0; i < rules.size(); ++i)
    if (rules[i].role == OperandRole::Activation && !isF32(n.operand(i))) return QdqKind::Float;
  // A linear op needs at least one operand that is not a constant.
  if ((op == "MatMul" || op == "Gemm") && m::isConstant(n.operand(0)) && m::isConstant(n.operand(1)))
    return QdqKind::Float;
  return QdqKind::Compute;
}

}  // namespace npuconv
