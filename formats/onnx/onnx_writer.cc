#include "formats/onnx/onnx_writer.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <unordered_set>

#include "converter/ir/provenance_record.h"
#include "formats/onnx/tensor_proto.h"
#include "formats/support/mapped_file.h"

namespace npuconv {
namespace {

constexpr uint64_t kProtobufLimit = (uint64_t(1) << 31) - 1;
constexpr uint64_t kSpliceThreshold = 4096;  // bytes; smaller tensors are serialized inline
constexpr uint64_t kExternalAlignment = 64;

std::string serializeDeterministic(const google::protobuf::MessageLite& msg) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream sos(&out);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    msg.SerializeToCodedStream(&cos);
  }
  return out;
}

void attributeToProto(const Attribute& a, onnx::AttributeProto* out);
void graphToProto(const Graph& g, onnx::GraphProto* out, bool withInitializers);

void valueInfo(const Value& v, onnx::ValueInfoProto* out) {
  out->set_name(v.name());
  typeToProto(v.type(), out->mutable_type());
  if (!v.docString().empty()) out->set_doc_string(v.docString());
}

void nodeToProto(const Node& n, onnx::NodeProto* out) {
  for (const Value* v : n.operands()) out->add_input(v ? v->name() : "");
  for (const Value* v : n.results()) out->add_output(v ? v->name() : "");
  if (!n.name().empty()) out->set_name(n.name());
  out->set_op_type(n.opType());
  if (!n.domain().empty()) out->set_domain(n.domain());
  for (const Attribute& a : n.attrs().all()) attributeToProto(a, out->add_attribute());
  if (!n.docString().empty()) out->set_doc_string(n.docString());
}

void attributeToProto(const Attribute& a, onnx::AttributeProto* out) {
  using AP = onnx::AttributeProto;
  if (const auto* opaque = std::get_if<OpaqueAttr>(&a.value)) {
    out->ParseFromString(opaque->encoded);
    return;
  }
  out->set_name(a.name);
  if (!a.docString.empty()) out->set_doc_string(a.docString);
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          out->set_type(AP::INT);
          if (a.refAttrName.empty()) out->set_i(v);
        } else if constexpr (std::is_same_v<T, float>) {
          out->set_type(AP::FLOAT);
          if (a.refAttrName.empty()) out->set_f(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          out->set_type(AP::STRING);
          if (a.refAttrName.empty()) out->set_s(v);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          out->set_type(AP::INTS);
          for (int64_t x : v) out->add_ints(x);
        } else if constexpr (std::is_same_v<T, std::vector<float>>) {
          out->set_type(AP::FLOATS);
          for (float x : v) out->add_floats(x);
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          out->set_type(AP::STRINGS);
          for (const auto& x : v) out->add_strings(x);
        } else if constexpr (std::is_same_v<T, TensorRef>) {
          out->set_type(AP::TENSOR);
          if (v) tensorToProto(*v, "", out->mutable_t());
        } else if constexpr (std::is_same_v<T, std::vector<TensorRef>>) {
          out->set_type(AP::TENSORS);
          for (const auto& t : v) tensorToProto(*t, "", out->add_tensors());
        } else if constexpr (std::is_same_v<T, GraphPtr>) {
          out->set_type(AP::GRAPH);
          if (v) graphToProto(*v, out->mutable_g(), true);
        } else if constexpr (std::is_same_v<T, std::vector<GraphPtr>>) {
          out->set_type(AP::GRAPHS);
          for (const auto& g : v) graphToProto(*g, out->add_graphs(), true);
        }
      },
      a.value);
  if (!a.refAttrName.empty()) out->set_ref_attr_name(a.refAttrName);
}

/// Graph fields that come before `initializer` (node = 1, name = 2).
void graphHead(const Graph& g, onnx::GraphProto* out) {
  for (const Node* n : g.nodes()) nodeToProto(*n, out->add_node());
  // ONNX requires a graph name; graphs built by passes may have none.
  out->set_name(g.name().empty() ? "graph" : g.name());
}

