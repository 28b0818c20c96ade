// precision_summary.cc - see precision_summary.h.
#include "quant/precision_summary.h"

#include <cmath>
#include <map>

#include "passes/match.h"

namespace npuconv {
namespace {

bool weighted(const Node& n) { return n.is("Conv") || n.is("ConvTranspose") || n.is("Gemm") || n.is("MatMul"); }

/// The value behind Casts and Identities (an fp16 layer reads Cast(x) of its float32 input).
const Value* throughCasts(const Value* v) {
  while (v && v->producer() && (v->producer()->is("Cast") || v->producer()->is("Identity")))
    v = v->producer()->operand(0);
  return v;
}

/// The storage type behind a DequantizeLinear producing `v` (possibly through Casts), else
/// `v`'s own type.
DType storedType(const Value* v) {
  const Value* s = throughCasts(v);
  if (s && s->producer() && s->producer()->isQdq("DequantizeLinear")) return s->producer()->operand(0)->dtype();
  return v ? v->dtype() : DType::Undefined;
}

}  // namespace

PrecisionSummary summarizePrecisions(const Graph& g) {
  PrecisionSummary s;
  for (const Node* n : g.nodes()) {
    if (!weighted(*n) || n->numOperands() < 2 || !n->operand(1)) continue;
    const Value* w = n->operand(1);
    const Value* wsrc = throughCasts(w);
    const Node* wdq = wsrc && wsrc->producer() && wsrc->producer()->isQdq("DequantizeLinear") ? wsrc->producer() : nullptr;
    const Value* stored = wdq ? wdq->operand(0) : wsrc;
    if (!stored || !m::isConstant(stored)) continue;  // activation x activation: no weight
    int64_t elements = m::constTensor(stored)->numElements();
    std::string precision;
    if (wdq && (stored->dtype() == DType::I8 || stored->dtype() == DType::U8)) {
      DType in = storedType(n->operand(0));
      precision = in == DType::I16 || in == DType::U16 ? "int16" : "int8";
      s.int8WeightElements += elements;
    } else {
      precision = w->dtype() == DType::F16 ? "fp16" : "fp32";
    }
    s.weightElements += elements;
    std::string name = n->provenance().empty() ? n->name() : n->provenance().front();
    s.layers.push_back({{"node", name}, {"op", n->opType()}, {"precision", precision}, {"weight_elements", elements}});
  }
  return s;
}

nlohmann::ordered_json PrecisionSummary::toJson() const {
  std::map<std::string, int64_t> counts;
  for (const auto& l : layers) ++counts[l["precision"].get<std::string>()];
  nlohmann::ordered_json c = nlohmann::ordered_json::object();
  for (const char* p : {"int8", "int16", "fp16", "fp32"})
    if (counts.count(p)) c[p] = counts[p];
  nlohmann::ordered_json j;
  j["counts"] = c;
  j["weight_elements"] = weightElements;
  j["int8_weight_share"] = std::round(int8WeightShare() * 10000) / 10000;
  j["layers"] = layers;
  return j;
}

}  // namespace npuconv
