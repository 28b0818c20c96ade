// blob_dump.cc - see blob_dump.h.
#include "formats/blob/blob_dump.h"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>

#include "formats/blob/blob_variants.h"

namespace npuconv {

const char* layoutName(device::Layout l) {
  switch (l) {
    case device::Layout::Any: return "any";
    case device::Layout::NCHW: return "NCHW";
    case device::Layout::NHWC: return "NHWC";
    case device::Layout::OIHW: return "OIHW";
    case device::Layout::OHWI: return "OHWI";
  }
  return "?";
}

const char* actName(device::FusedActivation a) {
  switch (a) {
    case device::FusedActivation::None: return "none";
    case device::FusedActivation::Relu: return "relu";
    case device::FusedActivation::Clip: return "clip";
  }
  return "?";
}

nlohmann::ordered_json quantJson(const device::Program& p, int32_t q) {
  if (q < 0) return nullptr;
  const device::QuantParams& qp = p.quant[static_cast<size_t>(q)];
  nlohmann::ordered_json j;
  j["axis"] = qp.axis;
  if (qp.perAxis()) {
    j["scales"] = qp.scales;
    j["zero_points"] = qp.zeroPoints;
  } else {
    j["scale"] = qp.scales[0];
    j["zero_point"] = qp.zeroPoints[0];
  }
  return j;
}

namespace {

nlohmann::ordered_json tensorJson(const device::Program& p, int32_t i) {
  const device::Tensor& t = p.tensors[static_cast<size_t>(i)];
  nlohmann::ordered_json j;
  j["index"] = i;
  j["name"] = t.name;
  j["dtype"] = std::string(dtypeName(t.dtype));
  j["shape"] = t.dims;
  j["layout"] = layoutName(t.layout);
  j["storage"] = t.storage == device::Storage::Weight ? "weight" : "arena";
  if (t.storage == device::Storage::Activation) j["arena_offset"] = t.arenaOffset;
  j["bytes"] = t.byteSize();
  j["quantization"] = quantJson(p, t.quant);
  return j;
}

}  // namespace

std::string quantText(const device::Program& p, int32_t q) {
  if (q < 0) return "float";
  const device::QuantParams& qp = p.quant[static_cast<size_t>(q)];
  if (!qp.perAxis()) return fmt::format("scale {:.6g} zp {}", qp.scales[0], qp.zeroPoints[0]);
  return fmt::format("per-axis {} ({} scales, first {:.6g})", qp.axis, qp.scales.size(), qp.scales[0]);
}

std::string opKindName(const device::Op& op) {
  return op.code == device::OpCode::FloatOp ? op.type : std::string(device::opCodeName(op.code));
}

nlohmann::ordered_json attrJson(const device::Attr& a) {
  switch (a.kind) {
    case device::AttrKind::Int: return a.ints.at(0);
    case device::AttrKind::Ints: return a.ints;
    case device::AttrKind::Float: return a.floats.at(0);
    case device::AttrKind::Floats: return a.floats;
    case device::AttrKind::String: return a.str;
  }
  return nullptr;
}

std::string tensorText(const device::Program& p, int32_t i) {
  if (i < 0) return "-";
  const device::Tensor& t = p.tensors[static_cast<size_t>(i)];
  return fmt::format("{} {}[{}]", t.name, dtypeShortName(t.dtype), fmt::join(t.dims, ","));
}

nlohmann::ordered_json blobToJson(const LoadedBlob& b) {
  const device::Program& p = b.program;
  nlohmann::ordered_json j;
  j["format"] = {{"version", fmt::format("{}.{}", b.versionMajor, b.versionMinor)},
                 {"file_size", b.fileSize},
                 {"requant_rounding", device::roundingName(p.requantRounding)}};
  for (const BlobSectionInfo& s : b.sections)
    j["format"]["sections"].push_back({{"fourcc", s.fourcc}, {"critical", (s.flags & 1) != 0}, {"offset", s.offset},
                                       {"size", s.size}, {"crc32c", fmt::format("0x{:08x}", s.crc)}});
  for (const auto& [key, list] : {std::pair{"inputs", &p.inputs}, std::pair{"outputs", &p.outputs}})
    for (const device::IoBinding& io : *list) {
      nlohmann::ordered_json e = tensorJson(p, io.tensor);
      e["name"] = io.name;
      e["normalization_baked_in"] = io.normalizationBakedIn;
      j["io"][key].push_back(e);
    }
  j["memory"] = {{"arena_bytes", p.memory.arenaBytes}, {"activation_bytes", p.memory.activationBytes},
                 {"max_live_bytes", p.memory.maxLiveBytes}};
  j["ops_npu"] = p.npuOps();
  j["ops_cpu_fallback"] = p.cpuOps();
  j["ops"] = nlohmann::ordered_json::array();
  for (size_t i = 0; i < p.ops.size(); ++i) {
    const device::Op& op = p.ops[i];
    nlohmann::ordered_json o;
    o["index"] = i;
    o["op"] = opKindName(op);
    o["placement"] = op.cpuFallback() ? "cpu" : "npu";
    o["name"] = op.name;
    o["original"] = op.provenance;
    std::vector<std::string> ins, outs;
    for (int32_t t : op.inputs) ins.push_back(t < 0 ? "" : p.tensors[static_cast<size_t>(t)].name);
    for (int32_t t : op.outputs) outs.push_back(t < 0 ? "" : p.tensors[static_cast<size_t>(t)].name);
    o["inputs"] = ins;
    o["outputs"] = outs;
    if (!op.cpuFallback() && op.code != device::OpCode::Quantize && op.code != device::OpCode::Dequantize) {
      o["fused_activation"] = actName(op.act);
      o["clamp"] = {op.actMin, op.actMax};
    }
    nlohmann::ordered_json attrs = nlohmann::ordered_json::object();
    for (const device::Attr& a : op.attrs) attrs[a.name] = attrJson(a);
    o["attributes"] = attrs;
    j["ops"].push_back(o);
  }
  j["tensors"] = nlohmann::ordered_json::array();
  for (size_t i = 0; i < p.tensors.size(); ++i) j["tensors"].push_back(tensorJson(p, static_cast<int32_t>(i)));
  j["provenance"] = nlohmann::ordered_json::object();
  for (const device::KeyValue& kv : p.provenance) j["provenance"][kv.key] = kv.value;
  j["metadata"] = nlohmann::ordered_json::object();
  for (const device::KeyValue& kv : p.metadata) j["metadata"][kv.key] = kv.value;
  if (!b.skippedSections.empty()) j["skipped_sections"] = b.skippedSections;
  if (b.variantCount() > 1) {  // format 1.2: the other frozen shapes (the keys above are variant 0's)
    j["variants"] = nlohmann::ordered_json::array();
    for (size_t v = 0; v < b.variantCount(); ++v) {
      const device::Program& q = b.variant(v);
      nlohmann::ordered_json e;
      e["index"] = v;
      e["input_shapes"] = variantInputShapes(q);
      for (const auto& [key, list] : {std::pair{"inputs", &q.inputs}, std::pair{"outputs", &q.outputs}})
        for (const device::IoBinding& io : *list) e[key][io.name] = q.tensors[static_cast<size_t>(io.tensor)].dims;
      e["memory"] = {{"arena_bytes", q.memory.arenaBytes}, {"activation_bytes", q.memory.activationBytes},
                     {"max_live_bytes", q.memory.maxLiveBytes}};
      e["ops"] = q.ops.size();
      e["ops_npu"] = q.npuOps();
      e["ops_cpu_fallback"] = q.cpuOps();
      e["tensors"] = q.tensors.size();
      j["variants"].push_back(std::move(e));
    }
  }
  return j;
}

namespace {

/// "  key: value\n"; a value of several lines (PROV source_external_data_sha256, sha256sum's
/// lines) goes below its key, each line indented, so it still reads as sha256sum printed it.
std::string keyValueText(const device::KeyValue& kv) {
  if (kv.value.find('\n') == std::string::npos) return fmt::format("  {}: {}\n", kv.key, kv.value);
  std::string s = fmt::format("  {}:\n", kv.key);
  size_t at = 0;
  while (at <= kv.value.size()) {
    size_t end = std::min(kv.value.find('\n', at), kv.value.size());
    s += fmt::format("    {}\n", std::string_view(kv.value).substr(at, end - at));
    at = end + 1;
  }
  return s;
}

}  // namespace

std::string renderBlob(const LoadedBlob& b) {
  const device::Program& p = b.program;
  std::string s = fmt::format("device blob v{}.{}, {} bytes, {} sections, requantization rounds {}\n", b.versionMajor,
                              b.versionMinor, b.fileSize, b.sections.size(),
                              p.requantRounding == device::Rounding::Single ? "once" : "twice");
  for (const BlobSectionInfo& sec : b.sections)
    s += fmt::format("  {} {:>10} bytes at {:>10}  crc32c 0x{:08x}{}\n", sec.fourcc, sec.size, sec.offset, sec.crc,
                     (sec.flags & 1) ? "  critical" : "");
  if (b.variantCount() > 1) {
    s += fmt::format("shape variants: {} (the tables below are variant 0's)\n", b.variantCount());
    for (size_t v = 0; v < b.variantCount(); ++v) {
      const device::Program& q = b.variant(v);
      s += fmt::format("  {}: {}  (arena {} bytes, {} ops: {} NPU, {} CPU)\n", v, variantInputShapes(q), q.memory.arenaBytes,
                       q.ops.size(), q.npuOps(), q.cpuOps());
    }
  }
  s += "inputs:\n";
  for (const device::IoBinding& io : p.inputs)
    s += fmt::format("  {}: {} ({}), {}{}\n", io.name, tensorText(p, io.tensor),
                     layoutName(p.tensors[static_cast<size_t>(io.tensor)].layout), quantText(p, p.tensors[static_cast<size_t>(io.tensor)].quant),
                     io.normalizationBakedIn ? ", normalization baked in" : ", normalization not baked in");
  s += "outputs:\n";
  for (const device::IoBinding& io : p.outputs)
    s += fmt::format("  {}: {} ({}), {}\n", io.name, tensorText(p, io.tensor),
                     layoutName(p.tensors[static_cast<size_t>(io.tensor)].layout), quantText(p, p.tensors[static_cast<size_t>(io.tensor)].quant));
  s += fmt::format("memory plan: arena {} bytes; activations {} bytes without reuse; max live {} bytes (lower bound)\n",
                   p.memory.arenaBytes, p.memory.activationBytes, p.memory.maxLiveBytes);
  s += fmt::format("ops: {} ({} on the NPU, {} CPU fallback)\n", p.ops.size(), p.npuOps(), p.cpuOps());
  for (size_t i = 0; i < p.ops.size(); ++i) {
    const device::Op& op = p.ops[i];
    s += fmt::format("  {:>4} {:<20} {:<3} {}", i, opKindName(op), op.cpuFallback() ? "cpu" : "npu", op.name);
    if (!op.provenance.empty() && !(op.provenance.size() == 1 && op.provenance[0] == op.name))
      s += fmt::format("  <- {}", fmt::join(op.provenance, ", "));
    if (op.act != device::FusedActivation::None) s += fmt::format("  +{}", actName(op.act));
    s += "\n";
  }
  s += "tensors:\n";
  for (size_t i = 0; i < p.tensors.size(); ++i) {
    const device::Tensor& t = p.tensors[i];
    s += fmt::format("  {:>4} {:<48} {:<10} {}  {}\n", i, tensorText(p, static_cast<int32_t>(i)),
                     t.storage == device::Storage::Weight ? "weight" : fmt::format("@{}", t.arenaOffset), layoutName(t.layout),
                     quantText(p, t.quant));
  }
  s += "provenance:\n";
  for (const device::KeyValue& kv : p.provenance) s += keyValueText(kv);
  for (const device::KeyValue& kv : p.metadata) s += keyValueText(kv);
  return s;
}

std::string hexDump(const std::byte* data, size_t size) {
  std::string s;
  for (size_t off = 0; off < size; off += 16) {
    s += fmt::format("{:08x} ", off);
    std::string ascii;
    for (size_t i = 0; i < 16; ++i) {
      if (i == 8) s += ' ';
      if (off + i < size) {
        const auto c = std::to_integer<unsigned char>(data[off + i]);
        s += fmt::format(" {:02x}", c);
        ascii += (c >= 0x20 && c < 0x7F) ? static_cast<char>(c) : '.';
      } else {
        s += "   ";
      }
    }
    s += "  |" + ascii + "|\n";
  }
  return s;
}

}  // namespace npuconv
