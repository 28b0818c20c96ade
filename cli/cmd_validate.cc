// npuconv validate CANDIDATE.onnx (--reference-model REF.onnx | --reference-outputs DIR|FILE.npz|FILE.h5)
//                  --inputs (DIR | FILE.h5 | FILE.npz | NAME=FILE.npy ...) [--atol A] [--rtol R]
//                  [--min-cosine C] [--min-sqnr S] [--per-output NAME:KEY=VALUE] [--json]
//
// A converted model against the reference outputs its framework saved, or against the reference
// model, per input set and over all of them (pipeline/validate.h). Exit 1 when a threshold fails
// (the report is printed first), as diff and cmp do.
#include <cstdio>

#include "cli/commands.h"
#include "pipeline/validate.h"

namespace npuconv {
namespace {

struct ValidateCli {
  ValidateOptions o;
  std::vector<std::string> perOutput;
  double atol = 0, rtol = 0, minCosine = 0, minSqnr = 0;
  bool json = false;
};

int runValidateCommand(ValidateCli& c, const CLI::App& cmd) {
  if (cmd.count("--atol")) c.o.thresholds.atol = c.atol;
  if (cmd.count("--rtol")) c.o.thresholds.rtol = c.rtol;
  if (cmd.count("--min-cosine")) c.o.thresholds.minCosine = c.minCosine;
  if (cmd.count("--min-sqnr")) c.o.thresholds.minSqnrDb = c.minSqnr;
  for (const std::string& p : c.perOutput)
    if (Status s = parsePerOutputThreshold(p, c.o.perOutput); !s.isOk()) return reportError(s);
  auto r = runValidate(c.o);
  if (!r) return reportError(r.status());
  std::string text = c.json ? r->report.dump(2) + "\n" : formatValidateReport(r->report);
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
  if (!r->passed) return reportError(Status::accuracyFailed("{}", r->failure));
  return 0;
}

}  // namespace

void addValidateCommand(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("validate", "Check a converted model's outputs against reference outputs or a reference model");
  auto c = std::make_shared<ValidateCli>();
  cmd->add_option("candidate", c->o.candidate, "The converted model: .onnx, or a device blob .npub (run on the bit-exact interpreter)")->required();
  auto* rm = cmd->add_option("--reference-model", c->o.referenceModel, "Reference model run on the same inputs (e.g. the float original)");
  auto* ro = cmd->add_option("--reference-outputs", c->o.referenceOutputs,
                             "Saved reference outputs: a folder of OUTPUT.npy (SET/ per input set), an .npz or an .h5");
  rm->excludes(ro);
  ro->excludes(rm);
  cmd->add_option("--inputs", c->o.inputs,
                  "Inputs: a folder of INPUT.npy, a folder of such folders or .npz/.h5 files (one set each), an .npz, "
                  ".h5 or .npy file, or NAME=FILE.npy ...")
      ->required();
  cmd->add_option("--atol", c->atol, "Every element within atol + rtol * |ref| (numpy.allclose; default 0 when --rtol is given)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--rtol", c->rtol, "See --atol")->check(CLI::NonNegativeNumber);
  cmd->add_option("--min-cosine", c->minCosine, "Fail (exit 1) when an output's cosine is below C");
  cmd->add_option("--min-sqnr", c->minSqnr, "Fail (exit 1) when an output's SQNR is below DB");
  cmd->add_option("--per-output", c->perOutput, "NAME:KEY=VALUE: a threshold for one output (KEY: atol, rtol, min-cosine, min-sqnr)");
  cmd->add_flag("--json", c->json, "Print the report as JSON on stdout (instead of text)");
  cmd->add_option("--threads", c->o.threads, "Executor threads (0: all cores)")->check(CLI::NonNegativeNumber);
  c->o.progress = true;  // drawn only when stderr is a terminal
  cmd->callback([&action, c, cmd] { action = [c, cmd] { return runValidateCommand(*c, *cmd); }; });
}

}  // namespace npuconv
