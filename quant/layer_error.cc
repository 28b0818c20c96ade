// layer_error.cc - see layer_error.h.
#include "quant/layer_error.h"

#include <algorithm>
#include <cmath>

#include "quant/error_stats.h"
#include "converter/exec/thread_pool.h"
#include "quant/layer_probe.h"

namespace npuconv {

Expected<nlohmann::ordered_json> layerErrorTable(const Model& floatModel, const Model& quantized, SampleStream& data,
                                                 int threads) {
  NPU_ASSIGN_OR_RETURN(std::vector<ProbedLayer> layers, probeLayers(floatModel, quantized));
  // One pool for the model and every layer probe: they run one after another.
  const ExecOptions eo{.threads = threads, .pool = std::make_shared<ThreadPool>(threads)};
  std::vector<std::unique_ptr<Executor>> fx, qx;
  std::vector<std::string> capture;
  for (const ProbedLayer& L : layers) {
    NPU_ASSIGN_OR_RETURN(auto f, Executor::create(L.floatFull, eo));
    NPU_ASSIGN_OR_RETURN(auto q, Executor::create(L.quantFull, eo));
    fx.push_back(std::move(f));
    qx.push_back(std::move(q));
    capture.insert(capture.end(), L.floatInputs.begin(), L.floatInputs.end());
  }
  std::vector<ErrorStats> acc(layers.size());
  NPU_TRY(forEachCapture(floatModel, data, capture, eo, [&](const NamedTensors& in) -> Status {
    for (size_t i = 0; i < layers.size(); ++i) {
      NPU_ASSIGN_OR_RETURN(Tensor f, runLayer(*fx[i], layers[i].floatInputs, in));
      NPU_ASSIGN_OR_RETURN(Tensor q, runLayer(*qx[i], layers[i].floatInputs, in));
      if (f.dtype() != DType::F32 || q.dtype() != DType::F32 || f.dims() != q.dims())
        return Status::internal("layer error: {}: float {} vs quantized {}", layers[i].names.front(), f.describe(),
                                q.describe());
      acc[i].add(f.span<float>(), q.span<float>());
    }
    return Status::ok();
  }));
  nlohmann::ordered_json table = nlohmann::ordered_json::object();
  for (size_t i = 0; i < layers.size(); ++i) {
    nlohmann::ordered_json stats = acc[i].toJson();
    nlohmann::ordered_json e;
    e["nodes"] = layers[i].names;
    e["op"] = layers[i].op;
    e["sqnr_db"] = stats["sqnr_db"];
    e["cosine"] = stats["cosine"];
    e["min_sample_cosine"] = stats["cosine_min"];
    e["samples"] = acc[i].samples();
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
