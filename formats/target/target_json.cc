// target_json.cc - strict JSON reading and writing of target profiles and placements.
#include "formats/target/target_json.h"

#include "formats/support/json_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace npuconv {
namespace {

using OrderedJson = nlohmann::ordered_json;

/// Reads one JSON object, naming `origin` and the key path in every error, and refusing keys
/// it was not asked about (catches typos).
class ObjectReader {
 public:
  ObjectReader(const OrderedJson& j, std::string origin, std::string path) : j_(j), origin_(std::move(origin)), path_(std::move(path)) {}

  Status error(const std::string& key, const std::string& what) const {
    return Status::invalidArgument("{}: {}: {}", origin_, keyPath(key), what);
  }
  std::string keyPath(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  const OrderedJson* find(const std::string& key) {
    seen_.push_back(key);
    auto it = j_.find(key);
    return it == j_.end() ? nullptr : &*it;
  }

  Status string(const std::string& key, std::string& out, bool required) {
    const OrderedJson* v = find(key);
    if (!v) return required ? error(key, "required key missing") : Status::ok();
    if (!v->is_string()) return error(key, "expected a string");
    out = v->get<std::string>();
    return Status::ok();
  }
  Status boolean(const std::string& key, bool& out, bool required = false) {
    const OrderedJson* v = find(key);
    if (!v) return required ? error(key, "required key missing") : Status::ok();
    if (!v->is_boolean()) return error(key, "expected true or false");
    out = v->get<bool>();
    return Status::ok();
  }
  Status integer(const std::string& key, std::optional<int64_t>& out, int64_t min) {
    const OrderedJson* v = find(key);
    if (!v) return Status::ok();
    if (!v->is_number_integer()) return error(key, "expected an integer");
    int64_t x = v->get<int64_t>();
    if (x < min) return error(key, fmt::format("expected an integer >= {}, got {}", min, x));
    out = x;
    return Status::ok();
  }
  Status integers(const std::string& key, std::vector<int64_t>& out, int64_t min) {
    const OrderedJson* v = find(key);
    if (!v) return Status::ok();
    if (!v->is_array()) return error(key, "expected an array of integers");
    for (size_t i = 0; i < v->size(); ++i) {
      const OrderedJson& e = (*v)[i];
      if (!e.is_number_integer() || e.get<int64_t>() < min)
        return error(fmt::format("{}[{}]", key, i), fmt::format("expected an integer >= {}", min));
      out.push_back(e.get<int64_t>());
    }
    return Status::ok();
  }
  Status strings(const std::string& key, std::vector<std::string>& out) {
    const OrderedJson* v = find(key);
    if (!v) return Status::ok();
    if (v->is_string()) {
      out.push_back(v->get<std::string>());
      return Status::ok();
    }
    if (!v->is_array()) return error(key, "expected a string or an array of strings");
    for (size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string()) return error(fmt::format("{}[{}]", key, i), "expected a string");
      out.push_back((*v)[i].get<std::string>());
    }
    return Status::ok();
  }
  /// Any key not read so far is an error.
  Status finish() const {
    for (auto it = j_.begin(); it != j_.end(); ++it)
      if (std::find(seen_.begin(), seen_.end(), it.key()) == seen_.end()) return error(it.key(), "unknown key");
    return Status::ok();
  }

