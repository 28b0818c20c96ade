// match.h - small composable helpers for pattern passes (namespace npuconv::m).
//
// Predicates read the IR without changing it; actions (replaceValue, addConstant, eraseDead)
// are the only mutations the passes share. A "constant" is an initializer that is not also a
// graph input (an input with a default can be overridden at run time) or the result of a
// Constant node.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "converter/ir/model.h"
#include "converter/pass/pass.h"

namespace npuconv::m {

/// The producer of `v` when it is a default-domain `opType` node, else null.
Node* producer(const Value* v, std::string_view opType);
/// The only user of `v` when `v` has exactly one use and is not a graph output, else null.
Node* soleUser(const Value* v);
/// One use, not a graph output: the value may disappear when its user is rewritten.
bool isPrivate(const Value* v);
/// The other operand of a two-operand node `n` one of whose operands is `v`, else null.
Value* otherOperand(const Node* n, const Value* v);

/// The constant data of `v` (initializer or Constant node), or null.
TensorRef constTensor(const Value* v);
bool isConstant(const Value* v);
/// All elements of a constant as double / int64 (small constants only), or nullopt.
std::optional<std::vector<double>> constDoubles(const Value* v);
std::optional<std::vector<int64_t>> constInts(const Value* v);
/// The value of a one-element constant, whatever its rank.
std::optional<double> constScalar(const Value* v);
/// Whether `v` is a one-element constant equal to `want` within `rtol` (relative).
bool isScalarNear(const Value* v, double want, double rtol = 1e-4);

/// Static dims of `v`: from its declared type, or from its constant data.
std::optional<std::vector<int64_t>> staticDims(const Value* v);
/// Rank of `v` when known.
std::optional<int64_t> rankOf(const Value* v);

/// Ints from an attribute (older opsets) or else a constant input (newer opsets); nullopt when
/// neither is given, an empty optional inside when the input is there but not constant.
struct IntsArg {
  bool present = false;
  std::optional<std::vector<int64_t>> values;
};
IntsArg intsFromAttrOrInput(const Node& n, std::string_view attr, size_t input);

/// Ops whose results differ between runs (random generators, training-mode Dropout).
bool isNondeterministic(const Node& n);

/// A new initializer named after `base` (made unique) holding `data`.
Value* addConstant(Graph& g, std::string_view base, TensorData data);
/// A float32 tensor of `dims` from double values.
TensorData f32Tensor(std::vector<int64_t> dims, const std::vector<double>& values);
TensorData i64Tensor(const std::vector<int64_t>& values);

/// Redirects every use of `from` to `to`. When `from` is a graph output, `to` takes over its
/// name so the model's interface keeps its names; `to` must then be a node result or a
/// private initializer (see canTakeOver). `to` inherits `from`'s declared type when it has
/// none.
void replaceValue(Graph& g, Value* from, Value* to);
/// Whether replaceValue(from, to) keeps the graph interface intact.
bool canTakeOver(const Value* from, const Value* to);

/// Erases `n` if none of its results is used or a graph output, then its operands' producers
/// that became dead the same way (side-effect free default-domain nodes only). Returns the
/// number of erased nodes.
size_t eraseDead(Graph& g, Node* n);

/// Moves `producer` down to just before `consumer` when it is not already right before it.
/// Valid when every use of `producer`'s results lies at or after `consumer`.
void placeRightBefore(Graph& g, Node* producer, Node* consumer);

/// The default-domain opset the passes may target: the model's import, or the PassContext
/// option "opset" when higher (the user's --opset N).
int64_t targetOpset(const Model& model, const PassContext& ctx);
/// Raises the model's default-domain import to `version` when it is lower (a pass emitting an
/// op that needs it, allowed by targetOpset), rewriting ops whose form changed on the way
/// (upgradeOpset); an error, and no change, when one of them cannot be.
Status requireOpset(Model& model, int64_t version);

/// Says why a pass left `n` alone: counted in ctx.stats as "<pass>.not-matched" and printed
/// to stderr when the PassContext option "debug-only" names the pass. Returns false.
bool notMatched(PassContext& ctx, std::string_view pass, const Node& n, std::string_view reason);

/// The main graph and every subgraph below it, parents before children.
std::vector<Graph*> allGraphs(Model& model);

/// A node name usable as a reference (fusion groups); gives unnamed nodes a fresh one.
const std::string& ensureName(Graph& g, Node* n);

}  // namespace npuconv::m
