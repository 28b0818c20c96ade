// report_html_parts.cc - see report_html_parts.h.
#include "pipeline/report_html_parts.h"

#include <fmt/format.h>

#include "pipeline/html_text.h"

namespace npuconv::report_html {

const Json* field(const Json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

const Json& object(const Json& j, const char* key) {
  static const Json empty = Json::object();
  const Json* f = field(j, key);
  return f && f->is_object() ? *f : empty;
}

const Json& array(const Json& j, const char* key) {
  static const Json empty = Json::array();
  const Json* f = field(j, key);
  return f && f->is_array() ? *f : empty;
}

std::optional<double> number(const Json& j, const char* key) {
  const Json* f = field(j, key);
  if (f && f->is_number()) return f->get<double>();
  return std::nullopt;
}

std::string valueText(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  if (v.is_number_float()) return fmt::format("{:g}", v.get<double>());
  return v.dump();
}

std::string text(const Json& j, const char* key, const std::string& fallback) {
  const Json* f = field(j, key);
  if (!f || f->is_null() || f->is_object() || f->is_array()) return fallback;
  return valueText(*f);
}

std::string td(const std::string& t, const char* cls) {
  if (cls) return fmt::format("<td class=\"{}\">{}</td>", cls, escapeHtml(t));
  return "<td>" + escapeHtml(t) + "</td>";
}

std::string tdNumber(std::optional<double> v, int digits) { return td(v ? fixedText(*v, digits) : "", "num"); }

std::string missingNote(const std::string& what) {
  return "<p class=\"note\">" + escapeHtml("Not in this report: " + what + ".") + "</p>\n";
}

std::string passBadge(bool passed) {
  return passed ? "<span class=\"badge pass\">PASS</span>" : "<span class=\"badge fail\">FAIL</span>";
}

std::string precisionColor(const std::string& p) {
  if (p == "int8" || p == "uint8") return "#3b6fd8";
  if (p == "int16" || p == "a16w8") return "#8e44ad";
  if (p == "fp16" || p == "float16") return "#e08a1e";
  if (p == "fp32" || p == "float32" || p == "float") return "#7f8c8d";
  return "#16a085";
}

std::string deviceColor(const std::string& d) { return d == "npu" ? "#2e9d5b" : d == "cpu" ? "#d9534f" : "#7f8c8d"; }

}  // namespace npuconv::report_html
