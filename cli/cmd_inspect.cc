// npuconv inspect MODEL [--json]; npuconv inspect MODEL.npub [--json] [--hex]
#include <cstdio>

#include "cli/commands.h"
#include "cli/model_summary.h"
#include "formats/blob/blob_dump.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/support/mapped_file.h"

namespace npuconv {
namespace {

/// A device blob (docs/blob-format.md): validated like any reader would, then summarized; --hex
/// dumps the whole file when it is small (at most 4 KiB), else the header and section table.
int inspectBlob(const std::string& path, bool asJson, bool hex) {
  auto b = readBlob(path);
  if (!b) return reportError(b.status());
  std::string text = asJson ? blobToJson(*b).dump(2) + "\n" : renderBlob(*b);
  if (hex) {
    auto f = MappedFile::open(path);
    if (!f) return reportError(f.status());
    const size_t n = (*f)->size() <= 4096 ? (*f)->size() : 64 + 32 * b->sections.size();
    text = hexDump((*f)->data(), n);
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace

void addInspectCommand(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("inspect", "Summarize a model: I/O, opsets, op histogram, parameters");
  auto model = std::make_shared<std::string>();
  auto asJson = std::make_shared<bool>(false);
  cmd->add_option("model", *model, "ONNX model or device blob (.npub)")->required();
  auto hex = std::make_shared<bool>(false);
  cmd->add_flag("--json", *asJson, "Print JSON instead of a table");
  cmd->add_flag("--hex", *hex, "Device blob (.npub): hex dump of the file (header and section table when over 4 KiB)");
  cmd->callback([&action, model, asJson, hex] {
    action = [model, asJson, hex]() -> int {
      if (std::filesystem::path(*model).extension() == ".npub") return inspectBlob(*model, *asJson, *hex);
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
