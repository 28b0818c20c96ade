// layer_error.cc - see layer_error.h.
#include "quant/layer_error.h"

#include <algorithm>
#include <cmath>

#include "quant/layer_probe.h"

namespace npuconv {
namespace {

struct Acc {
  double signal = 0, noise = 0, dot = 0, qq = 0;
  double minCos = 1;
  int64_t samples = 0;
};

double sqnrDb(double signal, double noise) {
  if (noise <= 0) return 999.0;
  if (signal <= 0) return -999.0;
  return 10.0 * std::log10(signal / noise);
}

}  // namespace

Expected<nlohmann::ordered_json> layerErrorTable(const Model& floatModel, const Model& quantized, SampleStream& data,
                                                 int threads) {
  NPU_ASSIGN_OR_RETURN(std::vector<ProbedLayer> layers, probeLayers(floatModel, quantized));
  std::vector<std::unique_ptr<Executor>> fx, qx;
  std::vector<std::string> capture;
  for (const ProbedLayer& L : layers) {
    NPU_ASSIGN_OR_RETURN(auto f, Executor::create(L.floatFull, ExecOptions{.threads = threads}));
    NPU_ASSIGN_OR_RETURN(auto q, Executor::create(L.quantFull, ExecOptions{.threads = threads}));
    fx.push_back(std::move(f));
    qx.push_back(std::move(q));
    capture.insert(capture.end(), L.floatInputs.begin(), L.floatInputs.end());
  }
  std::vector<Acc> acc(layers.size());
  NPU_TRY(forEachCapture(floatModel, data, capture, threads, [&](const NamedTensors& in) -> Status {
    for (size_t i = 0; i < layers.size(); ++i) {
      NPU_ASSIGN_OR_RETURN(Tensor f, runLayer(*fx[i], layers[i].floatInputs, in));
      NPU_ASSIGN_OR_RETURN(Tensor q, runLayer(*qx[i], layers[i].floatInputs, in));
      if (f.dtype() != DType::F32 || q.dtype() != DType::F32 || f.dims() != q.dims())
        return Status::internal("layer error: {}: float {} vs quantized {}", layers[i].names.front(), f.describe(),
                                q.describe());
      auto a = f.span<float>(), b = q.span<float>();
      double s = 0, n = 0, d = 0, qq = 0;
      for (size_t k = 0; k < a.size(); ++k) {
        double x = a[k], y = b[k];
        s += x * x, n += (x - y) * (x - y), d += x * y, qq += y * y;
      }
      Acc& c = acc[i];
      c.signal += s, c.noise += n, c.dot += d, c.qq += qq, ++c.samples;
      c.minCos = std::min(c.minCos, s > 0 && qq > 0 ? d / std::sqrt(s * qq) : (s == qq ? 1.0 : 0.0));
    }
    return Status::ok();
  }));
  nlohmann::ordered_json table = nlohmann::ordered_json::object();
  for (size_t i = 0; i < layers.size(); ++i) {
    const Acc& c = acc[i];
    nlohmann::ordered_json e;
    e["nodes"] = layers[i].names;
    e["op"] = layers[i].op;
    e["sqnr_db"] = std::round(sqnrDb(c.signal, c.noise) * 100) / 100;
    double cos = c.signal > 0 && c.qq > 0 ? c.dot / std::sqrt(c.signal * c.qq) : 1.0;
    e["cosine"] = std::round(cos * 1e6) / 1e6;
    e["min_sample_cosine"] = std::round(c.minCos * 1e6) / 1e6;
    e["samples"] = c.samples;
    table[layers[i].names.front()] = std::move(e);
  }
  return table;
}

nlohmann::ordered_json layerErrorSummary(const nlohmann::ordered_json& table) {
  std::vector<double> v;
  std::string worst;
  double worstDb = 1e9;
  for (const auto& [name, e] : table.items()) {
    double db = e["sqnr_db"].get<double>();
    v.push_back(db);
    if (db < worstDb) worstDb = db, worst = name;
  }
  nlohmann::ordered_json s;
  s["layers"] = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s["min_sqnr_db"] = v.front();
  double median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  s["median_sqnr_db"] = std::round(median * 100) / 100;
  s["worst"] = worst;
  return s;
}

}  // namespace npuconv
