// svg_bars.h - horizontal bar charts as inline SVG, for the report page (pipeline/report_html.h):
// drawn here so the page needs no script, no font and no network to show them. Inline SVG in
// HTML needs no xmlns (the page holds no http:// at all).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace npuconv {

/// One row: a label on the left, one or more stacked segments, and a text after the bar.
struct SvgBar {
  struct Segment {
    double value = 0;
    std::string color;  // a CSS color from our code, never user data
  };
  std::string label;      // shortened to fit; the full label is the row's tooltip
  std::vector<Segment> segments;
  std::string valueText;  // printed after the bar
  std::string tooltip;    // extra tooltip text (after the label)
};

struct SvgBarsOptions {
  std::string title;                                    // aria-label of the chart
  std::string unit;                                     // axis unit, after the top tick
  double maxValue = 0;                                  // 0: the largest stacked total, rounded up
  std::vector<std::pair<double, std::string>> markers;  // vertical lines (value, label): thresholds
  int barWidth = 420;
};

/// Options with a title and an axis unit, the rest default.
inline SvgBarsOptions barsOptions(std::string title, std::string unit) {
  SvgBarsOptions o;
  o.title = std::move(title);
  o.unit = std::move(unit);
  return o;
}

/// The chart as an <svg> element; every text is HTML-escaped. Segments below zero draw nothing
/// (their valueText still says what they are).
std::string svgHorizontalBars(const std::vector<SvgBar>& bars, const SvgBarsOptions& options);

/// A legend (colored squares with names) as HTML.
std::string htmlLegend(const std::vector<std::pair<std::string, std::string>>& nameAndColor);

}  // namespace npuconv
