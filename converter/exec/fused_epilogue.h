// fused_epilogue.h - how the executor hands a fused epilogue to the kernel it calls.
//
// When the executor fuses a consumer into a Conv or MatMul (an activation, a bias Add, a residual
// Add optionally followed by an activation; see Executor::planFusions), it skips the consumer's
// steps and installs a FusedEpilogueScope around the producer's kernel call. The kernel takes the
// epilogue once with takeFusedEpilogue() and applies it to its output 0, or declines it (a
// residual that does not fit its output); the executor then stores the kernel's own result and
// runs the skipped steps itself. Either way the result is bit-identical to the unfused steps.
#pragma once

#include <cstdint>
#include <vector>

#include "converter/exec/kernels/gemm_f32.h"
#include "converter/exec/tensor.h"

namespace npuconv {

struct FusedEpilogue {
  gemm::Epilogue ep;                 // bias / activation (ep.residual is filled in by take)
  const Tensor* residual = nullptr;  // a fused residual Add's other operand, added before `ep.act`
};

class FusedEpilogueScope {
 public:
  explicit FusedEpilogueScope(const FusedEpilogue* fused);
  ~FusedEpilogueScope();
  FusedEpilogueScope(const FusedEpilogueScope&) = delete;
  FusedEpilogueScope& operator=(const FusedEpilogueScope&) = delete;
  bool taken() const;
  bool declined() const;
};

/// For a kernel about to write its output 0 as `outType` of `outDims`: the epilogue to apply,
/// or nullptr when nothing is fused. A fused residual is offered (ep.residual = its data,
/// ep.ldr = 0) only when the output and the residual are float32 of the same dims; otherwise
/// this declines the whole epilogue (returns nullptr) and the kernel computes the plain result.
const gemm::Epilogue* takeFusedEpilogue(DType outType, const std::vector<int64_t>& outDims);

}  // namespace npuconv
