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
#include <memory>
#include <vector>

#include "converter/exec/kernels/gemm_f32.h"
#include "converter/exec/tensor.h"

namespace npuconv {

/// A MaxPool fused behind a Conv's epilogue (2-D, no dilation, floor mode, explicit pads): the
/// Conv writes the pooled map (its own output never exists whole), so the pooled layer's input is
/// not written to memory and read back. Axes are (H, W).
struct FusedMaxPool {
  int64_t kernel[2] = {1, 1}, stride[2] = {1, 1}, padBegin[2] = {0, 0}, padEnd[2] = {0, 0};
};

/// A depthwise Conv [-> activation] fused behind a pointwise (1x1) Conv's activation: the
/// inverted-residual block's expand -> depthwise pair of a mobile net. The 1x1 Conv computes its
/// (expanded, 6x wider) map a band of rows at a time into a cache-sized scratch and runs the
/// depthwise Conv on each band from there, so the expanded map is never written to memory whole
/// and read back. Constant float32 weights and bias (null: none) of `channels` filters
/// [channels, 1, KH, KW]; axes are (H, W).
struct FusedDepthwise {
  const float* weights = nullptr;
  const float* bias = nullptr;
  int64_t channels = 0;
  int64_t kernel[2] = {1, 1}, stride[2] = {1, 1}, padBegin[2] = {0, 0}, padEnd[2] = {0, 0};
  gemm::Epilogue act;  // the depthwise Conv's own fused activation (bias and residual unused)
};

/// A pointwise (1x1, stride 1, one group) Conv [+ residual Add] [-> activation] fused behind a
/// FusedDepthwise, or behind a depthwise Conv's own kernel: the inverted-residual block's
/// project Conv. The banded kernel runs it on each
/// band of depthwise output while that is in cache, so the depthwise map is never written to
/// memory whole either. Constant float32 weight [filters, channels, 1, 1] and bias (undefined:
/// none); `cache` is the project Conv step's own node cache, so its prepacked weights are the
/// ones its unfused run uses.
struct FusedProject {
  Tensor weights, bias;
  gemm::Epilogue act;  // the activation after the residual (bias and residual unused)
  std::shared_ptr<void>* cache = nullptr;
};

/// Div(X, c) or Mul(X, c) [-> Add(., M)] -> Softmax over the last axis, fused into the Div/Mul
/// step: the attention scores' scale, mask and softmax of a transformer, one pass over each row
/// instead of three over the whole [batch, heads, L, L] tensor. c is a one-element float32
/// constant; the mask M (the FusedEpilogue's `residual`, null without the Add) broadcasts to
/// X's dims. Each element is rounded as the unfused ops round it: x / c (or x * c), + m, then the
/// Softmax kernel's row arithmetic. The kernel declines what it does not handle (not float32,
/// the Softmax not over X's last axis, a mask that widens X).
struct FusedSoftmax {
  bool multiply = false;  // Mul(X, c) rather than Div(X, c)
  float c = 1.0f;
  int64_t axis = -1;  // the Softmax's axis attribute (default filled in) and opset
  int64_t opset = 13;
};

/// The decomposed erf Gelu fused into its first op, Div(X, c) or Mul(X, c): t = X / c (X * c),
/// e = Erf(t), a = e + one, then one of the exporters' orders of the last two Muls by `half` and
/// X: Mul(Mul(X, half), a) (lower-to-opset's), Mul(Mul(X, a), half) (PyTorch's) or
/// Mul(Mul(a, half), X). One pass over X instead of five; each element rounded as the unfused
/// ops round it (the Erf as the Erf kernel computes it). The constants are the model's own.
struct FusedErfGelu {
  enum class Order : uint8_t { XHalfThenA, XAThenHalf, AHalfThenX };
  bool multiply = false;  // Mul(X, c) rather than Div(X, c)
  float c = 1.0f, one = 1.0f, half = 0.5f;
  Order order = Order::XHalfThenA;
};

/// The decomposed LayerNormalization over the last axis, fused into its first ReduceMean:
/// m = ReduceMean(X), D = X - m, V = ReduceMean(D * D), N = D / Sqrt(V + eps), then optionally
/// N * gamma and + beta (constants of the last axis' length). One pass per row instead of eight
/// or ten over the tensor; the means are the ReduceMean kernel's own arithmetic, every other
/// element rounded as its op rounds it.
struct FusedLayerNorm {
  float eps = 0.0f;
  Tensor gamma, beta;  // undefined: no Mul / no Add
};

struct FusedEpilogue {
  gemm::Epilogue ep;                 // bias / activation (ep.residual is filled in by take)
  const Tensor* residual = nullptr;  // a fused residual Add's other operand, added before `ep.act`
  bool hasMaxPool = false;           // then `maxPool` follows the activation (never with a residual)
  FusedMaxPool maxPool;
  bool hasDepthwise = false;  // then `depthwise` follows the activation (never with a residual or pool)
  FusedDepthwise depthwise;
  bool hasProject = false;  // then `project` follows the depthwise Conv (fused or this one; not
                            // with a pool), and `residual` is its
  FusedProject project;     // residual (its dims are checked by the kernel, not by take)
  bool hasSoftmax = false;  // then the kernel is a Div/Mul computing `softmax`; `residual` is
  FusedSoftmax softmax;     // its mask (unchecked by take), `ep` unused
  bool hasErfGelu = false;  // then the kernel is a Div/Mul computing `erfGelu`; `ep` unused
  FusedErfGelu erfGelu;
  bool hasLayerNorm = false;  // then the kernel is a ReduceMean computing `layerNorm`
  FusedLayerNorm layerNorm;
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

/// After takeFusedEpilogue returned an epilogue: the MaxPool to apply after it (the kernel's
/// output 0 is then the pooled map), or nullptr. Only the Conv kernel is offered one.
const FusedMaxPool* takenMaxPool();

/// After takeFusedEpilogue returned an epilogue: the depthwise Conv to apply after it (the
/// kernel's output 0 is then the depthwise Conv's result), or nullptr. Only the Conv kernel is
/// offered one.
const FusedDepthwise* takenDepthwise();

/// After takeFusedEpilogue returned an epilogue: the project Conv to apply after the depthwise
/// Conv (the fused one, or the kernel's own: its output 0 is then the project Conv's result), or
/// nullptr; *residual is its fused residual Add's other
/// operand (null: none), unchecked: the kernel declines the epilogue if it does not fit.
const FusedProject* takenProject(const Tensor** residual);

/// After takeFusedEpilogue returned an epilogue: the scaled Softmax the Div/Mul kernel computes
/// (its output 0 is then the Softmax's result), or nullptr; *mask is the fused Add's other
/// operand (null: no Add), unchecked.
const FusedSoftmax* takenSoftmax(const Tensor** mask);

/// After takeFusedEpilogue returned an epilogue: the erf Gelu the Div/Mul kernel computes (its
/// output 0 is then the Gelu's result), or nullptr.
const FusedErfGelu* takenErfGelu();

/// After takeFusedEpilogue returned an epilogue: the LayerNormalization the ReduceMean kernel
/// computes (its output 0 is then the normalized tensor), or nullptr.
const FusedLayerNorm* takenLayerNorm();

/// A kernel that took an epilogue but cannot apply it (a fused MaxPool on a geometry or type it
/// does not handle) declines it after all: it computes the plain result and the executor runs
/// the fused steps itself.
void declineFusedEpilogue();

}  // namespace npuconv
