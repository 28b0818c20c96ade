// blob_diff.cc - see blob_diff.h. Ops pair up by their original ONNX names (the k-th op of A with
// a given name list pairs with the k-th of B); ops left over whose names overlap were fused
// differently and are reported together as regrouped. Tensors are compared through the paired
// ops' operand slots rather than by their IR names, so a value renamed between builds (x_q in an
// int8 build, x in an fp16 one) still pairs up, and each tensor difference is told at a layer
// the user knows.
#include "formats/blob/blob_diff.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <set>
#include <string_view>

#include <fmt/format.h>

#include "formats/blob/blob_dump.h"
#include "formats/blob/blob_variants.h"
#include "formats/support/content_key.h"

namespace npuconv {
namespace {

using json = nlohmann::ordered_json;
using device::Program;

// What two blobs may differ in and still be identical in content. The file's layout follows
// from its content, and a record's position in a table is not its identity: two writers (or
// two versions of one) may order them differently for the same program.
constexpr std::string_view kIgnored[] = {
    "file layout: section order, offsets, sizes, CRC-32Cs and padding",
    "record order in the string, quantization and tensor tables (tensors are compared through the ops and "
    "I/O bindings that use them)",
    "tensors that no op uses",
};

json fieldChange(const std::string& name, const json& a, const json& b) {
  json f = json::object();
  f["field"] = name;
  f["a"] = a;
  f["b"] = b;
  return f;
}

/// Appends {field, a, b} to `fields` when the values differ.
void field(json& fields, const std::string& name, const json& a, const json& b) {
  if (a != b) fields.push_back(fieldChange(name, a, b));
}

/// The op's identity across builds: the original ONNX node names it computes; an op npuconv
/// made (a Quantize at an input) has only its own IR name, and without DBUG so has every op.
std::vector<std::string> originalsOf(const device::Op& op) {
  if (!op.provenance.empty()) return op.provenance;
  if (!op.name.empty()) return {op.name};
  return {"(unnamed " + opKindName(op) + ")"};
}

std::string layerOf(const device::Op& op) { return fmt::format("{}", fmt::join(originalsOf(op), "+")); }

/// The dtypes an op reads and writes, e.g. "u8,i8,i32 in, u8 out" for an int8 QConv.
std::string precisionOf(const Program& p, const device::Op& op) {
  auto list = [&](const std::vector<int32_t>& ts) {
    std::vector<std::string_view> v;
    for (int32_t t : ts) v.push_back(t < 0 ? std::string_view("-") : dtypeShortName(p.tensors[static_cast<size_t>(t)].dtype));
    return fmt::format("{}", fmt::join(v, ","));
  };
  return fmt::format("{} in, {} out", list(op.inputs), list(op.outputs));
}

json opJson(const Program& p, size_t index) {
  const device::Op& op = p.ops[index];
  json j;
  j["layer"] = layerOf(op);
  j["index"] = index;
  j["op"] = opKindName(op);
  j["placement"] = op.cpuFallback() ? "cpu" : "npu";
  j["precision"] = precisionOf(p, op);
  return j;
}

json opFields(const Program& pa, const device::Op& a, const Program& pb, const device::Op& b) {
  json f = json::array();
  field(f, "op", opKindName(a), opKindName(b));
  field(f, "domain", a.domain, b.domain);
  field(f, "placement", a.cpuFallback() ? "cpu" : "npu", b.cpuFallback() ? "cpu" : "npu");
  field(f, "precision", precisionOf(pa, a), precisionOf(pb, b));
  field(f, "fused_activation", actName(a.act), actName(b.act));
  // The clamp is an integer op's; a float op's zeros mean nothing (the placement said so).
  if (!a.cpuFallback() && !b.cpuFallback()) field(f, "clamp", json::array({a.actMin, a.actMax}), json::array({b.actMin, b.actMax}));
  field(f, "name", a.name, b.name);
  for (const device::Attr& x : a.attrs) {
    const device::Attr* y = b.attr(x.name);
    field(f, "attributes." + x.name, attrJson(x), y ? attrJson(*y) : json(nullptr));
  }
  for (const device::Attr& y : b.attrs)
    if (!a.attr(y.name)) field(f, "attributes." + y.name, nullptr, attrJson(y));
  return f;
}

/// The quantization of a tensor pair when it differs: both parameter sets and, for as many
/// scales on each side, how many moved and the largest relative move (s_b - s_a) / s_a (signed,
/// the one of largest magnitude).
void quantField(json& fields, const Program& pa, int32_t qa, const Program& pb, int32_t qb) {
  const json ja = quantJson(pa, qa), jb = quantJson(pb, qb);
  if (ja == jb) return;
  json e = fieldChange("quantization", ja, jb);
  if (qa >= 0 && qb >= 0) {
    const device::QuantParams& x = pa.quant[static_cast<size_t>(qa)];
    const device::QuantParams& y = pb.quant[static_cast<size_t>(qb)];
    if (x.scales.size() == y.scales.size()) {
      size_t scalesMoved = 0, zeroPointsMoved = 0;
      double maxRel = 0;
      for (size_t i = 0; i < x.scales.size(); ++i) {
        if (x.scales[i] != y.scales[i]) {
          ++scalesMoved;
          const double rel = (double(y.scales[i]) - double(x.scales[i])) / double(x.scales[i]);
          if (std::abs(rel) > std::abs(maxRel)) maxRel = rel;
        }
        if (x.zeroPoints[i] != y.zeroPoints[i]) ++zeroPointsMoved;
      }
      e["scales"] = x.scales.size();
      e["scales_changed"] = scalesMoved;
      e["scale_max_rel_change"] = maxRel;
      e["zero_points_changed"] = zeroPointsMoved;
    }
  }
  fields.push_back(std::move(e));
}

json tensorFields(const Program& pa, int32_t ia, const Program& pb, int32_t ib) {
  const device::Tensor& a = pa.tensors[static_cast<size_t>(ia)];
  const device::Tensor& b = pb.tensors[static_cast<size_t>(ib)];
  json f = json::array();
  field(f, "name", a.name, b.name);
  field(f, "dtype", std::string(dtypeName(a.dtype)), std::string(dtypeName(b.dtype)));
  field(f, "shape", a.dims, b.dims);
  field(f, "layout", layoutName(a.layout), layoutName(b.layout));
  field(f, "storage", a.storage == device::Storage::Weight ? "weight" : "arena",
        b.storage == device::Storage::Weight ? "weight" : "arena");
  quantField(f, pa, a.quant, pb, b.quant);
  return f;
}

std::string_view weightBytes(const device::Tensor& t) {
  if (!t.weight || !t.weight->rawBytes()) return {};
  return {reinterpret_cast<const char*>(t.weight->rawBytes()), t.weight->byteSize()};
}

/// A weight pair whose bytes differ (by content key), or null. For equal dtype and dims also
/// how many elements differ and the largest |b - a| in stored units: quantized units for an
/// integer weight (`same_quantization` says whether a unit means the same on both sides), the
/// value itself for a float one.
json weightChange(const Program& pa, const device::Tensor& a, const Program& pb, const device::Tensor& b) {
  const std::string ka = contentKey(weightBytes(a)), kb = contentKey(weightBytes(b));
  if (ka == kb) return nullptr;
  json j;
  j["hash_a"] = ka;
  j["hash_b"] = kb;
  j["bytes_a"] = a.byteSize();
  j["bytes_b"] = b.byteSize();
  if (a.dtype == b.dtype && a.dims == b.dims && a.weight && b.weight) {
    const int64_t n = a.weight->numElements();
    int64_t changed = 0;
    double maxAbs = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double d = std::abs(b.weight->elementAsDouble(i) - a.weight->elementAsDouble(i));
      if (d != 0 || std::isnan(d)) ++changed;
      if (d > maxAbs || std::isnan(d)) maxAbs = d;
    }
    j["elements"] = n;
    j["elements_changed"] = changed;
    j["max_abs_diff"] = maxAbs;
    j["unit"] = isInteger(a.dtype) ? "quantized" : "value";
    j["same_quantization"] = quantJson(pa, a.quant) == quantJson(pb, b.quant);
  }
  return j;
}

void keyValueChanges(json& out, const char* section, const std::vector<device::KeyValue>& a,
                     const std::vector<device::KeyValue>& b) {
  auto find = [](const std::vector<device::KeyValue>& list, const std::string& key) -> const std::string* {
    for (const device::KeyValue& kv : list)
      if (kv.key == key) return &kv.value;
    return nullptr;
  };
  auto entry = [&](const std::string& key, const json& va, const json& vb) {
    json e;
    e["section"] = section;
    e["key"] = key;
    e["a"] = va;
    e["b"] = vb;
    out.push_back(std::move(e));
  };
  for (const device::KeyValue& kv : a) {
    const std::string* vb = find(b, kv.key);
    if (!vb || *vb != kv.value) entry(kv.key, kv.value, vb ? json(*vb) : json(nullptr));
  }
  for (const device::KeyValue& kv : b)
    if (!find(a, kv.key)) entry(kv.key, nullptr, kv.value);
}

json ioContract(const Program& p, const device::IoBinding& io) {
  const device::Tensor& t = p.tensors[static_cast<size_t>(io.tensor)];
  json j;
  j["dtype"] = std::string(dtypeName(t.dtype));
  j["shape"] = t.dims;
  j["layout"] = layoutName(t.layout);
  j["quantization"] = quantJson(p, t.quant);
  j["normalization_baked_in"] = io.normalizationBakedIn;
  return j;
}

json ioChanges(const Program& a, const Program& b) {
  json out = json::array();
  for (const bool inputs : {true, false}) {
    const std::vector<device::IoBinding>& la = inputs ? a.inputs : a.outputs;
    const std::vector<device::IoBinding>& lb = inputs ? b.inputs : b.outputs;
    auto find = [](const std::vector<device::IoBinding>& list, const std::string& name) -> const device::IoBinding* {
      for (const device::IoBinding& io : list)
        if (io.name == name) return &io;
      return nullptr;
    };
    auto entry = [&](const std::string& name, const char* change) {
      json e;
      e["kind"] = inputs ? "input" : "output";
      e["name"] = name;
      e["change"] = change;
      return e;
    };
    for (const device::IoBinding& x : la) {
      const device::IoBinding* y = find(lb, x.name);
      if (!y) {
        json e = entry(x.name, "removed");
        e["a"] = ioContract(a, x);
        out.push_back(std::move(e));
        continue;
      }
      json f = tensorFields(a, x.tensor, b, y->tensor);
      field(f, "normalization_baked_in", x.normalizationBakedIn, y->normalizationBakedIn);
      if (f.empty()) continue;
      json e = entry(x.name, "changed");
      e["fields"] = std::move(f);
      out.push_back(std::move(e));
    }
    for (const device::IoBinding& y : lb)
      if (!find(la, y.name)) {
        json e = entry(y.name, "added");
        e["b"] = ioContract(b, y);
        out.push_back(std::move(e));
      }
  }
  return out;
}

/// Disjoint sets over small integer ids (the regrouping of unpaired ops).
struct UnionFind {
  std::vector<size_t> parent;
  explicit UnionFind(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), size_t{0}); }
  size_t find(size_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  }
  void unite(size_t x, size_t y) {
    x = find(x), y = find(y);
    if (x != y) parent[std::max(x, y)] = std::min(x, y);  // the smallest id stays the root: A's first op
  }
};

