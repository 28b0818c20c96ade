#include "formats/onnx/onnx_reader.h"

#include <onnx/defs/parser.h>
#include <onnx/onnx_pb.h>

#include <climits>
#include <cstring>
#include <map>
#include <unordered_set>

#include "converter/ir/provenance_record.h"
#include "converter/ir/verifier.h"
#include "converter/support/utf8.h"
#include "formats/onnx/raw_data_cut.h"
#include "formats/onnx/schema_check.h"
#include "formats/support/mapped_file.h"
#include "formats/onnx/tensor_proto.h"

namespace npuconv {
namespace {

// ONNX strings (names, op types, domains, doc strings) are UTF-8; `bytes` fields (raw_data,
// string tensors, string attributes) are not checked. `path` names the field: graph.node[3].name.
Status checkUtf8Strings(const google::protobuf::Message& msg, const std::string& path) {
  const google::protobuf::Reflection* r = msg.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  r->ListFields(msg, &fields);
  for (const google::protobuf::FieldDescriptor* f : fields) {
    std::string where = path.empty() ? f->name() : path + "." + f->name();
    auto check = [&](const std::string& v, const std::string& at) -> Status {
      if (auto bad = firstInvalidUtf8(v))
        return Status::invalidModel("{} \"{}\" is not valid UTF-8 (byte {})", at, v, *bad + 1);
      return Status::ok();
    };
    if (f->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
      if (!f->is_repeated()) {
        NPU_TRY(check(r->GetString(msg, f), where));
      } else {
        for (int i = 0, n = r->FieldSize(msg, f); i < n; ++i)
          NPU_TRY(check(r->GetRepeatedString(msg, f, i), fmt::format("{}[{}]", where, i)));
      }
    } else if (f->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
      if (!f->is_repeated()) {
        NPU_TRY(checkUtf8Strings(r->GetMessage(msg, f), where));
      } else {
        for (int i = 0, n = r->FieldSize(msg, f); i < n; ++i)
          NPU_TRY(checkUtf8Strings(r->GetRepeatedMessage(msg, f, i), fmt::format("{}[{}]", where, i)));
      }
    }
  }
  return Status::ok();
}

// A default-domain opset newer than npuconv knows would be read with older semantics.
Status checkOpsetImports(const google::protobuf::RepeatedPtrField<onnx::OperatorSetIdProto>& imports,
                         const std::string& where) {
  for (const auto& o : imports) {
    if (!o.domain().empty() && o.domain() != "ai.onnx") continue;
    if (o.version() > kMaxOpset)
      return Status::unsupported("{}opset {} of the default domain is newer than npuconv knows (up to {})", where,
                                 o.version(), kMaxOpset);
    if (o.version() < 1) return Status::invalidModel("{}default-domain opset {} (opsets start at 1)", where, o.version());
  }
  return Status::ok();
}

class Importer {
 public:
  Importer(std::filesystem::path baseDir, const ImportOptions& opt) : ext_(std::move(baseDir), opt) {}
  void adoptCutPayloads(std::shared_ptr<const MappedFile> file,
                        std::unordered_map<const onnx::TensorProto*, RawDataSpan> payloads) {
    ext_.adoptCutPayloads(std::move(file), std::move(payloads));
  }

  Expected<Model> importModel(onnx::ModelProto& proto) {
    Model m;
    m.irVersion = proto.ir_version();
    if (!proto.has_graph() || proto.ir_version() == 0)
      return Status::invalidModel("not an ONNX model (no graph or no IR version)");
    if (m.irVersion < kMinIrVersion || m.irVersion > kMaxIrVersion)
      return Status::unsupported("IR version {} (supported {}..{})", m.irVersion, kMinIrVersion, kMaxIrVersion);
    NPU_TRY(checkOpsetImports(proto.opset_import(), ""));
    for (const auto& f : proto.functions())
      NPU_TRY(checkOpsetImports(f.opset_import(), "function \"" + f.name() + "\": "));
    NPU_TRY(checkUtf8Strings(proto, ""));
    for (const auto& o : proto.opset_import()) m.opsetImports.push_back({o.domain(), o.version()});
    m.producerName = proto.producer_name();
    m.producerVersion = proto.producer_version();
    m.domain = proto.domain();
    m.modelVersion = proto.model_version();
    m.docString = proto.doc_string();
    for (const auto& kv : proto.metadata_props()) m.metadata.emplace_back(kv.key(), kv.value());
    for (const auto& t : proto.training_info()) m.trainingInfo.push_back(t.SerializeAsString());
    for (auto& f : *proto.mutable_functions()) {
      Function fn;
      fn.name = f.name();
      fn.domain = f.domain();
      fn.docString = f.doc_string();
      for (const auto& a : f.attribute()) fn.attributes.push_back(a);
      for (const auto& o : f.opset_import()) fn.opsetImports.push_back({o.domain(), o.version()});
      fn.body = std::make_shared<Graph>(f.name());
      for (const auto& in : f.input()) fn.body->addInput(in, TensorType{});
      NPU_TRY(importNodes(*f.mutable_node(), *fn.body).in("function \"" + f.name() + "\""));
      for (const auto& out : f.output()) {
        Value* v = fn.body->findValue(out);
        if (!v) return Status::invalidModel("function \"{}\": output \"{}\" is not produced", f.name(), out);
        fn.body->addOutput(v);
      }
      m.functions.push_back(std::move(fn));
    }
    m.graph = std::make_shared<Graph>();
    NPU_TRY(importGraph(*proto.mutable_graph(), *m.graph));
    restoreProvenance(m);
    NPU_TRY(verifyModel(m));
    NPU_TRY(checkNodeSchemas(m));
    return m;
  }

