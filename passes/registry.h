// registry.h - the one table of passes and named pipelines.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "converter/pass/pass.h"

namespace npuconv {

struct PassInfo {
  std::string_view name;
  std::string_view summary;
  std::unique_ptr<Pass> (*create)();
};

/// Every pass, sorted by name.
const std::vector<PassInfo>& allPasses();
std::unique_ptr<Pass> createPass(std::string_view name);

/// Names of the passes of a named pipeline ("none", ...); an error for an unknown name.
Expected<std::vector<std::string>> pipelinePasses(std::string_view pipeline);
std::vector<std::string> pipelineNames();

/// Builds a manager from a pipeline name, or from an explicit comma-separated pass list when
/// `passList` is non-empty ("none" is the empty list), minus the passes in `disabled`.
/// `ensureFirst`, when given, is prepended unless the list already runs it (freeze-shapes when
/// the user fixes input shapes).
Expected<PassManager> buildPassManager(std::string_view pipeline, std::string_view passList,
                                       const std::vector<std::string>& disabled, std::string_view ensureFirst = {});

}  // namespace npuconv