/// Positions (into `seq`) of one longest strictly increasing subsequence: the paired ops that
/// kept their relative order; the others moved.
std::vector<bool> longestIncreasing(const std::vector<size_t>& seq) {
  std::vector<size_t> tails, prev(seq.size(), SIZE_MAX);  // tails[k]: position ending a run of k + 1
  for (size_t i = 0; i < seq.size(); ++i) {
    const auto it = std::lower_bound(tails.begin(), tails.end(), seq[i], [&](size_t pos, size_t v) { return seq[pos] < v; });
    if (it != tails.begin()) prev[i] = *(it - 1);
    if (it == tails.end()) tails.push_back(i);
    else *it = i;
  }
  std::vector<bool> keep(seq.size(), false);
  for (size_t i = tails.empty() ? SIZE_MAX : tails.back(); i != SIZE_MAX; i = prev[i]) keep[i] = true;
  return keep;
}

struct OpMatch {
  std::vector<std::pair<size_t, size_t>> pairs;  // (A index, B index) in A's order
  std::vector<size_t> onlyA, onlyB;
};

OpMatch matchOps(const Program& a, const Program& b) {
  std::map<std::string, std::vector<size_t>> byLayer;
  for (size_t j = 0; j < b.ops.size(); ++j) byLayer[layerOf(b.ops[j])].push_back(j);
  std::map<std::string, size_t> taken;
  std::vector<bool> paired(b.ops.size(), false);
  OpMatch m;
  for (size_t i = 0; i < a.ops.size(); ++i) {
    const std::string layer = layerOf(a.ops[i]);
    const auto it = byLayer.find(layer);
    size_t& k = taken[layer];
    if (it != byLayer.end() && k < it->second.size()) {
      m.pairs.emplace_back(i, it->second[k]);
      paired[it->second[k++]] = true;
    } else {
      m.onlyA.push_back(i);
    }
  }
  for (size_t j = 0; j < b.ops.size(); ++j)
    if (!paired[j]) m.onlyB.push_back(j);
  return m;
}

