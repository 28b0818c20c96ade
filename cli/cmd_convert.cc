// npuconv convert MODEL -o OUTDIR --precision P [calibration, quantizer and pass options]
// (alias: npuconv quantize). The work is pipeline/convert.h; the options it shares with
// `calibrate` are cli/convert_options.h.
#include "cli/commands.h"
#include "cli/convert_options.h"
#include "pipeline/convert.h"

namespace npuconv {
namespace {

int runConvertCommand(ConversionCli c) {
  if (Status s = finishConversionOptions(c); !s.isOk()) return reportError(s);
  auto r = runConvert(c.convert);
  if (!r) return reportError(r.status());
  return 0;
}

}  // namespace

void addConvertCommand(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("convert", "Optimize and quantize a model: OUTDIR/model.onnx and a JSON report");
  cmd->alias("quantize");
  auto c = std::make_shared<ConversionCli>();
  ConvertOptions& o = c->convert;
  addConversionOptions(*cmd, *c, "fp32");
  cmd->add_option("-o,--output", o.outDir, "Output folder (created): model.onnx, report.json")->required();
  cmd->add_option("--report", o.report, "JSON report (default OUTDIR/report.json)");
  cmd->add_flag("--time-passes", o.timePasses, "Print the time of each pass");
  cmd->add_flag("--bias-correction", o.biasCorrection, "Fast bias correction after quantization (needs calibration data)");
  cmd->add_option("--layer-error-samples", o.layerErrorSamples,
                  "int8: per-layer error table in the report over the first N calibration samples (0: none; default 8)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--calib-cache", o.calibCache, "Calibration statistics cache (JSON): reused when model, data and options match");
  cmd->callback([&action, c] { action = [c] { return runConvertCommand(*c); }; });
}

}  // namespace npuconv
