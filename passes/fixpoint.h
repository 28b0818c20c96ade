// fixpoint.h - a pipeline entry that repeats a group of passes until nothing changes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "converter/pass/pass.h"

namespace npuconv {

/// Runs `passes` in order, again and again, until a whole round leaves the model epoch where it
/// was, at most `maxRounds` times (stopping short of the fixpoint is not an error: the model is
/// valid after every pass). Rounds run are counted in ctx.stats as "<name>.rounds". Members run
/// through PassContext::runNested, so the manager's --verify-each, --print-ir-after and
/// --time-passes see every inner run (name, round).
class FixpointPass final : public Pass {
 public:
  FixpointPass(std::string name, std::vector<std::unique_ptr<Pass>> passes, int maxRounds)
      : name_(std::move(name)), passes_(std::move(passes)), maxRounds_(maxRounds) {}
  std::string_view name() const override { return name_; }
  Status run(Model& m, PassContext& ctx) override;
  bool isGroup() const override { return true; }

 private:
  std::string name_;
  std::vector<std::unique_ptr<Pass>> passes_;
  int maxRounds_;
};

}  // namespace npuconv