/// Unpaired ops: those of A and B that share an original name were fused differently
/// ("regrouped": A's Gemm+Relu is B's Gemm and Relu); the rest were removed or added.
void unpairedOps(const Program& a, const Program& b, const OpMatch& m, json& ops) {
  const size_t na = m.onlyA.size();
  UnionFind uf(na + m.onlyB.size());
  std::map<std::string, size_t> owner;
  auto claim = [&](const device::Op& op, size_t id) {
    for (const std::string& name : originalsOf(op)) {
      const auto [it, fresh] = owner.emplace(name, id);
      if (!fresh) uf.unite(it->second, id);
    }
  };
  for (size_t k = 0; k < na; ++k) claim(a.ops[m.onlyA[k]], k);
  for (size_t k = 0; k < m.onlyB.size(); ++k) claim(b.ops[m.onlyB[k]], na + k);
  std::map<size_t, std::pair<json, json>> groups;  // root -> (A's ops, B's ops), in root order
  for (size_t id = 0; id < na + m.onlyB.size(); ++id) {
    auto& [ga, gb] = groups[uf.find(id)];
    if (id < na) ga.push_back(opJson(a, m.onlyA[id]));
    else gb.push_back(opJson(b, m.onlyB[id - na]));
  }
  for (auto& [root, g] : groups) {
    auto& [ga, gb] = g;
    if (!ga.is_null() && !gb.is_null()) {
      json r;
      r["a"] = std::move(ga);
      r["b"] = std::move(gb);
      ops["regrouped"].push_back(std::move(r));
    } else if (gb.is_null()) {
      for (json& o : ga) ops["removed"].push_back(std::move(o));
    } else {
      for (json& o : gb) ops["added"].push_back(std::move(o));
    }
  }
}

