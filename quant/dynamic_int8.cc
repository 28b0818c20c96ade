// dynamic_int8.cc - int8-dynamic: the form ONNX Runtime's quantize_dynamic writes.
//
//   MatMul(A, B const)  ->  DynamicQuantizeLinear(A) -> (A_q u8, a_scale, a_zp)
//                           MatMulInteger(A_q, B_q, a_zp, b_zp) -> Cast(float)
//                           -> Mul(., Mul(a_scale, b_scale))
//   Gemm(A, B, C)       ->  the same on B' (transposed when transB, alpha folded into b_scale)
//                           -> Add(beta * C)
//   Conv(X, W const, b) ->  DynamicQuantizeLinear(X) -> ConvInteger(X_q, W_q, x_zp, w_zp)
//                           -> Cast -> Mul(a_scale * w_scale) -> Add(b as [M,1,..])
//
// A DynamicQuantizeLinear is shared by every quantized node reading the same activation (the
// Q/K/V projections of a transformer), as ORT does. Weights are symmetric (zero point 0 for int8,
// 128 for uint8), per tensor or per output channel (B's last axis, W's axis 0): the scales are
// applied by the float Mul after the integer product, so the integer op only sees one zero
// point and a scalar one is emitted; ONNX Runtime's ConvInteger/MatMulInteger kernels accept
// that on every version.
#include <map>
#include <utility>

#include "converter/ir/fusion_groups.h"
#include "passes/lower/upgrade_opset.h"
#include "quant/quant_math.h"
#include "quant/quantize.h"
#include "quant/weights_util.h"

namespace npuconv {
namespace {

struct DynamicInput {
  Value* q = nullptr;
  Value* scale = nullptr;
  Value* zeroPoint = nullptr;
};

class DynamicQuantizer {
 public:
  DynamicQuantizer(Graph& g, const QuantizeOptions& opt) : g_(g), opt_(opt) {}

  /// Rewrites `n` (MatMul, Gemm or Conv); returns why it was left in float, or empty.
  std::string rewrite(Node* n, nlohmann::ordered_json& entry);

 private:
  DynamicInput dynamicInput(Value* a, Node* before);
  Value* init(const std::string& base, TensorRef data) { return g_.addInitializer(g_.uniqueName(base), std::move(data)); }
  Node* node(std::string op, std::vector<Value*> in, Node* before, DType type, const std::optional<Shape>& shape,
             const std::string& resultBase);
  void finish(Node* original, Value* y);

