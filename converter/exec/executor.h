// executor.h - the reference CPU executor: runs an IR graph on named input tensors.
//
// create() resolves a kernel for every node, nested subgraphs included (an unsupported op is an
// error naming the node), and plans tensor lifetimes so a tensor is released right after its
// last use (a result nobody reads right after it is produced). Kernel outputs come from a
// buffer pool: a released buffer is reused by a later allocation of fitting size instead of
// going back to malloc, across nodes and across runs.
//
// Threads: kernels parallelize through ctx.pool() (ExecOptions::threads workers, 0 = all
// cores); nodes run one after another in graph order, so run() is deterministic for a given
// thread count. One Executor runs one graph at a time; use one per calling thread.
//
// An observer, when set, sees every tensor a node produces, nodes of If/Loop/Scan bodies
// included (once per iteration), or only the values it declares (setObserver with a list); unset,
// it costs one branch per node.
//
// Fusion: unless an observer needs a value a fusion would skip, a Conv whose only consumer is an activation (Relu, Clip,
// LeakyRelu, HardSigmoid, HardSwish, or PyTorch's Mul(C, HardSigmoid(C))) applies it in
// its epilogue; a Conv whose only consumer is a residual Add(Conv, other), optionally followed by
// an activation, adds `other` (float32, same dims, computed earlier) and applies the activation
// there; MatMul(A, W) + b (float32 initializers W [K, N], b [N]) adds the bias in the GEMM; a
// transformer's Div/Mul(scores, c) [-> Add(., mask)] -> Softmax runs as one pass per row, and a
// decomposed erf Gelu (Div, Erf, Add, Mul, Mul) and a decomposed LayerNormalization (ReduceMean,
// Sub, Mul, ReduceMean, Add, Sqrt, Div [, Mul, Add]) as one pass each. The
// consumers' steps are skipped (see fused_epilogue.h). The epilogues do the unfused arithmetic:
// bit-identical. NPUCONV_NO_FUSION=1 turns this off.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "converter/exec/kernel.h"
#include "converter/exec/kernels/gemm_f32.h"
#include "converter/exec/memory_plan.h"
#include "converter/exec/tensor.h"
#include "converter/ir/model.h"

namespace npuconv {

class ThreadPool;

struct ExecOptions {
  int threads = 0;  // 0: all cores
  /// Workers shared by executors that run one after another (the per-layer probes of bias
  /// correction and the layer error table): one set of threads instead of one per executor,
  /// whose idle spinning would otherwise steal the cores from the one that works. Overrides
  /// `threads`.
  std::shared_ptr<ThreadPool> pool = nullptr;
  /// Kernels to use; nullptr: KernelRegistry::global(). Must outlive the executor.
  const KernelRegistry* registry = nullptr;
};

/// Called with each produced tensor: the node, the result index and the tensor.
using TensorObserver = std::function<void(const Node& node, size_t result, const Tensor& t)>;

using NamedTensors = std::map<std::string, Tensor>;

/// Called after each kernel call of the top-level graph with its node, the nodes whose steps it
/// computed through a fused epilogue (empty when none) and its wall time in milliseconds.
using StepTimer = std::function<void(const Node& node, const std::vector<const Node*>& fused, double ms)>;

class Executor {
 public:
  /// Prepares `g` (which must outlive the executor); `opset` is the default-domain version.
  static Expected<std::unique_ptr<Executor>> create(const Graph& g, int64_t opset, ExecOptions opt = {});
  static Expected<std::unique_ptr<Executor>> create(const Model& m, ExecOptions opt = {});
  ~Executor();

  /// Runs the graph; returns the graph outputs by name. Inputs with initializer defaults may be
  /// omitted. Errors name the input (what was given, what the model expects) or node at fault.
  Expected<NamedTensors> run(const NamedTensors& inputs);
  /// Like run(), with inputs and outputs in graph order; an undefined Tensor stands for an
  /// omitted input that has an initializer default.
  Expected<std::vector<Tensor>> runOrdered(const std::vector<Tensor>& inputs);