json sideSummary(const LoadedBlob& lb) {
  const Program& p = lb.program;
  uint64_t weights = 0, weightBytesTotal = 0;
  for (const device::Tensor& t : p.tensors)
    if (t.storage == device::Storage::Weight) ++weights, weightBytesTotal += t.byteSize();
  json j;
  j["ops"] = p.ops.size();
  j["ops_npu"] = p.npuOps();
  j["ops_cpu_fallback"] = p.cpuOps();
  j["tensors"] = p.tensors.size();
  j["weights"] = weights;
  j["weight_bytes"] = weightBytesTotal;
  j["arena_bytes"] = p.memory.arenaBytes;
  j["file_size"] = lb.fileSize;
  return j;
}

/// The program part of a diff (I/O, ops, tensors, weights, memory) of two programs: the whole of
/// two single-shape blobs, and each shape variant both blobs have.
struct ProgramDiff {
  json io, ops, tensors, weights, memory;
  size_t weightsCompared = 0, activationsMoved = 0, differences = 0;
};

ProgramDiff diffPrograms(const Program& a, const Program& b) {
  const json io = ioChanges(a, b);

  json ops;
  for (const char* k : {"added", "removed", "regrouped", "changed", "moved"}) ops[k] = json::array();
  const OpMatch m = matchOps(a, b);
  unpairedOps(a, b, m, ops);
  std::vector<size_t> order;
  for (const auto& [i, j] : m.pairs) order.push_back(j);
  const std::vector<bool> inOrder = longestIncreasing(order);

  // Tensors and weights through the paired ops' operands, each pair once; the I/O tensors were
  // compared as the I/O contract.
  std::set<int32_t> boundA, boundB;
  for (const auto* list : {&a.inputs, &a.outputs})
    for (const device::IoBinding& io1 : *list) boundA.insert(io1.tensor);
  for (const auto* list : {&b.inputs, &b.outputs})
    for (const device::IoBinding& io1 : *list) boundB.insert(io1.tensor);
  json tensors = json::array(), weights = json::array();
  size_t weightsCompared = 0, activationsMoved = 0;
  std::set<std::pair<int32_t, int32_t>> seen;
  for (size_t k = 0; k < m.pairs.size(); ++k) {
    const auto [i, j] = m.pairs[k];
    const device::Op& x = a.ops[i];
    const device::Op& y = b.ops[j];
    const std::string layer = layerOf(x);
    if (json f = opFields(a, x, b, y); !f.empty()) {
      json e;
      e["layer"] = layer;
      e["index_a"] = i;
      e["index_b"] = j;
      e["fields"] = std::move(f);
      ops["changed"].push_back(std::move(e));
    }
    if (!inOrder[k]) ops["moved"].push_back({{"layer", layer}, {"index_a", i}, {"index_b", j}});
    auto operands = [&](const char* dir, const std::vector<int32_t>& ta, const std::vector<int32_t>& tb) {
      for (size_t s = 0; s < std::min(ta.size(), tb.size()); ++s) {
        if (ta[s] < 0 || tb[s] < 0 || !seen.insert({ta[s], tb[s]}).second) continue;
        const device::Tensor& ra = a.tensors[static_cast<size_t>(ta[s])];
        const device::Tensor& rb = b.tensors[static_cast<size_t>(tb[s])];
        json e;
        e["layer"] = layer;
        e["slot"] = fmt::format("{} {}", dir, s);
        e["tensor_a"] = ra.name;
        e["tensor_b"] = rb.name;
        json f = boundA.count(ta[s]) && boundB.count(tb[s]) ? json::array() : tensorFields(a, ta[s], b, tb[s]);
        if (!f.empty()) {
          json t = e;
          t["fields"] = std::move(f);
          tensors.push_back(std::move(t));
        }
        if (ra.storage == device::Storage::Weight && rb.storage == device::Storage::Weight) {
          ++weightsCompared;
          if (json w = weightChange(a, ra, b, rb); !w.is_null()) {
            e.update(w);
            weights.push_back(std::move(e));
          }
        } else if (ra.storage == device::Storage::Activation && rb.storage == device::Storage::Activation &&
                   ra.arenaOffset != rb.arenaOffset) {
          ++activationsMoved;
        }
      }
    };
    operands("input", x.inputs, y.inputs);
    operands("output", x.outputs, y.outputs);
  }

  json memory;
  memory["changes"] = json::array();
  field(memory["changes"], "arena_bytes", a.memory.arenaBytes, b.memory.arenaBytes);
  field(memory["changes"], "activation_bytes", a.memory.activationBytes, b.memory.activationBytes);
  field(memory["changes"], "max_live_bytes", a.memory.maxLiveBytes, b.memory.maxLiveBytes);
  memory["activations_at_other_offsets"] = activationsMoved;

  ProgramDiff r;
  r.differences = io.size() + tensors.size() + weights.size() + memory["changes"].size() + (activationsMoved ? 1 : 0);
  for (const auto& [k, v] : ops.items()) r.differences += v.size();
  r.io = io;
  r.ops = std::move(ops);
  r.tensors = std::move(tensors);
  r.weights = std::move(weights);
  r.memory = std::move(memory);
  r.weightsCompared = weightsCompared;
  r.activationsMoved = activationsMoved;
  return r;
}