 private:
  const OrderedJson& j_;
  std::string origin_;
  std::string path_;
  std::vector<std::string> seen_;
};

Status parseOp(const std::string& key, const OrderedJson& j, const std::string& origin, OpConstraints& c) {
  const std::string path = "ops." + key;
  if (!j.is_object()) return Status::invalidArgument("{}: {}: expected an object", origin, path);
  auto colon = key.rfind(':');
  c.domain = colon == std::string::npos ? std::string() : key.substr(0, colon);
  c.opType = colon == std::string::npos ? key : key.substr(colon + 1);
  if (c.opType.empty()) return Status::invalidArgument("{}: {}: empty op type", origin, path);
  if (c.domain == "ai.onnx") c.domain.clear();
  ObjectReader r(j, origin, path);
  NPU_TRY(r.integers("kernel_sizes", c.kernelSizes, 1));
  NPU_TRY(r.integer("max_kernel", c.maxKernel, 1));
  NPU_TRY(r.integer("max_stride", c.maxStride, 1));
  NPU_TRY(r.boolean("dilation", c.dilationAllowed));
  NPU_TRY(r.integer("max_dilation", c.maxDilation, 1));
  NPU_TRY(r.integer("max_pad", c.maxPad, 0));
  std::string groups, broadcast;
  NPU_TRY(r.string("groups", groups, false));
  if (groups == "none") c.groups = GroupSupport::None;
  else if (groups == "depthwise") c.groups = GroupSupport::Depthwise;
  else if (groups.empty() || groups == "any") c.groups = GroupSupport::Any;
  else return r.error("groups", fmt::format("expected \"none\", \"depthwise\" or \"any\", got \"{}\"", groups));
  NPU_TRY(r.integer("max_depth_multiplier", c.maxDepthMultiplier, 1));
  NPU_TRY(r.integer("max_channels", c.maxChannels, 1));
  NPU_TRY(r.integer("max_rank", c.maxRank, 0));
  NPU_TRY(r.integer("max_batch", c.maxBatch, 1));
  NPU_TRY(r.string("broadcast", broadcast, false));
  if (broadcast == "none") c.broadcast = BroadcastSupport::None;
  else if (broadcast == "channel") c.broadcast = BroadcastSupport::Channel;
  else if (broadcast.empty() || broadcast == "full") c.broadcast = BroadcastSupport::Full;
  else return r.error("broadcast", fmt::format("expected \"none\", \"channel\" or \"full\", got \"{}\"", broadcast));
  std::vector<std::string> dtypes;
  NPU_TRY(r.strings("dtypes", dtypes));
  for (size_t i = 0; i < dtypes.size(); ++i) {
    auto t = dtypeFromName(dtypes[i]);
    if (!t || *t == DType::Undefined)
      return r.error(fmt::format("dtypes[{}]", i), fmt::format("unknown element type \"{}\"", dtypes[i]));
    c.dtypes.push_back(*t);
  }
  NPU_TRY(r.boolean("constant_weights", c.constantWeights));
  if (const OrderedJson* a = r.find("attrs")) {
    if (!a->is_object()) return r.error("attrs", "expected an object of attribute name -> allowed values");
    for (auto it = a->begin(); it != a->end(); ++it) {
      const std::string ap = "attrs." + it.key();
      if (!it->is_array()) return r.error(ap, "expected an array of integers or strings");
      std::vector<std::string>& allowed = c.attrValues[it.key()];
      for (size_t i = 0; i < it->size(); ++i) {
        const OrderedJson& e = (*it)[i];
        if (e.is_number_integer()) allowed.push_back(std::to_string(e.get<int64_t>()));
        else if (e.is_string()) allowed.push_back(e.get<std::string>());
        else return r.error(fmt::format("{}[{}]", ap, i), "expected an integer or a string");
      }
    }
  }
  NPU_TRY(r.string("note", c.note, false));
  NPU_TRY(r.string("source", c.source, false));
  return r.finish();
}

Status parseProfile(const OrderedJson& j, const std::string& origin, TargetProfile& p) {
  if (!j.is_object()) return Status::invalidArgument("{}: expected a JSON object at the top level", origin);
  ObjectReader r(j, origin, "");
  NPU_TRY(r.string("name", p.name, true));
  if (p.name.empty()) return r.error("name", "must not be empty");
  NPU_TRY(r.string("description", p.description, true));
  NPU_TRY(r.strings("source", p.sources));
  NPU_TRY(r.boolean("requires_static_shapes", p.requiresStaticShapes, true));
  NPU_TRY(r.string("preferred_layout", p.preferredLayout, true));
  if (p.preferredLayout != "nchw" && p.preferredLayout != "nhwc")
    return r.error("preferred_layout", fmt::format("expected \"nchw\" or \"nhwc\", got \"{}\"", p.preferredLayout));
  std::optional<int64_t> align;
  NPU_TRY(r.integer("channel_alignment", align, 1));
  p.channelAlignment = align.value_or(1);
  NPU_TRY(r.integer("max_rank", p.maxRank, 1));
  NPU_TRY(r.integer("max_innermost_dims", p.maxInnermostDims, 1));
  NPU_TRY(r.boolean("single_npu_segment", p.singleNpuSegment));
  const OrderedJson* q = r.find("quantization");
  if (!q) return r.error("quantization", "required key missing");
  if (!q->is_object()) return r.error("quantization", "expected an object");
  ObjectReader qr(*q, origin, "quantization");
  QuantizationSupport& qs = p.quantization;
  NPU_TRY(qr.boolean("int8_symmetric", qs.int8Symmetric));
  NPU_TRY(qr.boolean("int8_asymmetric", qs.int8Asymmetric));
  NPU_TRY(qr.boolean("per_channel_weights", qs.perChannelWeights));
  NPU_TRY(qr.boolean("int16_activations", qs.int16Activations));
  NPU_TRY(qr.boolean("fp16", qs.fp16));
  NPU_TRY(qr.boolean("fp32_compute", qs.fp32Compute));
  NPU_TRY(qr.finish());
  if (!qs.int8() && !qs.int16Activations && !qs.floatCompute())
    return r.error("quantization", "the target supports no element type at all");
  const OrderedJson* ops = r.find("ops");
  if (!ops) return r.error("ops", "required key missing");
  if (!ops->is_object()) return r.error("ops", "expected an object of op type -> constraints");
  for (auto it = ops->begin(); it != ops->end(); ++it) {
    OpConstraints c;
    NPU_TRY(parseOp(it.key(), *it, origin, c));
    if (p.findOp(c.domain, c.opType)) return r.error("ops." + it.key(), "op listed twice");
    p.ops.push_back(std::move(c));
  }
  return r.finish();
}

OrderedJson opToJson(const OpConstraints& c) {
  OrderedJson j = OrderedJson::object();
  if (!c.kernelSizes.empty()) j["kernel_sizes"] = c.kernelSizes;
  if (c.maxKernel) j["max_kernel"] = *c.maxKernel;
  if (c.maxStride) j["max_stride"] = *c.maxStride;
  if (!c.dilationAllowed) j["dilation"] = false;
  if (c.maxDilation) j["max_dilation"] = *c.maxDilation;
  if (c.maxPad) j["max_pad"] = *c.maxPad;
  if (c.groups != GroupSupport::Any) j["groups"] = groupSupportName(c.groups);
  if (c.maxDepthMultiplier) j["max_depth_multiplier"] = *c.maxDepthMultiplier;
  if (c.maxChannels) j["max_channels"] = *c.maxChannels;
  if (c.maxRank) j["max_rank"] = *c.maxRank;
  if (c.maxBatch) j["max_batch"] = *c.maxBatch;
  if (c.broadcast != BroadcastSupport::Full) j["broadcast"] = broadcastSupportName(c.broadcast);
  if (!c.dtypes.empty()) {
    j["dtypes"] = OrderedJson::array();
    for (DType t : c.dtypes) j["dtypes"].push_back(std::string(dtypeName(t)));
  }
  if (c.constantWeights) j["constant_weights"] = true;
  if (!c.attrValues.empty()) {
    OrderedJson a = OrderedJson::object();
    for (const auto& [name, allowed] : c.attrValues) {
      OrderedJson arr = OrderedJson::array();
      for (const std::string& v : allowed) {
        // Integers were integers in the file: write them back as such.
        bool isInt = !v.empty() && v.find_first_not_of("-0123456789") == std::string::npos && v != "-";
        if (isInt) arr.push_back(std::stoll(v));
        else arr.push_back(v);
      }
      a[name] = arr;
    }
    j["attrs"] = a;
  }
  if (!c.note.empty()) j["note"] = c.note;
  if (!c.source.empty()) j["source"] = c.source;
  return j;
}

}  // namespace

