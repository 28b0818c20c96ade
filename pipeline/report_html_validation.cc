// report_html_validation.cc - the report page's validation figures: for each artifact
// (model.onnx, model.npub) and output, SQNR, cosine, max abs/rel error and every threshold check,
// per input set and aggregated; and --fallback's outcome with the requested precision's figures.
#include <fmt/format.h>

#include "pipeline/html_text.h"
#include "pipeline/report_html_parts.h"
#include "pipeline/svg_bars.h"

namespace npuconv::report_html {
namespace {

std::string checksText(const Json& out) {
  std::string s;
  for (const auto& [name, c] : object(out, "checks").items()) {
    const Json* p = field(c, "passed");
    s += fmt::format("{}{} {} (value {}, threshold {})", s.empty() ? "" : "; ", name,
                     p && p->is_boolean() ? (p->get<bool>() ? "passed" : "FAILED") : "?", text(c, "value", "?"),
                     text(c, "threshold", "?"));
  }
  return s;
}

std::string outputRows(const std::string& artifact, const std::string& set, const Json& outputs) {
  std::string s;
  for (const auto& [name, o] : outputs.items()) {
    const Json* p = field(o, "passed");
    s += "<tr>" + td(artifact, "name") + td(set, "name") + td(name, "name") + tdNumber(number(o, "sqnr_db"), 2) +
         tdNumber(number(o, "sqnr_db_min"), 2) + tdNumber(number(o, "cosine"), 6) + tdNumber(number(o, "cosine_min"), 6) +
         td(number(o, "max_abs") ? fmt::format("{:.4g}", *number(o, "max_abs")) : "", "num") +
         td(number(o, "max_rel") ? fmt::format("{:.4g}", *number(o, "max_rel")) : "", "num") + tdNumber(number(o, "samples"), 0) +
         td(checksText(o), "small") + "<td>" + (p && p->is_boolean() ? passBadge(p->get<bool>()) : "") + "</td></tr>\n";
  }
  return s;
}

/// validation is keyed by artifact; a bare validate report (one with "sets") counts as model.onnx's.
std::vector<std::pair<std::string, const Json*>> artifacts(const Json& v) {
  std::vector<std::pair<std::string, const Json*>> a;
  if (!v.is_object()) return a;
  if (field(v, "sets")) return {{"model.onnx", &v}};
  for (auto it = v.begin(); it != v.end(); ++it)
    if (it.value().is_object()) a.emplace_back(it.key(), &it.value());
  return a;
}

std::string validationTables(const Json& v, const char* chartTitle) {
  std::string s;
  std::vector<SvgBar> bars;
  std::string rows;
  for (const auto& [artifact, rep] : artifacts(v)) {
    const Json& agg = object(*rep, "aggregate");
    const Json& sets = array(*rep, "sets");
    std::string head = artifact + " (" + text(*rep, "candidate_kind", "candidate") + " " + text(*rep, "candidate") + ")";
    const Json& ref = object(*rep, "reference");
    std::string refText;
    for (const auto& [k, val] : ref.items()) refText += (refText.empty() ? "" : ", ") + k + " " + valueText(val);
    const Json* passed = field(*rep, "passed");
    s += "<p class=\"figures\">" + escapeHtml(head) + (refText.empty() ? "" : " against " + escapeHtml(refText)) + " " +
         (passed && passed->is_boolean() ? passBadge(passed->get<bool>()) : "") + "</p>\n";
    for (const auto& [name, o] : object(agg, "outputs").items()) {
      auto sqnr = number(o, "sqnr_db"), cosine = number(o, "cosine");
      bars.push_back({artifact + ": " + name, {{sqnr.value_or(0), artifact.find("npub") != std::string::npos ? "#2e9d5b" : "#3b6fd8"}},
                      (sqnr ? fixedText(*sqnr, 2) + " dB" : "no SQNR") + (cosine ? " \xC2\xB7 cos " + fixedText(*cosine, 6) : ""),
                      ""});
    }
    if (!agg.empty()) rows += outputRows(artifact, sets.size() > 1 ? "all sets" : text(sets.empty() ? agg : sets[0], "name", "all"),
                                         object(agg, "outputs"));
    if (sets.size() > 1)
      for (const Json& set : sets) rows += outputRows(artifact, text(set, "name", "?"), object(set, "outputs"));
    else if (agg.empty() && sets.size() == 1)
      rows += outputRows(artifact, text(sets[0], "name", "?"), object(sets[0], "outputs"));
  }
  if (!bars.empty()) s += svgHorizontalBars(bars, barsOptions(chartTitle, "dB"));
  if (!rows.empty())
    s += "<table><thead><tr><th>artifact</th><th>set</th><th>output</th><th>SQNR dB</th><th>min SQNR dB</th><th>cosine</th>"
         "<th>min cosine</th><th>max abs</th><th>max rel</th><th>samples</th><th>checks</th><th></th></tr></thead><tbody>\n" +
         rows + "</tbody></table>\n";
  return s;
}

}  // namespace

std::string validationSection(const Json& r) {
  std::string s = "<section id=\"validation\"><h2>Validation</h2>\n";
  const Json& fb = object(r, "fallback");
  if (!fb.empty())
    s += "<p class=\"warn\">" +
         escapeHtml(fmt::format("--fallback: the outputs are {}, not the requested {}: {}", text(fb, "used_precision", "?"),
                                text(fb, "requested_precision", "?"), text(fb, "reason"))) +
         "</p>\n";
  const Json& v = object(r, "validation");
  if (v.empty()) s += missingNote("validation (convert --validate-inputs)");
  else s += validationTables(v, "validation SQNR per artifact and output, dB");
  if (const Json& req = object(fb, "requested_validation"); !req.empty()) {
    s += "<h3>" + escapeHtml("The requested " + text(fb, "requested_precision", "precision") + " conversion (not written)") + "</h3>\n";
    s += validationTables(req, "the requested precision's validation SQNR, dB");
  }
  return s + "</section>\n";
}

}  // namespace npuconv::report_html
