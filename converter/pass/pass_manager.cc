#include <algorithm>

#include <fmt/format.h>

#include "converter/ir/printer.h"
#include "converter/ir/verifier.h"
#include "converter/pass/pass.h"

namespace npuconv {
namespace {

uint64_t graphEpoch(const Graph& g) {
  uint64_t e = g.epoch();
  for (const Node* n : g.nodes())
    for (const Graph* s : n->subgraphs()) e += graphEpoch(*s);
  return e;
}

}  // namespace

size_t countNodes(const Graph& g) {
  size_t n = g.numNodes();
  for (const Node* node : g.nodes())
    for (const Graph* s : node->subgraphs()) n += countNodes(*s);
  return n;
}

uint64_t modelEpoch(const Model& m) {
  uint64_t e = graphEpoch(*m.graph);
  for (const Function& f : m.functions)
    if (f.body) e += graphEpoch(*f.body);
  return e;
}

Status PassContext::runNested(Pass& p, Model& m, std::string_view group, int round) {
  if (runner) return runner->runPass(p, m, *this, group, round);
  Status s = p.run(m, *this);
  return p.isGroup() ? s : std::move(s).in("pass " + std::string(p.name()));
}

std::vector<std::string> PassManager::names() const {
  std::vector<std::string> out;
  for (const Entry& e : passes_) out.emplace_back(e.pass->name());
  return out;
}

bool PassManager::changedLast(std::string_view name) const {
  for (auto it = records_.rbegin(); it != records_.rend(); ++it)
    if (it->name == name) return it->changed;
  return false;
}

Status PassManager::runPass(Pass& p, Model& m, PassContext& ctx, std::string_view group, int round) {
  // A group's record goes first, its inner runs after it: reserve the slot now.
  size_t slot = records_.size();
  records_.emplace_back();
  PassRecord rec;
  rec.name = std::string(p.name());
  rec.group = std::string(group);
  rec.round = round;
  rec.nodesBefore = countNodes(*m.graph);
  uint64_t before = modelEpoch(m);
  auto t0 = std::chrono::steady_clock::now();
  Status s = p.run(m, ctx);
  rec.millis = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!s.isOk()) {
    records_.erase(records_.begin() + static_cast<std::ptrdiff_t>(slot));
    // A group's failure already names the inner pass.
    return p.isGroup() ? s : std::move(s).in("pass " + rec.name);
  }
  rec.changed = modelEpoch(m) != before;
  rec.nodesAfter = countNodes(*m.graph);
  records_[slot] = rec;
  if (verifyEach_) {
    Status v = verifyModel(m);
    if (!v.isOk()) {
      std::string where = group.empty() ? rec.name : fmt::format("{} (round {} of {})", rec.name, round, group);
      return Status::internal("IR invalid after pass {}: {}", where, v.message());
    }
  }
  if (printStream_ && (std::find(printAfter_.begin(), printAfter_.end(), rec.name) != printAfter_.end() ||
                       std::find(printAfter_.begin(), printAfter_.end(), "all") != printAfter_.end())) {
    *printStream_ << "// IR after " << rec.name;
    if (!group.empty()) *printStream_ << " (round " << round << " of " << group << ")";
    *printStream_ << "\n" << toText(m);
  }
  return Status::ok();
}

Status PassManager::run(Model& m, PassContext& ctx) {
  PassRunner* outer = ctx.runner;
  ctx.runner = this;
  Status result = Status::ok();
  for (; next_ < passes_.size(); ++next_) {
    Entry& e = passes_[next_];
    if (!e.whenChanged.empty() && !changedLast(e.whenChanged)) continue;
    result = runPass(*e.pass, m, ctx, "", 0);
    if (!result.isOk()) {
      ++next_;
      break;
    }
  }
  ctx.runner = outer;
  return result;
}

}  // namespace npuconv