  /// Observes every tensor the graph (and its subgraphs) produces: fusions are off, since each
  /// value they skip must be computed for the observer. nullptr removes the observer.
  void setObserver(TensorObserver obs);
  /// Observes only `observed` (results of nodes of this graph or of its subgraphs; other values
  /// are never reported): `obs` is called for those alone, and a fusion stays on unless one of the
  /// values it skips (e.g. the MatMul result before a fused bias Add) is in the list. The tensors
  /// reported are bit-identical to an unfused run's.
  void setObserver(TensorObserver obs, const std::vector<const Value*>& observed);
  /// Times every kernel call (fusions stay on, unlike with an observer); unset, it costs one
  /// branch per node.
  void setStepTimer(StepTimer timer) { timer_ = std::move(timer); }
  const Graph& graph() const { return graph_; }
  ThreadPool& pool() { return *pool_; }
  /// Buffer pool counters (allocations, reuse, live and peak bytes) since create().
  MemoryStats memoryStats() const { return buffers_->stats(); }
  /// Sizes the symbolic dims of the inputs took in the last run(), e.g. {"batch": 4}.
  const std::map<std::string, int64_t>& symbolSizes() const { return symbols_; }

 private:
  struct Step;
  struct Frame;
  struct ValueRef {  // where a step finds a value at run time
    int depth = 0;     // 0: this graph's slots; k: the k-th enclosing graph's
    int64_t slot = -1;  // -1: absent optional input
  };
  Executor(const Graph& g, int64_t opset, std::shared_ptr<ThreadPool> pool,
           std::shared_ptr<BufferPool> buffers, const KernelRegistry& registry, const Executor* parent);
  Status prepare();
  /// Marks Conv -> activation, Conv -> residual Add [-> activation] and MatMul -> bias Add
  /// chains run as one kernel call when no observer is set.
  void planFusions();
  /// Makes `s` compute the steps `skipped` (in order; the last one's result is s's) through `ep`.
  void fuseInto(Step& s, const gemm::Epilogue& ep, std::vector<size_t> skipped);
  /// Makes `s`, whose last computed value is `tail`, also compute step t (tail's one consumer,
  /// with the steps fused into t): tail is never materialized and t's final result is s's.
  void fuseTailStep(Step& s, size_t t, const Value* tail);
  /// What the elementwise-tail fusions below ask about the nodes after a step (executor.cc).
  struct TailFusionMatch;
  /// Fuses Paddle2ONNX's HardSwish (Add 3, Clip 0..6, Mul, Div 6) after the Conv of step i.
  bool fuseClipHardSwish(size_t i, const TailFusionMatch& m);
  /// Fuses Div/Mul(S, c) [-> Add(., mask)] -> Softmax into the Div/Mul of step i (FusedSoftmax).
  bool fuseScaledSoftmax(size_t i, const TailFusionMatch& m);
  /// Fuses the decomposed erf Gelu that starts with the Div/Mul of step i (FusedErfGelu).
  bool fuseErfGelu(size_t i, const TailFusionMatch& m);
  /// Fuses the decomposed LayerNormalization that starts with the ReduceMean of step i.
  bool fuseLayerNorm(size_t i, const TailFusionMatch& m);
  Expected<ValueRef> refOf(const Value* v, const Node* user);
  Expected<std::vector<Tensor>> execute(std::vector<Tensor> inputs, const Frame* parent) const;
  Expected<Executor*> subExecutor(const Graph& body) const;
  const TensorObserver& observer() const;
  /// The root executor's observed values; nullptr: all of them (or no observer).
  const std::unordered_set<const Value*>* observedValues() const;

  const Graph& graph_;
  int64_t opset_;
  std::shared_ptr<ThreadPool> pool_;
  std::shared_ptr<BufferPool> buffers_;
  const KernelRegistry& registry_;
  const Executor* parent_;  // the executor of the enclosing graph, for subgraph executors
  std::vector<Step> steps_;
  std::map<const Value*, size_t> slot_;  // value of this graph -> slot index
  size_t numSlots_ = 0;
  std::vector<size_t> inputSlots_;                       // per graph input
  std::vector<std::pair<size_t, TensorRef>> constants_;  // initializers that are not inputs
  std::vector<ValueRef> outputRefs_;                     // per graph output
  TensorObserver observer_;
  std::unique_ptr<std::unordered_set<const Value*>> observed_;  // null: every value
  StepTimer timer_;
  std::map<std::string, int64_t> symbols_;
  mutable std::mutex subMu_;
  mutable std::map<const Graph*, std::unique_ptr<Executor>> subExecutors_;
};

/// Checks a user-given tensor against a graph input's declared type: dtype, rank, static dims.
/// The error names the input, what was given and what the model expects.
Status checkInputAgainstType(const Value& input, const Tensor& t);

}  // namespace npuconv
