// kernel.h - the interface between the executor and one operator's kernel.
//
// A kernel reads its inputs and attributes from the KernelContext, allocates its outputs
// through it and returns a Status: a bad model input (wrong rank, unsupported dtype or
// attribute) is an error naming the node, never an abort. Kernels handle every opset version
// of their op (attribute vs input forms), since the importer keeps the model as written.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "converter/exec/tensor.h"
#include "converter/exec/thread_pool.h"
#include "converter/ir/graph.h"

namespace npuconv {

class KernelContext;
using KernelFn = Status (*)(KernelContext& ctx);

/// Runs a subgraph (If/Loop/Scan bodies); provided by the executor.
using SubgraphRunner = std::function<Expected<std::vector<Tensor>>(const Graph& body,
                                                                   const std::vector<Tensor>& inputs)>;

class KernelContext {
 public:
  KernelContext(const Node& node, std::vector<const Tensor*> inputs, std::vector<Tensor>& outputs,
                ThreadPool& pool, int64_t opset, const SubgraphRunner* runner = nullptr,
                std::shared_ptr<void>* nodeCache = nullptr)
      : node_(node), inputs_(std::move(inputs)), outputs_(outputs), pool_(pool), opset_(opset),
        runner_(runner), cache_(nodeCache) {}

  const Node& node() const { return node_; }
  const AttrMap& attrs() const { return node_.attrs(); }
  /// Version of the default ONNX domain the model imports.
  int64_t opset() const { return opset_; }

  size_t numInputs() const { return inputs_.size(); }
  /// Input i, or nullptr when the optional input is absent.
  const Tensor* input(size_t i) const { return i < inputs_.size() ? inputs_[i] : nullptr; }
  bool hasInput(size_t i) const { return input(i) != nullptr; }

  size_t numOutputs() const { return outputs_.size(); }
  /// Whether the model uses output i (optional outputs may be left unnamed).
  bool wantsOutput(size_t i) const { return i < outputs_.size() && node_.result(i) != nullptr; }
  /// Allocates output i, zero-filled.
  Tensor& allocate(size_t i, DType dtype, std::vector<int64_t> dims);
  /// Allocates output i with unspecified contents: for kernels that write every element.
  Tensor& allocateUninitialized(size_t i, DType dtype, std::vector<int64_t> dims);
  /// Sets output i to an existing tensor (aliasing is fine: tensors are never written after
  /// their producing kernel returns).
  void setOutput(size_t i, Tensor t);

  ThreadPool& pool() const { return pool_; }
  /// Storage kept with this node across runs (as long as the executor lives), for what a kernel
  /// derives from constant inputs, e.g. prepacked weights; null when the caller keeps none.
  /// Only the thread running the node touches it.
  std::shared_ptr<void>* nodeCache() const { return cache_; }
  /// Whether input i is a constant of the graph (an initializer that is not a graph input): the
  /// same data on every run.
  bool inputIsConstant(size_t i) const {
    const Value* v = i < node_.numOperands() ? node_.operand(i) : nullptr;
    return v && v->isInitializer() && !v->isGraphInput();
  }
  const SubgraphRunner* subgraphRunner() const { return runner_; }

  /// An error naming this node: `node "conv1" (Conv): ...`.
  template <typename... A>
  Status fail(fmt::format_string<A...> f, A&&... a) const {
    return Status::invalidModel("{}: {}", node_.describe(), fmt::format(f, std::forward<A>(a)...));
  }
  template <typename... A>
  Status unsupported(fmt::format_string<A...> f, A&&... a) const {
    return Status::unsupported("{}: {}", node_.describe(), fmt::format(f, std::forward<A>(a)...));
  }

 private:
  const Node& node_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor>& outputs_;
  ThreadPool& pool_;
  int64_t opset_;
  const SubgraphRunner* runner_;
  std::shared_ptr<void>* cache_;
};

struct KernelEntry {
  std::string_view domain;  // "" for the default ONNX domain
  std::string_view opType;
  KernelFn fn;
};

class KernelRegistry {
 public:
  /// The registry with every kernel of the project, built once.
  static const KernelRegistry& global();
  void add(std::string_view domain, std::string_view opType, KernelFn fn);
  KernelFn find(std::string_view domain, std::string_view opType) const;
  bool supports(std::string_view domain, std::string_view opType) const { return find(domain, opType); }
  std::vector<std::string> supportedOps() const;  // "Conv", "com.microsoft.Gelu", sorted

 private:
  std::vector<KernelEntry> entries_;
};

}  // namespace npuconv
