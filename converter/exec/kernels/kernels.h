// kernels.h - one registration function per kernel family; registry.cc calls them all.
#pragma once

namespace npuconv {
class KernelRegistry;

void registerElementwiseKernels(KernelRegistry& r);  // unary, binary, activations, Cast, Where
void registerReduceKernels(KernelRegistry& r);       // Reduce*, Softmax, norms, ArgMax
void registerShapeKernels(KernelRegistry& r);        // Reshape, Concat, Slice, Gather, ...
void registerNnKernels(KernelRegistry& r);           // Conv, pools, Gemm, MatMul, Resize, ...
void registerQuantKernels(KernelRegistry& r);        // QuantizeLinear, QLinearConv, ...
void registerRnnKernels(KernelRegistry& r);          // LSTM, GRU, RNN
void registerControlFlowKernels(KernelRegistry& r);  // If, Loop, Scan
void registerNhwcKernels(KernelRegistry& r);         // ai.npuconv.nhwc twins of Conv, pools, ...

}  // namespace npuconv
