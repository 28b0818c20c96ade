// weights_util.h - what the weight quantizers (int8-weights, int8-dynamic) share: finding a
// node's constant weight (initializer or Constant node), the per-output-channel axis of each op,
// exclusion and report keys by original ONNX node names, and the graph edits they both make.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "converter/ir/model.h"
#include "quant/quantize.h"

namespace npuconv::wq {

/// The float data of `v` when it is a constant: an initializer that is not also a graph input
/// (an input with a default can be overridden at run time) or the result of a Constant node.
TensorRef constantTensor(const Value* v);

/// Whether the user excluded `n` (any of its original ONNX names in opt.excludeNodes).
bool isExcluded(const Node& n, const QuantizeOptions& opt);
/// The report key of `n`: its original ONNX names joined by '+', else its IR name.
std::string reportKey(const Node& n);

/// The output-channel axis of the weight (operand 1) of a MatMul, Gemm, Conv or ConvTranspose
/// whose weight has rank `rank`: Conv 0, ConvTranspose 1, Gemm 0 with transB else 1, MatMul
/// the last axis. -1 when the op has no per-channel axis (a 1-D MatMul weight).
int64_t weightAxis(const Node& n, int64_t rank);

/// Redirects every use of `from` to `to` and gives `to` the name of `from` (`from` is renamed
/// aside), so graph outputs and downstream references keep their names.
void replaceKeepingName(Graph& g, Value* from, Value* to);

/// Erases Constant nodes and initializers (not graph inputs) left without uses.
void eraseUnusedConstants(Graph& g);

/// The main graph and every subgraph below it, parents before children.
std::vector<Graph*> allGraphs(Model& m);

}  // namespace npuconv::wq

namespace npuconv::wq {
/// A plain tensor type.
inline TensorType tensorType(DType t, std::optional<Shape> shape) {
  TensorType tt;
  tt.dtype = t;
  tt.shape = std::move(shape);
  return tt;
}
}  // namespace npuconv::wq
