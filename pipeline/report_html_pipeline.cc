// report_html_pipeline.cc - the report page's pass pipeline: node count after each pass as a
// chart, and every pass (inner fixpoint runs indented) with node counts before/after and time.
#include <fmt/format.h>

#include "pipeline/html_text.h"
#include "pipeline/report_html_parts.h"
#include "pipeline/svg_bars.h"

namespace npuconv::report_html {

std::string pipelineSection(const Json& r) {
  std::string s = "<section id=\"pipeline\"><h2>Pipeline</h2>\n";
  const Json& passes = array(r, "passes");
  if (passes.empty()) return s + missingNote("the passes (report[\"passes\"])") + "</section>\n";
  std::vector<SvgBar> bars;
  double totalMs = 0;
  bool first = true;
  for (const Json& p : passes) {
    if (field(p, "group")) continue;  // inner runs of a fixpoint: the table lists them
    auto before = number(p, "nodes_before"), after = number(p, "nodes_after"), ms = number(p, "millis");
    if (first && before) bars.push_back({"(imported)", {{*before, "#b0b7c3"}}, fmt::format("{:.0f} nodes", *before), ""});
    first = false;
    if (ms) totalMs += *ms;
    if (!after) continue;
    std::string v = fmt::format("{:.0f}", *after);
    if (before && *before != *after) v += fmt::format(" ({:+.0f})", *after - *before);
    if (ms) v += fmt::format(", {} ms", fixedText(*ms, 2));
    bars.push_back({text(p, "name", "?"), {{*after, "#4a90c2"}}, v, ""});
  }
  s += fmt::format("<p>{} passes, {} ms in total. Node count after each pass:</p>\n", passes.size(), fixedText(totalMs, 1));
  s += svgHorizontalBars(bars, barsOptions("node count after each pass", "nodes"));
  s += "<table><thead><tr><th>pass</th><th>nodes before</th><th>nodes after</th><th>change</th><th>ms</th>"
       "<th>changed</th></tr></thead><tbody>\n";
  for (const Json& p : passes) {
    const bool inner = field(p, "group") != nullptr;
    auto before = number(p, "nodes_before"), after = number(p, "nodes_after");
    std::string name = text(p, "name", "?");
    if (inner && field(p, "round")) name += " (round " + text(p, "round") + ")";
    s += inner ? "<tr class=\"inner\">" : "<tr>";
    s += td(name, inner ? "indent" : nullptr) + tdNumber(before, 0) + tdNumber(after, 0);
    s += td(before && after ? fmt::format("{:+.0f}", *after - *before) : "", "num");
    s += tdNumber(number(p, "millis"), 3) + td(text(p, "changed")) + "</tr>\n";
  }
  return s + "</tbody></table></section>\n";
}

}  // namespace npuconv::report_html