 private:
  Status importGraph(onnx::GraphProto& gp, Graph& g) {
    g.setName(gp.name());
    g.setDocString(gp.doc_string());
    std::unordered_set<std::string> inputNames;
    for (const auto& vi : gp.input()) {
      if (g.findValue(vi.name()))
        return Status::invalidModel("duplicate value name \"{}\" among graph inputs", vi.name());
      NPU_ASSIGN_OR_RETURN(TensorType t, typeFromProto(vi.type(), vi.name()));
      Value* v = g.addInput(vi.name(), std::move(t));
      v->setDocString(vi.doc_string());
    }
    for (auto& tp : *gp.mutable_initializer()) {
      NPU_ASSIGN_OR_RETURN(TensorRef data, tensorFromProto(tp, ext_));
      if (Value* in = g.findValue(tp.name()); in && in->isGraphInput() && !in->isInitializer()) {
        g.setInputDefault(in, std::move(data));
        if (!in->type().known() || !in->shape()) {
          TensorType t = in->type();
          t.dtype = in->initializer()->dtype();
          if (!t.shape) t.shape = shapeOf(in->initializer()->dims());
          in->setType(t);
        }
        continue;
      }
      if (g.findValue(tp.name()))
        return Status::invalidModel("duplicate value name \"{}\": initializer defined twice", tp.name());
      Value* v = g.addInitializer(tp.name(), std::move(data));
      v->setDocString(tp.doc_string());
    }
    for (const auto& sp : gp.sparse_initializer()) g.sparseInitializers().push_back(sp.SerializeAsString());
    NPU_TRY(importNodes(*gp.mutable_node(), g));
    for (const auto& vi : gp.output()) {
      Value* v = g.lookup(vi.name());
      if (!v) return Status::invalidModel("graph output \"{}\" is not produced by any node", vi.name());
      NPU_ASSIGN_OR_RETURN(TensorType t, typeFromProto(vi.type(), vi.name()));
      if (v->graph() != &g) v = passThrough(g, v, t);
      if (t.known() && v->graph() == &g && !v->isInitializer()) v->setType(std::move(t));
      if (!vi.doc_string().empty() && v->graph() == &g) v->setDocString(vi.doc_string());
      g.addOutput(v);
    }
    for (const auto& vi : gp.value_info()) {
      Value* v = g.findValue(vi.name());
      if (!v) continue;  // value_info for a name nothing produces: dropped, as ORT does
      NPU_ASSIGN_OR_RETURN(TensorType t, typeFromProto(vi.type(), vi.name()));
      if (!v->isInitializer()) v->setType(std::move(t));
      v->setDeclaredInValueInfo(true);
      if (!vi.doc_string().empty()) v->setDocString(vi.doc_string());
    }
    for (const auto& qa : gp.quantization_annotation()) {
      QuantAnnotation a{qa.tensor_name(), {}};
      for (const auto& kv : qa.quant_parameter_tensor_names()) a.params.emplace_back(kv.key(), kv.value());
      g.quantAnnotations().push_back(std::move(a));
    }
    return Status::ok();
  }

  /// A subgraph output naming a value of an enclosing graph (legal ONNX: a branch returning an
  /// outer value) becomes the result of an Identity inside the subgraph. The IR records uses
  /// per node, so an outer value listed only as a subgraph output would count as unused: dead
  /// code elimination would erase its producer under the output, and replaceAllUsesWith would
  /// miss it. ONNX Runtime refuses such models at load too, so what we write must not have them.
  static Value* passThrough(Graph& g, Value* outer, const TensorType& declared) {
    Node* id = g.createNode("Identity", {outer}, 1);
    if (g.parentNode()) id->setProvenance(g.parentNode()->provenance());  // not in the file: stands for the If/Loop
    Value* r = id->result(0);
    g.renameValue(r, g.uniqueName(outer->name() + "_passthrough"));
    r->setType(declared.known() ? declared : outer->type());
    return r;
  }

