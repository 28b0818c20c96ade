// npuconv convert MODEL -o OUTDIR --precision P [calibration, quantizer and pass options]
// (alias: npuconv quantize). The work is pipeline/convert.h; the options it shares with
// `calibrate` are cli/convert_options.h.
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/convert_options.h"
#include "cli/option_sources.h"
#include "formats/support/json_file.h"
#include "pipeline/convert.h"
#include "pipeline/convert_summary.h"
#include "pipeline/out_dir.h"
#include "pipeline/report_html.h"

namespace npuconv {
namespace {

struct ConvertCli {
  CLI::App* cmd = nullptr;
  ConversionCli conversion;
  OutDirOptions outDir;
  std::string configPath, logLevel = "info", reportHtml;
  bool json = false, quiet = false, dryRun = false;
  std::vector<std::string> perOutput;
  double atol = 0, rtol = 0, minCosine = 0, minSqnr = 0;
  CLI::Option* modelOpt = nullptr;
  CLI::Option* outOpt = nullptr;
  bool biasCorrection = false, noBiasCorrection = false, noEqualize = false;
  CLI::Option* targetSqnr = nullptr;
  CLI::Option* targetCosine = nullptr;
  /// A target alone asks for the search (--auto-mixed is then implied).
  bool targetSet() const { return (targetSqnr && targetSqnr->count()) || (targetCosine && targetCosine->count()); }
};

/// --dry-run's plan for a reader: one fact per line.
std::string formatConvertPlan(const nlohmann::ordered_json& plan) {
  std::string out = fmt::format("npuconv convert --dry-run: {} -> {}\n", plan["model"].get<std::string>(),
                                plan["out_dir"].get<std::string>());
  if (plan["up_to_date"].get<bool>())
    out += fmt::format("  up to date (key {}): a run would do nothing\n", plan["key"].get<std::string>());
  else
    out += fmt::format("  would convert: {}\n", plan["would_convert_because"].get<std::string>());
  out += fmt::format("  precision {}, pipeline {}{}\n", plan["precision"].get<std::string>(),
                     plan["pipeline"].get<std::string>(),
                     plan["target"].get<std::string>().empty() ? "" : ", target " + plan["target"].get<std::string>());
  std::string passes;
  for (const auto& p : plan["passes"]) passes += (passes.empty() ? "" : ", ") + p.get<std::string>();
  out += fmt::format("  passes: {}\n", passes.empty() ? "(none)" : passes);
  for (const auto& in : plan["inputs"])
    out += fmt::format("  input  {:<12} {}\n", in["role"].get<std::string>(), in["path"].get<std::string>());
  for (const auto& f : plan["outputs"]) out += fmt::format("  output {}\n", f.get<std::string>());
  for (const auto& [name, from] : plan["option_sources"].items())
    if (from != "command line") out += fmt::format("  option {} from {}\n", name, from.get<std::string>());
  return out;
}

/// --json: one JSON object on stdout whatever happened (logs stay on stderr).
void printJson(const nlohmann::ordered_json& j) { std::cout << j.dump(2) << std::endl; }

int failWith(const ConvertCli& cli, const Status& s) {
  int code = reportError(s);
  if (cli.json)
    printJson({{"status", "error"}, {"exit_code", code}, {"error", s.message()}});
  return code;
}

int runConvertCommand(ConvertCli& cli) {
  ConversionCli& c = cli.conversion;
  auto sources = applyOptionSources(*cli.cmd, cli.configPath, {cli.modelOpt, cli.outOpt});
  if (!sources) return failWith(cli, sources.status());
  if (Status s = finishConversionOptions(c); !s.isOk()) return failWith(cli, s);
  ConvertValidation& v = c.convert.validation;
  const CLI::App& cmd = *cli.cmd;
  if (cmd.count("--atol")) v.thresholds.atol = cli.atol;
  if (cmd.count("--rtol")) v.thresholds.rtol = cli.rtol;
  if (cmd.count("--min-cosine")) v.thresholds.minCosine = cli.minCosine;
  if (cmd.count("--min-sqnr")) v.thresholds.minSqnrDb = cli.minSqnr;
  for (const std::string& p : cli.perOutput)
    if (Status s = parsePerOutputThreshold(p, v.perOutput); !s.isOk()) return failWith(cli, s);
  // On by default for int8 (docs/quantization.md: the method x bias-correction tables); other
  // precisions need no calibration data unless asked for it. With several shapes (--input-shape
  // NAME=A,B) too: the first variant's corrections are applied to every later one
  // (pipeline/variant_decisions.h).
  c.convert.biasCorrection = cli.biasCorrection || (c.convert.precision == Precision::Int8 && !cli.noBiasCorrection);
  c.convert.equalize = !cli.noEqualize;
  c.convert.autoMixed.enabled = c.convert.autoMixed.enabled || cli.targetSet();
  c.convert.optionSources = *sources;
  const bool quiet = cli.quiet || cli.logLevel == "error";
  if (quiet) {
    c.convert.diagnostics = nullptr;
    c.convert.progress = false;
  }
  if (cli.dryRun) {
    auto plan = planConvertIntoOutDir(c.convert, cli.outDir);
    if (!plan) return failWith(cli, plan.status());
    (*plan)["option_sources"] = *sources;
    if (!cli.reportHtml.empty()) (*plan)["outputs"].push_back(cli.reportHtml);
    if (cli.json) printJson({{"status", "dry_run"}, {"exit_code", 0}, {"plan", *plan}});
    else std::cout << formatConvertPlan(*plan);
    return 0;
  }
  auto r = convertIntoOutDir(c.convert, cli.outDir);
  if (!r) return failWith(cli, r.status());
  const std::string outDir = c.convert.outDir.string();
  const std::filesystem::path reportPath = c.convert.report.empty() ? c.convert.outDir / "report.json" : c.convert.report;
  std::optional<nlohmann::ordered_json> report;
  if (auto rep = readJsonFile<nlohmann::ordered_json>(reportPath)) report = std::move(*rep);
  // Rendered from the report OUTDIR holds, so an up-to-date re-run writes the page too.
  if (!cli.reportHtml.empty())
    if (Status s = writeReportHtml(reportPath, cli.reportHtml); !s.isOk()) return failWith(cli, s);
  if (r->upToDate && !quiet)
    std::fprintf(stderr, "npuconv: %s is up to date (key %s%s); nothing to do (--force rebuilds)\n", outDir.c_str(),
                 r->key.c_str(), r->waited ? ", built by another process" : "");
  else if (!quiet && cli.logLevel == "info" && report)
    std::fputs(formatConvertSummary(*report).c_str(), stderr);
  const int code = !r->accuracyFailure.empty() ? exitCodeFor(StatusCode::AccuracyFailed)
                   : !r->fallbackUsed.empty() ? kExitFallbackUsed
                                              : 0;
  if (cli.json) {
    nlohmann::ordered_json j{{"status", r->upToDate ? "up_to_date" : "converted"}, {"exit_code", code},
                             {"out_dir", outDir}, {"key", r->key}, {"waited", r->waited}};
    if (!r->accuracyFailure.empty()) j["accuracy_failure"] = r->accuracyFailure;
    if (!r->fallbackUsed.empty()) j["fallback_used"] = r->fallbackUsed;
    if (report) j["report"] = std::move(*report);
    printJson(j);
  }
  if (!r->accuracyFailure.empty()) {
    reportError(Status::accuracyFailed("{}", r->accuracyFailure));
  } else if (!r->fallbackUsed.empty() && !quiet) {
    std::fprintf(stderr, "npuconv: %s holds the --fallback %s conversion: %s --precision %s missed: %s\n", outDir.c_str(),
                 c.convert.fallback.c_str(), c.convert.model.string().c_str(),
                 precisionName(c.convert.precision), r->fallbackUsed.c_str());
  }
  return code;
}

}  // namespace

void addConvertCommand(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("convert", "Optimize and quantize a model: OUTDIR/model.onnx and a JSON report");
  cmd->alias("quantize");
  auto cli = std::make_shared<ConvertCli>();
  cli->cmd = cmd;
  ConversionCli* c = &cli->conversion;
  ConvertOptions& o = c->convert;
  addConversionOptions(*cmd, *c, "fp32");
  cli->modelOpt = cmd->get_option("model");
  // Required, checked once the environment and --config had their say (cli/option_sources.h).
  cli->outOpt = cmd->add_option("-o,--output", o.outDir, "Output folder (created): model.onnx, model.npub, report.json");
  addConfigOption(*cmd, cli->configPath);
  cmd->add_flag("--json", cli->json, "Print the outcome (and the report) as one JSON object on stdout; logs stay on stderr");
  auto* quiet = cmd->add_flag("-q,--quiet", cli->quiet, "Errors only: no warnings, no progress bars (as --log-level error)");
  auto* level = cmd->add_option("--log-level", cli->logLevel, "error | warning | info (default: warnings and the summary)")
                    ->check(CLI::IsMember({"error", "warning", "info"}));
  quiet->excludes(level);
  cmd->add_flag("--dry-run", cli->dryRun,
                "Print the plan (up to date or why not, passes, precision, inputs, outputs) and write nothing");
  cmd->add_option("--report", o.report, "JSON report (default OUTDIR/report.json)");
  cmd->add_option("--report-html", cli->reportHtml,
                  "Also write the report as one self-contained HTML page (as `npuconv report`), also when up to date");
  cmd->add_flag("--force", cli->outDir.force, "Convert even when OUTDIR's key says its outputs are up to date");
  cmd->add_option("--wait-timeout", cli->outDir.waitTimeoutSeconds,
                  "Seconds to wait while another npuconv converts into OUTDIR (default 600)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--time-passes", o.timePasses, "Print the time of each pass");
  auto* bc = cmd->add_flag("--bias-correction", cli->biasCorrection,
                           "Fast bias correction after quantization (default for int8; int8-weights: needs calibration data)");
  auto* nobc = cmd->add_flag("--no-bias-correction", cli->noBiasCorrection, "int8: skip bias correction (faster conversion)");
  bc->excludes(nobc);
  cmd->add_flag("--no-equalize", cli->noEqualize,
                "int8: keep the weights as they are (default: a Conv feeding a depthwise Conv has its output channels "
                "rescaled so every channel of the depthwise input uses the int8 range)");
  cmd->add_option("--layer-error-samples", o.layerErrorSamples,
                  "int8: per-layer error table in the report over the first N calibration samples (0: none; default 8)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--calib-cache", o.calibCache, "Calibration statistics cache (JSON): reused when model, data and options match");
  AutoMixedOptions& am = o.autoMixed;
  cmd->add_flag("--auto-mixed", am.enabled,
                "int8: keep the fewest layers in a higher precision (int16, fp16, fp32) that meet --target-sqnr/--target-cosine "
                "on held-out calibration samples; writes OUTDIR/mixed_config.json");
  cli->targetSqnr = cmd->add_option("--target-sqnr", am.target.sqnrDb, "--auto-mixed: output SQNR to reach, dB (worst output)")
                        ->check(CLI::PositiveNumber);
  cli->targetCosine = cmd->add_option("--target-cosine", am.target.cosine,
                                      "--auto-mixed: smallest per-sample output cosine to reach (worst output)")
                          ->check(CLI::PositiveNumber);
  cmd->add_option("--holdout-samples", am.holdOut,
                  "--auto-mixed: calibration samples held out to score the search (default: a fifth, 1 to 16)")
      ->check(CLI::PositiveNumber);
  // Validation of the outputs (as `npuconv validate`), and what to do when it fails.
  cmd->add_option("--validate-inputs", o.validation.inputs,
                  "Validate model.onnx and model.npub on these inputs (as validate's --inputs) against the original "
                  "model or --reference-outputs; figures in the report");
  cmd->add_option("--reference-outputs", o.validation.referenceOutputs,
                  "With --validate-inputs: the framework's saved outputs (folder of OUTPUT.npy, .npz, .h5) instead of "
                  "running the original model");
  cmd->add_option("--atol", cli->atol, "Validation: every element within atol + rtol * |ref|")->check(CLI::NonNegativeNumber);
  cmd->add_option("--rtol", cli->rtol, "Validation: see --atol")->check(CLI::NonNegativeNumber);
  cmd->add_option("--min-cosine", cli->minCosine, "Validation: exit 1 when an output's cosine is below C");
  cmd->add_option("--min-sqnr", cli->minSqnr, "Validation: exit 1 when an output's SQNR is below DB");
  cmd->add_option("--per-output", cli->perOutput, "Validation: NAME:KEY=VALUE, a threshold for one output");
  cmd->add_option("--fallback", o.fallback,
                  "int8: when validation or --auto-mixed misses its bar, convert to this precision instead (exit 9)")
      ->check(CLI::IsMember({"fp16"}));
  cmd->callback([&action, cli] { action = [cli] { return runConvertCommand(*cli); }; });
}

}  // namespace npuconv
