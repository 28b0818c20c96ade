// commands.h - each subcommand registers its options and an action returning an exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "converter/support/status.h"

namespace npuconv {

using CommandAction = std::function<int()>;

void addConvertCommand(CLI::App& app, CommandAction& action);
void addInspectCommand(CLI::App& app, CommandAction& action);
void addOptimizeCommand(CLI::App& app, CommandAction& action);
void addPassesCommand(CLI::App& app, CommandAction& action);
void addRunCommand(CLI::App& app, CommandAction& action);
void addOpsCommand(CLI::App& app, CommandAction& action);
void addTargetsCommand(CLI::App& app, CommandAction& action);
void addCalibrateCommand(CLI::App& app, CommandAction& action);
void addCompareCommand(CLI::App& app, CommandAction& action);
void addValidateCommand(CLI::App& app, CommandAction& action);
void addReportCommand(CLI::App& app, CommandAction& action);
void addDiffCommand(CLI::App& app, CommandAction& action);

/// convert --fallback: the outputs are the fallback precision's, because the requested one missed
/// the accuracy bar (docs/cli.md, exit codes).
inline constexpr int kExitFallbackUsed = 9;
/// diff: the blobs differ in content (as diff(1) and cmp(1) exit 1).
inline constexpr int kExitDifferencesFound = 1;

/// Prints `npuconv: error: <message>` on one line and returns the documented exit code.
int reportError(const Status& s);

}  // namespace npuconv