/// Graph fields after `initializer` (doc 10, input 11, output 12, value_info 13, ...).
void graphTail(const Graph& g, onnx::GraphProto* out) {
  if (!g.docString().empty()) out->set_doc_string(g.docString());
  for (const Value* v : g.inputs()) valueInfo(*v, out->add_input());
  for (const Value* v : g.outputs()) {
    auto* vi = out->add_output();
    valueInfo(*v, vi);
  }
  std::unordered_set<const Value*> io(g.inputs().begin(), g.inputs().end());
  io.insert(g.outputs().begin(), g.outputs().end());
  for (const Node* n : g.nodes())
    for (const Value* r : n->results())
      if (r && r->declaredInValueInfo() && !io.count(r)) valueInfo(*r, out->add_value_info());
  for (const Value* v : g.initializers())
    if (v->declaredInValueInfo() && !io.count(v)) valueInfo(*v, out->add_value_info());
  for (const auto& qa : g.quantAnnotations()) {
    auto* p = out->add_quantization_annotation();
    p->set_tensor_name(qa.tensorName);
    for (const auto& [k, v] : qa.params) {
      auto* kv = p->add_quant_parameter_tensor_names();
      kv->set_key(k);
      kv->set_value(v);
    }
  }
  for (const auto& s : g.sparseInitializers()) out->add_sparse_initializer()->ParseFromString(s);
}

void initializerToProto(const Value& v, onnx::TensorProto* out) {
  tensorToProto(*v.initializer(), v.name(), out);
  if (!v.docString().empty() && !v.isGraphInput()) out->set_doc_string(v.docString());
}

void graphToProto(const Graph& g, onnx::GraphProto* out, bool withInitializers) {
  graphHead(g, out);
  if (withInitializers)
    for (const Value* v : g.initializers()) initializerToProto(*v, out->add_initializer());
  graphTail(g, out);
}

void modelHead(const Model& m, onnx::ModelProto* out) {
  out->set_ir_version(m.irVersion);
  if (!m.producerName.empty()) out->set_producer_name(m.producerName);
  if (!m.producerVersion.empty()) out->set_producer_version(m.producerVersion);
  if (!m.domain.empty()) out->set_domain(m.domain);
  if (m.modelVersion) out->set_model_version(m.modelVersion);
  if (!m.docString.empty()) out->set_doc_string(m.docString);
}

void modelTail(const Model& m, onnx::ModelProto* out) {
  for (const auto& o : m.opsetImports) {
    auto* p = out->add_opset_import();
    p->set_domain(o.domain);
    p->set_version(o.version);
  }
  for (const auto& [k, v] : m.metadata) {
    if (k == kProvenanceKey) continue;  // rewritten from the graph below
    auto* p = out->add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  }
  if (std::string prov = m.graph ? encodeProvenance(*m.graph) : std::string(); !prov.empty()) {
    auto* p = out->add_metadata_props();
    p->set_key(std::string(kProvenanceKey));
    p->set_value(prov);
  }
  for (const auto& t : m.trainingInfo) out->add_training_info()->ParseFromString(t);
  for (const Function& f : m.functions) {
    auto* p = out->add_functions();
    p->set_name(f.name);
    for (const Value* v : f.body->inputs()) p->add_input(v->name());
    for (const Value* v : f.body->outputs()) p->add_output(v->name());
    for (const auto& a : f.attributes) p->add_attribute(a);
    for (const Node* n : f.body->nodes()) nodeToProto(*n, p->add_node());
    if (!f.docString.empty()) p->set_doc_string(f.docString);
    for (const auto& o : f.opsetImports) {
      auto* op = p->add_opset_import();
      op->set_domain(o.domain);
      op->set_version(o.version);
    }
    if (!f.domain.empty()) p->set_domain(f.domain);
  }
}

void appendVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

std::string lengthDelimitedTag(uint32_t field, uint64_t length) {
  std::string s;
  appendVarint(s, (uint64_t(field) << 3) | 2);
  appendVarint(s, length);
  return s;
}

/// A file is a list of pieces: serialized protobuf bytes, or a tensor's data streamed as is.
struct Piece {
  std::string bytes;
  const TensorData* data = nullptr;
  uint64_t size() const { return data ? data->byteSize() : bytes.size(); }
};

uint64_t totalSize(const std::vector<Piece>& pieces) {
  uint64_t n = 0;
  for (const Piece& p : pieces) n += p.size();
  return n;
}

}  // namespace

void modelToProto(const Model& m, onnx::ModelProto* out) {
  modelHead(m, out);
  graphToProto(*m.graph, out->mutable_graph(), true);
  modelTail(m, out);
}

std::string serializeModel(const Model& m) {
  onnx::ModelProto p;
  modelToProto(m, &p);
  return serializeDeterministic(p);
}