/// Format 1.2 shape variants: the shapes of each side, and per shape both sides have (matched by
/// their input shapes, variant 0 aside: it is the diff above) the counts of the program diff;
/// a shape only one side has is a difference.
json variantChanges(const LoadedBlob& la, const LoadedBlob& lb) {
  json v;
  v["a"] = json::array();
  v["b"] = json::array();
  for (size_t i = 0; i < la.variantCount(); ++i) v["a"].push_back(variantInputShapes(la.variant(i)));
  for (size_t i = 0; i < lb.variantCount(); ++i) v["b"].push_back(variantInputShapes(lb.variant(i)));
  v["changes"] = json::array();
  for (size_t i = 0; i < la.variantCount(); ++i) {
    const std::string shapes = variantInputShapes(la.variant(i));
    size_t j = 0;
    while (j < lb.variantCount() && variantInputShapes(lb.variant(j)) != shapes) ++j;
    if (j == lb.variantCount()) {
      v["changes"].push_back({{"input_shapes", shapes}, {"change", "removed"}});
      continue;
    }
    if (i == 0 && j == 0) continue;
    ProgramDiff pd = diffPrograms(la.variant(i), lb.variant(j));
    if (i != j) v["changes"].push_back({{"input_shapes", shapes}, {"change", "moved"}, {"index_a", i}, {"index_b", j}});
    if (pd.differences == 0) continue;
    json counts;
    for (const auto& [k, list] : pd.ops.items()) counts["ops_" + k] = list.size();
    counts["io"] = pd.io.size();
    counts["tensors"] = pd.tensors.size();
    counts["weights"] = pd.weights.size();
    counts["memory"] = pd.memory["changes"].size();
    v["changes"].push_back({{"input_shapes", shapes}, {"change", "changed"}, {"differences", pd.differences}, {"counts", counts}});
  }
  for (size_t j = 0; j < lb.variantCount(); ++j) {
    const std::string shapes = variantInputShapes(lb.variant(j));
    bool inA = false;
    for (size_t i = 0; i < la.variantCount(); ++i) inA = inA || variantInputShapes(la.variant(i)) == shapes;
    if (!inA) v["changes"].push_back({{"input_shapes", shapes}, {"change", "added"}});
  }
  return v;
}

