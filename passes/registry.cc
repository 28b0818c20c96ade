// registry.cc - the only list of passes, sorted by name, and the named pipelines.
#include "passes/registry.h"

#include <algorithm>

namespace npuconv {

const std::vector<PassInfo>& allPasses() {
  static const std::vector<PassInfo> kPasses = {};
  return kPasses;
}

std::unique_ptr<Pass> createPass(std::string_view name) {
  for (const PassInfo& p : allPasses())
    if (p.name == name) return p.create();
  return nullptr;
}

std::vector<std::string> pipelineNames() { return {"none"}; }

Expected<std::vector<std::string>> pipelinePasses(std::string_view pipeline) {
  if (pipeline == "none") return std::vector<std::string>{};
  std::string known;
  for (const auto& n : pipelineNames()) known += (known.empty() ? "" : ", ") + n;
  return Status::invalidArgument("unknown pipeline \"{}\" (known: {})", pipeline, known);
}

Expected<PassManager> buildPassManager(std::string_view pipeline, std::string_view passList,
                                       const std::vector<std::string>& disabled) {
  std::vector<std::string> names;
  if (!passList.empty()) {
    if (passList != "none") {
      size_t start = 0;
      while (start <= passList.size()) {
        size_t comma = passList.find(',', start);
        std::string_view item = passList.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        if (!item.empty()) names.emplace_back(item);
        if (comma == std::string_view::npos) break;
        start = comma + 1;
      }
    }
  } else {
    NPU_ASSIGN_OR_RETURN(names, pipelinePasses(pipeline));
  }
  PassManager pm;
  for (const std::string& n : names) {
    if (std::find(disabled.begin(), disabled.end(), n) != disabled.end()) continue;
    std::unique_ptr<Pass> p = createPass(n);
    if (!p) return Status::invalidArgument("unknown pass \"{}\" (see `npuconv passes`)", n);
    pm.add(std::move(p));
  }
  return pm;
}

}  // namespace npuconv
