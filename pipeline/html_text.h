// html_text.h - text made safe for an HTML page and numbers written for people, for the report
// page (pipeline/report_html.h). Node, tensor and file names in a report are user data: every
// string that reaches the page goes through escapeHtml.
#pragma once

#include <string>
#include <string_view>

namespace npuconv {

/// `text` as HTML character data or a quoted attribute value: & < > " ' become entities; control
/// characters (other than tab and newline) and bytes that are not valid UTF-8 become U+FFFD, which
/// HTML parsers would otherwise reject or reinterpret.
std::string escapeHtml(std::string_view text);

/// A byte count for people: "411.0 KiB", "1.4 MiB", "512 B".
std::string bytesText(double bytes);

/// A number with `digits` decimals, trailing zeros kept ("37.02", "0.999902"); "n/a" for NaN,
/// "inf"/"-inf" for infinities.
std::string fixedText(double value, int digits);

}  // namespace npuconv
