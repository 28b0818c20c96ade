#include "converter/ir/printer.h"

#include <fmt/format.h>

#include <sstream>

namespace npuconv {
namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string valueRef(const Value* v) { return v ? "%" + v->name() : "_"; }

template <typename T>
std::string listOf(const std::vector<T>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + fmt::format("{}", v[i]);
  return out + "]";
}

void printAttr(std::ostream& os, const Attribute& a, const PrintOptions& opt, int indent) {
  os << a.name << "=";
  if (!a.refAttrName.empty()) {
    os << "@" << a.refAttrName;
    return;
  }
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          os << v;
        } else if constexpr (std::is_same_v<T, float>) {
          os << fmt::format("{}f", v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          os << quoted(v);
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          os << "[";
          for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << quoted(v[i]);
          os << "]";
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          os << listOf(v);
        } else if constexpr (std::is_same_v<T, std::vector<float>>) {
          os << "[";
          for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << fmt::format("{}f", v[i]);
          os << "]";
        } else if constexpr (std::is_same_v<T, TensorRef>) {
          os << (v ? tensorSummary(*v, opt.maxInlineElements) : "null");
        } else if constexpr (std::is_same_v<T, std::vector<TensorRef>>) {
          os << "[";
          for (size_t i = 0; i < v.size(); ++i)
            os << (i ? "," : "") << (v[i] ? tensorSummary(*v[i], opt.maxInlineElements) : "null");
          os << "]";
        } else if constexpr (std::is_same_v<T, GraphPtr>) {
          os << "\n";
          if (v) printGraph(os, *v, opt, indent + 4);
          os << std::string(indent + 2, ' ');
        } else if constexpr (std::is_same_v<T, std::vector<GraphPtr>>) {
          os << "[\n";
          for (const auto& g : v)
            if (g) printGraph(os, *g, opt, indent + 4);
          os << std::string(indent + 2, ' ') << "]";
        } else if constexpr (std::is_same_v<T, OpaqueAttr>) {
          os << fmt::format("opaque<{} B>", v.encoded.size());
        }
      },
      a.value);
  if (opt.full && !a.docString.empty()) os << " doc=" << quoted(a.docString);
}

}  // namespace

std::string tensorSummary(const TensorData& t, int64_t maxInlineElements) {
  std::string out = fmt::format("{}{}", dtypeShortName(t.dtype()), listOf(t.dims()));
  if (t.numElements() > maxInlineElements) {
    return out + fmt::format(" <{} B, hash={:016x}>", t.dtype() == DType::String ? 0 : t.byteSize(),
                             t.contentHash());
  }
  out += " dense<";
  for (int64_t i = 0; i < t.numElements(); ++i) {
    if (i) out += ",";
    if (t.dtype() == DType::String)
      out += quoted(t.strings()[size_t(i)]);
    else if (t.dtype() == DType::C64 || t.dtype() == DType::C128)
      out += "c";
    else
      out += fmt::format("{}", t.elementAsDouble(i));
  }
  return out + ">";
}

