// fixpoint.cc - see fixpoint.h.
#include "passes/fixpoint.h"

namespace npuconv {

Status FixpointPass::run(Model& m, PassContext& ctx) {
  for (int round = 0; round < maxRounds_; ++round) {
    ++ctx.stat(name_ + ".rounds");
    uint64_t before = modelEpoch(m);
    for (auto& p : passes_) {
      Status s = p->run(m, ctx);
      if (!s.isOk()) return std::move(s).in("pass " + std::string(p->name()));
    }
    if (modelEpoch(m) == before) break;
  }
  return Status::ok();
}

}  // namespace npuconv
