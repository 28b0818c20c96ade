// weights_only.cc - int8-weights: the constant weights of MatMul, Gemm, Conv and ConvTranspose
// stored as int8 initializers behind a DequantizeLinear; activations and every op stay float.
//
// The model shrinks about 4x and any runtime runs it (DequantizeLinear is plain ONNX); a runtime
// that fuses DQ -> MatMul/Conv can keep the weights in int8. Weights are symmetric (zero point 0)
// per output channel, which needs DequantizeLinear's `axis` (opset 13): when the model's opset
// cannot be raised to 13 without changing other ops, the weights fall back to per tensor and the
// report says so.
#include <map>
#include <utility>

#include "passes/lower/upgrade_opset.h"
#include "quant/quant_math.h"
#include "quant/quantize.h"
#include "quant/weights_util.h"

namespace npuconv {
namespace {

bool hasWeight(const Node& n) {
  return n.is("MatMul") || n.is("Gemm") || n.is("Conv") || n.is("ConvTranspose");
}

/// DequantizeLinear(int8 weight, scale, zero point) before `user`, its result named after the weight.
Value* dequantizedWeight(Graph& g, const Value* w, const TensorData& data, int64_t axis, const QuantizeOptions& opt,
                         Node* user) {
  QuantizedTensor q = quantizeWeight(data, axis, opt.weightType, opt.reduceRange);
  Value* qv = g.addInitializer(g.uniqueName(w->name() + "_quantized"), q.data);
  Value* scale = g.addInitializer(g.uniqueName(w->name() + "_scale"), scaleTensor(q.params));
  Value* zp = g.addInitializer(g.uniqueName(w->name() + "_zero_point"), zeroPointTensor(q.params));
  Node* dq = g.createNode("DequantizeLinear", {qv, scale, zp}, 1, user);
  dq->setProvenance({});  // generated: provenance holds original ONNX names only
  if (axis >= 0) dq->mutableAttrs().set<int64_t>("axis", axis);
  Value* out = dq->result();
  g.renameValue(out, g.uniqueName(w->name() + "_dequantized"));
  out->setType(wq::tensorType(DType::F32, shapeOf(data.dims())));
  return out;
}

}  // namespace

Status quantizeWeightsOnly(Model& m, const QuantizeOptions& opt, QuantizeReport& report) {
  if (opt.weightType != DType::I8 && opt.weightType != DType::U8)
    return Status::invalidArgument("int8-weights: weight type {} (int8 or uint8)", dtypeName(opt.weightType));
  bool perChannel = opt.perChannel;
  if (perChannel) {
    if (Status s = upgradeOpset(m, 13); !s) {
      perChannel = false;
      report.warnings.push_back(fmt::format("int8-weights: weights quantized per tensor: DequantizeLinear's axis needs "
                                            "opset 13 and {}",
                                            s.message()));
    }
  }
  bool emitted = false, emittedAxis = false;
  for (Graph* g : wq::allGraphs(m)) {
    // One DequantizeLinear per (weight, axis): weights shared by several nodes are stored once.
    std::map<std::pair<const Value*, int64_t>, Value*> done;
    for (Node* n : g->nodeList()) {
      if (!hasWeight(*n)) continue;
      nlohmann::ordered_json entry = {{"node", wq::reportKey(*n)}, {"op", n->opType()}};
      Value* w = n->operand(1);
      TensorRef data = wq::constantTensor(w);
      if (wq::isExcluded(*n, opt)) {
        entry["precision"] = "fp32";
        entry["reason"] = "excluded";
      } else if (!data || data->dtype() != DType::F32 || w->graph() != g) {
        entry["precision"] = "fp32";
        entry["reason"] = "weight is not a float32 constant of this graph";
      } else {
        int64_t axis = perChannel ? wq::weightAxis(*n, data->rank()) : -1;
        auto key = std::make_pair(static_cast<const Value*>(w), axis);
        auto it = done.find(key);
        if (it == done.end()) {
          it = done.emplace(key, dequantizedWeight(*g, w, *data, axis, opt, n)).first;
          data->releasePages();  // read once: its mapped pages need not stay resident (a 2 GiB model)
        }
        n->setOperand(1, it->second);
        emitted = true;
        emittedAxis = emittedAxis || axis >= 0;
        entry["precision"] = "int8-weights";
        entry["weight"] = w->name();
        entry["weight_type"] = dtypeName(opt.weightType);
        entry["axis"] = axis;
        entry["channels"] = axis >= 0 ? data->dims()[static_cast<size_t>(axis)] : 1;
      }
      report.nodes.push_back(std::move(entry));
    }
    wq::eraseUnusedConstants(*g);
  }
  if (emitted) NPU_TRY(upgradeOpset(m, emittedAxis ? 13 : 10).in("int8-weights"));
  return Status::ok();
}

}  // namespace npuconv
