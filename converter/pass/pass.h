// pass.h - the pass interface and the pass manager with per-pass instrumentation.
//
// A pass transforms a Model in place and returns a Status for real failures; "nothing to do"
// is success. The manager detects whether a pass changed anything by the graph epoch, runs the
// verifier after each pass when asked (--verify-each, always in tests), prints the IR after the
// passes named by --print-ir-after, and records the time and node counts of every pass for
// --time-passes and the JSON report. Groups of passes (the fixpoint group) run their members
// through the manager (PassContext::runNested), so the instrumentation lives in one place and
// sees every inner run.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "converter/ir/model.h"
#include "converter/support/status.h"

namespace npuconv {

class Pass;
class PassContext;

/// Runs one pass with instrumentation; PassManager is the implementation.
class PassRunner {
 public:
  virtual ~PassRunner() = default;
  /// `group` names the enclosing group ("" at top level), `round` its round (1-based; 0 at top
  /// level).
  virtual Status runPass(Pass& p, Model& m, PassContext& ctx, std::string_view group, int round) = 0;
};

/// Options and services shared by the passes of one pipeline run.
class PassContext {
 public:
  std::map<std::string, std::string> options;  // pass options, e.g. "opset" -> "17"
  std::map<std::string, int64_t> stats;        // "fold-conv-bn.folded" -> 3
  int64_t& stat(const std::string& name) { return stats[name]; }
  std::string option(const std::string& key, const std::string& def = {}) const {
    auto it = options.find(key);
    return it == options.end() ? def : it->second;
  }
  /// Set by PassManager::run for the duration of the run.
  PassRunner* runner = nullptr;
  /// Runs a member of a group: through the manager's instrumentation when there is one.
  Status runNested(Pass& p, Model& m, std::string_view group, int round);
};

class Pass {
 public:
  virtual ~Pass() = default;
  /// kebab-case, verb first: the CLI flag and the test file name.
  virtual std::string_view name() const = 0;
  virtual Status run(Model& m, PassContext& ctx) = 0;
  /// A group runs other passes through PassContext::runNested (their failures name them).
  virtual bool isGroup() const { return false; }
};

struct PassRecord {
  std::string name;
  /// For a pass run inside a group: the group's name and the round (1-based). A group's own
  /// record comes before the records of its inner runs and covers them all.
  std::string group;
  int round = 0;
  double millis = 0;
  bool changed = false;
  size_t nodesBefore = 0;
  size_t nodesAfter = 0;
};

/// Counts nodes in the main graph and, recursively, in subgraphs.
size_t countNodes(const Graph& g);
/// Sum of all graph epochs (main graph and subgraphs): moves whenever anything changes.
uint64_t modelEpoch(const Model& m);

class PassManager final : public PassRunner {
 public:
  void add(std::unique_ptr<Pass> p) { passes_.push_back({std::move(p), {}}); }
  /// Adds a pass that runs only when the last run of pass `whenChanged` changed the model (the
  /// cleanup after a lowering that found nothing to lower would be wasted, and would change a
  /// model the user asked to leave alone).
  void addIfChanged(std::unique_ptr<Pass> p, std::string whenChanged) {
    passes_.push_back({std::move(p), std::move(whenChanged)});
  }
  void setVerifyEach(bool v) { verifyEach_ = v; }
  /// Prints the IR after each pass whose name is in the list ("all" for every pass).
  void setPrintIrAfter(std::vector<std::string> names, std::ostream* os) {
    printAfter_ = std::move(names);
    printStream_ = os;
  }
  /// Runs the passes in order; may be called again after more passes were added (records
  /// accumulate, passes already run are not run again).
  Status run(Model& m, PassContext& ctx);
  Status runPass(Pass& p, Model& m, PassContext& ctx, std::string_view group, int round) override;
  const std::vector<PassRecord>& records() const { return records_; }
  size_t size() const { return passes_.size(); }
  /// Names of the top-level entries, in order.
  std::vector<std::string> names() const;

 private:
  struct Entry {
    std::unique_ptr<Pass> pass;
    std::string whenChanged;
  };
  bool changedLast(std::string_view name) const;
  std::vector<Entry> passes_;
  size_t next_ = 0;
  std::vector<PassRecord> records_;
  bool verifyEach_ = false;
  std::vector<std::string> printAfter_;
  std::ostream* printStream_ = nullptr;
};

}  // namespace npuconv
