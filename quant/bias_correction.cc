// bias_correction.cc - fast bias correction (NNCF's FastBiasCorrection) of a QDQ model.
//
// Quantizing a layer's weights and input shifts the mean of its output per channel (rounding
// errors of a channel's weights rarely cancel). For each quantized Conv/ConvTranspose/Gemm/
// MatMul with an int32 bias, the layer is run on its float input (captured from the float
// model) in float and as quantized, up to the bias (before any activation):
//   delta[c] = mean(float_out[.., c, ..]) - mean(quant_out[.., c, ..])
//   b'[c]    = round((s_b[c] * q_b[c] + delta[c]) / s_b[c])   (same int32 scale s_in * s_w[c])
// The one-shot ("fast") variant: every layer sees the float model's input, so all shifts come
// from one pass over the data and no order matters; the sequential variant (each layer fed the
// already-corrected quantized prefix) costs one quantized-prefix run per layer and corrects
// propagated error that the next layers' own corrections partly absorb anyway (NNCF makes the
// fast one its default for the same reason).
#include <cmath>

#include "passes/match.h"
#include "converter/exec/thread_pool.h"
#include "quant/layer_probe.h"
#include "quant/quantize.h"

namespace npuconv {
namespace {

/// Per-channel sums of a layer output along `axis` (negative: from the end).
void addChannelSums(const Tensor& t, int64_t axis, std::vector<double>& sum, int64_t& perChannel) {
  if (axis < 0) axis += t.rank();
  int64_t c = t.dim(axis), inner = 1, outer = 1;
  for (int64_t i = axis + 1; i < t.rank(); ++i) inner *= t.dim(i);
  for (int64_t i = 0; i < axis; ++i) outer *= t.dim(i);
  if (sum.empty()) sum.assign(static_cast<size_t>(c), 0.0);
  auto x = t.span<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < c; ++k) {
      double s = 0;
      const float* p = x.data() + (o * c + k) * inner;
      for (int64_t i = 0; i < inner; ++i) s += p[i];
      sum[static_cast<size_t>(k)] += s;
    }
  perChannel += outer * inner;
}

/// b'[c] = round((s_b[c] * q_b[c] + delta[c]) / s_b[c]) on the layer's int32 bias, and the
/// shift in the report's entry of the layer.
Status shiftLayerBias(Graph& g, const ProbedLayer& L, const std::vector<double>& delta, QuantizeReport& report) {
  Value* bias = g.findValue(L.biasInit);
  TensorRef old = bias ? m::constTensor(bias) : nullptr;
  if (!old || old->dtype() != DType::I32 || delta.size() != static_cast<size_t>(old->numElements()))
    return Status::internal("bias correction: {}: bias \"{}\" does not match the layer output channels", L.names.front(),
                            L.biasInit);
  auto qb = old->as<int32_t>();
  std::vector<int32_t> nb(qb.begin(), qb.end());
  double maxShift = 0, sumShift = 0, maxBias = 0;
  for (size_t c = 0; c < nb.size(); ++c) {
    double s = L.biasScale[L.biasScale.size() == 1 ? 0 : c];
    double b = s * qb[c] + delta[c];
    double v = s > 0 ? std::nearbyint(b / s) : qb[c];
    nb[c] = static_cast<int32_t>(std::clamp(v, -2147483648.0, 2147483647.0));
    maxShift = std::max(maxShift, std::fabs(delta[c]));
    sumShift += std::fabs(delta[c]);
    maxBias = std::max(maxBias, std::fabs(s * qb[c]));
  }
  g.setInitializerData(bias, std::make_shared<const TensorData>(
                                 TensorData::fromValues(DType::I32, old->dims(), std::span<const int32_t>(nb))));
  nlohmann::ordered_json shift;
  shift["max_abs_shift"] = maxShift;
  shift["mean_abs_shift"] = sumShift / static_cast<double>(nb.size());
  shift["max_abs_bias"] = maxBias;
  bool found = false;
  for (auto& e : report.nodes)
    if (e.contains("nodes") && !e["nodes"].empty() && e["nodes"][0] == L.names.front()) {
      e["bias_correction"] = shift;
      found = true;
    }
  if (!found) {
    nlohmann::ordered_json e;
    e["nodes"] = L.names;
    e["op"] = L.op;
    e["bias_correction"] = shift;
    report.nodes.push_back(std::move(e));
  }
  return Status::ok();
}

}  // namespace

