// npuconv calibrate MODEL --calib DATA ... [--shard i/n] -o STATS.json
// npuconv calibrate merge A.json B.json ... -o ALL.json
//
// Runs the float model on the calibration data and writes the activation statistics
// (docs/calibration.md): the calibration cache convert reads with --calib-cache. --shard i/n
// keeps samples k with k % n == i, so n machines each run one shard and `merge` adds them into
// the same bytes one run gives. Health warnings for the chosen --calib-method go to stderr.
#include <unistd.h>

#include <charconv>
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "formats/calib/calib_data.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/support/mapped_file.h"
#include "quant/calibration.h"

namespace npuconv {
namespace {

struct CalibrateCliOptions {
  std::string model, output, shard, method, tensors;
  std::vector<std::string> calib;
  CalibDataOptions data;
  CalibrateOptions calibrate;
  bool rgb = false, quiet = false;
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

/// FNV-1a 64 over the model file's bytes: the model key of the statistics.
// TODO(lead): use the pipeline's model key (ContentHasher) once it is merged, so a cache made
// here matches convert's.
std::string fileKey(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ull;
  return fmt::format("{:016x}", h);
}

Status writeStats(const std::string& path, const CalibrationStats& s) {
  std::string text = calibStatsToJson(s).dump() + "\n";
  NPU_ASSIGN_OR_RETURN(auto file, AtomicFile::create(path));
  NPU_TRY(file->write(text.data(), text.size()));
  return file->commit();
}

Expected<CalibrationStats> readStats(const std::string& path) {
  NPU_ASSIGN_OR_RETURN(std::string text, readFile(path));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::invalidArgument("{}: not valid JSON", path);
  auto s = calibStatsFromJson(j);
  if (!s) return std::move(s).status().in(path);
  return s;
}

int runCalibrate(CalibrateCliOptions& o) {
  if (o.model.empty()) return reportError(Status::invalidArgument("calibrate: give MODEL (or `calibrate merge`)"));
  if (o.output.empty()) return reportError(Status::invalidArgument("calibrate: give -o STATS.json"));
  if (!o.shard.empty()) {
    Status st = parseShard(o.shard, o.calibrate);
    if (!st) return reportError(st);
  }
  if (!o.method.empty()) {
    auto m = parseCalibMethod(o.method);
    if (!m) return reportError(std::move(m).status().in("--calib-method"));
    o.calibrate.method = *m;
  }
  for (const std::string& p : o.calib) o.data.paths.emplace_back(p);
  if (o.data.paths.empty() && o.data.textFile.empty())
    return reportError(Status::invalidArgument("calibrate: give --calib PATH or --calib-text FILE"));
  if (o.data.modelDir.empty()) o.data.modelDir = std::filesystem::path(o.model).parent_path();
  for (size_t b = 0, e; b < o.tensors.size(); b = e + 1) {
    e = o.tensors.find(',', b);
    if (e == std::string::npos) e = o.tensors.size();
    if (e > b) o.calibrate.tensors.push_back(o.tensors.substr(b, e - b));
  }
  auto bytes = readFile(o.model);
  if (!bytes) return reportError(bytes.status());
  auto model = readOnnx(o.model);
  if (!model) return reportError(model.status());
  std::vector<ModelInputSpec> specs;
  for (const Value* v : model->graph->inputs()) {
    if (v->isInitializer()) continue;
    ModelInputSpec s;
    s.name = v->name();
    s.dtype = v->dtype();
    if (v->shape())
      for (const Dim& d : *v->shape()) s.dims.push_back(d.isStatic() ? d.value() : -1);
    specs.push_back(std::move(s));
  }
  auto dataKey = calibDataKey(o.data);
  if (!dataKey) return reportError(dataKey.status());
  auto stream = openCalibData(o.data, specs);
  if (!stream) return reportError(stream.status());
  o.calibrate.progress = !o.quiet && ::isatty(STDERR_FILENO);
  auto stats = collectStats(*model, **stream, o.calibrate);
  if (!stats) return reportError(stats.status().in(o.model));
  stats->modelKey = fileKey(*bytes);
  stats->dataKey = *dataKey;
  auto ranges = computeRanges(*stats, o.calibrate);
  if (!ranges) return reportError(ranges.status());
  if (!o.quiet)
    for (const CalibWarning& w : checkCalibrationHealth(*model, *stats, *ranges))
      std::fprintf(stderr, "npuconv: warning: %s\n", w.message.c_str());
  Status st = writeStats(o.output, *stats);
  if (!st) return reportError(st);
  return 0;
}

int runMerge(const CalibrateCliOptions& o) {
  if (o.mergeInputs.empty()) return reportError(Status::invalidArgument("calibrate merge: give the files to merge"));
  auto all = readStats(o.mergeInputs[0]);
  if (!all) return reportError(all.status());
  for (size_t i = 1; i < o.mergeInputs.size(); ++i) {
    auto next = readStats(o.mergeInputs[i]);
    if (!next) return reportError(next.status());
    Status st = all->merge(*next);
    if (!st) return reportError(std::move(st).in(o.mergeInputs[i]));
  }
  if (all->shardCount != 1)
    std::fprintf(stderr, "npuconv: warning: the merge holds %zu of %lld shards\n", all->shards.size(),
                 static_cast<long long>(all->shardCount));
  Status st = writeStats(o.mergeOutput, *all);
  if (!st) return reportError(st);
  return 0;
}

}  // namespace

void addCalibrateCommand(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("calibrate", "Collect activation statistics (the calibration cache), or merge shards");
  auto o = std::make_shared<CalibrateCliOptions>();
  cmd->add_option("model", o->model, "Input ONNX model");
  cmd->add_option("-o,--output", o->output, "Statistics file to write (JSON)");
  cmd->add_option("--calib", o->calib, "Calibration data: .npy, .npz, .h5, dataset list, image folder or images (repeatable)");
  cmd->add_option("--calib-text", o->data.textFile, "Calibration text, one sample per line (UTF-8)");
  cmd->add_option("--tokenizer", o->data.tokenizer, "tokenizer.json or vocab.txt for --calib-text");
  cmd->add_option("--seq-len", o->data.seqLen, "Token sequence length for --calib-text");
  cmd->add_option("--mean", o->data.mean, "Image mean per channel, 0..255 scale: a,b,c")->delimiter(',');
  cmd->add_option("--std", o->data.std, "Image std per channel, 0..255 scale: a,b,c")->delimiter(',');
  cmd->add_flag("--rgb", o->rgb, "Image channels in RGB order (default)");
  cmd->add_flag("--bgr", o->data.bgr, "Image channels in BGR order");
  cmd->add_option("--calib-samples", o->data.maxSamples, "Use at most N calibration samples (0: all)");
  cmd->add_option("--calib-method", o->method,
                  "minmax | percentile | entropy | mse: the method the health warnings judge (default percentile)");
  cmd->add_option("--percentile", o->calibrate.percentile, "Percentile for --calib-method percentile (default 99.99)");
  cmd->add_option("--threads", o->calibrate.threads, "Executor threads (0: all cores); the output does not depend on it");
  cmd->add_option("--shard", o->shard, "Run shard i of n (samples k with k % n == i), e.g. 0/4");
  cmd->add_option("--tensors", o->tensors, "Observe only these values (comma-separated; default every float tensor)");
  cmd->add_flag("-q,--quiet", o->quiet, "No progress bar, no warnings");
  auto* merge = cmd->add_subcommand("merge", "Merge statistics files (shards of one run) into one");
  merge->add_option("files", o->mergeInputs, "Statistics files")->required();
  merge->add_option("-o,--output", o->mergeOutput, "Merged statistics file")->required();
  merge->callback([&action, o] { action = [o] { return runMerge(*o); }; });
  cmd->callback([&action, o, merge] {
    if (merge->parsed()) return;
    action = [o] { return runCalibrate(*o); };
  });
}

}  // namespace npuconv
