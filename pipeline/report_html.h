// report_html.h - convert's report.json as one self-contained HTML page (`npuconv report`,
// `convert --report-html`; docs/cli.md): inline CSS and inline SVG charts drawn here, no script,
// no font, no link to anything outside the file. It shows what a user would rather see than
// read: the pass pipeline with node counts and times, a per-layer SQNR / cosine chart with the
// precision of each layer (original ONNX names), NPU/CPU placement per node with reasons,
// calibration health warnings, the device blob's memory plan, and the validation figures.
// A section the report lacks is left out with a one-line note; a field of an unexpected type is
// treated as absent (the page is drawn from any JSON object, never fails half-way).
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "converter/support/status.h"

namespace npuconv {

/// The page for `report` (a convert report); `source` names the report file in the page's title.
std::string renderReportHtml(const nlohmann::ordered_json& report, const std::string& source);

/// Reads `reportJson`, renders it and writes `html` atomically (temporary file, flush, rename).
/// Errors name the file: Io when one cannot be read or written (exit 5), InvalidArgument when
/// `reportJson` is not JSON or not an npuconv convert report (exit 2).
Status writeReportHtml(const std::filesystem::path& reportJson, const std::filesystem::path& html);

}  // namespace npuconv