Expected<WriteResult> writeOnnx(const Model& m, const std::filesystem::path& path, const WriteOptions& opt) {
  const Graph& g = *m.graph;
  bool external = opt.externalData;
  if (!external && opt.autoExternalOver2GiB) {
    uint64_t weights = 0;
    for (const Value* v : g.initializers()) weights += v->initializer()->byteSize();
    external = weights > kProtobufLimit - (uint64_t(64) << 20);  // leave room for the graph
  }
  WriteResult result;
  std::string extName = opt.externalFile.empty() ? path.filename().string() + ".data" : opt.externalFile;
  std::unique_ptr<AtomicFile> extFile;
  uint64_t extOffset = 0;
  if (external) {
    std::filesystem::path dir = path.parent_path();
    NPU_ASSIGN_OR_RETURN(extFile, AtomicFile::create(dir / extName));
  }

  // Graph: head, one entry per initializer, tail.
  std::vector<Piece> graphPieces;
  {
    onnx::GraphProto head;
    graphHead(g, &head);
    graphPieces.push_back({serializeDeterministic(head)});
  }
  for (const Value* v : g.initializers()) {
    const TensorData& t = *v->initializer();
    bool big = t.dtype() != DType::String && t.byteSize() >= kSpliceThreshold;
    bool toExternal = extFile && t.dtype() != DType::String &&
                      static_cast<int64_t>(t.byteSize()) >= opt.externalThreshold;
    if (toExternal) {
      uint64_t pad = (kExternalAlignment - extOffset % kExternalAlignment) % kExternalAlignment;
      NPU_TRY(extFile->writeZeros(pad));
      extOffset += pad;
      NPU_TRY(extFile->write(t.rawBytes(), t.byteSize(), t.fileRange()));
      onnx::TensorProto tp;
      for (int64_t d : t.dims()) tp.add_dims(d);
      tp.set_data_type(static_cast<int32_t>(t.dtype()));
      tp.set_name(v->name());
      if (!v->docString().empty() && !v->isGraphInput()) tp.set_doc_string(v->docString());
      auto add = [&tp](const char* k, std::string val) {
        auto* kv = tp.add_external_data();
        kv->set_key(k);
        kv->set_value(std::move(val));
      };
      add("location", extName);
      add("offset", std::to_string(extOffset));
      add("length", std::to_string(t.byteSize()));
      tp.set_data_location(onnx::TensorProto::EXTERNAL);
      extOffset += t.byteSize();
      std::string bytes = serializeDeterministic(tp);
      graphPieces.push_back({lengthDelimitedTag(5, bytes.size()) + bytes});
    } else if (big) {
      // TensorProto fields before raw_data (9): dims, data_type, name; after: doc_string (12).
      onnx::TensorProto a, b;
      for (int64_t d : t.dims()) a.add_dims(d);
      a.set_data_type(static_cast<int32_t>(t.dtype()));
      a.set_name(v->name());
      if (!v->docString().empty() && !v->isGraphInput()) b.set_doc_string(v->docString());
      std::string head = serializeDeterministic(a);
      std::string rawTag = lengthDelimitedTag(9, t.byteSize());
      std::string tail = serializeDeterministic(b);
      uint64_t tensorSize = head.size() + rawTag.size() + t.byteSize() + tail.size();
      graphPieces.push_back({lengthDelimitedTag(5, tensorSize) + head + rawTag});
      graphPieces.push_back({{}, &t});
      graphPieces.push_back({tail});
    } else {
      onnx::TensorProto tp;
      initializerToProto(*v, &tp);
      std::string bytes = serializeDeterministic(tp);
      graphPieces.push_back({lengthDelimitedTag(5, bytes.size()) + bytes});
    }
  }
  {
    onnx::GraphProto tail;
    graphTail(g, &tail);
    graphPieces.push_back({serializeDeterministic(tail)});
  }

  // Model: fields 1..6, graph (7), then opset_import (8) and the rest.
  std::vector<Piece> pieces;
  {
    onnx::ModelProto head;
    modelHead(m, &head);
    pieces.push_back({serializeDeterministic(head) + lengthDelimitedTag(7, totalSize(graphPieces))});
  }
  for (Piece& p : graphPieces) pieces.push_back(std::move(p));
  {
    onnx::ModelProto tail;
    modelTail(m, &tail);
    pieces.push_back({serializeDeterministic(tail)});
  }
  uint64_t size = totalSize(pieces);
  if (size > kProtobufLimit)
    return Status::unsupported("{}: the model would be {} bytes, over protobuf's 2 GiB limit; "
                               "write with --external-data", path.string(), size);

  NPU_ASSIGN_OR_RETURN(auto out, AtomicFile::create(path));
  for (const Piece& p : pieces)
    NPU_TRY(p.data ? out->write(p.data->rawBytes(), p.data->byteSize(), p.data->fileRange())
                   : out->write(p.bytes.data(), p.bytes.size()));
  // The data file lands first, so a reader that sees the new model also sees its data.
  if (extFile) {
    result.externalBytes = extFile->bytesWritten();
    result.externalFile = extName;
    NPU_TRY(extFile->commit());
  }
  result.modelBytes = out->bytesWritten();
  NPU_TRY(out->commit());
  return result;
}

}  // namespace npuconv
