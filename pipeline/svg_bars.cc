// svg_bars.cc - see svg_bars.h.
#include "pipeline/svg_bars.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "converter/support/utf8.h"
#include "pipeline/html_text.h"

namespace npuconv {
namespace {

constexpr int kRow = 18, kCharWidth = 7, kTop = 22, kMaxLabelChars = 44;

/// At most `maxChars` code points of `s`, with an ellipsis when shortened (cut on a UTF-8 boundary).
std::string shorten(const std::string& s, size_t maxChars, size_t* chars) {
  size_t i = 0, n = 0;
  while (i < s.size() && n < maxChars) {
    const size_t len = std::max<size_t>(1, utf8SequenceLength(std::string_view(s).substr(i)));
    i += len;
    ++n;
  }
  *chars = n;
  if (i >= s.size()) return s;
  *chars = n + 1;
  return s.substr(0, i) + "\xE2\x80\xA6";  // U+2026
}

/// 1, 2 or 5 times a power of ten, at least `v`: the axis ends on a round number.
double niceCeil(double v) {
  if (!(v > 0)) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= v * (1 - 1e-9)) return m * p;
  return 10 * p;
}

std::string numberText(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{:.0f}", v);
  return fmt::format("{:g}", v);
}

}  // namespace

std::string svgHorizontalBars(const std::vector<SvgBar>& bars, const SvgBarsOptions& o) {
  double maxTotal = 0;
  size_t longest = 0;
  std::vector<std::string> labels;
  for (const SvgBar& b : bars) {
    double total = 0;
    for (const auto& s : b.segments) total += std::max(0.0, s.value);
    maxTotal = std::max(maxTotal, total);
    size_t chars = 0;
    labels.push_back(shorten(b.label, kMaxLabelChars, &chars));
    longest = std::max(longest, chars);
  }
  for (const auto& [v, name] : o.markers) maxTotal = std::max(maxTotal, v);
  const double axisMax = o.maxValue > 0 ? o.maxValue : niceCeil(maxTotal);
  const int labelWidth = static_cast<int>(std::min<size_t>(longest, kMaxLabelChars + 1)) * kCharWidth + 12;
  const int x0 = labelWidth, width = labelWidth + o.barWidth + 190;
  const int height = kTop + kRow * static_cast<int>(bars.size()) + 8;
  auto xOf = [&](double v) { return x0 + o.barWidth * std::clamp(v / axisMax, 0.0, 1.0); };

  std::string s = fmt::format(
      "<svg class=\"chart\" role=\"img\" aria-label=\"{}\" width=\"{}\" "
      "height=\"{}\" viewBox=\"0 0 {} {}\">\n",
      escapeHtml(o.title), width, height, width, height);
  // Axis: five ticks with grid lines.
  for (int t = 0; t <= 4; ++t) {
    const double v = axisMax * t / 4;
    const double x = xOf(v);
    s += fmt::format("<line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\" class=\"grid\"/>", x, kTop - 4, x, height - 6);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">{}{}</text>\n", x, kTop - 8,
                     escapeHtml(numberText(v)), t == 4 && !o.unit.empty() ? " " + escapeHtml(o.unit) : "");
  }
  for (size_t i = 0; i < bars.size(); ++i) {
    const SvgBar& b = bars[i];
    const int y = kTop + kRow * static_cast<int>(i);
    std::string tip = b.label + (b.tooltip.empty() ? "" : ": " + b.tooltip);
    s += fmt::format("<g><title>{}</title>", escapeHtml(tip));
    s += fmt::format("<text x=\"{}\" y=\"{}\" class=\"label\" text-anchor=\"end\">{}</text>", x0 - 6, y + 13,
                     escapeHtml(labels[i]));
    double at = 0;
    for (const auto& seg : b.segments) {
      const double v = std::max(0.0, seg.value);
      const double xa = xOf(at), xb = xOf(at + v);
      if (xb > xa)
        s += fmt::format("<rect x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\"/>", xa, y + 3, xb - xa,
                         kRow - 5, escapeHtml(seg.color));
      at += v;
    }
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" class=\"value\">{}</text></g>\n", xOf(at) + 5, y + 13,
                     escapeHtml(b.valueText));
  }
  for (const auto& [v, name] : o.markers) {
    const double x = xOf(v);
    s += fmt::format("<line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\" class=\"marker\"><title>{}</title></line>\n", x,
                     kTop - 2, x, height - 4, escapeHtml(name));
  }
  s += "</svg>\n";
  return s;
}

std::string htmlLegend(const std::vector<std::pair<std::string, std::string>>& nameAndColor) {
  std::string s = "<p class=\"legend\">";
  for (const auto& [name, color] : nameAndColor)
    s += fmt::format("<span><i style=\"background:{}\"></i>{}</span> ", escapeHtml(color), escapeHtml(name));
  return s + "</p>\n";
}

}  // namespace npuconv
