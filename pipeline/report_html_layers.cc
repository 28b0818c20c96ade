// report_html_layers.cc - the report page's quantization view: per-layer SQNR / cosine chart
// with the precision of each layer (original ONNX node names, from layer_error, precisions and
// quantization.nodes), and the calibration with its health warnings.
#include <map>

#include <fmt/format.h>

#include "pipeline/html_text.h"
#include "pipeline/report_html_parts.h"
#include "pipeline/svg_bars.h"

namespace npuconv::report_html {
namespace {

/// Precision by original node name: precisions.layers first (the weighted layers), then the
/// quantizer's decisions (every node it quantized, by the original names it covers).
std::map<std::string, std::string> precisionByNode(const Json& r) {
  std::map<std::string, std::string> m;
  for (const Json& n : array(object(r, "quantization"), "nodes")) {
    const std::string p = text(n, "precision");
    if (p.empty()) continue;
    for (const Json& name : array(n, "nodes"))
      if (name.is_string()) m.emplace(name.get<std::string>(), p);
  }
  for (const Json& l : array(object(r, "precisions"), "layers")) {
    const std::string node = text(l, "node"), p = text(l, "precision");
    if (!node.empty() && !p.empty()) m[node] = p;
  }
  return m;
}

struct LayerRow {
  std::string name;
  const Json* entry;
};

/// layer_error.layers is an object keyed by node name (an array of {"name"...} is read too).
std::vector<LayerRow> errorLayers(const Json& r) {
  std::vector<LayerRow> rows;
  const Json* layers = field(object(r, "layer_error"), "layers");
  if (!layers) return rows;
  if (layers->is_object())
    for (auto it = layers->begin(); it != layers->end(); ++it) rows.push_back({it.key(), &it.value()});
  else if (layers->is_array())
    for (const Json& l : *layers) rows.push_back({text(l, "name", text(l, "node", "?")), &l});
  return rows;
}

std::string joined(const Json& names) {
  std::string s;
  if (!names.is_array()) return s;
  for (const Json& n : names) s += (s.empty() ? "" : ", ") + valueText(n);
  return s;
}

}  // namespace

std::string layersSection(const Json& r) {
  std::string s = "<section id=\"layers\"><h2>Per-layer accuracy and precision</h2>\n";
  const std::map<std::string, std::string> precision = precisionByNode(r);
  const std::string modelPrecision = text(r, "precision");
  auto precisionOf = [&](const std::string& name) {
    auto it = precision.find(name);
    return it != precision.end() ? it->second : modelPrecision;
  };
  const std::vector<LayerRow> rows = errorLayers(r);
  if (rows.empty()) {
    s += missingNote("the per-layer error table (layer_error: int8 with --layer-error-samples > 0)");
  } else {
    const Json& le = object(r, "layer_error");
    const Json& sum = object(le, "summary");
    s += "<p>" + escapeHtml(text(le, "what")) + "</p>\n";
    if (!sum.empty())
      s += fmt::format("<p class=\"figures\">{} layers over {} samples; SQNR min <b>{} dB</b>, median <b>{} dB</b>; "
                       "worst layer <b>{}</b></p>\n",
                       escapeHtml(text(sum, "layers")), escapeHtml(text(le, "samples")),
                       escapeHtml(number(sum, "min_sqnr_db") ? fixedText(*number(sum, "min_sqnr_db"), 2) : "?"),
                       escapeHtml(number(sum, "median_sqnr_db") ? fixedText(*number(sum, "median_sqnr_db"), 2) : "?"),
                       escapeHtml(text(sum, "worst")));
    std::vector<SvgBar> bars;
    std::map<std::string, bool> used;
    for (const LayerRow& l : rows) {
      const std::string p = precisionOf(l.name);
      used[p] = true;
      auto sqnr = number(*l.entry, "sqnr_db"), cosine = number(*l.entry, "cosine");
      std::string v = sqnr ? fixedText(*sqnr, 2) + " dB" : "no SQNR";
      if (cosine) v += " \xC2\xB7 cos " + fixedText(*cosine, 6);
      v += " \xC2\xB7 " + p;
      bars.push_back({l.name, {{sqnr.value_or(0), precisionColor(p)}}, v, text(*l.entry, "op")});
    }
    SvgBarsOptions opt = barsOptions("SQNR per layer, dB", "dB");
    if (auto t = number(object(r, "options"), "target_sqnr"); t && *t > 0)
      opt.markers.push_back({*t, fmt::format("--target-sqnr {} dB", fixedText(*t, 1))});
    s += svgHorizontalBars(bars, opt);
    std::vector<std::pair<std::string, std::string>> legend;
    for (const auto& [p, yes] : used) legend.emplace_back(p, precisionColor(p));
    s += htmlLegend(legend);
    s += "<table><thead><tr><th>layer (ONNX node)</th><th>op</th><th>nodes</th><th>precision</th><th>SQNR dB</th>"
         "<th>cosine</th><th>min sample cosine</th><th>samples</th></tr></thead><tbody>\n";
    for (const LayerRow& l : rows) {
      const Json& e = *l.entry;
      s += "<tr>" + td(l.name, "name") + td(text(e, "op")) + td(joined(array(e, "nodes")), "small") +
           td(precisionOf(l.name)) + tdNumber(number(e, "sqnr_db"), 2) + tdNumber(number(e, "cosine"), 6) +
           tdNumber(number(e, "min_sample_cosine"), 6) + tdNumber(number(e, "samples"), 0) + "</tr>\n";
    }
    s += "</tbody></table>\n";
  }
  // The precision of every weighted layer (also without the error table: fp16, mixed configs).
  const Json& pr = object(r, "precisions");
  if (!array(pr, "layers").empty()) {
    std::string counts;
    for (const auto& [p, n] : object(pr, "counts").items()) counts += (counts.empty() ? "" : ", ") + valueText(n) + " " + p;
    s += "<details><summary>Precision of each weighted layer (" + escapeHtml(counts) + ")</summary>\n";
    if (auto share = number(pr, "int8_weight_share"))
      s += "<p>int8 share of weights: " + fixedText(100 * *share, 1) + " %</p>\n";
    s += "<table><thead><tr><th>layer (ONNX node)</th><th>op</th><th>precision</th><th>weights</th></tr></thead><tbody>\n";
    for (const Json& l : array(pr, "layers"))
      s += "<tr>" + td(text(l, "node"), "name") + td(text(l, "op")) + td(text(l, "precision")) +
           tdNumber(number(l, "weight_elements"), 0) + "</tr>\n";
    s += "</tbody></table></details>\n";
  }
  const Json& am = object(r, "auto_mixed");
  if (!am.empty()) {
    s += "<details><summary>--auto-mixed search</summary><table><tbody>\n";
    for (const auto& [k, v] : am.items())
      if (!v.is_structured()) s += "<tr>" + td(k) + td(valueText(v)) + "</tr>\n";
    s += "</tbody></table></details>\n";
  }
  return s + "</section>\n";
}

std::string calibrationSection(const Json& r) {
  std::string s = "<section id=\"calibration\"><h2>Calibration and warnings</h2>\n";
  const Json& cal = object(r, "calibration");
  if (cal.empty()) {
    s += missingNote("calibration (only calibrated precisions have it)");
  } else {
    s += "<table class=\"kv\"><tbody>\n";
    for (const char* k : {"method", "percentile", "samples", "tensors", "millis", "data", "cache", "cache_file"})
      if (const Json* v = field(cal, k); v && !v->is_structured() && !valueText(*v).empty())
        s += "<tr>" + td(k) + td(valueText(*v)) + "</tr>\n";
    s += "</tbody></table>\n";
  }
  const Json& warnings = array(r, "warnings");
  if (warnings.empty()) {
    s += "<p class=\"ok\">No calibration health or quantizer warnings.</p>\n";
  } else {
    s += fmt::format("<p class=\"warn\">{} warning{}:</p>\n", warnings.size(), warnings.size() == 1 ? "" : "s");
    s += "<table><thead><tr><th>kind</th><th>tensor</th><th>produced by (ONNX nodes)</th><th>message</th></tr></thead>"
         "<tbody>\n";
    for (const Json& w : warnings) {
      if (w.is_string()) {
        s += "<tr>" + td("") + td("") + td("") + td(w.get<std::string>()) + "</tr>\n";
        continue;
      }
      s += "<tr>" + td(text(w, "kind")) + td(text(w, "tensor"), "name") + td(joined(array(w, "producers")), "name") +
           td(text(w, "message")) + "</tr>\n";
    }
    s += "</tbody></table>\n";
  }
  return s + "</section>\n";
}

}  // namespace npuconv::report_html
