// npuconv convert MODEL -o OUTDIR --precision P [calibration, quantizer and pass options]
// (alias: npuconv quantize). The work is pipeline/convert.h; the options it shares with
// `calibrate` are cli/convert_options.h.
#include "cli/commands.h"
#include "cli/convert_options.h"
#include "pipeline/convert.h"
#include "pipeline/out_dir.h"

namespace npuconv {
namespace {

struct ConvertCli {
  ConversionCli conversion;
  OutDirOptions outDir;
  bool biasCorrection = false, noBiasCorrection = false;
  CLI::Option* targetSqnr = nullptr;
  CLI::Option* targetCosine = nullptr;
  /// A target alone asks for the search (--auto-mixed is then implied).
  bool targetSet() const { return (targetSqnr && targetSqnr->count()) || (targetCosine && targetCosine->count()); }
};

int runConvertCommand(ConvertCli cli) {
  ConversionCli& c = cli.conversion;
  if (Status s = finishConversionOptions(c); !s.isOk()) return reportError(s);
  // On by default for int8 (docs/quantization.md: the method x bias-correction tables); other
  // precisions need no calibration data unless asked for it.
  c.convert.biasCorrection =
      cli.biasCorrection || (c.convert.precision == Precision::Int8 && !cli.noBiasCorrection);
  c.convert.autoMixed.enabled = c.convert.autoMixed.enabled || cli.targetSet();
  auto r = convertIntoOutDir(c.convert, cli.outDir);
  if (!r) return reportError(r.status());
  if (r->upToDate && c.convert.diagnostics)
    std::fprintf(c.convert.diagnostics, "npuconv: %s is up to date (key %s%s); nothing to do (--force rebuilds)\n",
                 c.convert.outDir.string().c_str(), r->key.c_str(), r->waited ? ", built by another process" : "");
  if (!r->accuracyFailure.empty()) return reportError(Status::accuracyFailed("{}", r->accuracyFailure));
  return 0;
}

}  // namespace

void addConvertCommand(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("convert", "Optimize and quantize a model: OUTDIR/model.onnx and a JSON report");
  cmd->alias("quantize");
  auto cli = std::make_shared<ConvertCli>();
  ConversionCli* c = &cli->conversion;
  ConvertOptions& o = c->convert;
  addConversionOptions(*cmd, *c, "fp32");
  cmd->add_option("-o,--output", o.outDir, "Output folder (created): model.onnx, report.json")->required();
  cmd->add_option("--report", o.report, "JSON report (default OUTDIR/report.json)");
  cmd->add_flag("--force", cli->outDir.force, "Convert even when OUTDIR's key says its outputs are up to date");
  cmd->add_option("--wait-timeout", cli->outDir.waitTimeoutSeconds,
                  "Seconds to wait while another npuconv converts into OUTDIR (default 600)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--time-passes", o.timePasses, "Print the time of each pass");
  auto* bc = cmd->add_flag("--bias-correction", cli->biasCorrection,
                           "Fast bias correction after quantization (default for int8; int8-weights: needs calibration data)");
  auto* nobc = cmd->add_flag("--no-bias-correction", cli->noBiasCorrection, "int8: skip bias correction (faster conversion)");
  bc->excludes(nobc);
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
  cmd->callback([&action, cli] { action = [cli] { return runConvertCommand(*cli); }; });
}

}  // namespace npuconv
