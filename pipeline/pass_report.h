// pass_report.h - what the passes did, for --time-passes (a table on stderr) and the JSON
// report: one record per pass run, inner runs of a fixpoint group with their group and round.
#pragma once

#include <cstdio>
#include <vector>

#include <nlohmann/json.hpp>

#include "converter/pass/pass.h"

namespace npuconv {

/// [{"name", "group"?, "round"?, "millis", "changed", "nodes_before", "nodes_after"}...]
nlohmann::ordered_json passRecordsToJson(const std::vector<PassRecord>& records);
/// The --time-passes table; inner runs indented under their group, shares of top-level time.
void printPassTimes(const std::vector<PassRecord>& records, std::FILE* out);

}  // namespace npuconv
