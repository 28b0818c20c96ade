// npuconv ops: the operators the reference executor runs (docs/ops.md has the details).
#include <cstdio>

#include "cli/commands.h"
#include "converter/exec/kernel.h"

namespace npuconv {

void addOpsCommand(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("ops", "List the operators the reference executor supports");
  cmd->callback([&action] {
    action = [] {
      for (const std::string& op : KernelRegistry::global().supportedOps()) std::printf("%s\n", op.c_str());
      return 0;
    };
  });
}

}  // namespace npuconv