Expected<TargetProfile> parseTargetProfile(std::string_view text, const std::string& origin) {
  OrderedJson j;
  try {
    j = OrderedJson::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number past double's range
    return Status::invalidArgument("{}: invalid JSON: {}", origin, jsonParseErrorText(e));
  }
  TargetProfile p;
  NPU_TRY(parseProfile(j, origin, p));
  return p;
}

Expected<TargetProfile> loadTargetProfile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io("{}: cannot open target profile", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::io("{}: cannot read target profile", path.string());
  return parseTargetProfile(ss.str(), path.filename().string());
}

nlohmann::ordered_json targetProfileToJson(const TargetProfile& p) {
  OrderedJson j;
  j["name"] = p.name;
  j["description"] = p.description;
  if (!p.sources.empty()) j["source"] = p.sources;
  j["requires_static_shapes"] = p.requiresStaticShapes;
  j["preferred_layout"] = p.preferredLayout;
  j["channel_alignment"] = p.channelAlignment;
  if (p.maxRank) j["max_rank"] = *p.maxRank;
  if (p.maxInnermostDims) j["max_innermost_dims"] = *p.maxInnermostDims;
  if (p.singleNpuSegment) j["single_npu_segment"] = true;
  const QuantizationSupport& q = p.quantization;
  j["quantization"] = {{"int8_symmetric", q.int8Symmetric}, {"int8_asymmetric", q.int8Asymmetric},
                       {"per_channel_weights", q.perChannelWeights}, {"int16_activations", q.int16Activations},
                       {"fp16", q.fp16}, {"fp32_compute", q.fp32Compute}};
  j["ops"] = OrderedJson::object();
  for (const OpConstraints& c : p.ops) j["ops"][c.domain.empty() ? c.opType : c.domain + ":" + c.opType] = opToJson(c);
  return j;
}

