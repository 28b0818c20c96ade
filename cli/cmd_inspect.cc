// npuconv inspect MODEL [--json]
#include <cstdio>

#include "cli/commands.h"
#include "cli/model_summary.h"
#include "formats/onnx/onnx_reader.h"

namespace npuconv {

void addInspectCommand(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("inspect", "Summarize a model: I/O, opsets, op histogram, parameters");
  auto model = std::make_shared<std::string>();
  auto asJson = std::make_shared<bool>(false);
  cmd->add_option("model", *model, "ONNX model")->required();
  cmd->add_flag("--json", *asJson, "Print JSON instead of a table");
  cmd->callback([&action, model, asJson] {
    action = [model, asJson]() -> int {
      OnnxFileInfo info;
      auto m = readOnnx(*model, {}, &info);
      if (!m) return reportError(m.status());
      auto s = summarizeModel(*m, info, *model);
      std::string text = *asJson ? s.dump(2) + "\n" : renderSummary(s);
      std::fwrite(text.data(), 1, text.size(), stdout);
      return 0;
    };
  });
}

}  // namespace npuconv
