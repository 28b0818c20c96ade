// convert_options.cc - see convert_options.h.
#include "cli/convert_options.h"

#include <iostream>

#include "cli/target_options.h"
#include "formats/support/json_file.h"

namespace npuconv {

void addConversionOptions(CLI::App& cmd, ConversionCli& c, const std::string& defaultPrecision) {
  ConvertOptions& o = c.convert;
  c.precision = defaultPrecision;
  o.passes.pipeline = "O2";
  // Required, but checked after the environment and --config had their say (cli/option_sources.h).
  cmd.add_option("model", o.model, "Input ONNX model");
  cmd.add_option("--precision", c.precision,
                 "fp32 | fp16 | int8 | int8-weights | int8-dynamic (default " + defaultPrecision + ")")
      ->check(CLI::IsMember({"fp32", "fp16", "int8", "int8-weights", "int8-dynamic"}));
  // Passes, as `optimize`.
  cmd.add_option("--pipeline", o.passes.pipeline, "Named pipeline (default O2; see `npuconv passes`)");
  cmd.add_option("--passes", o.passes.passes, "Comma-separated pass list instead of a pipeline; `none` for no passes");
  cmd.add_option("--disable", o.passes.disabled, "Skip a pass (pipeline or emit stage)")->delimiter(',');
  cmd.add_option("--input-shape", o.passes.inputShapes,
                 "Fix an input's shape: NAME=1x3x224x224 (repeatable); NAME=1x128,1x256: one blob with several shapes");
  cmd.add_option("--dim", o.passes.dims, "Fix a symbolic dim: NAME=SIZE (repeatable)");
  cmd.add_option("--opset", o.passes.opset, "Let fusions raise the default-domain opset to N");
  cmd.add_option("--pass-option", o.passes.passOptions, "KEY=VALUE option for the passes (repeatable)");
  cmd.add_option("--layout", o.passes.layout, "Run conv regions in this layout")->check(CLI::IsMember({"nchw", "nhwc"}));
  cmd.add_option("--io-layout", o.passes.ioLayout, "Layout of rank-4 model inputs/outputs with --layout nhwc")
      ->check(CLI::IsMember({"nchw", "nhwc"}));
  addTargetOptions(cmd, o.passes.target);
  cmd.add_option("--threads", o.threads, "Executor threads for calibration (0: all cores); output does not depend on it");
  cmd.add_flag("--verify-each", o.passes.verifyEach, "Run the IR verifier after every pass");
  cmd.add_option("--print-ir-after", o.passes.printIrAfter, "Print the IR after these passes (or `all`)")->delimiter(',');
  // Calibration data.
  cmd.add_option("--calib", c.calib, "Calibration data: .npy, .npz, .h5, dataset list, image folder or images (repeatable)");
  cmd.add_option("--calib-text", o.calib.textFile, "Calibration text, one sample per line (UTF-8)");
  cmd.add_option("--tokenizer", o.calib.tokenizer, "tokenizer.json or vocab.txt for --calib-text");
  cmd.add_option("--seq-len", o.calib.seqLen, "Token sequence length for --calib-text");
  cmd.add_flag("--pad-to-seq-len", o.calib.padToSeqLen,
               "Pad text samples to --seq-len even when the model's sequence dim is dynamic");
  cmd.add_option("--mean", o.calib.mean, "Image mean per channel, 0..255 scale: a,b,c")->delimiter(',');
  cmd.add_option("--std", o.calib.std, "Image std per channel, 0..255 scale: a,b,c")->delimiter(',');
  auto* rgb = cmd.add_flag("--rgb", c.rgb, "Images fed in RGB order (default)");
  auto* bgr = cmd.add_flag("--bgr", c.bgr, "Images fed in BGR order");
  rgb->excludes(bgr);
  bgr->excludes(rgb);
  cmd.add_option("--calib-samples", o.calib.maxSamples, "Use at most N calibration samples (0: all)");
  cmd.add_option("--calib-method", c.calibMethod, "minmax | percentile | entropy | mse (default percentile)");
  cmd.add_option("--percentile", o.calibrate.percentile, "Percentile for --calib-method percentile (default 99.999)");
  // Quantizer: they decide which values are observed, so calibrate takes them too.
  cmd.add_option("--activation-type", c.activationType, "uint8 (default) | int8")->check(CLI::IsMember({"uint8", "int8"}));
  cmd.add_option("--weight-type", c.weightType, "int8 (default) | uint8")->check(CLI::IsMember({"int8", "uint8"}));
  cmd.add_flag("--per-tensor", c.perTensor, "Per-tensor weight scales (default per channel)");
  cmd.add_flag("--symmetric-activations", o.quant.activationSymmetric, "Symmetric activation ranges");
  cmd.add_flag("--reduce-range", o.quant.reduceRange, "7-bit weights (CPUs whose u8s8 products saturate)");
  cmd.add_flag("--keep-io-types", o.quant.keepIoTypes, "fp16: graph inputs and outputs stay float32");
  cmd.add_option("--fp16-block-ops", o.quant.fp16BlockOps, "fp16: op types kept in float32: A,B")->delimiter(',');
  cmd.add_option("--exclude", c.exclude, "Leave this node in float (original ONNX node name; repeatable)");
  cmd.add_option("--mixed-config", c.mixedConfig,
                 "int8: per-layer precisions (int8|int16|fp16|fp32) by ONNX node name, pattern or op type (JSON)");
}

Status finishConversionOptions(ConversionCli& c) {
  ConvertOptions& o = c.convert;
  auto precision = parsePrecision(c.precision);
  if (!precision) return std::move(precision).status().in("--precision");
  o.precision = *precision;
  if (!c.calibMethod.empty()) {
    auto method = parseCalibMethod(c.calibMethod);
    if (!method) return std::move(method).status().in("--calib-method");
    o.calibrate.method = *method;
  }
  for (const std::string& p : c.calib) o.calib.paths.emplace_back(p);
  o.calib.bgr = c.bgr;
  o.quant.activationType = c.activationType == "int8" ? DType::I8 : DType::U8;
  o.quant.weightType = c.weightType == "uint8" ? DType::U8 : DType::I8;
  o.quant.perChannel = !c.perTensor;
  o.quant.excludeNodes.insert(c.exclude.begin(), c.exclude.end());
  if (!c.mixedConfig.empty()) {
    auto j = readJsonFile<nlohmann::ordered_json>(c.mixedConfig);
    if (!j) return std::move(j).status().in("--mixed-config");
    auto mixed = parseMixedConfig(*j, c.mixedConfig);
    if (!mixed) return std::move(mixed).status().in("--mixed-config");
    o.quant.mixed = std::move(*mixed);
    o.mixedConfigPath = c.mixedConfig;
  }
  o.passes.irStream = &std::cerr;
  return Status::ok();
}

}  // namespace npuconv
