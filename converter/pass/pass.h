// pass.h - the pass interface and the pass manager with per-pass instrumentation.
//
// A pass transforms a Model in place and returns a Status for real failures; "nothing to do"
// is success. The manager detects whether a pass changed anything by the graph epoch, runs the
// verifier after each pass when asked (--verify-each, always in tests), and records the time
// and node counts of every pass for --time-passes and the JSON report.
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

/// Options and services shared by the passes of one pipeline run.
struct PassContext {
  std::map<std::string, std::string> options;  // pass options, e.g. "opset" -> "17"
  std::map<std::string, int64_t> stats;        // "fold-conv-bn.folded" -> 3
  int64_t& stat(const std::string& name) { return stats[name]; }
  std::string option(const std::string& key, const std::string& def = {}) const {
    auto it = options.find(key);
    return it == options.end() ? def : it->second;
  }
};

class Pass {
 public:
  virtual ~Pass() = default;
  /// kebab-case, verb first: the CLI flag and the test file name.
  virtual std::string_view name() const = 0;
  virtual Status run(Model& m, PassContext& ctx) = 0;
};

struct PassRecord {
  std::string name;
  double millis = 0;
  bool changed = false;
  size_t nodesBefore = 0;
  size_t nodesAfter = 0;
};

/// Counts nodes in the main graph and, recursively, in subgraphs.
size_t countNodes(const Graph& g);
/// Sum of all graph epochs (main graph and subgraphs): moves whenever anything changes.
uint64_t modelEpoch(const Model& m);

class PassManager {
 public:
  void add(std::unique_ptr<Pass> p) { passes_.push_back(std::move(p)); }
  void setVerifyEach(bool v) { verifyEach_ = v; }
  /// Prints the IR after each pass whose name is in the list ("all" for every pass).
  void setPrintIrAfter(std::vector<std::string> names, std::ostream* os) {
    printAfter_ = std::move(names);
    printStream_ = os;
  }
  Status run(Model& m, PassContext& ctx);
  const std::vector<PassRecord>& records() const { return records_; }
  size_t size() const { return passes_.size(); }

 private:
  std::vector<std::unique_ptr<Pass>> passes_;
  std::vector<PassRecord> records_;
  bool verifyEach_ = false;
  std::vector<std::string> printAfter_;
  std::ostream* printStream_ = nullptr;
};

}  // namespace npuconv
