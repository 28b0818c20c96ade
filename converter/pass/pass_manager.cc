#include <algorithm>

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

Status PassManager::run(Model& m, PassContext& ctx) {
  for (auto& p : passes_) {
    PassRecord rec;
    rec.name = std::string(p->name());
    rec.nodesBefore = countNodes(*m.graph);
    uint64_t before = modelEpoch(m);
    auto t0 = std::chrono::steady_clock::now();
    Status s = p->run(m, ctx);
    rec.millis = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!s.isOk()) return std::move(s).in("pass " + rec.name);
    rec.changed = modelEpoch(m) != before;
    rec.nodesAfter = countNodes(*m.graph);
    records_.push_back(rec);
    if (verifyEach_) {
      Status v = verifyModel(m);
      if (!v.isOk()) return Status::internal("IR invalid after pass {}: {}", rec.name, v.message());
    }
    if (printStream_ && (std::find(printAfter_.begin(), printAfter_.end(), rec.name) != printAfter_.end() ||
                         std::find(printAfter_.begin(), printAfter_.end(), "all") != printAfter_.end()))
      *printStream_ << "// IR after " << rec.name << "\n" << toText(m);
  }
  return Status::ok();
}

}  // namespace npuconv