std::vector<std::string> builtinTargetNames() {
  std::vector<std::string> names;
  for (const BuiltinTargetFile& f : builtinTargetFiles()) {
    std::string n(f.file);
    if (n.size() > 5 && n.ends_with(".json")) n.resize(n.size() - 5);
    names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Expected<TargetProfile> builtinTarget(std::string_view name) {
  for (const BuiltinTargetFile& f : builtinTargetFiles())
    if (f.file == std::string(name) + ".json") {
      auto p = parseTargetProfile(f.json, "targets/" + std::string(f.file));
      if (!p) return Status::internal("built-in profile {}", p.status().message());
      return p;
    }
  std::string known;
  for (const std::string& n : builtinTargetNames()) known += (known.empty() ? "" : ", ") + n;
  return Status::invalidArgument("unknown target \"{}\" (built-in: {}; or --target-file FILE)", name, known);
}

nlohmann::ordered_json placementToJson(const TargetProfile& p, const std::vector<NodePlacement>& placement) {
  OrderedJson j;
  int64_t npu = 0;
  for (const NodePlacement& n : placement) npu += n.onNpu;
  j["target"] = p.name;
  j["node_count"] = placement.size();
  j["on_npu"] = npu;
  j["on_cpu"] = static_cast<int64_t>(placement.size()) - npu;
  j["ops"] = OrderedJson::array();
  for (const OpPlacementSummary& s : summarizePlacement(placement))
    j["ops"].push_back({{"op", s.opType}, {"npu", s.onNpu}, {"cpu", s.onCpu}, {"reasons", s.reasons}});
  j["nodes"] = OrderedJson::array();
  for (const NodePlacement& n : placement) {
    OrderedJson e;
    e["name"] = n.name;
    e["original_names"] = n.originalNames;
    e["op"] = n.domain.empty() ? n.opType : n.domain + ":" + n.opType;
    e["device"] = n.onNpu ? "npu" : "cpu";
    if (!n.onNpu) e["reason"] = n.reason;
    j["nodes"].push_back(std::move(e));
  }
  return j;
}

}  // namespace npuconv
