// target_options.cc - the --target / --target-file options.
#include "cli/target_options.h"

namespace npuconv {

void addTargetOptions(CLI::App& cmd, TargetSelection& sel) {
  auto* t = cmd.add_option("--target", sel.name, "Target NPU profile (see `npuconv targets`; default generic_npu)");
  auto* f = cmd.add_option("--target-file", sel.file, "Target profile from a JSON file (schema: docs/targets.md)");
  t->excludes(f);
  f->excludes(t);
}

}  // namespace npuconv
