// convert_options.h - the options `convert` and `calibrate` share (passes, shapes, target,
// calibration data and method, quantizer), registered on a CLI11 command by one function so
// both commands parse one option line the same way: the statistics `calibrate` writes are then
// the ones `convert` would compute.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "converter/support/status.h"
#include "pipeline/convert.h"

namespace npuconv {

/// The parsed command line: ConvertOptions plus the strings CLI11 fills before conversion.
struct ConversionCli {
  ConvertOptions convert;
  std::string precision, calibMethod, activationType = "uint8", weightType = "int8";
  std::vector<std::string> calib, exclude;
  std::string mixedConfig;  // --mixed-config FILE.json
  bool rgb = false, bgr = false, perTensor = false;
};

/// Adds MODEL, --precision (default `defaultPrecision`) and every shared option to `cmd`.
/// convert's default pipeline, O2, is set here for both commands.
void addConversionOptions(CLI::App& cmd, ConversionCli& c, const std::string& defaultPrecision);

/// Turns the strings into `c.convert` (precision, method, data paths, quantizer types); the error
/// names the option.
Status finishConversionOptions(ConversionCli& c);

}  // namespace npuconv
