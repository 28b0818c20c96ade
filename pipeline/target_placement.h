// target_placement.h - the target profile a conversion compiles for (--target NAME |
// --target-file F), the PassContext options derived from it, and the placement report.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "converter/ir/model.h"
#include "converter/pass/pass.h"
#include "converter/target/target_profile.h"

namespace npuconv {

struct TargetSelection {
  std::string name;  // a built-in profile
  std::string file;  // a user's profile (JSON)
  bool given() const { return !name.empty() || !file.empty(); }
};

/// The selected profile; the generic NPU profile when neither option is given.
Expected<TargetProfile> resolveTarget(const TargetSelection& sel);

/// Tells the passes what the target needs, as string options (pass.h knows no targets):
/// "target" = name, "target.static-shapes" = "1"/"0", "target.layout" = "nchw"/"nhwc",
/// "target.channel-alignment" = N.
void setTargetPassOptions(const TargetProfile& profile, PassContext& ctx);

/// The placement of the model's main graph, summarized on one stderr line
/// ("placement on rk3588: 47 of 49 nodes on the NPU; 2 on the CPU: see r.json"), plus the
/// "target" and "placement" report sections. `reportPath` empty: no report was asked for.
/// `printSummary` false: the report sections only.
nlohmann::ordered_json placeAndSummarize(const TargetProfile& profile, const Model& m, const std::string& reportPath,
                                         bool printSummary = true);

}  // namespace npuconv