  Graph& g_;
  const QuantizeOptions& opt_;
  std::map<const Value*, DynamicInput> inputs_;
};

TensorRef floatTensor(std::vector<int64_t> dims, const std::vector<float>& v) {
  return std::make_shared<const TensorData>(TensorData::fromValues(DType::F32, std::move(dims), std::span<const float>(v)));
}

/// The scalar zero point of a symmetric weight (all channels share it).
TensorRef weightZeroPoint(const QuantParams& p) {
  QuantParams scalar = p;
  scalar.axis = -1;
  scalar.zeroPoint.resize(1);
  return zeroPointTensor(scalar);
}

Node* DynamicQuantizer::node(std::string op, std::vector<Value*> in, Node* before, DType type,
                             const std::optional<Shape>& shape, const std::string& resultBase) {
  Node* n = g_.createNode(std::move(op), std::move(in), 1, before);
  n->setProvenance({});
  g_.renameValue(n->result(), g_.uniqueName(resultBase));
  n->result()->setType(wq::tensorType(type, shape));
  return n;
}

DynamicInput DynamicQuantizer::dynamicInput(Value* a, Node* before) {
  auto it = inputs_.find(a);
  if (it != inputs_.end()) return it->second;
  Node* d = g_.createNode("DynamicQuantizeLinear", {a}, 3, before);
  d->setProvenance({});
  DynamicInput in{d->result(0), d->result(1), d->result(2)};
  g_.renameValue(in.q, g_.uniqueName(a->name() + "_quantized"));
  g_.renameValue(in.scale, g_.uniqueName(a->name() + "_scale"));
  g_.renameValue(in.zeroPoint, g_.uniqueName(a->name() + "_zero_point"));
  in.q->setType(wq::tensorType(DType::U8, a->shape()));
  in.scale->setType(wq::tensorType(DType::F32, Shape{}));
  in.zeroPoint->setType(wq::tensorType(DType::U8, Shape{}));
  inputs_.emplace(a, in);
  return in;
}

void DynamicQuantizer::finish(Node* original, Value* y) {
  Value* out = original->result();
  y->mutableType() = out->type();
  wq::replaceKeepingName(g_, out, y);
  g_.eraseNode(original);
}

/// B' of a Gemm as [K, N] float values: transposed when transB.
std::vector<float> gemmWeight(const TensorData& b, bool transB, int64_t& k, int64_t& nOut) {
  std::vector<float> v = b.toFloats();
  k = b.dims()[0], nOut = b.dims()[1];
  if (!transB) return v;
  std::swap(k, nOut);
  std::vector<float> t(v.size());
  for (int64_t r = 0; r < nOut; ++r)
    for (int64_t c = 0; c < k; ++c) t[static_cast<size_t>(c * nOut + r)] = v[static_cast<size_t>(r * k + c)];
  return t;
}

std::string DynamicQuantizer::rewrite(Node* n, nlohmann::ordered_json& entry) {
  Value* a = n->operand(0);
  Value* w = n->operand(1);
  TensorRef wData = wq::constantTensor(w);
  if (!wData || wData->dtype() != DType::F32 || w->graph() != &g_) return "weight is not a float32 constant of this graph";
  // An undeclared input type is float32: the op's operands share the weight's type.
  if (!a || (a->dtype() != DType::F32 && a->dtype() != DType::Undefined)) return "input is not float32";
  const bool isConv = n->is("Conv"), isGemm = n->is("Gemm");
  const std::string base = n->name().empty() ? w->name() : n->name();

  // The weight as the integer op reads it, its per-channel axis, and the float bias added after.
  TensorRef weight = wData;
  int64_t axis = -1;
  float alpha = 1.0f;
  TensorRef bias;
  std::vector<int64_t> biasDims;
  if (isConv) {
    if (wData->rank() < 3) return "weight rank below 3";
    if (n->operand(2)) {
      bias = wq::constantTensor(n->operand(2));
      if (!bias || bias->dtype() != DType::F32) return "bias is not a float32 constant";
      biasDims.assign(static_cast<size_t>(wData->rank() - 1), 1);
      biasDims[0] = bias->numElements();
    }
    axis = 0;
  } else if (isGemm) {
    if (n->attrs().getInt("transA", 0)) return "Gemm with transA";
    if (wData->rank() != 2) return "Gemm weight is not 2-D";
    alpha = n->attrs().getFloat("alpha", 1.0f);
    int64_t k = 0, nOut = 0;
    std::vector<float> b = gemmWeight(*wData, n->attrs().getInt("transB", 0) != 0, k, nOut);
    weight = floatTensor({k, nOut}, b);
    if (Value* c = n->operand(2)) {
      bias = wq::constantTensor(c);
      if (!bias || bias->dtype() != DType::F32) return "Gemm C is not a float32 constant";
      float beta = n->attrs().getFloat("beta", 1.0f);
      std::vector<float> cv = bias->toFloats();
      for (float& x : cv) x *= beta;
      biasDims = bias->dims();
      bias = floatTensor(biasDims, cv);
    }
    axis = 1;
  } else {
    if (wData->rank() != 2) return "MatMul weight is not 2-D";
    axis = 1;
  }
  if (!opt_.perChannel) axis = -1;

  QuantizedTensor q = quantizeWeight(*weight, axis, opt_.weightType, opt_.reduceRange);
  wData->releasePages();  // read once: its mapped pages need not stay resident (a 2 GiB model)
  std::vector<float> scales = q.params.scale;
  for (float& s : scales) s *= alpha;
  std::vector<int64_t> scaleDims;
  if (axis >= 0) {
    scaleDims = {static_cast<int64_t>(scales.size())};
    if (isConv) scaleDims.resize(static_cast<size_t>(wData->rank() - 1), 1);  // [M,1,..]: broadcast over N,M,H,W
  }

  DynamicInput in = dynamicInput(a, n);
  Value* wq = init(w->name() + "_quantized", q.data);
  Value* wZp = init(w->name() + "_zero_point", weightZeroPoint(q.params));
  Value* wScale = init(w->name() + "_scale", floatTensor(scaleDims, scales));
  const std::optional<Shape>& outShape = n->result()->shape();

  Node* integer = node(isConv ? "ConvInteger" : "MatMulInteger", {in.q, wq, in.zeroPoint, wZp}, n, DType::I32, outShape,
                       base + "_output_quantized");
  integer->setName(g_.freshNodeName(base + "_quant"));
  integer->setProvenance(n->provenance());
  if (isConv)
    for (const Attribute& at : n->attrs().all()) integer->mutableAttrs().set(at);
  Node* cast = node("Cast", {integer->result()}, n, DType::F32, outShape, base + "_output_cast");
  cast->mutableAttrs().set<int64_t>("to", static_cast<int64_t>(DType::F32));
  std::optional<Shape> scaleShape = shapeOf(scaleDims);
  Node* scalesMul = node("Mul", {in.scale, wScale}, n, DType::F32, scaleShape, base + "_scales_mul");
  Node* y = node("Mul", {cast->result(), scalesMul->result()}, n, DType::F32, outShape, base + "_output_scaled");
  if (bias) {
    Value* b = init((n->operand(2) ? n->operand(2)->name() : base) + "_bias",
                    std::make_shared<const TensorData>(TensorData(DType::F32, biasDims, bias->buffer())));
    y = node("Add", {y->result(), b}, n, DType::F32, outShape, base + "_output_biased");
  }
  entry["precision"] = "int8-dynamic";
  entry["weight"] = w->name();
  entry["weight_type"] = dtypeName(opt_.weightType);
  entry["axis"] = axis;
  entry["channels"] = static_cast<int64_t>(scales.size());
  finish(n, y->result());
  return {};
}

}  // namespace

Status quantizeDynamic(Model& m, const QuantizeOptions& opt, QuantizeReport& report) {
  if (opt.weightType != DType::I8 && opt.weightType != DType::U8)
    return Status::invalidArgument("int8-dynamic: weight type {} (int8 or uint8)", dtypeName(opt.weightType));
  NPU_TRY(upgradeOpset(m, 11).in("int8-dynamic (DynamicQuantizeLinear needs opset 11)"));
  std::vector<std::string> rewritten;
  for (Graph* g : wq::allGraphs(m)) {
    DynamicQuantizer dq(*g, opt);
    for (Node* n : g->nodeList()) {
      if (!n->is("MatMul") && !n->is("Gemm") && !n->is("Conv")) continue;
      nlohmann::ordered_json entry = {{"node", wq::reportKey(*n)}, {"op", n->opType()}};
      std::string name = n->name();
      std::string why = wq::isExcluded(*n, opt) ? "excluded" : dq.rewrite(n, entry);
      if (!why.empty()) {
        entry["precision"] = "fp32";
        entry["reason"] = why;
      } else {
        rewritten.push_back(name);
      }
      report.nodes.push_back(std::move(entry));
    }
    wq::eraseUnusedConstants(*g);
  }
  dropFusionGroupsNaming(m, rewritten);
  return Status::ok();
}

}  // namespace npuconv