Status correctBias(Model& quantized, const Model& floatModel, SampleStream& data, int threads, QuantizeReport& report,
                   std::vector<BiasShift>* shifts) {
  NPU_ASSIGN_OR_RETURN(std::vector<ProbedLayer> all, probeLayers(floatModel, quantized));
  std::vector<ProbedLayer> layers;
  for (auto& L : all)
    if (!L.biasInit.empty()) layers.push_back(std::move(L));
  // One pool for the model and every layer probe: they run one after another.
  const ExecOptions eo{.threads = threads, .pool = std::make_shared<ThreadPool>(threads)};
  std::vector<std::unique_ptr<Executor>> fx, qx;
  std::vector<std::string> capture;
  for (const ProbedLayer& L : layers) {
    NPU_ASSIGN_OR_RETURN(auto f, Executor::create(L.floatPre, eo));
    NPU_ASSIGN_OR_RETURN(auto q, Executor::create(L.quantPre, eo));
    fx.push_back(std::move(f));
    qx.push_back(std::move(q));
    capture.insert(capture.end(), L.floatInputs.begin(), L.floatInputs.end());
  }
  std::vector<std::vector<double>> fsum(layers.size()), qsum(layers.size());
  std::vector<int64_t> count(layers.size(), 0), dummy(layers.size(), 0);
  int64_t samples = 0;
  NPU_TRY(forEachCapture(floatModel, data, capture, eo, [&](const NamedTensors& in) -> Status {
    ++samples;
    for (size_t i = 0; i < layers.size(); ++i) {
      NPU_ASSIGN_OR_RETURN(Tensor f, runLayer(*fx[i], layers[i].floatInputs, in));
      NPU_ASSIGN_OR_RETURN(Tensor q, runLayer(*qx[i], layers[i].floatInputs, in));
      if (f.dims() != q.dims() || f.dtype() != DType::F32 || q.dtype() != DType::F32)
        return Status::internal("bias correction: {}: float {} vs quantized {}", layers[i].names.front(), f.describe(),
                                q.describe());
      addChannelSums(f, layers[i].channelAxis, fsum[i], count[i]);
      addChannelSums(q, layers[i].channelAxis, qsum[i], dummy[i]);
    }
    return Status::ok();
  }));
  if (samples == 0) return Status::invalidArgument("bias correction: {}: no samples", data.describe());
  Graph& g = *quantized.graph;
  for (size_t i = 0; i < layers.size(); ++i) {
    std::vector<double> delta(fsum[i].size());
    for (size_t c = 0; c < delta.size(); ++c)
      delta[c] = (fsum[i][c] - qsum[i][c]) / static_cast<double>(std::max<int64_t>(count[i], 1));
    NPU_TRY(shiftLayerBias(g, layers[i], delta, report));
    if (shifts) shifts->push_back({layers[i].key, layers[i].biasInit, std::move(delta)});
  }
  report.scheme["bias_correction"] =
      fmt::format("fast (one pass, each layer on its float input), {} layers, {} samples", layers.size(), samples);
  return Status::ok();
}

Status applyBiasShifts(Model& quantized, const Model& floatModel, const std::vector<BiasShift>& shifts,
                       QuantizeReport& report) {
  if (shifts.empty()) return Status::ok();
  NPU_ASSIGN_OR_RETURN(std::vector<ProbedLayer> all, probeLayers(floatModel, quantized));
  std::map<std::string, const ProbedLayer*> byKey;
  for (const ProbedLayer& L : all)
    if (!L.biasInit.empty()) byKey.emplace(L.key, &L);
  Graph& g = *quantized.graph;
  for (const BiasShift& s : shifts) {
    auto it = byKey.find(s.layer);
    if (it == byKey.end())
      return Status::internal("bias correction: layer \"{}\" (bias \"{}\") has no quantized int32 bias here", s.layer, s.bias);
    NPU_TRY(shiftLayerBias(g, *it->second, s.delta, report));
  }
  report.scheme["bias_correction"] = fmt::format("the shifts of another shape variant, {} layers", shifts.size());
  return Status::ok();
}

}  // namespace npuconv
