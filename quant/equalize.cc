// equalize.cc - see equalize.h.
#include "quant/equalize.h"

#include <algorithm>
#include <cmath>

#include <sstream>

#include <fmt/format.h>

#include "converter/exec/executor.h"
#include "converter/ir/node_keys.h"
#include "passes/match.h"

namespace npuconv {
namespace {

/// One Conv -> [Relu] -> depthwise Conv pair; `between` is the tensor the depthwise Conv reads.
struct Pair {
  Node* producer = nullptr;
  Node* depthwise = nullptr;
  Value* between = nullptr;
  int64_t channels = 0, multiplier = 1;
  std::vector<double> absMax;  // a[c]
};

const std::string& originalName(const Node& n) { return n.provenance().empty() ? n.name() : n.provenance().front(); }
/// The original name a node's result stands for in per-layer comparisons (pipeline/layer_match.h:
/// the last of its original names, a Conv with a folded BatchNormalization stands for the BN).
const std::string& standsFor(const Node& n) { return n.provenance().empty() ? n.name() : n.provenance().back(); }

void recordScales(Model& m, const std::string& key, const std::vector<double>& s) {
  std::string line = key + "\t";
  for (size_t c = 0; c < s.size(); ++c) line += fmt::format("{}{}", c ? " " : "", s[c]);
  for (auto& [k, v] : m.metadata)
    if (k == kChannelScalesKey) {
      v += "\n" + line;
      return;
    }
  m.metadata.emplace_back(std::string(kChannelScalesKey), line);
}

TensorRef constF32(const Value* v) {
  TensorRef t = v ? m::constTensor(v) : nullptr;
  return t && t->dtype() == DType::F32 ? t : nullptr;
}

/// The pair ending at `dw`, when `dw` is a depthwise Conv whose input the rescaling may touch.
std::optional<Pair> pairAt(Node* dw) {
  if (!dw->is("Conv")) return std::nullopt;
  TensorRef w2 = constF32(dw->operand(1));
  const int64_t group = dw->attrs().getInt("group", 1);
  if (!w2 || w2->rank() < 3 || group <= 1 || w2->dims()[1] != 1 || w2->dims()[0] % group != 0) return std::nullopt;
  Value* t = dw->operand(0);
  // The depthwise Conv must be t's only reader: another reader would see the rescaled channels.
  if (!t || m::soleUser(t) != dw) return std::nullopt;
  Node* producer = t->producer();
  if (producer && producer->is("Relu")) {
    if (!m::isPrivate(producer->operand(0))) return std::nullopt;
    producer = producer->operand(0)->producer();
  }
  if (!producer || !producer->is("Conv")) return std::nullopt;
  TensorRef w1 = constF32(producer->operand(1));
  if (!w1 || w1->rank() < 3 || w1->dims()[0] != group) return std::nullopt;
  if (Value* b1 = producer->operand(2); b1 && (!constF32(b1) || m::constTensor(b1)->numElements() != group))
    return std::nullopt;
  if (producer->result(0) != t && !m::isPrivate(producer->result(0))) return std::nullopt;
  return Pair{producer, dw, t, group, w2->dims()[0] / group, {}};
}

/// `v`'s data with slice k (of `perSlice` elements, along axis 0) multiplied by factor[k / every]:
/// written in place when `node` is the constant's only user, else as a new initializer.
void scaleSlices(Graph& g, Node* node, size_t operand, const std::vector<double>& factor, int64_t every) {
  Value* v = node->operand(operand);
  TensorRef t = m::constTensor(v);
  std::vector<float> data(t->as<float>().begin(), t->as<float>().end());
  const int64_t slices = t->rank() == 0 ? 1 : t->dims()[0];
  const size_t perSlice = data.size() / static_cast<size_t>(slices);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<float>(data[i] * factor[i / perSlice / static_cast<size_t>(every)]);  // exact: powers of 2
  auto scaled = std::make_shared<const TensorData>(TensorData::fromValues<float>(DType::F32, t->dims(), data));
  if (v->isInitializer() && v->uses().size() == 1 && !v->isGraphOutput()) {
    g.setInitializerData(v, scaled);
  } else {
    node->setOperand(operand, m::addConstant(g, v->name() + "_equalized", *scaled));
  }
}

/// Divides the producer's output channel c by s[c] and multiplies the depthwise filters of
/// channel c by it (s: powers of two, so exact), and records s for `compare`.
void rescaleEqualizedPair(Model& m, const Pair& p, const std::vector<double>& s) {
  Graph& g = *m.graph;
  std::vector<double> inv(s.size());
  for (size_t c = 0; c < s.size(); ++c) inv[c] = 1.0 / s[c];  // exact: powers of 2
  scaleSlices(g, p.producer, 1, inv, 1);
  if (p.producer->operand(2)) scaleSlices(g, p.producer, 2, inv, 1);
  scaleSlices(g, p.depthwise, 1, s, p.multiplier);
  recordScales(m, standsFor(*p.producer), s);
  if (Node* relu = p.between->producer(); relu && relu != p.producer) recordScales(m, standsFor(*relu), s);
}

double spread(const std::vector<double>& a) {
  double hi = 0, lo = 0;
  for (double x : a)
    if (x > 0) {
      hi = std::max(hi, x);
      lo = lo == 0 ? x : std::min(lo, x);
    }
  return lo > 0 ? hi / lo : 1.0;
}

/// Per channel (axis 1) largest |x| of `t`, folded into `absMax`.
void addChannelAbsMax(const Tensor& t, std::vector<double>& absMax) {
  if (t.rank() < 2 || t.dtype() != DType::F32) return;
  const int64_t c = t.dim(1);
  if (static_cast<int64_t>(absMax.size()) != c) return;
  int64_t inner = 1;
  for (int64_t i = 2; i < t.rank(); ++i) inner *= t.dim(i);
  auto x = t.span<float>();
  for (int64_t o = 0; o < t.dim(0); ++o)
    for (int64_t k = 0; k < c; ++k) {
      const float* p = x.data() + (o * c + k) * inner;
      double& a = absMax[static_cast<size_t>(k)];
      for (int64_t i = 0; i < inner; ++i)
        if (std::isfinite(p[i])) a = std::max(a, static_cast<double>(std::fabs(p[i])));
    }
}

}  // namespace

Expected<nlohmann::ordered_json> equalizeDepthwiseInputs(Model& m, SampleStream& data, const EqualizeOptions& opt,
                                                         std::vector<EqualizedPair>* chosen) {
  nlohmann::ordered_json report = nlohmann::ordered_json::array();
  Graph& g = *m.graph;
  std::vector<Pair> pairs;
  for (Node* n : g.nodeList())
    if (auto p = pairAt(n)) pairs.push_back(std::move(*p));
  if (pairs.empty() || opt.samples <= 0) return report;
  const std::unordered_map<const Node*, std::string> keys = nodeKeys(g);  // what `chosen` records

  std::vector<const Value*> observed;
  std::map<const Value*, size_t> pairOf;
  for (size_t i = 0; i < pairs.size(); ++i) {
    pairs[i].absMax.assign(static_cast<size_t>(pairs[i].channels), 0.0);
    observed.push_back(pairs[i].between);
    pairOf[pairs[i].between] = i;
  }
  {
    NPU_ASSIGN_OR_RETURN(auto exec, Executor::create(m, ExecOptions{.threads = opt.threads}));
    exec->setObserver(
        [&](const Node& node, size_t result, const Tensor& t) {
          auto it = pairOf.find(node.result(result));
          if (it != pairOf.end()) addChannelAbsMax(t, pairs[it->second].absMax);
        },
        observed);
    NPU_TRY(data.rewind());
    for (int64_t k = 0; k < opt.samples; ++k) {
      NPU_ASSIGN_OR_RETURN(std::optional<NamedTensors> s, data.next());
      if (!s) break;
      NPU_TRY(exec->run(*s).status());
    }
  }

  for (Pair& p : pairs) {
    const double top = *std::max_element(p.absMax.begin(), p.absMax.end());
    if (top <= 0) continue;
    std::vector<double> s(p.absMax.size(), 1.0), after(p.absMax.size(), 0.0);
    bool changed = false;
    for (size_t c = 0; c < s.size(); ++c) {
      if (p.absMax[c] <= 0) continue;  // a dead channel: nothing to gain, keep it as it is
      // s <= 1, never below 2^-24 (a channel that small is noise; its depthwise filter shrinks
      // with it and stays representable).
      const int e = std::max(-24, static_cast<int>(std::ceil(std::log2(p.absMax[c] / top))));
      s[c] = std::ldexp(1.0, e);
      after[c] = p.absMax[c] / s[c];
      changed = changed || e != 0;
    }
    if (!changed) continue;
    rescaleEqualizedPair(m, p, s);
    if (chosen) chosen->push_back({keys.at(p.producer), keys.at(p.depthwise), s});
    report.push_back({{"producer", originalName(*p.producer)},
                      {"depthwise", originalName(*p.depthwise)},
                      {"channels", p.channels},
                      {"spread_before", std::round(spread(p.absMax) * 100) / 100},
                      {"spread_after", std::round(spread(after) * 100) / 100}});
  }
  return report;
}

Status applyDepthwiseScales(Model& m, const std::vector<EqualizedPair>& pairs) {
  if (pairs.empty()) return Status::ok();
  const std::unordered_map<const Node*, std::string> keys = nodeKeys(*m.graph);
  const std::map<std::string, Node*> byKey = nodesByKey(*m.graph);
  for (const EqualizedPair& e : pairs) {
    auto it = byKey.find(e.depthwise);
    std::optional<Pair> p = it == byKey.end() ? std::nullopt : pairAt(it->second);
    if (!p || keys.at(p->producer) != e.producer || p->channels != static_cast<int64_t>(e.scales.size()))
      return Status::internal("equalization: no Conv \"{}\" -> depthwise Conv \"{}\" pair of {} channels to rescale",
                              e.producer, e.depthwise, e.scales.size());
    rescaleEqualizedPair(m, *p, e.scales);
  }
  return Status::ok();
}

std::map<std::string, std::vector<double>> recordedChannelScales(const Model& m) {
  std::map<std::string, std::vector<double>> out;
  for (const auto& [k, v] : m.metadata) {
    if (k != kChannelScalesKey) continue;
    std::istringstream lines(v);
    std::string line;
    while (std::getline(lines, line)) {
      size_t tab = line.find('\t');
      if (tab == std::string::npos) continue;
      std::istringstream nums(line.substr(tab + 1));
      std::vector<double> s;
      for (double x; nums >> x;) s.push_back(x);
      out[line.substr(0, tab)] = std::move(s);
    }
  }
  return out;
}

}  // namespace npuconv
