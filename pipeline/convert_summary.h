// convert_summary.h - the few lines `npuconv convert` prints when it finishes (docs/cli.md):
// what was converted into what, sizes before and after, the precision per layer kind, the
// device blob's placement and arena, and the validation figures, all read from the report.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace npuconv {

std::string formatConvertSummary(const nlohmann::ordered_json& report);

}  // namespace npuconv
