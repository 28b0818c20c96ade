// report_html.cc - see report_html.h. The page: a header with the key figures, then one section
// per view (report_html_*.cc), then the effective options; CSS inline, charts inline SVG.
#include "pipeline/report_html.h"

#include <fmt/format.h>

#include "formats/support/json_file.h"
#include "formats/support/mapped_file.h"
#include "pipeline/html_text.h"
#include "pipeline/report_html_parts.h"

namespace npuconv {
namespace {

using namespace report_html;

constexpr const char* kCss = R"(
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:4px 0 2px}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #dfe3ea;padding-bottom:3px}
h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}th,td{border:1px solid #dfe3ea;padding:2px 7px;text-align:left;vertical-align:top}
th{background:#f3f5f9}td.num{text-align:right;font-variant-numeric:tabular-nums}td.name{font-family:monospace;overflow-wrap:break-word}
td.small{font-size:12px}td.indent{padding-left:24px;color:#555}tr.inner td{color:#555}td.cpu{color:#b52b27;font-weight:600}td.npu{color:#237a46}
table.kv td:first-child{color:#555}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}.card{border:1px solid #dfe3ea;border-radius:6px;padding:6px 12px;min-width:130px}
.card b{display:block;font-size:18px}.card span{color:#555;font-size:12px}
.note{color:#777;font-style:italic}.warn{color:#8a5a00;background:#fff6e0;padding:4px 8px;border-radius:4px}.ok{color:#237a46}
.badge{display:inline-block;padding:0 6px;border-radius:3px;font-size:12px;font-weight:700;color:#fff}.pass{background:#2e9d5b}.fail{background:#d9534f}
.legend span{margin-right:14px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
svg.chart{display:block;margin:6px 0;font:12px monospace}svg .grid{stroke:#e6e9ef}svg .marker{stroke:#d9534f;stroke-dasharray:4 3;stroke-width:1.5}
svg .tick{fill:#777}svg .label{fill:#1d2330}svg .value{fill:#333}
details{margin:6px 0}summary{cursor:pointer;color:#2a5db0}
)";

std::string card(const std::string& figure, const std::string& what) {
  return "<div class=\"card\"><b>" + escapeHtml(figure) + "</b><span>" + escapeHtml(what) + "</span></div>";
}

/// The figures a reader looks for first.
std::string header(const Json& r, const std::string& source) {
  const Json& in = object(r, "input");
  const Json& out = object(r, "output");
  std::string s = "<h1>npuconv convert: " + escapeHtml(text(in, "model", "(model not named)")) + "</h1>\n";
  s += "<p>" + escapeHtml(fmt::format("report {} \xC2\xB7 npuconv {} \xC2\xB7 input key {}", source, text(r, "npuconv_version", "?"),
                                      text(in, "key", "?"))) +
       "</p>\n<div class=\"cards\">";
  s += card(text(r, "precision", "?"), "precision");
  const Json& target = object(r, "target");
  if (!target.empty()) s += card(text(target, "name", "?"), "target");
  auto before = number(in, "model_bytes");
  auto after = number(out, "model_bytes");
  if (after) *after += number(out, "external_bytes").value_or(0);
  if (before && after && *before > 0)
    s += card(bytesText(*before) + " \xE2\x86\x92 " + bytesText(*after), fmt::format("model size ({:.2f}x)", *after / *before));
  const Json& passes = array(r, "passes");
  if (!passes.empty()) {
    auto b = number(passes.front(), "nodes_before"), a = number(passes.back(), "nodes_after");
    if (b && a) s += card(fmt::format("{:.0f} \xE2\x86\x92 {:.0f}", *b, *a), "nodes before / after the passes");
  }
  const Json& pl = object(r, "placement");
  if (auto n = number(pl, "on_npu"), c = number(pl, "node_count"); n && c && *c > 0)
    s += card(fmt::format("{:.0f} / {:.0f}", *n, *c), "nodes on the NPU");
  if (auto b = number(object(r, "device_blob"), "bytes")) s += card(bytesText(*b), "device blob");
  if (auto m = number(object(object(r, "layer_error"), "summary"), "min_sqnr_db"))
    s += card(fixedText(*m, 2) + " dB", "worst layer SQNR");
  for (const auto& [artifact, rep] : object(r, "validation").items())
    for (const auto& [name, o] : object(object(rep, "aggregate"), "outputs").items())
      if (auto c = number(o, "cosine"))
        s += card(fixedText(*c, 6), artifact + " cosine (" + name + ")");
  const Json& fb = object(r, "fallback");
  if (!fb.empty()) s += card(text(fb, "used_precision", "?"), "--fallback used instead of " + text(fb, "requested_precision", "?"));
  s += "</div>\n<p class=\"small\">Sections: <a href=\"#pipeline\">pipeline</a> \xC2\xB7 <a href=\"#layers\">layers</a> \xC2\xB7 "
       "<a href=\"#placement\">placement</a> \xC2\xB7 <a href=\"#calibration\">calibration</a> \xC2\xB7 <a href=\"#memory\">memory</a> "
       "\xC2\xB7 <a href=\"#validation\">validation</a> \xC2\xB7 <a href=\"#options\">options</a></p>\n";
  return s;
}

std::string optionsSection(const Json& r) {
  std::string s = "<section id=\"options\"><h2>Options</h2>\n";
  const Json& o = object(r, "options");
  if (o.empty()) return s + missingNote("the effective options") + "</section>\n";
  const Json& from = object(r, "option_sources");
  s += "<details><summary>Every effective option</summary><table class=\"kv\"><tbody>\n";
  for (const auto& [k, v] : o.items()) s += "<tr>" + td(k) + td(v.is_string() ? v.get<std::string>() : v.dump(), "name") + "</tr>\n";
  s += "</tbody></table></details>\n";
  if (!from.empty()) {
    s += "<details><summary>Where the options that were set came from</summary><table class=\"kv\"><tbody>\n";
    for (const auto& [k, v] : from.items()) s += "<tr>" + td(k) + td(valueText(v)) + "</tr>\n";
    s += "</tbody></table></details>\n";
  }
  return s + "</section>\n";
}

}  // namespace

std::string renderReportHtml(const nlohmann::ordered_json& r, const std::string& source) {
  std::string s = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  // No script may run and nothing may be fetched: the page is data only, whatever names it holds.
  s += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n";
  s += "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n";
  s += "<title>" + escapeHtml("npuconv report: " + text(object(r, "input"), "model", source)) + "</title>\n";
  s += "<style>" + std::string(kCss) + "</style></head><body>\n";
  s += header(r, source);
  s += pipelineSection(r);
  s += layersSection(r);
  s += placementSection(r);
  s += calibrationSection(r);
  s += memorySection(r);
  s += validationSection(r);
  s += optionsSection(r);
  s += "<p class=\"note\">Written by npuconv from " + escapeHtml(source) + "; the JSON report holds every figure.</p>\n";
  return s + "</body></html>\n";
}

Status writeReportHtml(const std::filesystem::path& reportJson, const std::filesystem::path& html) {
  NPU_ASSIGN_OR_RETURN(auto report, readJsonFile<nlohmann::ordered_json>(reportJson));
  if (!report.is_object() || !report.contains("npuconv_version"))
    return Status::invalidArgument("{}: not an npuconv convert report (no \"npuconv_version\")", reportJson.string());
  return writeFileAtomically(html, renderReportHtml(report, reportJson.filename().string()));
}

}  // namespace npuconv
