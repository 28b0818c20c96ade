// fp16_dtypes.cc - see fp16_dtypes.h.
#include "quant/fp16_dtypes.h"

#include <set>
#include <string>

namespace npuconv {
namespace {

DType operandType(const Node* n, size_t i) { return n->operand(i) ? n->operand(i)->dtype() : DType::Undefined; }

DType attrTensorType(const Node* n, const char* name, DType def) {
  auto t = n->attrs().get<TensorRef>(name);
  return t && *t ? (*t)->dtype() : def;
}

DType resultType(const Node* n, size_t r) {
  static const std::set<std::string> kInt64 = {"Shape", "Size", "ArgMax", "ArgMin", "NonZero", "NonMaxSuppression"};
  static const std::set<std::string> kBool = {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And",
                                              "Or", "Xor", "Not", "IsNaN", "IsInf"};
  // ONNX Runtime's com.microsoft Q/DQ (16-bit activations before opset 21) follow ONNX's rules:
  // an int16 layer's DequantizeLinear feeding an fp16 layer must be known float32 to get its Cast.
  if (n->isQdq("DequantizeLinear")) return DType::F32;
  if (n->isQdq("QuantizeLinear")) return n->operand(2) ? operandType(n, 2) : DType::U8;
  if (!n->domain().empty()) return DType::Undefined;
  const std::string& op = n->opType();
  if (kInt64.count(op)) return DType::I64;
  if (kBool.count(op)) return DType::Bool;
  if (op == "Cast") return dtypeFromCode(static_cast<int32_t>(n->attrs().getInt("to", 0))).value_or(DType::Undefined);
  if (op == "CastLike") return operandType(n, 1);
  if (op == "Constant") return attrTensorType(n, "value", DType::Undefined);
  if (op == "ConstantOfShape") return attrTensorType(n, "value", DType::F32);
  if (op == "DequantizeLinear") return DType::F32;
  if (op == "QuantizeLinear") return n->operand(2) ? operandType(n, 2) : DType::U8;
  if (op == "DynamicQuantizeLinear") return r == 1 ? DType::F32 : DType::U8;
  if (op == "MatMulInteger" || op == "ConvInteger") return DType::I32;
  if (op == "TopK") return r == 1 ? DType::I64 : operandType(n, 0);
  if (op == "MaxPool" && r == 1) return DType::I64;
  if (op == "Where") return operandType(n, 1);
  if (op == "OneHot") return operandType(n, 2);
  if (op == "If" || op == "Loop" || op == "Scan") {
    std::vector<Graph*> subs = n->subgraphs();
    if (subs.empty()) return DType::Undefined;
    const auto& outs = subs[0]->outputs();
    size_t index = op == "Loop" ? r + 1 : r;  // a Loop body's first output is the condition
    return index < outs.size() ? outs[index]->dtype() : DType::Undefined;
  }
  if (op == "RandomNormal" || op == "RandomUniform" || op == "EyeLike" || op == "RandomNormalLike" ||
      op == "RandomUniformLike" || op == "Multinomial")
    return DType::Undefined;  // dtype attributes: declared types only
  if (op == "Dropout" && r == 1) return DType::Bool;
  // Elementwise, MatMul, Conv, normalizations, data movement: the type of the first operand.
  return operandType(n, 0);
}

void inferGraph(Graph& g) {
  for (Node* n : g.nodes()) {
    for (Graph* sub : n->subgraphs()) inferGraph(*sub);
    for (size_t r = 0; r < n->numResults(); ++r) {
      Value* v = n->result(r);
      if (!v || v->dtype() != DType::Undefined || !v->type().isTensor()) continue;
      v->mutableType().dtype = resultType(n, r);
    }
  }
}

}  // namespace

void inferUndeclaredDtypes(Model& m) { inferGraph(*m.graph); }

}  // namespace npuconv
