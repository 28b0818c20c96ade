// report_html_parts.h - the sections of the report page (pipeline/report_html.h) and the
// lenient JSON access they share: a report from another npuconv version, or hand-edited, may
// lack a field or hold another type; the page then leaves that figure out instead of failing.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace npuconv::report_html {

using Json = nlohmann::ordered_json;

/// `j[key]` when `j` is an object holding `key`, else nullptr.
const Json* field(const Json& j, const char* key);
/// `j[key]` when it is an object (else an empty object) / an array (else an empty array).
const Json& object(const Json& j, const char* key);
const Json& array(const Json& j, const char* key);
/// `j[key]` as a number, when it is one.
std::optional<double> number(const Json& j, const char* key);
/// `j[key]` as text: a string as is, a number or boolean as JSON writes it; `fallback` otherwise.
std::string text(const Json& j, const char* key, const std::string& fallback = "");
/// A JSON value as text (a string without quotes).
std::string valueText(const Json& v);

/// <td> with escaped text; `cls` is a CSS class from our code.
std::string td(const std::string& text, const char* cls = nullptr);
/// A number cell (right-aligned): `digits` decimals, or "" when absent.
std::string tdNumber(std::optional<double> v, int digits);
/// "<p class=note>" saying the report has no such section.
std::string missingNote(const std::string& what);
/// A PASS / FAIL badge.
std::string passBadge(bool passed);
/// The fill color of a precision (int8, int16, fp16, fp32, ...) / of a device (npu, cpu).
std::string precisionColor(const std::string& precision);
std::string deviceColor(const std::string& device);

std::string pipelineSection(const Json& report);
std::string layersSection(const Json& report);
std::string placementSection(const Json& report);
std::string calibrationSection(const Json& report);
std::string memorySection(const Json& report);
std::string validationSection(const Json& report);

}  // namespace npuconv::report_html
