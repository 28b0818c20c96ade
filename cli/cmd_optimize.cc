// npuconv optimize MODEL -o OUT.onnx [--pipeline P] [--passes a,b] [--disable x] ...
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/target_options.h"
#include "converter/ir/verifier.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "formats/support/mapped_file.h"
#include "passes/registry.h"

namespace npuconv {
namespace {

struct OptimizeOptions {
  std::string model, output, pipeline = "none", passes, report;
  std::vector<std::string> disabled, printIrAfter;
  bool timePasses = false, verifyEach = false, externalData = false;
  int64_t externalThreshold = 1024;
  int64_t opset = 0;
  std::vector<std::string> passOptions;
  std::vector<std::string> inputShapes, dims;  // --input-shape NAME=1x256, --dim NAME=VALUE
  TargetSelection target;
  std::string layout, ioLayout;  // --layout / --io-layout: empty when not given
};

std::string joinEntries(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ";") + s;
  return out;
}

Status writeReport(const std::string& path, const std::vector<PassRecord>& records, const WriteResult& w,
                   const nlohmann::ordered_json& extra = {}) {
  nlohmann::ordered_json j;
  j["passes"] = nlohmann::ordered_json::array();
  for (const PassRecord& r : records)
    j["passes"].push_back({{"name", r.name}, {"millis", r.millis}, {"changed", r.changed},
                           {"nodes_before", r.nodesBefore}, {"nodes_after", r.nodesAfter}});
  j["output"] = {{"model_bytes", w.modelBytes}, {"external_bytes", w.externalBytes}, {"external_file", w.externalFile}};
  if (extra.is_object())
    for (const auto& [key, value] : extra.items()) j[key] = value;
  std::string text = j.dump(2) + "\n";
  NPU_ASSIGN_OR_RETURN(auto f, AtomicFile::create(path));
  NPU_TRY(f->write(text.data(), text.size()));
  return f->commit();
}

int runOptimize(const OptimizeOptions& o) {
  auto m = readOnnx(o.model);
  if (!m) return reportError(m.status());
  bool freeze = !o.inputShapes.empty() || !o.dims.empty();
  auto pm = buildPassManager(o.pipeline, o.passes, o.disabled, freeze ? "freeze-shapes" : "");
  if (!pm) return reportError(pm.status());
  if (o.layout == "nhwc" && o.pipeline != "npu")  // after the pipeline: regions form around the fused, folded convs
    for (const char* p : {"convert-layout-nhwc", "eliminate-dead-code"}) pm->add(createPass(p));
  pm->setVerifyEach(o.verifyEach);
  if (!o.printIrAfter.empty()) pm->setPrintIrAfter(o.printIrAfter, &std::cerr);
  PassContext ctx;
  auto target = resolveTarget(o.target);  // before the options below: --pass-option may override
  if (!target) return reportError(target.status());
  setTargetPassOptions(*target, ctx);
  // Compiling for a target: the npu pipeline or an explicit profile. Otherwise (O2 on a model
  // with a batch dim, say) the default profile's needs are not the user's: no static-shape demand.
  bool forTarget = o.pipeline == "npu" || !o.target.name.empty() || !o.target.file.empty();
  if (!forTarget) ctx.options["target.static-shapes"] = "0";
  if (o.opset > 0) ctx.options["opset"] = std::to_string(o.opset);
  if (!o.inputShapes.empty()) ctx.options["freeze.input-shapes"] = joinEntries(o.inputShapes);
  if (!o.dims.empty()) ctx.options["freeze.dims"] = joinEntries(o.dims);
  for (const std::string& kv : o.passOptions) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return reportError(Status::invalidArgument("--pass-option \"{}\": expected KEY=VALUE", kv));
    ctx.options[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (!o.layout.empty()) ctx.options["layout"] = o.layout;
  if (!o.ioLayout.empty()) ctx.options["io-layout"] = o.ioLayout;
  if (Status s = pm->run(*m, ctx); !s.isOk()) return reportError(std::move(s).in(o.model));
  if (Status s = verifyModel(*m); !s.isOk()) return reportError(s.in("after optimization"));
  std::vector<PassRecord> records = pm->records();
  auto runTail = [&](std::vector<const char*> names) -> Status {
    PassManager tail;
    for (const char* n : names) tail.add(createPass(n));
    tail.setVerifyEach(o.verifyEach);
    NPU_TRY(std::move(tail.run(*m, ctx)).in(o.model));
    records.insert(records.end(), tail.records().begin(), tail.records().end());
    return Status::ok();
  };
  // ONNX has no NHWC Conv (ORT's CPU EP rejects com.microsoft.NhwcConv for float): NHWC ops are
  // written as standard ops between Transposes, and the inverse pairs between them cancel, so
  // Transposes stay only at region boundaries in the file too.
  size_t before = records.size();
  if (Status s = runTail({"lower-nhwc-to-onnx"}); !s.isOk()) return reportError(s);
  if (records[before].changed)
    if (Status s = runTail({"fold-transpose-chains", "eliminate-dead-code"}); !s.isOk()) return reportError(s);
  // Placement sees the IR the device would run (fused LayerNormalization, Gelu; NHWC regions as
  // standard ops between boundary Transposes); then ops the ONNX opset lacks are decomposed.
  nlohmann::ordered_json targetReport = placeAndSummarize(*target, *m, o.report, forTarget);
  if (Status s = runTail({"lower-to-opset"}); !s.isOk()) return reportError(s);
  WriteOptions wo;
  wo.externalData = o.externalData;
  wo.externalThreshold = o.externalThreshold;
  auto w = writeOnnx(*m, o.output, wo);
  if (!w) return reportError(w.status());
  if (o.timePasses) {
    double total = 0;
    for (const PassRecord& r : records) total += r.millis;
    std::fprintf(stderr, "%-28s %10s %7s %8s %s\n", "pass", "ms", "share", "changed", "nodes");
    for (const PassRecord& r : records)
      std::fprintf(stderr, "%-28s %10.3f %6.1f%% %8s %zu -> %zu\n", r.name.c_str(), r.millis,
                   total > 0 ? 100.0 * r.millis / total : 0.0, r.changed ? "yes" : "no", r.nodesBefore, r.nodesAfter);
  }
  if (!o.report.empty())
    if (Status s = writeReport(o.report, records, *w, targetReport); !s.isOk()) return reportError(s);
  return 0;
}

}  // namespace

void addOptimizeCommand(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("optimize", "Run compiler passes and write an optimized ONNX model");
  auto o = std::make_shared<OptimizeOptions>();
  cmd->add_option("model", o->model, "Input ONNX model")->required();
  cmd->add_option("-o,--output", o->output, "Output ONNX model")->required();
  cmd->add_option("--pipeline", o->pipeline, "Named pipeline (see `npuconv passes`)");
  cmd->add_option("--passes", o->passes, "Comma-separated pass list instead of a pipeline; `none` for no passes");
  cmd->add_option("--disable", o->disabled, "Skip a pass of the pipeline")->delimiter(',');
  cmd->add_flag("--time-passes", o->timePasses, "Print the time of each pass");
  cmd->add_flag("--verify-each", o->verifyEach, "Run the IR verifier after each pass");
  cmd->add_option("--print-ir-after", o->printIrAfter, "Print the IR after these passes (or `all`)")->delimiter(',');
  cmd->add_option("--report", o->report, "Write a JSON report of the passes");
  cmd->add_option("--opset", o->opset,
                  "Let fusions raise the default-domain opset to N (LayerNormalization needs 17, Gelu 20)");
  cmd->add_option("--input-shape", o->inputShapes, "Fix an input's shape: NAME=1x3x224x224 (repeatable; runs freeze-shapes)");
  cmd->add_option("--dim", o->dims, "Fix a symbolic dim: NAME=SIZE, e.g. sequence=256 (repeatable; runs freeze-shapes)");
  cmd->add_option("--pass-option", o->passOptions, "KEY=VALUE option for the passes (repeatable)");
  cmd->add_option("--layout", o->layout, "Run conv regions in this layout (nhwc adds convert-layout-nhwc)")
      ->check(CLI::IsMember({"nchw", "nhwc"}));
  cmd->add_option("--io-layout", o->ioLayout, "Layout of rank-4 model inputs/outputs with --layout nhwc (default nchw)")
      ->check(CLI::IsMember({"nchw", "nhwc"}));
  cmd->add_flag("--external-data", o->externalData, "Store large initializers in <output>.data");
  cmd->add_option("--external-data-threshold", o->externalThreshold, "Minimum bytes for external storage");
  addTargetOptions(*cmd, o->target);
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
      std::printf("\n");
      return 0;
    };
  });
}

}  // namespace npuconv