void printGraph(std::ostream& os, const Graph& g, const PrintOptions& opt, int indent) {
  std::string pad(indent, ' ');
  os << pad << "graph @" << g.name() << "(";
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    const Value* v = g.inputs()[i];
    os << (i ? ", " : "") << valueRef(v) << ": " << v->type().toString();
  }
  os << ") {\n";
  if (opt.full && !g.docString().empty()) os << pad << "  doc " << quoted(g.docString()) << "\n";
  for (const Value* v : g.initializers()) {
    os << pad << "  " << valueRef(v) << " = " << (v->isGraphInput() ? "default " : "const ")
       << tensorSummary(*v->initializer(), opt.maxInlineElements);
    if (opt.full && !v->docString().empty()) os << " doc=" << quoted(v->docString());
    os << "\n";
  }
  for (const Node* n : g.nodes()) {
    os << pad << "  ";
    for (size_t i = 0; i < n->numResults(); ++i) os << (i ? ", " : "") << valueRef(n->result(i));
    if (n->numResults()) os << " = ";
    os << (n->domain().empty() ? "" : n->domain() + ".") << n->opType() << "(";
    for (size_t i = 0; i < n->numOperands(); ++i) os << (i ? ", " : "") << valueRef(n->operand(i));
    os << ")";
    if (!n->attrs().empty()) {
      os << " {";
      bool first = true;
      for (const Attribute& a : n->attrs().all()) {
        os << (first ? "" : ", ");
        first = false;
        printAttr(os, a, opt, indent);
      }
      os << "}";
    }
    os << " :";
    for (size_t i = 0; i < n->numResults(); ++i) {
      const Value* r = n->result(i);
      os << (i ? ", " : " ") << (r ? r->type().toString() : "_");
    }
    os << " name=" << quoted(n->name());
    if (n->provenance().size() != 1 || n->provenance()[0] != n->name()) {
      os << " origin=[";
      for (size_t i = 0; i < n->provenance().size(); ++i) os << (i ? "," : "") << quoted(n->provenance()[i]);
      os << "]";
    }
    if (opt.full && !n->docString().empty()) os << " doc=" << quoted(n->docString());
    os << "\n";
  }
  if (opt.full) {
    for (const Value* v : g.valueList())
      if (v->declaredInValueInfo())
        os << pad << "  value_info " << valueRef(v) << ": " << v->type().toString()
           << (v->docString().empty() ? "" : " doc=" + quoted(v->docString())) << "\n";
    for (const Value* v : g.inputs())
      if (!v->docString().empty()) os << pad << "  input_doc " << valueRef(v) << " " << quoted(v->docString()) << "\n";
    for (const auto& qa : g.quantAnnotations()) {
      os << pad << "  quant_annotation " << quoted(qa.tensorName);
      for (const auto& [k, v] : qa.params) os << " " << quoted(k) << "=" << quoted(v);
      os << "\n";
    }
    for (const auto& s : g.sparseInitializers()) os << pad << "  sparse_initializer <" << s.size() << " B>\n";
  }
  os << pad << "  return";
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    const Value* v = g.outputs()[i];
    os << (i ? ", " : " ") << valueRef(v) << ": " << (v ? v->type().toString() : "_");
  }
  os << "\n" << pad << "}\n";
}

void printModel(std::ostream& os, const Model& m, const PrintOptions& opt) {
  os << "model ir_version=" << m.irVersion << " opsets=[";
  for (size_t i = 0; i < m.opsetImports.size(); ++i)
    os << (i ? ", " : "") << quoted(m.opsetImports[i].domain) << ":" << m.opsetImports[i].version;
  os << "]";
  if (!m.producerName.empty() || !m.producerVersion.empty())
    os << " producer=" << quoted(m.producerName) << " " << quoted(m.producerVersion);
  os << "\n";
  if (opt.full) {
    if (!m.domain.empty() || m.modelVersion)
      os << "domain=" << quoted(m.domain) << " model_version=" << m.modelVersion << "\n";
    if (!m.docString.empty()) os << "doc " << quoted(m.docString) << "\n";
    for (const auto& [k, v] : m.metadata) os << "metadata " << quoted(k) << "=" << quoted(v) << "\n";
    for (const auto& t : m.trainingInfo) os << "training_info <" << t.size() << " B>\n";
  }
  for (const Function& f : m.functions) {
    os << "function " << quoted(f.domain) << "." << f.name << " attrs=[";
    for (size_t i = 0; i < f.attributes.size(); ++i) os << (i ? "," : "") << f.attributes[i];
    os << "] opsets=[";
    for (size_t i = 0; i < f.opsetImports.size(); ++i)
      os << (i ? ", " : "") << quoted(f.opsetImports[i].domain) << ":" << f.opsetImports[i].version;
    os << "]";
    if (opt.full && !f.docString.empty()) os << " doc=" << quoted(f.docString);
    os << "\n";
    if (f.body) printGraph(os, *f.body, opt, 2);
  }
  printGraph(os, *m.graph, opt);
}

std::string toText(const Model& m, const PrintOptions& opt) {
  std::ostringstream os;
  printModel(os, m, opt);
  return os.str();
}

std::string toText(const Graph& g, const PrintOptions& opt) {
  std::ostringstream os;
  printGraph(os, g, opt);
  return os.str();
}

}  // namespace npuconv