bool hasDebugNames(const LoadedBlob& b) {
  return std::any_of(b.sections.begin(), b.sections.end(), [](const BlobSectionInfo& s) { return s.fourcc == "DBUG"; });
}

}  // namespace

json diffBlobs(const LoadedBlob& la, const LoadedBlob& lb, const std::string& nameA, const std::string& nameB) {
  const Program& a = la.program;
  const Program& b = lb.program;
  json header = json::array();
  field(header, "version", fmt::format("{}.{}", la.versionMajor, la.versionMinor), fmt::format("{}.{}", lb.versionMajor, lb.versionMinor));
  field(header, "debug_names", hasDebugNames(la), hasDebugNames(lb));
  field(header, "requant_rounding", std::string(device::roundingName(a.requantRounding)),
        std::string(device::roundingName(b.requantRounding)));
  field(header, "onnx_opset", a.onnxOpset, b.onnxOpset);
  field(header, "skipped_sections", la.skippedSections, lb.skippedSections);

  json provenance = json::array();
  keyValueChanges(provenance, "provenance", a.provenance, b.provenance);
  keyValueChanges(provenance, "metadata", a.metadata, b.metadata);

  ProgramDiff pd = diffPrograms(a, b);
  json& io = pd.io;
  json& ops = pd.ops;
  json& tensors = pd.tensors;
  json& weights = pd.weights;
  json& memory = pd.memory;
  const size_t weightsCompared = pd.weightsCompared;
  json variants = variantChanges(la, lb);

  size_t differences = header.size() + provenance.size() + pd.differences + variants["changes"].size();

  json d;
  d["a"] = nameA;
  d["b"] = nameB;
  d["identical"] = differences == 0;
  d["differences"] = differences;
  d["ignored"] = json::array();
  for (std::string_view s : kIgnored) d["ignored"].push_back(std::string(s));
  d["summary"] = {{"a", sideSummary(la)}, {"b", sideSummary(lb)}};
  d["header"] = std::move(header);
  d["provenance"] = std::move(provenance);
  d["io"] = io;
  d["ops"] = std::move(ops);
  d["tensors"] = std::move(tensors);
  d["weights"] = {{"hash", "xxHash64 of the stored bytes"}, {"compared", weightsCompared}, {"changed", std::move(weights)}};
  d["memory"] = std::move(memory);
  if (la.variantCount() > 1 || lb.variantCount() > 1) d["variants"] = std::move(variants);
  return d;
}

