// npuconv diff A.npub B.npub [--json]: what changed between two device blobs (ops, precisions,
// scales, weights by hash), by the original ONNX node names; formats/blob/blob_diff.h compares.
// Exit codes as diff(1): 0 identical in content, 1 differences found; 3 or 5 when a blob cannot be
// read (its reader's one-line error).
#include <cstdio>

#include "cli/commands.h"
#include "formats/blob/blob_diff.h"

namespace npuconv {

void addDiffCommand(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("diff", "What changed between two device blobs (.npub): ops, precisions, scales, weights by hash");
  struct Options {
    std::string a, b;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  cmd->add_option("a", o->a, "The first device blob (.npub), e.g. the previous build")->required();
  cmd->add_option("b", o->b, "The second device blob (.npub)")->required();
  cmd->add_flag("--json", o->json, "Print JSON (stable key order) instead of text");
  cmd->callback([&action, o] {
    action = [o]() -> int {
      Expected<LoadedBlob> a = readBlob(o->a);
      if (!a) return reportError(a.status());
      Expected<LoadedBlob> b = readBlob(o->b);
      if (!b) return reportError(b.status());
      const nlohmann::ordered_json d = diffBlobs(*a, *b, o->a, o->b);
      const std::string text = o->json ? d.dump(2) + "\n" : renderBlobDiff(d);
      std::fwrite(text.data(), 1, text.size(), stdout);
      return d["identical"].get<bool>() ? 0 : kExitDifferencesFound;
    };
  });
}

}  // namespace npuconv