  /// Nodes may come in any order: create them all with their results first, then wire the
  /// operands by name, then sort topologically (a cycle is an error naming a node on it).
  Status importNodes(google::protobuf::RepeatedPtrField<onnx::NodeProto>& nodes, Graph& g) {
    std::vector<Node*> created;
    created.reserve(static_cast<size_t>(nodes.size()));
    for (const auto& np : nodes) {
      std::vector<std::optional<std::string>> results;
      for (const auto& out : np.output()) {
        if (out.empty()) {
          results.emplace_back(std::nullopt);
          continue;
        }
        if (g.findValue(out))
          return Status::invalidModel("{}: duplicate value name \"{}\" (produced twice)", describe(np), out);
        results.emplace_back(out);
        // Reserve the name now so a second producer in this loop is caught.
        for (size_t i = 0; i + 1 < results.size(); ++i)
          if (results[i] && *results[i] == out)
            return Status::invalidModel("{}: duplicate value name \"{}\"", describe(np), out);
      }
      Node* n = g.createNodeWithResults(np.op_type(), np.domain(), np.name(), {}, results);
      // Provenance: the user's name for the node; an unnamed node is known by its first output's
      // name (which is in the user's file too), a node with neither by nothing.
      if (!np.name().empty()) {
        n->setProvenance({np.name()});
      } else {
        for (const std::string& out : np.output())
          if (!out.empty()) {
            n->setProvenance({out});
            break;
          }
      }
      n->setDocString(np.doc_string());
      created.push_back(n);
    }
    for (int i = 0; i < nodes.size(); ++i) {
      auto& np = *nodes.Mutable(i);
      Node* n = created[static_cast<size_t>(i)];
      for (auto& ap : *np.mutable_attribute()) {
        NPU_ASSIGN_OR_RETURN(Attribute a, importAttribute(ap, *n));
        n->mutableAttrs().set(std::move(a));
      }
    }
    for (int i = 0; i < nodes.size(); ++i) {
      const auto& np = nodes.Get(i);
      Node* n = created[static_cast<size_t>(i)];
      for (const auto& in : np.input()) {
        if (in.empty()) {
          n->addOperand(nullptr);
          continue;
        }
        Value* v = g.lookup(in);
        if (!v) return Status::invalidModel("{}: input \"{}\" is not defined", describe(np), in);
        n->addOperand(v);
      }
    }
    std::string cycleNode;
    if (!g.topologicalSort(&cycleNode))
      return Status::invalidModel("graph \"{}\" has a cycle through node \"{}\"", g.name(), cycleNode);
    return Status::ok();
  }

  Expected<Attribute> importAttribute(onnx::AttributeProto& ap, Node& owner) {
    Attribute a;
    a.name = ap.name();
    a.docString = ap.doc_string();
    a.refAttrName = ap.ref_attr_name();
    using AP = onnx::AttributeProto;
    switch (ap.type()) {
      case AP::FLOAT: a.value = ap.f(); break;
      case AP::INT: a.value = ap.i(); break;
      case AP::STRING: a.value = ap.s(); break;
      case AP::FLOATS: a.value = std::vector<float>(ap.floats().begin(), ap.floats().end()); break;
      case AP::INTS: a.value = std::vector<int64_t>(ap.ints().begin(), ap.ints().end()); break;
      case AP::STRINGS: a.value = std::vector<std::string>(ap.strings().begin(), ap.strings().end()); break;
      case AP::TENSOR: {
        NPU_ASSIGN_OR_RETURN(TensorRef t, tensorFromProto(*ap.mutable_t(), ext_));
        a.value = std::move(t);
        break;
      }
      case AP::TENSORS: {
        std::vector<TensorRef> ts;
        for (auto& tp : *ap.mutable_tensors()) {
          NPU_ASSIGN_OR_RETURN(TensorRef t, tensorFromProto(tp, ext_));
          ts.push_back(std::move(t));
        }
        a.value = std::move(ts);
        break;
      }
      case AP::GRAPH: {
        auto sub = std::make_shared<Graph>();
        sub->setParentNode(&owner);
        NPU_TRY(importGraph(*ap.mutable_g(), *sub).in(owner.describe() + ": subgraph \"" + ap.name() + "\""));
        a.value = std::move(sub);
        break;
      }
      case AP::GRAPHS: {
        std::vector<GraphPtr> gs;
        for (auto& gp : *ap.mutable_graphs()) {
          auto sub = std::make_shared<Graph>();
          sub->setParentNode(&owner);
          NPU_TRY(importGraph(gp, *sub).in(owner.describe() + ": subgraph \"" + ap.name() + "\""));
          gs.push_back(std::move(sub));
        }
        a.value = std::move(gs);
        break;
      }
      default: {
        // Sparse tensors, type protos, or an untyped attribute reference: kept verbatim.
        if (ap.type() == AP::UNDEFINED && a.refAttrName.empty())
          return Status::invalidModel("{}: attribute \"{}\" has no type", owner.describe(), ap.name());
        a.value = OpaqueAttr{ap.SerializeAsString()};
        break;
      }
    }
    return a;
  }

