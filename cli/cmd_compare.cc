// npuconv compare A.onnx B.onnx --inputs DATA [--per-layer [--isolated]] [--json R.json]
//                 [--min-sqnr DB] [--min-cosine C] [--samples N] [--threads N]
//                 [--mean a,b,c --std a,b,c --rgb|--bgr] [--inputs-text F --tokenizer T --seq-len N]
//
// Runs both models on the same inputs and prints, per output, SQNR, cosine, max abs and max rel
// error of B against A; with --per-layer every tensor of an original ONNX node both compute, in A's
// graph order, and the first layer whose error jumps (pipeline/compare.h). Exit 1 (as diff and cmp) when an output
// is below --min-sqnr or --min-cosine (the report is written first).
#include <cstdio>

#include "cli/commands.h"
#include "formats/support/mapped_file.h"
#include "pipeline/compare.h"

namespace npuconv {
namespace {

struct CompareCli {
  CompareOptions o;
  std::vector<std::string> inputs;
  std::string json;
  double minSqnr = 0, minCosine = 0;
  bool bgr = false, rgb = false;
};

Status writeJson(const std::string& path, const nlohmann::ordered_json& j) {
  return writeFileAtomically(path, j.dump(2) + "\n");
}

int runCompare(CompareCli& c, const CLI::App& cmd) {
  for (const std::string& p : c.inputs) c.o.inputs.paths.emplace_back(p);
  if (c.o.inputs.paths.empty() && c.o.inputs.textFile.empty())
    return reportError(Status::invalidArgument("compare: give the inputs: --inputs PATH or --inputs-text FILE"));
  if (cmd.count("--min-sqnr")) c.o.minSqnrDb = c.minSqnr;
  if (cmd.count("--min-cosine")) c.o.minCosine = c.minCosine;
  if (c.o.isolated && !c.o.perLayer) c.o.perLayer = true;
  c.o.inputs.bgr = c.bgr;
  for (const auto* p : {&c.o.a, &c.o.b})
    if (!std::filesystem::exists(*p)) return reportError(Status::io("{}: no such file", p->string()));
  auto r = compareModels(c.o);
  if (!r) return reportError(r.status());
  std::fputs(formatCompareReport(r->report).c_str(), stdout);
  if (!c.json.empty())
    if (Status s = writeJson(c.json, r->report); !s.isOk()) return reportError(s);
  if (!r->passed) return reportError(Status::accuracyFailed("{}", r->failure));
  return 0;
}

}  // namespace

void addCompareCommand(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("compare", "Run two models on the same inputs: output and per-layer error of B against A");
  auto c = std::make_shared<CompareCli>();
  cmd->add_option("A", c->o.a, "Reference model (e.g. the float original)")->required();
  cmd->add_option("B", c->o.b, "Model compared with it (e.g. the converted one)")->required();
  cmd->add_option("--inputs", c->inputs, "Inputs: .npy, .npz, .h5, dataset list, image folder or images (as --calib; repeatable)");
  cmd->add_option("--inputs-text", c->o.inputs.textFile, "Text inputs, one sample per line (as --calib-text)");
  cmd->add_option("--tokenizer", c->o.inputs.tokenizer, "tokenizer.json or vocab.txt for --inputs-text");
  cmd->add_option("--seq-len", c->o.inputs.seqLen, "Token sequence length for --inputs-text");
  cmd->add_option("--mean", c->o.inputs.mean, "Image mean per channel, 0..255 scale: a,b,c")->delimiter(',');
  cmd->add_option("--std", c->o.inputs.std, "Image std per channel, 0..255 scale: a,b,c")->delimiter(',');
  auto* rgb = cmd->add_flag("--rgb", c->rgb, "Images fed in RGB order (default)");
  auto* bgr = cmd->add_flag("--bgr", c->bgr, "Images fed in BGR order");
  rgb->excludes(bgr);
  bgr->excludes(rgb);
  cmd->add_option("--samples", c->o.inputs.maxSamples, "Use at most N samples (0: all)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--per-layer", c->o.perLayer, "Also every tensor of an original ONNX node both models compute");
  cmd->add_flag("--isolated", c->o.isolated, "With --per-layer: each layer of B also fed A's tensors (its own error)");
  cmd->add_option("--jump-db", c->o.jumpDb, "A layer this many dB below its inputs is a jump (default 6)");
  cmd->add_option("--min-sqnr", c->minSqnr, "Fail (exit 1) when an output's SQNR is below DB");
  cmd->add_option("--min-cosine", c->minCosine, "Fail (exit 1) when an output's cosine is below C");
  cmd->add_option("--json", c->json, "Write the report as JSON (atomically)");
  cmd->add_option("--threads", c->o.threads, "Executor threads (0: all cores)")->check(CLI::NonNegativeNumber);
  cmd->callback([&action, c, cmd] { action = [c, cmd] { return runCompare(*c, *cmd); }; });
}

}  // namespace npuconv