// --- text --------------------------------------------------------------------------------------
namespace {

/// A value for a terminal: floats to 6 significant digits, long lists cut after 6 values.
std::string valueText(const json& v) {
  if (v.is_null()) return "(none)";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return fmt::format("{:.6g}", v.get<double>());
  if (v.is_array()) {
    std::vector<std::string> items;
    for (size_t i = 0; i < std::min<size_t>(v.size(), 6); ++i) items.push_back(valueText(v[i]));
    if (v.size() > 6) items.push_back(fmt::format("... {} values", v.size()));
    return fmt::format("[{}]", fmt::join(items, ","));
  }
  if (v.is_object()) {
    std::vector<std::string> items;
    for (const auto& [k, x] : v.items()) items.push_back(k + " " + valueText(x));
    return fmt::format("{{{}}}", fmt::join(items, ", "));
  }
  return v.dump();
}

std::string quantValueText(const json& q) {
  if (q.is_null()) return "float";
  if (q.contains("scale")) return fmt::format("scale {} zp {}", valueText(q["scale"]), valueText(q["zero_point"]));
  return fmt::format("per-axis {} ({} scales)", valueText(q["axis"]), q["scales"].size());
}

std::string fieldText(const json& f) {
  const std::string name = f["field"].get<std::string>();
  if (name != "quantization" || !f.contains("scales_changed")) {
    if (name == "quantization") return fmt::format("quantization {} -> {}", quantValueText(f["a"]), quantValueText(f["b"]));
    return fmt::format("{} {} -> {}", name, valueText(f["a"]), valueText(f["b"]));
  }
  // Both quantized with as many scales: say how far they moved.
  const double rel = f["scale_max_rel_change"].get<double>();
  std::string s;
  if (f["a"].contains("scale") && f["b"].contains("scale"))
    s = fmt::format("scale {} -> {} ({:+.3g}%)", valueText(f["a"]["scale"]), valueText(f["b"]["scale"]), rel * 100);
  else
    s = fmt::format("{} of {} scales moved, max relative change {:+.3g}%", valueText(f["scales_changed"]), valueText(f["scales"]), rel * 100);
  if (f["a"]["axis"] != f["b"]["axis"]) s += fmt::format(", axis {} -> {}", valueText(f["a"]["axis"]), valueText(f["b"]["axis"]));
  if (f["zero_points_changed"].get<size_t>() > 0) {
    if (f["a"].contains("zero_point") && f["b"].contains("zero_point"))
      s += fmt::format(", zero point {} -> {}", valueText(f["a"]["zero_point"]), valueText(f["b"]["zero_point"]));
    else
      s += fmt::format(", {} zero points changed", valueText(f["zero_points_changed"]));
  }
  return s;
}

/// The fields joined; `skipName`: the line already shows both names.
std::string fieldsText(const json& fields, bool skipName = false) {
  std::vector<std::string> v;
  for (const json& f : fields)
    if (!skipName || f["field"] != "name") v.push_back(fieldText(f));
  return fmt::format("{}", fmt::join(v, "; "));
}

std::string opText(const json& o) {
  return fmt::format("#{} {} {} ({}, {})", valueText(o["index"]), valueText(o["op"]), valueText(o["layer"]),
                     valueText(o["placement"]), valueText(o["precision"]));
}

std::string sideText(const json& s) {
  return fmt::format("{} ops ({} NPU, {} CPU fallback), {} tensors, {} weights ({} bytes), arena {} bytes, file {} bytes",
                     valueText(s["ops"]), valueText(s["ops_npu"]), valueText(s["ops_cpu_fallback"]), valueText(s["tensors"]),
                     valueText(s["weights"]), valueText(s["weight_bytes"]), valueText(s["arena_bytes"]), valueText(s["file_size"]));
}

std::string operandText(const json& e) {
  const std::string ta = e["tensor_a"].get<std::string>(), tb = e["tensor_b"].get<std::string>();
  return fmt::format("{} {} ({})", valueText(e["layer"]), valueText(e["slot"]), ta == tb ? ta : ta + " / " + tb);
}

}  // namespace

