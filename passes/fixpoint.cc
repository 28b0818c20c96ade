// fixpoint.cc - see fixpoint.h.
#include "passes/fixpoint.h"

namespace npuconv {

Status FixpointPass::run(Model& m, PassContext& ctx) {
  for (int round = 0; round < maxRounds_; ++round) {
    ++ctx.stat(name_ + ".rounds");
    uint64_t before = modelEpoch(m);
    for (auto& p : passes_) NPU_TRY(ctx.runNested(*p, m, name_, round + 1));
    if (modelEpoch(m) == before) break;
  }
  return Status::ok();
}

}  // namespace npuconv
