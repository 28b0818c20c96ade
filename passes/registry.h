// registry.h - the one table of passes and named pipelines.
#pragma once

#include <functional>
#include <map>
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

/// The emit stage: what runs after the pipeline so that the IR written to ONNX holds standard
/// ops of the model's opset. Its entries are ordinary manager entries: --disable,
/// --print-ir-after, --verify-each and --time-passes apply to them.
enum class EmitPhase {
  StandardOps,  // before quantization: NHWC twins back to ONNX ops (quantizers see standard ops)
  Final,        // after quantization: placement on the target, then lower-to-opset
};
struct EmitEntry {
  std::string_view name;
  EmitPhase phase;
  std::string_view reason;
  /// Runs only when the last run of this pass changed the model ("" : always).
  std::string_view whenChanged;
  /// Not a registered pass: the pipeline supplies it (placement needs the target profile).
  bool hook = false;
};
const std::vector<EmitEntry>& emitStage();

using PassFactory = std::function<std::unique_ptr<Pass>()>;
/// Appends the emit stage's entries of `phase` to `pm`, minus the disabled ones. `hooks` makes
/// the hook entries (an entry without a factory is skipped).
Status appendEmitStage(PassManager& pm, EmitPhase phase, const std::vector<std::string>& disabled,
                       const std::map<std::string, PassFactory, std::less<>>& hooks = {});

}  // namespace npuconv
