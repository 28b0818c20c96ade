// target_placement.cc - target selection and the placement summary.
#include "pipeline/target_placement.h"

#include <cstdio>

#include "formats/target/target_json.h"

namespace npuconv {

Expected<TargetProfile> resolveTarget(const TargetSelection& sel) {
  if (!sel.file.empty()) return loadTargetProfile(sel.file);
  return builtinTarget(sel.name.empty() ? std::string(kDefaultTarget) : sel.name);
}

void setTargetPassOptions(const TargetProfile& profile, PassContext& ctx) {
  ctx.options["target"] = profile.name;
  ctx.options["target.static-shapes"] = profile.requiresStaticShapes ? "1" : "0";
  ctx.options["target.layout"] = profile.preferredLayout;
  ctx.options["target.channel-alignment"] = std::to_string(profile.channelAlignment);
}

nlohmann::ordered_json placeAndSummarize(const TargetProfile& profile, const Model& m, const std::string& reportPath,
                                         bool printSummary) {
  std::vector<NodePlacement> placement = placeNodes(*m.graph, profile);
  size_t npu = 0;
  for (const NodePlacement& p : placement) npu += p.onNpu;
  size_t cpu = placement.size() - npu;
  if (!printSummary) {
  } else if (cpu == 0)
    std::fprintf(stderr, "placement on %s: all %zu nodes on the NPU\n", profile.name.c_str(), placement.size());
  else
    std::fprintf(stderr, "placement on %s: %zu of %zu nodes on the NPU; %zu on the CPU: see %s\n", profile.name.c_str(),
                 npu, placement.size(), cpu, reportPath.empty() ? "--report" : reportPath.c_str());
  nlohmann::ordered_json j;
  j["target"] = targetProfileToJson(profile);
  j["target"].erase("ops");  // the op table: `npuconv targets NAME --json`
  j["placement"] = placementToJson(profile, placement);
  return j;
}

}  // namespace npuconv
