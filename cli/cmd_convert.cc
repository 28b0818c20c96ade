// npuconv convert MODEL -o OUTDIR --precision P [calibration, quantizer and pass options]
// (alias: npuconv quantize). The work is pipeline/convert.h; the options it shares with
// `calibrate` are cli/convert_options.h.
#include "cli/commands.h"
#include "cli/convert_options.h"
#include "pipeline/convert.h"

namespace npuconv {
namespace {

struct ConvertCli {
  ConversionCli conversion;
  bool biasCorrection = false, noBiasCorrection = false;
};

int runConvertCommand(ConvertCli cli) {
  ConversionCli& c = cli.conversion;
  if (Status s = finishConversionOptions(c); !s.isOk()) return reportError(s);
  // On by default for int8 (docs/quantization.md: the method x bias-correction tables); other
  // precisions need no calibration data unless asked for it.
  c.convert.biasCorrection =
      cli.biasCorrection || (c.convert.precision == Precision::Int8 && !cli.noBiasCorrection);
  auto r = runConvert(c.convert);
  if (!r) return reportError(r.status());
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
  cmd->add_flag("--time-passes", o.timePasses, "Print the time of each pass");
  auto* bc = cmd->add_flag("--bias-correction", cli->biasCorrection,
                           "Fast bias correction after quantization (default for int8; int8-weights: needs calibration data)");
  auto* nobc = cmd->add_flag("--no-bias-correction", cli->noBiasCorrection, "int8: skip bias correction (faster conversion)");
  bc->excludes(nobc);
  cmd->add_option("--layer-error-samples", o.layerErrorSamples,
                  "int8: per-layer error table in the report over the first N calibration samples (0: none; default 8)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--calib-cache", o.calibCache, "Calibration statistics cache (JSON): reused when model, data and options match");
  cmd->callback([&action, cli] { action = [cli] { return runConvertCommand(*cli); }; });
}

}  // namespace npuconv
