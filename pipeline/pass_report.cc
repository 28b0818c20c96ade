// pass_report.cc - see pass_report.h.
#include "pipeline/pass_report.h"

#include <fmt/format.h>

namespace npuconv {

nlohmann::ordered_json passRecordsToJson(const std::vector<PassRecord>& records) {
  nlohmann::ordered_json j = nlohmann::ordered_json::array();
  for (const PassRecord& r : records) {
    nlohmann::ordered_json e;
    e["name"] = r.name;
    if (!r.group.empty()) {
      e["group"] = r.group;
      e["round"] = r.round;
    }
    e["millis"] = r.millis;
    e["changed"] = r.changed;
    e["nodes_before"] = r.nodesBefore;
    e["nodes_after"] = r.nodesAfter;
    j.push_back(std::move(e));
  }
  return j;
}

void printPassTimes(const std::vector<PassRecord>& records, std::FILE* out) {
  // Shares of the top-level total: a group's record already covers its inner runs.
  double total = 0;
  for (const PassRecord& r : records)
    if (r.group.empty()) total += r.millis;
  std::fprintf(out, "%-36s %10s %7s %8s %s\n", "pass", "ms", "share", "changed", "nodes");
  for (const PassRecord& r : records) {
    std::string name = r.group.empty() ? r.name : fmt::format("  {} #{}", r.name, r.round);
    std::fprintf(out, "%-36s %10.3f %6.1f%% %8s %zu -> %zu\n", name.c_str(), r.millis,
                 total > 0 ? 100.0 * r.millis / total : 0.0, r.changed ? "yes" : "no", r.nodesBefore, r.nodesAfter);
  }
}

}  // namespace npuconv
