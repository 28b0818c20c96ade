// compare.cc - see compare.h.
#include "pipeline/compare.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "converter/exec/executor.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "pipeline/calib_stage.h"
#include "pipeline/layer_match.h"
#include "quant/equalize.h"
#include "quant/error_stats.h"

namespace npuconv {
namespace {

constexpr double kCleanDb = 60.0;  // inputs above this SQNR count as exact for the jump test

/// A copy of a sample tensor that outlives the executor's buffer pool.
Tensor keep(const Tensor& t) { return Tensor::fromData(t.toData()); }

/// `t` with channel c (axis 1) multiplied by s[c] (divided when `divide`): a tensor int8's
/// depthwise input equalization rescaled (quant/equalize.h), back in the float model's units.
Tensor rescaled(const Tensor& t, const std::vector<double>& s, bool divide) {
  if (t.dtype() != DType::F32 || t.rank() < 2 || t.dim(1) != static_cast<int64_t>(s.size())) return keep(t);
  std::vector<float> x(t.span<float>().begin(), t.span<float>().end());
  int64_t inner = 1;
  for (int64_t i = 2; i < t.rank(); ++i) inner *= t.dim(i);
  for (size_t i = 0; i < x.size(); ++i) {
    const double k = s[(i / static_cast<size_t>(inner)) % s.size()];
    x[i] = static_cast<float>(divide ? x[i] / k : x[i] * k);
  }
  return Tensor::fromValues(DType::F32, t.dims(), std::span<const float>(x));
}

/// B cut at the matched values: each becomes a graph input its readers take instead (before
/// its QuantizeLinear when quantized: the Q/DQ pair is duplicated for the readers), and the
/// value B computes stays observable as a graph output. Returns the input name per key.
Expected<std::map<std::string, std::string>> cutAtMatched(Model& b, const std::vector<MatchedLayer>& layers) {
  Graph& g = *b.graph;
  std::map<std::string, std::string> inputs;
  std::set<const Value*> outputs(g.outputs().begin(), g.outputs().end());
  for (const MatchedLayer& L : layers) {
    Value* value = g.findValue(L.b.value->name());
    Value* computed = g.findValue(L.b.computed->name());
    if (!value || !computed) return Status::internal("compare: value \"{}\" lost in the copy of B", L.b.value->name());
    Value* in = g.addInput(g.uniqueName(computed->name() + "__from_a"), TensorType{DType::F32, std::nullopt, {}, {}});
    Value* feed = in;
    if (value != computed) {
      // value = DQ(Q(computed)): readers get DQ'(Q'(A's tensor)) with the same parameters.
      Node* dq = value->producer();
      Node* q = dq->operand(0)->producer();
      Node* first = value->uses().empty() ? nullptr : value->uses()[0].user;
      Node* q2 = g.createNode("QuantizeLinear", {in, q->operand(1), q->operand(2)}, 1, first, {}, q->domain());
      q2->mutableAttrs() = q->attrs();
      Node* dq2 = g.createNode("DequantizeLinear", {q2->result(0), dq->operand(1), dq->operand(2)}, 1, first, {},
                               dq->domain());
      dq2->mutableAttrs() = dq->attrs();
      feed = dq2->result(0);
    }
    std::vector<Use> uses = value->uses();
    for (const Use& u : uses)
      if (u.user != feed->producer()) u.user->setOperand(u.operand, feed);
    if (!outputs.count(value)) {
      g.addOutput(value);
      outputs.insert(value);
    }
    inputs[L.key] = in->name();
  }
  std::string cycle;
  if (!g.topologicalSort(&cycle)) return Status::internal("compare: cutting B left a cycle at \"{}\"", cycle);
  return inputs;
}

/// Per matched layer, the minimum accumulated SQNR of the matched values its node reads
/// (through unmatched nodes; graph inputs and constants are exact), from A's graph.
std::vector<double> inputSqnr(const Model& a, const std::vector<MatchedLayer>& layers, const std::vector<double>& sqnr) {
  std::map<const Value*, double> matched;
  for (size_t i = 0; i < layers.size(); ++i) matched[layers[i].a.value] = sqnr[i];
  std::map<const Node*, double> nodeIn;  // min SQNR over what the node reads
  std::map<const Value*, double> valueDb;
  auto dbOf = [&](const Value* v) {
    if (!v) return kCleanDb;
    if (auto m = matched.find(v); m != matched.end()) return m->second;
    if (auto d = valueDb.find(v); d != valueDb.end()) return d->second;
    return kCleanDb;
  };
  for (const Node* n : a.graph->nodes()) {
    double in = kCleanDb;
    for (const Value* v : n->operands()) in = std::min(in, dbOf(v));
    nodeIn[n] = in;
    for (const Value* r : n->results())
      if (r) valueDb[r] = in;  // an unmatched result carries its inputs' error onward
  }
  std::vector<double> out;
  for (const MatchedLayer& L : layers) out.push_back(L.a.value->producer() ? nodeIn[L.a.value->producer()] : kCleanDb);
  return out;
}

double round2(double v) { return std::round(v * 100) / 100; }

}  // namespace

Expected<CompareResult> compareModels(const CompareOptions& o) {
  NPU_ASSIGN_OR_RETURN(Model a, readOnnx(o.a));
  NPU_ASSIGN_OR_RETURN(Model b, readOnnx(o.b));
  for (const Value* in : a.graph->inputs())
    if (!in->isInitializer() && !b.graph->findValue(in->name()))
      return Status::invalidArgument("{}: has no input \"{}\" (of {}): compare needs the same input names", o.b.string(),
                                     in->name(), o.a.string());
  for (const Value* out : a.graph->outputs()) {
    const Value* v = b.graph->findValue(out->name());
    if (!v || !v->isGraphOutput())
      return Status::invalidArgument("{}: has no output \"{}\" (of {})", o.b.string(), out->name(), o.a.string());
  }
  CalibDataOptions d = o.inputs;
  if (d.modelDir.empty()) d.modelDir = o.a.parent_path();
  // B's input shapes: a converted model usually has them frozen where the original is dynamic
  // (images are resized to them).
  NPU_ASSIGN_OR_RETURN(std::unique_ptr<SampleStream> data, openCalibData(d, modelInputSpecs(b)));

  std::vector<MatchedLayer> layers;
  if (o.perLayer) layers = matchLayers(a, b);
  NPU_ASSIGN_OR_RETURN(auto ea, Executor::create(a, ExecOptions{.threads = o.threads}));
  NPU_ASSIGN_OR_RETURN(auto eb, Executor::create(b, ExecOptions{.threads = o.threads}));
  std::map<const Value*, Tensor> seenA, seenB;
  if (o.perLayer) {
    std::vector<const Value*> va, vb;
    for (const MatchedLayer& L : layers) va.push_back(L.a.value), vb.push_back(L.b.value);
    auto observe = [](std::map<const Value*, Tensor>& into) {
      return [&into](const Node& n, size_t i, const Tensor& t) { into[n.result(i)] = keep(t); };
    };
    ea->setObserver(observe(seenA), va);
    eb->setObserver(observe(seenB), vb);
  }
  // Isolated: B cut at the matched values, fed A's tensors.
  std::optional<Model> cut;
  std::map<std::string, std::string> cutInputs;
  std::unique_ptr<Executor> ec;
  if (o.perLayer && o.isolated && !layers.empty()) {
    NPU_ASSIGN_OR_RETURN(Model copy, parseOnnxBytes(serializeModel(b), o.b.parent_path(), o.b.string()));
    cut.emplace(std::move(copy));
    NPU_ASSIGN_OR_RETURN(cutInputs, cutAtMatched(*cut, layers));
    NPU_ASSIGN_OR_RETURN(ec, Executor::create(*cut, ExecOptions{.threads = o.threads}));
  }

  // Tensors B holds rescaled per channel (int8's depthwise input equalization).
  const std::map<std::string, std::vector<double>> scales = recordedChannelScales(b);
  auto scaleOf = [&](size_t i) -> const std::vector<double>* {
    auto it = scales.find(layers[i].key);
    return it == scales.end() ? nullptr : &it->second;
  };
  std::map<std::string, ErrorStats> outStats;
  std::vector<ErrorStats> acc(layers.size()), iso(layers.size());
  std::vector<std::string> skipped(layers.size());
  auto addLayer = [&](ErrorStats& s, size_t i, const Tensor* ta, const Tensor* tb) {
    if (!ta || !tb) return;
    std::optional<Tensor> back;
    if (const std::vector<double>* k = scaleOf(i)) tb = &back.emplace(rescaled(*tb, *k, false));
    if (ta->dtype() != DType::F32 || tb->dtype() != DType::F32) skipped[i] = "not float32";
    else if (ta->dims() != tb->dims()) skipped[i] = fmt::format("shapes differ ({} vs {})", ta->describe(), tb->describe());
    else s.add(ta->span<float>(), tb->span<float>());
  };
  int64_t samples = 0;
  for (;;) {
    NPU_ASSIGN_OR_RETURN(std::optional<NamedTensors> sample, data->next());
    if (!sample) break;
    ++samples;
    seenA.clear(), seenB.clear();
    NPU_ASSIGN_OR_RETURN(NamedTensors ra, ea->run(*sample));
    NPU_ASSIGN_OR_RETURN(NamedTensors rb, eb->run(*sample));
    for (const auto& [name, ta] : ra) {
      const Tensor& tb = rb.at(name);
      if (ta.dtype() != DType::F32 || tb.dtype() != DType::F32 || ta.dims() != tb.dims())
        return Status::invalidArgument("output \"{}\": {} from {} vs {} from {}", name, ta.describe(), o.a.string(),
                                       tb.describe(), o.b.string());
      outStats[name].add(ta.span<float>(), tb.span<float>());
    }
    auto find = [](std::map<const Value*, Tensor>& m, const Value* v) -> const Tensor* {
      auto it = m.find(v);
      return it == m.end() ? nullptr : &it->second;
    };
    for (size_t i = 0; i < layers.size(); ++i) addLayer(acc[i], i, find(seenA, layers[i].a.value), find(seenB, layers[i].b.value));
    if (ec) {
      NamedTensors in = *sample;
      for (size_t i = 0; i < layers.size(); ++i)
        if (const Tensor* t = find(seenA, layers[i].a.value)) {
          const std::vector<double>* k = scaleOf(i);
          in[cutInputs.at(layers[i].key)] = k ? rescaled(*t, *k, true) : *t;
        }
      NPU_ASSIGN_OR_RETURN(NamedTensors rc, ec->run(in));
      for (size_t i = 0; i < layers.size(); ++i) {
        auto it = rc.find(layers[i].b.value->name());
        addLayer(iso[i], i, find(seenA, layers[i].a.value), it == rc.end() ? nullptr : &it->second);
      }
    }
  }
  if (samples == 0) return Status::invalidArgument("compare: the inputs hold no sample");

  CompareResult res;
  nlohmann::ordered_json& r = res.report;
  r["a"] = o.a.string();
  r["b"] = o.b.string();
  r["inputs"] = data->describe();
  r["samples"] = samples;
  nlohmann::ordered_json outs = nlohmann::ordered_json::object();
  for (const Value* v : a.graph->outputs()) {
    const ErrorStats& s = outStats[v->name()];
    outs[v->name()] = s.toJson();
    if (!res.passed) continue;
    if (o.minSqnrDb && !(s.sqnrDb() >= *o.minSqnrDb))
      res.passed = false, res.failure = fmt::format("output \"{}\": SQNR {:.2f} dB is below --min-sqnr {}", v->name(), s.sqnrDb(), *o.minSqnrDb);
    else if (o.minCosine && !(s.cosine() >= *o.minCosine))
      res.passed = false, res.failure = fmt::format("output \"{}\": cosine {:.6f} is below --min-cosine {}", v->name(), s.cosine(), *o.minCosine);
  }
  r["outputs"] = outs;
  if (o.minSqnrDb || o.minCosine) {
    r["thresholds"] = {{"min_sqnr_db", o.minSqnrDb ? nlohmann::ordered_json(*o.minSqnrDb) : nlohmann::ordered_json()},
                       {"min_cosine", o.minCosine ? nlohmann::ordered_json(*o.minCosine) : nlohmann::ordered_json()}};
    r["passed"] = res.passed;
    if (!res.passed) r["failure"] = res.failure;
  }
  if (!o.perLayer) return res;

  std::vector<double> db;
  for (const ErrorStats& s : acc) db.push_back(s.samples() ? std::min(s.sqnrDb(), kCleanDb) : kCleanDb);
  std::vector<double> in = inputSqnr(a, layers, db);
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  std::optional<size_t> first, largest;
  for (size_t i = 0; i < layers.size(); ++i) {
    nlohmann::ordered_json row;
    row["node"] = layers[i].key;
    row["op_a"] = layers[i].a.op;
    row["op_b"] = layers[i].b.op;
    // A fused node of B stands for several original nodes: the user looks for the first of them
    // (the stem Conv, not the BatchNormalization folded into it).
    if (layers[i].b.originals.size() > 1) row["originals_b"] = layers[i].b.originals;
    if (!skipped[i].empty()) {
      row["skipped"] = skipped[i];
      rows.push_back(std::move(row));
      continue;
    }
    row["accumulated"] = acc[i].toJson();
    double drop = std::max(0.0, in[i] - db[i]);
    row["drop_db"] = round2(drop);
    if (ec) row["isolated"] = iso[i].toJson();
    if (drop >= o.jumpDb && !first) first = i;
    if (drop > 0 && (!largest || drop > std::max(0.0, in[*largest] - db[*largest]))) largest = i;
    rows.push_back(std::move(row));
  }
  auto jump = [&](size_t i) {
    return nlohmann::ordered_json{{"node", layers[i].key}, {"op", layers[i].a.op}, {"originals_b", layers[i].b.originals},
                                  {"sqnr_db", round2(db[i])}, {"inputs_sqnr_db", round2(in[i])},
                                  {"drop_db", round2(in[i] - db[i])}};
  };
  r["layers_matched"] = layers.size();
  r["jump_db"] = o.jumpDb;
  r["first_jump"] = first ? jump(*first) : nlohmann::ordered_json();
  r["largest_jump"] = largest ? jump(*largest) : nlohmann::ordered_json();
  r["layers"] = rows;
  return res;
}

std::string formatCompareReport(const nlohmann::ordered_json& r) {
  std::string s = fmt::format("compare {} (A) vs {} (B): {} samples of {}\n", r["a"].get<std::string>(),
                              r["b"].get<std::string>(), r["samples"].get<int64_t>(), r["inputs"].get<std::string>());
  for (const auto& [name, e] : r["outputs"].items())
    s += fmt::format("  output {}: SQNR {:.2f} dB (min {:.2f}), cosine {:.6f} (min {:.6f}), max abs {:.4g}, max rel {:.4g}\n",
                     name, e["sqnr_db"].get<double>(), e["sqnr_db_min"].get<double>(), e["cosine"].get<double>(),
                     e["cosine_min"].get<double>(), e["max_abs"].get<double>(), e["max_rel"].get<double>());
  if (!r.contains("layers")) return s;
  bool iso = false;
  for (const auto& row : r["layers"]) iso = iso || row.contains("isolated");
  s += fmt::format("  {} layers matched by original node name (accumulated{})\n", r["layers_matched"].get<int64_t>(),
                   iso ? " | isolated" : "");
  s += fmt::format("  {:<40} {:<22} {:>9} {:>10} {:>8}{}\n", "node", "op (B)", "SQNR dB", "cosine", "drop dB",
                   iso ? "   iso dB   iso cos" : "");
  for (const auto& row : r["layers"]) {
    if (row.contains("skipped")) {
      s += fmt::format("  {:<40} {:<22} skipped: {}\n", row["node"].get<std::string>(), row["op_b"].get<std::string>(),
                       row["skipped"].get<std::string>());
      continue;
    }
    const auto& a = row["accumulated"];
    s += fmt::format("  {:<40} {:<22} {:>9.2f} {:>10.6f} {:>8.2f}", row["node"].get<std::string>(),
                     row["op_b"].get<std::string>(), a["sqnr_db"].get<double>(), a["cosine"].get<double>(),
                     row["drop_db"].get<double>());
    if (row.contains("isolated"))
      s += fmt::format(" {:>9.2f} {:>9.6f}", row["isolated"]["sqnr_db"].get<double>(), row["isolated"]["cosine"].get<double>());
    s += "\n";
  }
  for (const char* k : {"first_jump", "largest_jump"})
    if (!r[k].is_null()) {
      std::string within;
      if (r[k]["originals_b"].size() > 1)
        within = fmt::format(", computed in B by one node for {}", fmt::join(r[k]["originals_b"].get<std::vector<std::string>>(), " + "));
      s += fmt::format("  {}: {} ({}{}): {:.2f} dB after inputs at {:.2f} dB\n", k, r[k]["node"].get<std::string>(),
                       r[k]["op"].get<std::string>(), within, r[k]["sqnr_db"].get<double>(),
                       r[k]["inputs_sqnr_db"].get<double>());
    }
  return s;
}

}  // namespace npuconv
