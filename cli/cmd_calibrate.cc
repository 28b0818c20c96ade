// npuconv calibrate MODEL --calib DATA [convert's options] [--shard i/n] -o STATS.json
// npuconv calibrate merge A.json B.json ... -o ALL.json
//
// The calibration step of `npuconv convert --precision int8` on its own (pipeline/calibrate.h):
// the same passes, observed values and cache key, so STATS.json is convert's --calib-cache.
// --shard i/n keeps samples k with k % n == i, so n machines each run one shard and `merge`
// adds them into the bytes one run gives (docs/calibration.md).
#include <charconv>
#include <cstdio>

#include "cli/commands.h"
#include "cli/convert_options.h"
#include "pipeline/calib_cache.h"
#include "pipeline/calibrate.h"

namespace npuconv {
namespace {

struct CalibrateCli {
  ConversionCli conversion;
  std::string output, shard;
  bool quiet = false;
  std::vector<std::string> mergeInputs;
  std::string mergeOutput;
};

/// "i/n" with 0 <= i < n.
Status parseShard(const std::string& s, CalibrateOptions& o) {
  auto slash = s.find('/');
  int64_t i = -1, n = 0;
  auto num = [](std::string_view t, int64_t& v) {
    auto r = std::from_chars(t.data(), t.data() + t.size(), v);
    return r.ec == std::errc() && r.ptr == t.data() + t.size();
  };
  if (slash == std::string::npos || !num(std::string_view(s).substr(0, slash), i) ||
      !num(std::string_view(s).substr(slash + 1), n) || n < 1 || i < 0 || i >= n)
    return Status::invalidArgument("--shard \"{}\": expected i/n with 0 <= i < n, e.g. 0/4", s);
  o.shardIndex = i;
  o.shardCount = n;
  return Status::ok();
}

int runCalibrateCommand(CalibrateCli c) {
  if (Status s = finishConversionOptions(c.conversion); !s.isOk()) return reportError(s);
  ConvertOptions& o = c.conversion.convert;
  if (!c.shard.empty())
    if (Status s = parseShard(c.shard, o.calibrate); !s.isOk()) return reportError(s);
  if (c.quiet) o.diagnostics = nullptr;
  auto r = runCalibrate(o, c.output);
  if (!r) return reportError(r.status());
  return 0;
}

int runMergeCommand(const CalibrateCli& c) {
  std::vector<std::filesystem::path> inputs(c.mergeInputs.begin(), c.mergeInputs.end());
  if (Status s = mergeCalibCacheFiles(inputs, c.mergeOutput, stderr); !s.isOk()) return reportError(s);
  return 0;
}

}  // namespace

void addCalibrateCommand(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("calibrate", "Collect activation statistics (convert's --calib-cache), or merge shards");
  auto c = std::make_shared<CalibrateCli>();
  auto* merge = cmd->add_subcommand("merge", "Merge statistics files (shards of one run) into one");
  merge->add_option("files", c->mergeInputs, "Statistics files")->required();
  merge->add_option("-o,--output", c->mergeOutput, "Merged statistics file")->required();
  merge->callback([&action, c] { action = [c] { return runMergeCommand(*c); }; });
  addConversionOptions(*cmd, c->conversion, "int8");
  // MODEL is required for a calibration run, not for `calibrate merge`.
  cmd->add_option("-o,--output", c->output, "Statistics file to write (JSON; convert's --calib-cache)");
  cmd->add_option("--shard", c->shard, "Run shard i of n (samples k with k % n == i), e.g. 0/4");
  cmd->add_flag("-q,--quiet", c->quiet, "No progress bar, no warnings");
  cmd->callback([&action, c, merge] {
    if (merge->parsed()) return;
    action = [c] {
      if (c->conversion.convert.model.empty())
        return reportError(Status::invalidArgument("calibrate: give MODEL (or `calibrate merge`)"));
      if (c->output.empty()) return reportError(Status::invalidArgument("calibrate: give -o STATS.json"));
      return runCalibrateCommand(*c);
    };
  });
}

}  // namespace npuconv
