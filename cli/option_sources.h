// option_sources.h - a command's options from the command line, the environment and a JSON
// config file, in this precedence (docs/cli.md, "Options from a config file and the environment"):
//
//   command line  >  NPUCONV_<OPTION> environment variable  >  --config FILE.json  >  default
//
// A higher source replaces an option entirely (a repeatable option given on the command line
// drops the config file's list; lists are never merged). Containers configure through .env
// files and a mounted config; build pipelines pin a config in the repository and override one
// option per job.
//
// Names: option `--calib-text` is config key "calib-text" (or "calib_text") and environment
// variable NPUCONV_CALIB_TEXT; the positional MODEL is key "model" / NPUCONV_MODEL; the config
// file itself may come from NPUCONV_CONFIG. Values: a config value is a string, a number, a
// boolean (flags) or an array (repeatable and comma-list options); an environment value is a
// string, split on ';' for repeatable options, and 1/0/true/false/yes/no/on/off for flags.
// Empty environment variables count as unset (Compose writes `VAR=` for unset ones).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "converter/support/status.h"

namespace npuconv {

/// The environment variable that sets `opt`: NPUCONV_ + its long (or positional) name in upper
/// case with '-' as '_'.
std::string optionEnvName(const CLI::Option& opt);

/// Adds `--config FILE` to `cmd` (also from NPUCONV_CONFIG) and returns it.
CLI::Option* addConfigOption(CLI::App& cmd, std::string& configPath);

/// After `cmd` was parsed from the command line: fills every option the command line did not
/// give from its environment variable, else from the config file (when `configPath` is
/// non-empty), running each option's validators; then checks `required` options and the
/// exclusions CLI11 checked for the command line only. Returns, by option name, where each set
/// option came from ("command line", "NPUCONV_X", "config FILE"), for the report. Errors name
/// the variable or the config key (InvalidArgument, exit 2; a missing or broken config file:
/// Io / InvalidArgument).
Expected<nlohmann::ordered_json> applyOptionSources(CLI::App& cmd, const std::string& configPath,
                                                    const std::vector<const CLI::Option*>& required = {});

}  // namespace npuconv
