// npuconv optimize MODEL -o OUT.onnx [--pipeline P] [--passes a,b] [--disable x] ...
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/target_options.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "formats/support/mapped_file.h"
#include "passes/registry.h"
#include "pipeline/pass_pipeline.h"
#include "pipeline/pass_report.h"

namespace npuconv {
namespace {

struct OptimizeOptions {
  std::string model, output, report;
  PassOptions passes;
  bool timePasses = false, externalData = false;
  int64_t externalThreshold = 1024;
};

Status writeReport(const std::string& path, const std::vector<PassRecord>& records, const WriteResult& w,
                   const nlohmann::ordered_json& extra) {
  nlohmann::ordered_json j;
  j["passes"] = passRecordsToJson(records);
  j["output"] = {{"model_bytes", w.modelBytes}, {"external_bytes", w.externalBytes}, {"external_file", w.externalFile}};
  for (const auto& [key, value] : extra.items()) j[key] = value;
  return writeFileAtomically(path, j.dump(2) + "\n");
}

int runOptimize(OptimizeOptions o) {
  auto m = readOnnx(o.model);
  if (!m) return reportError(m.status());
  o.passes.reportPath = o.report;
  o.passes.irStream = &std::cerr;
  auto pipeline = PassPipeline::create(o.passes);
  if (!pipeline) return reportError(pipeline.status());
  PassPipeline& pp = **pipeline;
  if (Status s = pp.runToStandardOps(*m, o.model); !s.isOk()) return reportError(s);
  if (Status s = pp.runFinal(*m, o.model); !s.isOk()) return reportError(s);
  WriteOptions wo;
  wo.externalData = o.externalData;
  wo.externalThreshold = o.externalThreshold;
  auto w = writeOnnx(*m, o.output, wo);
  if (!w) return reportError(w.status());
  if (o.timePasses) printPassTimes(pp.records(), stderr);
  if (!o.report.empty())
    if (Status s = writeReport(o.report, pp.records(), *w, pp.placementReport()); !s.isOk()) return reportError(s);
  return 0;
}

}  // namespace

void addOptimizeCommand(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("optimize", "Run compiler passes and write an optimized ONNX model");
  auto o = std::make_shared<OptimizeOptions>();
  cmd->add_option("model", o->model, "Input ONNX model")->required();
  cmd->add_option("-o,--output", o->output, "Output ONNX model")->required();
  cmd->add_option("--pipeline", o->passes.pipeline, "Named pipeline (see `npuconv passes`)");
  cmd->add_option("--passes", o->passes.passes, "Comma-separated pass list instead of a pipeline; `none` for no passes");
  cmd->add_option("--disable", o->passes.disabled, "Skip a pass of the pipeline")->delimiter(',');
  cmd->add_flag("--time-passes", o->timePasses, "Print the time of each pass");
  cmd->add_flag("--verify-each", o->passes.verifyEach, "Run the IR verifier after each pass");
  cmd->add_option("--print-ir-after", o->passes.printIrAfter, "Print the IR after these passes (or `all`)")->delimiter(',');
  cmd->add_option("--report", o->report, "Write a JSON report of the passes");
  cmd->add_option("--opset", o->passes.opset,
                  "Let fusions raise the default-domain opset to N (LayerNormalization needs 17, Gelu 20)");
  cmd->add_option("--input-shape", o->passes.inputShapes, "Fix an input's shape: NAME=1x3x224x224 (repeatable; runs freeze-shapes)");
  cmd->add_option("--dim", o->passes.dims, "Fix a symbolic dim: NAME=SIZE, e.g. sequence=256 (repeatable; runs freeze-shapes)");
  cmd->add_option("--pass-option", o->passes.passOptions, "KEY=VALUE option for the passes (repeatable)");
  cmd->add_option("--layout", o->passes.layout, "Run conv regions in this layout (nhwc adds convert-layout-nhwc)")
      ->check(CLI::IsMember({"nchw", "nhwc"}));
  cmd->add_option("--io-layout", o->passes.ioLayout, "Layout of rank-4 model inputs/outputs with --layout nhwc (default nchw)")
      ->check(CLI::IsMember({"nchw", "nhwc"}));
  cmd->add_flag("--external-data", o->externalData, "Store large initializers in <output>.data");
  cmd->add_option("--external-data-threshold", o->externalThreshold, "Minimum bytes for external storage");
  addTargetOptions(*cmd, o->passes.target);
  cmd->callback([&action, o] { action = [o] { return runOptimize(*o); }; });
}

void addPassesCommand(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("passes", "List the passes and pipelines");
  cmd->callback([&action] {
    action = [] {
      for (const PassInfo& p : allPasses())
        std::printf("%-28s %.*s\n", std::string(p.name).c_str(), int(p.summary.size()), p.summary.data());
      std::printf("\npipelines:");
      for (const auto& n : pipelineNames()) std::printf(" %s", n.c_str());
      std::printf("\n\nemit stage (after every pipeline; `convert` quantizes between the two phases):\n");
      for (const EmitEntry& e : emitStage())
        std::printf("  %-26s %s%s%.*s\n", std::string(e.name).c_str(), e.phase == EmitPhase::Final ? "[final] " : "",
                    e.whenChanged.empty() ? "" : "[after a lowering] ", int(e.reason.size()), e.reason.data());
      return 0;
    };
  });
}

}  // namespace npuconv
