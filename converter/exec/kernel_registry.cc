#include <algorithm>

#include "converter/exec/kernel.h"
#include "converter/exec/kernels/kernels.h"

namespace npuconv {

Tensor& KernelContext::allocate(size_t i, DType dtype, std::vector<int64_t> dims) {
  NPU_CHECK(i < outputs_.size(), "{}: output {} out of range", node_.describe(), i);
  outputs_[i] = Tensor(dtype, std::move(dims));
  return outputs_[i];
}

Tensor& KernelContext::allocateUninitialized(size_t i, DType dtype, std::vector<int64_t> dims) {
  NPU_CHECK(i < outputs_.size(), "{}: output {} out of range", node_.describe(), i);
  outputs_[i] = Tensor::uninitialized(dtype, std::move(dims));
  return outputs_[i];
}

void KernelContext::setOutput(size_t i, Tensor t) {
  NPU_CHECK(i < outputs_.size(), "{}: output {} out of range", node_.describe(), i);
  outputs_[i] = std::move(t);
}

const KernelRegistry& KernelRegistry::global() {
  static const KernelRegistry registry = [] {
    KernelRegistry r;
    registerElementwiseKernels(r);
    registerReduceKernels(r);
    registerShapeKernels(r);
    registerNnKernels(r);
    registerQuantKernels(r);
    registerRnnKernels(r);
    registerControlFlowKernels(r);
    registerNhwcKernels(r);
    return r;
  }();
  return registry;
}

void KernelRegistry::add(std::string_view domain, std::string_view opType, KernelFn fn) {
  NPU_CHECK(!find(domain, opType), "kernel {}.{} registered twice", domain, opType);
  entries_.push_back({domain, opType, fn});
}

KernelFn KernelRegistry::find(std::string_view domain, std::string_view opType) const {
  if (domain == "ai.onnx") domain = "";
  for (const KernelEntry& e : entries_)
    if (e.domain == domain && e.opType == opType) return e.fn;
  return nullptr;
}

std::vector<std::string> KernelRegistry::supportedOps() const {
  std::vector<std::string> out;
  for (const KernelEntry& e : entries_)
    out.push_back(e.domain.empty() ? std::string(e.opType) : std::string(e.domain) + "." + std::string(e.opType));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace npuconv