std::string renderBlobDiff(const json& d) {
  std::string s;
  if (d["identical"].get<bool>())
    s += fmt::format("{} and {} are identical in content\n", valueText(d["a"]), valueText(d["b"]));
  else
    s += fmt::format("{} -> {}: {} difference{}\n", valueText(d["a"]), valueText(d["b"]), valueText(d["differences"]),
                     d["differences"].get<size_t>() == 1 ? "" : "s");
  s += fmt::format("  A: {}\n  B: {}\n", sideText(d["summary"]["a"]), sideText(d["summary"]["b"]));
  s += "  ignored: ";
  for (size_t i = 0; i < d["ignored"].size(); ++i) s += (i ? "; " : "") + d["ignored"][i].get<std::string>();
  s += "\n";
  if (!d["header"].empty()) {
    s += "header:\n";
    for (const json& f : d["header"]) s += "  " + fieldText(f) + "\n";
  }
  if (!d["provenance"].empty()) {
    s += "provenance and metadata:\n";
    for (const json& e : d["provenance"])
      s += fmt::format("  {} {}: {} -> {}\n", valueText(e["section"]), valueText(e["key"]), valueText(e["a"]), valueText(e["b"]));
  }
  if (!d["io"].empty()) {
    s += "I/O contract:\n";
    for (const json& e : d["io"]) {
      const std::string change = e["change"].get<std::string>();
      s += fmt::format("  {} {}: ", valueText(e["kind"]), valueText(e["name"]));
      if (change == "changed") s += fieldsText(e["fields"]) + "\n";
      else {
        const json& c = e[change == "added" ? "b" : "a"];
        s += fmt::format("{} ({}[{}] {}, {})\n", change, valueText(c["dtype"]), fmt::join(c["shape"].get<std::vector<int64_t>>(), ","),
                         valueText(c["layout"]), quantValueText(c["quantization"]));
      }
    }
  }
  const json& ops = d["ops"];
  if (!ops["added"].empty() || !ops["removed"].empty() || !ops["regrouped"].empty() || !ops["changed"].empty() ||
      !ops["moved"].empty()) {
    s += "ops (matched by their original ONNX node names):\n";
    for (const json& o : ops["removed"]) s += "  removed   " + opText(o) + "\n";
    for (const json& o : ops["added"]) s += "  added     " + opText(o) + "\n";
    for (const json& r : ops["regrouped"]) {
      std::vector<std::string> va, vb;
      for (const json& o : r["a"]) va.push_back(opText(o));
      for (const json& o : r["b"]) vb.push_back(opText(o));
      s += fmt::format("  regrouped {} -> {}\n", fmt::join(va, " + "), fmt::join(vb, " + "));
    }
    for (const json& e : ops["changed"])
      s += fmt::format("  changed   {} (#{} / #{}): {}\n", valueText(e["layer"]), valueText(e["index_a"]), valueText(e["index_b"]),
                       fieldsText(e["fields"]));
    for (const json& e : ops["moved"])
      s += fmt::format("  moved     {}: #{} -> #{}\n", valueText(e["layer"]), valueText(e["index_a"]), valueText(e["index_b"]));
  }
  if (!d["tensors"].empty()) {
    s += "tensors (operands of the matched ops):\n";
    for (const json& e : d["tensors"]) {
      const std::string f = fieldsText(e["fields"], true);
      s += fmt::format("  {}: {}\n", operandText(e), f.empty() ? "renamed" : f);
    }
  }
  const json& w = d["weights"];
  if (!w["changed"].empty()) {
    s += fmt::format("weights ({}; {} of {} compared changed):\n", valueText(w["hash"]), w["changed"].size(), valueText(w["compared"]));
    for (const json& e : w["changed"]) {
      s += fmt::format("  {}: {} -> {}", operandText(e), valueText(e["hash_a"]), valueText(e["hash_b"]));
      if (e.contains("max_abs_diff"))
        s += fmt::format(", {} of {} elements differ, max |diff| {}{}{}", valueText(e["elements_changed"]), valueText(e["elements"]),
                         valueText(e["max_abs_diff"]), e["unit"] == "quantized" ? " quantized units" : "",
                        e["same_quantization"].get<bool>() ? "" : " (of other scales)");
      else
        s += fmt::format(", {} -> {} bytes", valueText(e["bytes_a"]), valueText(e["bytes_b"]));
      s += "\n";
    }
  }
  const json& mem = d["memory"];
  if (!mem["changes"].empty() || mem["activations_at_other_offsets"].get<size_t>() > 0) {
    s += "memory plan:\n";
    for (const json& f : mem["changes"]) {
      const auto va = f["a"].get<uint64_t>(), vb = f["b"].get<uint64_t>();
      s += fmt::format("  {} {} -> {} ({:+})\n", valueText(f["field"]), va, vb, static_cast<int64_t>(vb) - static_cast<int64_t>(va));
    }
    if (mem["activations_at_other_offsets"].get<size_t>() > 0)
      s += fmt::format("  {} activations at other arena offsets\n", valueText(mem["activations_at_other_offsets"]));
  }
  if (d.contains("variants")) {
    const json& v = d["variants"];
    s += fmt::format("shape variants: {} -> {}\n", v["a"].size(), v["b"].size());
    for (const json& e : v["changes"]) {
      s += fmt::format("  {:<9} {}", e["change"].get<std::string>(), valueText(e["input_shapes"]));
      if (e["change"] == "moved") s += fmt::format(": #{} -> #{}", valueText(e["index_a"]), valueText(e["index_b"]));
      if (e["change"] == "changed") {
        std::string counts;
        for (const auto& [k, n] : e["counts"].items())
          if (n.get<size_t>() > 0) counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", k, n.get<size_t>());
        s += fmt::format(": {} differences ({})", valueText(e["differences"]), counts);
      }
      s += "\n";
    }
  }
  return s;
}

}  // namespace npuconv