  static std::string describe(const onnx::NodeProto& np) {
    return "node \"" + (np.name().empty() ? (np.output_size() ? np.output(0) : std::string()) : np.name()) +
           "\" (" + np.op_type() + ")";
  }

  ExternalDataResolver ext_;
};

void countExternal(const onnx::GraphProto& g, OnnxFileInfo& info) {
  for (const auto& t : g.initializer()) {
    if (t.data_location() != onnx::TensorProto::EXTERNAL) continue;
    ++info.externalTensors;
    std::string location;
    uint64_t length = 0;
    for (const auto& kv : t.external_data()) {
      if (kv.key() == "location") location = kv.value();
      if (kv.key() == "length") length = std::strtoull(kv.value().c_str(), nullptr, 10);
    }
    info.externalFiles[location] += length;
  }
  for (const auto& n : g.node())
    for (const auto& a : n.attribute()) {
      if (a.has_g()) countExternal(a.g(), info);
      for (const auto& sg : a.graphs()) countExternal(sg, info);
    }
}

Expected<Model> importProto(onnx::ModelProto& proto, const std::filesystem::path& baseDir,
                            const ImportOptions& opt, const std::string& display,
                            std::shared_ptr<const MappedFile> file = nullptr,
                            std::unordered_map<const onnx::TensorProto*, RawDataSpan> payloads = {}) {
  Importer imp(baseDir, opt);
  if (file) imp.adoptCutPayloads(std::move(file), std::move(payloads));
  auto m = imp.importModel(proto);
  if (!m) return std::move(m).status().in(display);
  return m;
}

}  // namespace

Expected<Model> readOnnx(const std::filesystem::path& path, const ImportOptions& opt, OnnxFileInfo* info) {
  NPU_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::open(path, /*keepOpen=*/true));
  const size_t size = file->size();
  if (size == 0) return Status::invalidModel("{}: empty file, not an ONNX model", path.string());
  if (size > INT_MAX)
    return Status::unsupported("{}: the protobuf part is {} bytes, over protobuf's 2 GiB limit; "
                               "store the weights as external data", path.string(), size);
  onnx::ModelProto proto;
  std::unordered_map<const onnx::TensorProto*, RawDataSpan> payloads;
  // The large raw_data payloads stay in the map (raw_data_cut.h); protobuf parses the rest.
  std::optional<CutModel> cut;
  if (opt.mmapRawData) cut = cutRawData({file->data(), size}, opt.mmapRawDataMinBytes);
  bool ok = false;
  if (cut) {
    ok = proto.ParseFromString(cut->skeleton);
    for (const auto& [tensor, span] : cutTensors(proto, *cut)) payloads.emplace(tensor, span);
  } else {
    ok = proto.ParseFromArray(file->data(), static_cast<int>(size));
  }
  if (!ok) return Status::invalidModel("{}: not a valid ONNX protobuf (corrupt or truncated file)", path.string());
  std::filesystem::path base = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  if (info) {
    info->fileBytes = static_cast<uint64_t>(size);
    info->externalFiles.clear();
    info->externalTensors = 0;
    countExternal(proto.graph(), *info);
  }
  if (payloads.empty()) return importProto(proto, base, opt, path.string());
  return importProto(proto, base, opt, path.string(), std::move(file), std::move(payloads));
}

Expected<Model> parseOnnxBytes(std::string_view bytes, const std::filesystem::path& baseDir,
                               const std::string& displayName) {
  onnx::ModelProto proto;
  if (bytes.size() > INT_MAX || !proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return Status::invalidModel("{}: not a valid ONNX protobuf", displayName);
  return importProto(proto, baseDir, ImportOptions{}, displayName);
}

Expected<Model> parseOnnxText(std::string_view text) {
  onnx::ModelProto proto;
  std::string owned(text);  // the parser keeps a pointer into it
  onnx::OnnxParser parser(owned.c_str());
  auto st = parser.Parse(proto);
  if (!st.IsOK()) return Status::invalidModel("ONNX text syntax: {}", st.ErrorMessage());
  if (!parser.EndOfInput()) return Status::invalidModel("ONNX text syntax: unexpected text after the model");
  return importProto(proto, ".", ImportOptions{}, "<text>");
}

}  // namespace npuconv
