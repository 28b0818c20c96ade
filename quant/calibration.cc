// calibration.cc - collectStats (the float model run on every sample with an observer folding
// each observed tensor into its histogram) and CalibrationStats::merge.
#include "quant/calibration.h"

#include <functional>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>
#include <unordered_map>

#include "converter/exec/executor.h"
#include "converter/support/progress_bar.h"
#include "quant/observe/float_histogram.h"

namespace npuconv {

Expected<CalibMethod> parseCalibMethod(std::string_view name) {
  if (name == "minmax") return CalibMethod::MinMax;
  if (name == "percentile") return CalibMethod::Percentile;
  if (name == "entropy") return CalibMethod::Entropy;
  if (name == "mse") return CalibMethod::Mse;
  return Status::invalidArgument("unknown calibration method \"{}\" (minmax, percentile, entropy, mse)", name);
}
const char* calibMethodName(CalibMethod m) {
  switch (m) {
    case CalibMethod::MinMax: return "minmax";
    case CalibMethod::Percentile: return "percentile";
    case CalibMethod::Entropy: return "entropy";
    case CalibMethod::Mse: return "mse";
  }
  return "?";
}

namespace {

std::string shardList(const std::vector<int64_t>& shards) {
  std::string s;
  for (int64_t i : shards) s += (s.empty() ? "" : ",") + std::to_string(i);
  return s;
}

}  // namespace

Status CalibrationStats::merge(const CalibrationStats& o) {
  if (modelKey != o.modelKey)
    return Status::invalidArgument("calibration statistics of different models (model keys {} and {})", modelKey,
                                   o.modelKey);
  if (dataKey != o.dataKey)
    return Status::invalidArgument("calibration statistics of different data (data keys {} and {})", dataKey,
                                   o.dataKey);
  if (observed != o.observed)
    return Status::invalidArgument("calibration statistics of different observed tensors ({} and {} names)",
                                   observed.size(), o.observed.size());
  if (shardCount != o.shardCount)
    return Status::invalidArgument("calibration statistics of different shard counts ({} and {})", shardCount,
                                   o.shardCount);
  std::vector<int64_t> both;
  std::set_intersection(shards.begin(), shards.end(), o.shards.begin(), o.shards.end(), std::back_inserter(both));
  if (!both.empty())
    return Status::invalidArgument("shard{} {} of {} would be counted twice", both.size() > 1 ? "s" : "",
                                   shardList(both), shardCount);
  for (const auto& [name, ts] : o.tensors) calib::mergeTensorStats(tensors[name], ts);
  samples += o.samples;
  std::vector<int64_t> all;
  std::set_union(shards.begin(), shards.end(), o.shards.begin(), o.shards.end(), std::back_inserter(all));
  shards = std::move(all);
  if (static_cast<int64_t>(shards.size()) == shardCount) {  // every shard: the same as one run
    shardCount = 1;
    shards = {0};
  }
  return Status::ok();
}

Expected<CalibrationStats> collectStats(const Model& m, SampleStream& data, const CalibrateOptions& opt) {
  if (opt.shardCount < 1 || opt.shardIndex < 0 || opt.shardIndex >= opt.shardCount)
    return Status::invalidArgument("--shard {}/{}: expected i/n with 0 <= i < n", opt.shardIndex, opt.shardCount);
  if (!m.graph) return Status::invalidArgument("calibration: the model has no graph");
  ExecOptions eo;
  eo.threads = opt.threads;
  NPU_ASSIGN_OR_RETURN(std::unique_ptr<Executor> exec, Executor::create(m, eo));

  CalibrationStats stats;
  stats.observed = opt.tensors;
  std::sort(stats.observed.begin(), stats.observed.end());
  stats.observed.erase(std::unique(stats.observed.begin(), stats.observed.end()), stats.observed.end());
  stats.shardCount = opt.shardCount;
  stats.shards = {opt.shardIndex};
  if (opt.shardCount == 1) stats.shards = {0};
  std::set<std::string> wanted(stats.observed.begin(), stats.observed.end());
  bool all = wanted.empty();

  calib::HistogramAccumulator acc(&exec->pool());
  // Per value: its statistics (nullptr when not observed) and the last sample it was seen in.
  struct Slot {
    TensorStats* stats = nullptr;
    int64_t lastSample = -1;
  };
  std::unordered_map<const Value*, Slot> slots;
  std::mutex mu;  // bodies of Scan/Loop may report from pool threads
  int64_t sample = 0;
  auto observe = [&](const Value* v, const Tensor& t) {
    if (!v || t.dtype() != DType::F32) return;
    auto [it, fresh] = slots.try_emplace(v);
    if (fresh && (all || wanted.count(v->name()))) it->second.stats = &stats.tensors[v->name()];
    Slot& s = it->second;
    if (!s.stats) return;
    acc.add(t.data<float>(), t.numElements(), *s.stats);
    if (s.lastSample != sample) {
      s.lastSample = sample;
      ++s.stats->samples;
    }
  };
  TensorObserver fold = [&](const Node& node, size_t result, const Tensor& t) {
    std::lock_guard<std::mutex> lock(mu);
    observe(node.result(result), t);
  };
  if (all) {
    exec->setObserver(fold);
  } else {
    // Only the wanted values: the executor keeps every fusion that skips none of them, so
    // calibration runs nearly at inference speed (Conv+Relu observes the Relu output only).
    std::vector<const Value*> values;
    std::function<void(const Graph&)> collect = [&](const Graph& g) {
      for (const Node* n : g.nodes()) {
        for (const Value* v : n->results())
          if (v && wanted.count(v->name())) values.push_back(v);
        for (const Graph* sub : n->subgraphs()) collect(*sub);
      }
    };
    collect(*m.graph);
    exec->setObserver(fold, values);
  }

  size_t total = data.size();
  if (total > 0 && opt.shardCount > 1)
    total = (total - static_cast<size_t>(opt.shardIndex) + static_cast<size_t>(opt.shardCount) - 1) /
            static_cast<size_t>(opt.shardCount);
  ProgressBar progress(opt.progress, total, "calibrating", "samples");
  std::vector<const Value*> inputs;
  for (const Value* v : m.graph->inputs()) inputs.push_back(v);
  for (int64_t k = 0;; ++k) {
    NPU_ASSIGN_OR_RETURN(std::optional<NamedTensors> next, data.next());
    if (!next) break;
    if (k % opt.shardCount != opt.shardIndex) continue;
    // Graph inputs are produced by no node: observed from the sample itself.
    for (const Value* v : inputs) {
      auto it = next->find(v->name());
      if (it != next->end()) observe(v, it->second);
    }
    auto out = exec->run(*next);
    if (!out) return std::move(out).status().in(fmt::format("{}: sample {}", data.describe(), k));
    ++stats.samples;
    ++sample;
    progress.update(static_cast<size_t>(stats.samples));
  }
  if (stats.samples == 0)
    return Status::invalidArgument("{}: no calibration samples{}", data.describe(),
                                   opt.shardCount > 1 ? fmt::format(" in shard {}/{}", opt.shardIndex, opt.shardCount)
                                                      : std::string());
  return stats;
}

}  // namespace npuconv
