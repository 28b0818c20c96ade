// pass_pipeline.h - the pass part of a conversion, shared by `optimize` and `convert`: the named
// pipeline (or pass list), shape freezing, the NHWC layout, and the emit stage (passes/registry.cc),
// all run by one PassManager so that --disable, --print-ir-after, --verify-each and
// --time-passes reach every entry.
//
// It runs in two phases with quantization between them: runToStandardOps (the pipeline, then
// NHWC twins lowered back to standard ONNX ops and ops the opset lacks written decomposed, so
// the quantizers see what ONNX will hold at the model's opset), runFinal (placement on the
// target, of the quantized graph).
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "converter/ir/model.h"
#include "converter/pass/pass.h"
#include "converter/target/target_profile.h"
#include "pipeline/target_placement.h"

namespace npuconv {

struct PassOptions {
  std::string pipeline = "none";  // --pipeline
  std::string passes;             // --passes a,b (overrides the pipeline; "none": no passes)
  std::vector<std::string> disabled, printIrAfter;
  bool verifyEach = false;
  int64_t opset = 0;                           // --opset N (0: the model's)
  std::vector<std::string> passOptions;        // --pass-option KEY=VALUE
  std::vector<std::string> inputShapes, dims;  // --input-shape NAME=1x256, --dim NAME=SIZE
  TargetSelection target;
  std::string layout, ioLayout;  // --layout / --io-layout: empty when not given
  std::string reportPath;        // named by the placement summary line
  std::ostream* irStream = nullptr;  // where --print-ir-after prints (stderr in the CLI)
};

class PassPipeline {
 public:
  /// Resolves the target and builds the manager; errors name the bad option.
  static Expected<std::unique_ptr<PassPipeline>> create(const PassOptions& o);
  PassPipeline(const PassPipeline&) = delete;
  PassPipeline& operator=(const PassPipeline&) = delete;

  /// The pipeline, then the emit stage's standard-ops phase; `where` (the model file) prefixes
  /// errors. The model is verified afterwards.
  Status runToStandardOps(Model& m, const std::string& where);
  /// Placement; verified afterwards.
  Status runFinal(Model& m, const std::string& where);

  const std::vector<PassRecord>& records() const { return pm_.records(); }
  /// The passes in run order (the pipeline, then the emit stage), before any ran.
  std::vector<std::string> passNames() const { return pm_.names(); }
  /// The "target" and "placement" report sections (filled by runFinal's placement).
  const nlohmann::ordered_json& placementReport() const { return placement_; }
  const PassContext& context() const { return ctx_; }
  const TargetProfile& target() const { return target_; }
  /// Whether the user compiles for a target (the npu pipeline or an explicit profile).
  bool forTarget() const { return forTarget_; }

 private:
  PassPipeline() = default;
  PassOptions opt_;
  PassManager pm_;
  PassContext ctx_;
  TargetProfile target_;
  bool forTarget_ = false;
  nlohmann::ordered_json placement_ = nlohmann::ordered_json::object();
};

}  // namespace npuconv
