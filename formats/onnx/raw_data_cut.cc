// raw_data_cut.cc - see raw_data_cut.h. The field numbers are onnx.proto's (ONNX 1.12+).
#include "formats/onnx/raw_data_cut.h"

#include <array>

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

namespace npuconv {
namespace {

enum class Kind { Model, Graph, Node, Attribute, Tensor, Sparse };

// The message fields on the way from a ModelProto to its tensors.
struct Child {
  uint32_t field;
  Kind kind;
  bool repeated;
};

constexpr std::array kModelChildren = {Child{7, Kind::Graph, false}};  // ModelProto.graph
constexpr std::array kGraphChildren = {Child{1, Kind::Node, true},     // GraphProto.node
                                       Child{5, Kind::Tensor, true},   // .initializer
                                       Child{15, Kind::Sparse, true}};  // .sparse_initializer
constexpr std::array kNodeChildren = {Child{5, Kind::Attribute, true}};  // NodeProto.attribute
constexpr std::array kAttributeChildren = {Child{5, Kind::Tensor, false},   // AttributeProto.t
                                           Child{6, Kind::Graph, false},    // .g
                                           Child{10, Kind::Tensor, true},   // .tensors
                                           Child{11, Kind::Graph, true}};   // .graphs
constexpr std::array kSparseChildren = {Child{1, Kind::Tensor, false},   // SparseTensorProto.values
                                        Child{2, Kind::Tensor, false}};  // .indices
constexpr uint32_t kRawDataField = 9;  // TensorProto.raw_data
constexpr int kMaxDepth = 64;          // graphs nest in attributes; deeper is not a real model

const Child* childOf(Kind kind, uint32_t field) {
  auto find = [field](const auto& children) -> const Child* {
    for (const Child& c : children)
      if (c.field == field) return &c;
    return nullptr;
  };
  switch (kind) {
    case Kind::Model: return find(kModelChildren);
    case Kind::Graph: return find(kGraphChildren);
    case Kind::Node: return find(kNodeChildren);
    case Kind::Attribute: return find(kAttributeChildren);
    case Kind::Sparse: return find(kSparseChildren);
    case Kind::Tensor: return nullptr;
  }
  return nullptr;
}

bool readVarint(const uint8_t*& p, const uint8_t* end, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    uint8_t b = *p++;
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

void writeVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

class Cutter {
 public:
  Cutter(const uint8_t* file, uint64_t minBytes, CutModel& result) : file_(file), minBytes_(minBytes), result_(result) {}

  // Appends the message in [p, end) to `out` with payloads cut; `changed` says whether anything
  // was (so an unchanged message is copied verbatim by its parent).
  bool message(const uint8_t* p, const uint8_t* end, Kind kind, const std::string& path, std::string& out,
               bool& changed, int depth) {
    if (depth > kMaxDepth) return false;
    std::array<uint32_t, 16> seen{};  // occurrences per child field number (all < 16)
    bool rawDataSeen = false;
    const uint8_t* verbatim = p;  // start of the bytes not yet appended
    auto flush = [&](const uint8_t* upTo) { out.append(reinterpret_cast<const char*>(verbatim), upTo - verbatim); };
    while (p < end) {
      const uint8_t* fieldStart = p;
      uint64_t tag = 0;
      if (!readVarint(p, end, tag)) return false;
      uint64_t field = tag >> 3;
      if (field == 0 || field > 0x1fffffff) return false;
      switch (tag & 7) {
        case 0: {
          uint64_t ignored = 0;
          if (!readVarint(p, end, ignored)) return false;
          break;
        }
        case 1:
          if (end - p < 8) return false;
          p += 8;
          break;
        case 5:
          if (end - p < 4) return false;
          p += 4;
          break;
        case 2: {
          uint64_t len = 0;
          if (!readVarint(p, end, len) || len > static_cast<uint64_t>(end - p)) return false;
          const uint8_t* body = p;
          p += len;
          if (kind == Kind::Tensor && field == kRawDataField) {
            if (rawDataSeen) return false;  // protobuf keeps the last one; not worth modelling
            rawDataSeen = true;
            if (len < minBytes_) break;
            flush(fieldStart);
            verbatim = p;
            result_.payloads[path] = RawDataSpan{static_cast<uint64_t>(body - file_), len};
            changed = true;
          } else if (const Child* c = childOf(kind, static_cast<uint32_t>(field))) {
            uint32_t index = seen[c->field]++;
            if (!c->repeated && index > 0) return false;  // protobuf would merge the two
            std::string sub;
            bool subChanged = false;
            if (!message(body, p, c->kind, fmt::format("{}{}.{}/", path, c->field, index), sub, subChanged, depth + 1))
              return false;
            if (!subChanged) break;
            flush(fieldStart);
            verbatim = p;
            writeVarint(out, tag);
            writeVarint(out, sub.size());
            out += sub;
            changed = true;
          }
          break;
        }
        default:
          return false;  // groups (3, 4) and invalid wire types
      }
    }
    flush(end);
    return true;
  }

 private:
  const uint8_t* file_;
  uint64_t minBytes_;
  CutModel& result_;
};

// Mirrors Cutter's paths over the parsed skeleton.
void collect(onnx::GraphProto& g, const std::string& path, const CutModel& cut,
             std::vector<std::pair<onnx::TensorProto*, RawDataSpan>>& out);

void collectTensor(onnx::TensorProto& t, const std::string& path, const CutModel& cut,
                   std::vector<std::pair<onnx::TensorProto*, RawDataSpan>>& out) {
  if (auto it = cut.payloads.find(path); it != cut.payloads.end()) out.emplace_back(&t, it->second);
}

void collect(onnx::GraphProto& g, const std::string& path, const CutModel& cut,
             std::vector<std::pair<onnx::TensorProto*, RawDataSpan>>& out) {
  for (int i = 0; i < g.initializer_size(); ++i)
    collectTensor(*g.mutable_initializer(i), fmt::format("{}5.{}/", path, i), cut, out);
  for (int i = 0; i < g.sparse_initializer_size(); ++i) {
    auto* s = g.mutable_sparse_initializer(i);
    std::string sp = fmt::format("{}15.{}/", path, i);
    if (s->has_values()) collectTensor(*s->mutable_values(), sp + "1.0/", cut, out);
    if (s->has_indices()) collectTensor(*s->mutable_indices(), sp + "2.0/", cut, out);
  }
  for (int n = 0; n < g.node_size(); ++n) {
    auto* node = g.mutable_node(n);
    for (int a = 0; a < node->attribute_size(); ++a) {
      auto* attr = node->mutable_attribute(a);
      std::string ap = fmt::format("{}1.{}/5.{}/", path, n, a);
      if (attr->has_t()) collectTensor(*attr->mutable_t(), ap + "5.0/", cut, out);
      if (attr->has_g()) collect(*attr->mutable_g(), ap + "6.0/", cut, out);
      for (int i = 0; i < attr->tensors_size(); ++i)
        collectTensor(*attr->mutable_tensors(i), fmt::format("{}10.{}/", ap, i), cut, out);
      for (int i = 0; i < attr->graphs_size(); ++i) collect(*attr->mutable_graphs(i), fmt::format("{}11.{}/", ap, i), cut, out);
    }
  }
}

}  // namespace

std::optional<CutModel> cutRawData(std::span<const std::byte> file, uint64_t minBytes) {
  CutModel result;
  auto* p = reinterpret_cast<const uint8_t*>(file.data());
  Cutter cutter(p, minBytes, result);
  bool changed = false;
  if (!cutter.message(p, p + file.size(), Kind::Model, "", result.skeleton, changed, 0)) return std::nullopt;
  return result;
}

std::vector<std::pair<onnx::TensorProto*, RawDataSpan>> cutTensors(onnx::ModelProto& skeleton, const CutModel& cut) {
  std::vector<std::pair<onnx::TensorProto*, RawDataSpan>> out;
  if (!cut.payloads.empty() && skeleton.has_graph()) collect(*skeleton.mutable_graph(), "7.0/", cut, out);
  return out;
}

}  // namespace npuconv
