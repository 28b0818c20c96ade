// executor.h - the reference CPU executor: runs an IR graph on named input tensors.
//
// create() resolves a kernel for every node up front (an unsupported op is an error naming the
// node) and plans tensor lifetimes so a tensor is released right after its last use. run() is
// deterministic for a given thread count. An observer, when set, sees every tensor a node
// produces (calibration, per-layer comparison); unset, it costs one branch per node.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "converter/exec/kernel.h"
#include "converter/exec/tensor.h"
#include "converter/ir/model.h"

namespace npuconv {

struct ExecOptions {
  int threads = 0;  // 0: all cores
};

/// Called with each produced tensor: the node, the result index and the tensor.
using TensorObserver = std::function<void(const Node& node, size_t result, const Tensor& t)>;

using NamedTensors = std::map<std::string, Tensor>;

class Executor {
 public:
  /// Prepares `g` (which must outlive the executor); `opset` is the default-domain version.
  static Expected<std::unique_ptr<Executor>> create(const Graph& g, int64_t opset, ExecOptions opt = {});
  static Expected<std::unique_ptr<Executor>> create(const Model& m, ExecOptions opt = {});
  ~Executor();

  /// Runs the graph; returns the graph outputs by name. Inputs with initializer defaults may be
  /// omitted. Errors name the input or node at fault.
  Expected<NamedTensors> run(const NamedTensors& inputs);
  /// Like run(), returning outputs in graph order.
  Expected<std::vector<Tensor>> runOrdered(const std::vector<Tensor>& inputs);

  void setObserver(TensorObserver obs) { observer_ = std::move(obs); }
  const Graph& graph() const { return graph_; }
  ThreadPool& pool() { return *pool_; }

 private:
  Executor(const Graph& g, int64_t opset, std::shared_ptr<ThreadPool> pool);
  Status prepare();
  using OuterScope = std::map<const Value*, const Tensor*>;
  Expected<std::vector<Tensor>> execute(std::vector<Tensor> inputs, const OuterScope* outer);
  struct Step;
  const Graph& graph_;
  int64_t opset_;
  std::shared_ptr<ThreadPool> pool_;
  std::vector<Step> steps_;
  std::map<const Value*, size_t> slot_;  // value -> slot index
  size_t numSlots_ = 0;
  TensorObserver observer_;
  std::map<const Graph*, std::unique_ptr<Executor>> subExecutors_;
};

/// Checks a user-given tensor against a graph input's declared type: dtype, rank, static dims.
Status checkInputAgainstType(const Value& input, const Tensor& t);

}  // namespace npuconv
