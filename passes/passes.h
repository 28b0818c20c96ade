// passes.h - factories of the passes; registry.cc is the only caller.
#pragma once

#include <memory>

#include "converter/pass/pass.h"

namespace npuconv {

std::unique_ptr<Pass> createCheckStaticShapesPass();
std::unique_ptr<Pass> createEliminateDeadCodePass();
std::unique_ptr<Pass> createEliminateIdentityPass();
std::unique_ptr<Pass> createEliminateCommonSubexpressionsPass();
std::unique_ptr<Pass> createFoldConstantsPass();
std::unique_ptr<Pass> createFoldConvBnPass();
std::unique_ptr<Pass> createFoldConvMulAddPass();
std::unique_ptr<Pass> createFoldIfPass();
std::unique_ptr<Pass> createFoldPadIntoConvPass();
std::unique_ptr<Pass> createFoldTransposeChainsPass();
std::unique_ptr<Pass> createFoldReshapeChainsPass();
std::unique_ptr<Pass> createFoldSqueezeUnsqueezePass();
std::unique_ptr<Pass> createFreezeShapesPass();
std::unique_ptr<Pass> createFuseConvActPass();
std::unique_ptr<Pass> createFuseMatMulAddPass();
std::unique_ptr<Pass> createFuseLayerNormPass();
std::unique_ptr<Pass> createFuseGeluPass();
std::unique_ptr<Pass> createLowerToOpsetPass();
std::unique_ptr<Pass> createUpgradeOpsetPass();

}  // namespace npuconv
