// report_html_device.cc - the report page's device view: NPU/CPU placement per op type (chart)
// and per node with the reason a node stays on the CPU, and the device blob with its memory
// plan (one arena against the sum of all activations and the lower bound of the live maximum).
#include <fmt/format.h>

#include "pipeline/html_text.h"
#include "pipeline/report_html_parts.h"
#include "pipeline/svg_bars.h"

namespace npuconv::report_html {
namespace {

std::string names(const Json& list) {
  std::string s;
  if (!list.is_array()) return s;
  for (const Json& n : list) s += (s.empty() ? "" : ", ") + valueText(n);
  return s;
}

std::string nodeRow(const Json& n) {
  const std::string device = text(n, "device");
  return "<tr>" + td(text(n, "name"), "name") + td(names(array(n, "original_names")), "name small") +
         td(text(n, "op")) + td(device, device == "cpu" ? "cpu" : device == "npu" ? "npu" : nullptr) +
         td(text(n, "reason")) + "</tr>\n";
}

}  // namespace

std::string placementSection(const Json& r) {
  std::string s = "<section id=\"placement\"><h2>NPU / CPU placement</h2>\n";
  const Json& pl = object(r, "placement");
  if (pl.empty()) return s + missingNote("placement on a target (report[\"placement\"])") + "</section>\n";
  auto npu = number(pl, "on_npu"), cpu = number(pl, "on_cpu"), count = number(pl, "node_count");
  s += fmt::format("<p class=\"figures\">target <b>{}</b>: <b>{}</b> of {} nodes on the NPU, <b>{}</b> on the CPU</p>\n",
                   escapeHtml(text(pl, "target", "?")), escapeHtml(npu ? fixedText(*npu, 0) : "?"),
                   escapeHtml(count ? fixedText(*count, 0) : "?"), escapeHtml(cpu ? fixedText(*cpu, 0) : "?"));
  std::vector<SvgBar> bars;
  for (const Json& op : array(pl, "ops")) {
    const double n = number(op, "npu").value_or(0), c = number(op, "cpu").value_or(0);
    bars.push_back({text(op, "op", "?"), {{n, deviceColor("npu")}, {c, deviceColor("cpu")}},
                    fmt::format("{:.0f} NPU / {:.0f} CPU", n, c), names(array(op, "reasons"))});
  }
  if (!bars.empty()) {
    s += svgHorizontalBars(bars, barsOptions("nodes per op type on the NPU and the CPU", "nodes"));
    s += htmlLegend({{"NPU", deviceColor("npu")}, {"CPU", deviceColor("cpu")}});
  }
  std::string cpuRows, allRows;
  size_t cpuNodes = 0, allNodes = 0;
  for (const Json& n : array(pl, "nodes")) {
    const std::string row = nodeRow(n);
    if (text(n, "device") != "npu") {
      cpuRows += row;
      ++cpuNodes;
    }
    allRows += row;
    ++allNodes;
  }
  const char* head = "<table><thead><tr><th>node</th><th>original ONNX nodes</th><th>op</th><th>device</th><th>reason</th>"
                     "</tr></thead><tbody>\n";
  if (cpuNodes > 0) s += fmt::format("<h3>Nodes on the CPU ({}) and why</h3>\n", cpuNodes) + head + cpuRows + "</tbody></table>\n";
  if (allNodes > 0)
    s += fmt::format("<details><summary>Every node ({})</summary>\n", allNodes) + head + allRows + "</tbody></table></details>\n";
  return s + "</section>\n";
}

std::string memorySection(const Json& r) {
  std::string s = "<section id=\"memory\"><h2>Device blob and memory plan</h2>\n";
  const Json& blob = object(r, "device_blob");
  if (blob.empty()) return s + missingNote("a device blob (only int8 and fp16 write model.npub)") + "</section>\n";
  if (const Json* w = field(blob, "written"); w && w->is_boolean() && !w->get<bool>())
    return s + "<p class=\"warn\">" + escapeHtml("No device blob was written: " + text(blob, "reason", "no reason given")) +
           "</p></section>\n";
  s += "<p class=\"figures\">" + escapeHtml(text(blob, "file", "model.npub"));
  if (auto b = number(blob, "bytes")) s += ": <b>" + escapeHtml(bytesText(*b)) + "</b>";
  const Json& ops = object(blob, "ops");
  if (!ops.empty())
    s += fmt::format("; {} ops, <b>{}</b> on the NPU, <b>{}</b> CPU fallback", escapeHtml(text(ops, "total", "?")),
                     escapeHtml(text(ops, "npu", "?")), escapeHtml(text(ops, "cpu_fallback", "?")));
  s += "</p>\n";
  const Json& mp = object(blob, "memory_plan");
  if (mp.empty()) {
    s += missingNote("the memory plan");
  } else {
    auto arena = number(mp, "arena_bytes"), sum = number(mp, "activation_bytes"), bound = number(mp, "max_live_bytes");
    std::vector<SvgBar> bars;
    auto bar = [&](const char* label, std::optional<double> v, const char* color, const char* tip) {
      if (v) bars.push_back({label, {{*v / 1024, color}}, bytesText(*v) + fmt::format(" ({:.0f} B)", *v), tip});
    };
    bar("arena (planned)", arena, "#4a90c2", "one buffer every activation is placed in");
    bar("sum of activations", sum, "#b0b7c3", "every activation in its own buffer: no reuse");
    bar("lower bound", bound, "#2e9d5b", "the most bytes live at any one step");
    s += svgHorizontalBars(bars, barsOptions("activation memory, KiB", "KiB"));
    s += "<p>";
    if (auto ratio = number(mp, "arena_over_bound")) s += "arena / lower bound = <b>" + fixedText(*ratio, 3) + "</b>";
    if (arena && sum && *arena > 0) s += fmt::format("; reuse saves {} ({:.1f}x)", escapeHtml(bytesText(*sum - *arena)), *sum / *arena);
    s += "</p>\n";
  }
  const Json& fallback = array(blob, "cpu_fallback_ops");
  if (!fallback.empty()) {
    s += fmt::format("<details><summary>Blob ops on the CPU ({})</summary>\n", fallback.size());
    s += "<table><thead><tr><th>op</th><th>node</th><th>original ONNX nodes</th></tr></thead><tbody>\n";
    for (const Json& o : fallback)
      s += "<tr>" + td(text(o, "op")) + td(text(o, "name"), "name") + td(names(array(o, "original")), "name small") + "</tr>\n";
    s += "</tbody></table></details>\n";
  }
  return s + "</section>\n";
}

}  // namespace npuconv::report_html
