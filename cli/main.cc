// npuconv - the command-line program. Exit codes are documented in docs/cli.md.
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "converter/support/utf8.h"
#include "pipeline/version.h"

int main(int argc, char** argv) {
  using namespace npuconv;
  CLI::App app{"npuconv: ONNX model conversion and quantization for NPUs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("npuconv ") + kNpuconvVersion);
  CommandAction action;
  addInspectCommand(app, action);
  addOptimizeCommand(app, action);
  addConvertCommand(app, action);
  addPassesCommand(app, action);
  addRunCommand(app, action);
  addOpsCommand(app, action);
  addTargetsCommand(app, action);
  addCalibrateCommand(app, action);
  addCompareCommand(app, action);
  addValidateCommand(app, action);
  addReportCommand(app, action);
  addDiffCommand(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : exitCodeFor(StatusCode::InvalidArgument);
  }
  try {
    return action ? action() : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "npuconv: internal error: %s\n", oneLineMessage(e.what()).c_str());
    return exitCodeFor(StatusCode::Internal);
  }
}
