// target_options.h - `--target NAME | --target-file F` for the commands that compile for an
// NPU; the profile itself and placement live in pipeline/target_placement.h.
#pragma once

#include <CLI/CLI.hpp>

#include "pipeline/target_placement.h"

namespace npuconv {

/// Adds --target and --target-file (mutually exclusive) to `cmd`.
void addTargetOptions(CLI::App& cmd, TargetSelection& sel);

}  // namespace npuconv
