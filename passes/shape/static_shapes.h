// static_shapes.h - what freeze-shapes and check-static-shapes share: binding input shapes and
// symbolic dims, finding the values whose shape depends on runtime data, and shape inference
// by evaluation.
//
// Shape inference runs the main graph once on zero-filled inputs of their (static) shapes
// and reads every produced tensor's dtype and dims (as onnxsim does with ONNX Runtime): the
// shapes come from the same kernels that run the model, for every supported op. Values whose
// shape depends on input *values* (NonZero, a Reshape whose target shape is computed from
// data, control flow) are found by a dependence analysis first and keep their declared types.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "converter/ir/model.h"
#include "converter/support/status.h"

namespace npuconv::shapes {

/// "input_ids=1x256;mask=1x256" (';' or newline between entries; 'x' or ',' between dims).
Expected<std::map<std::string, std::vector<int64_t>>> parseInputShapes(const std::string& spec);
/// "batch=1;sequence=256".
Expected<std::map<std::string, int64_t>> parseDims(const std::string& spec);

/// Sets the named graph inputs' shapes and replaces symbolic dims by their sizes in every
/// value of every graph (a symbol named in an input spec is bound too). Errors name the input
/// or symbol: unknown names, rank or static-dim conflicts, one symbol given two sizes.
/// Returns whether anything changed.
Expected<bool> bindShapes(Model& m, const std::map<std::string, std::vector<int64_t>>& inputShapes,
                          const std::map<std::string, int64_t>& dims);

/// Why a value of the main graph has a shape that is not fixed by the input shapes alone.
struct DynamicShape {
  const Value* value = nullptr;
  const Node* node = nullptr;  // the producer that makes it dynamic; nullptr for a graph input
  std::string reason;
};

/// Values of the main graph whose shape depends on runtime data or on a dynamic input shape,
/// each with its root cause (a value downstream of a cause names that cause).
std::map<const Value*, DynamicShape> dynamicShapes(const Graph& g);

/// Runs the main graph on zeros and gives every main-graph value that is not in `skip` its
/// evaluated dtype and static shape. Every non-initializer graph input must have a static
/// shape. Errors name the value whose declared static shape disagrees with the computed one.
/// When `skip` is not empty a failed run is not an error (zeros may be invalid data for a
/// data-dependent shape): the values produced before the failure are typed.
/// Returns the number of values whose type changed.
Expected<size_t> inferShapesByEvaluation(Model& m, const std::map<const Value*, DynamicShape>& skip);

/// The first graph input without a static shape, or nullptr.
const Value* firstDynamicInput(const Graph& g);

/// One line naming a dynamic value, its producer and why, for errors.
std::string describeDynamic(const DynamicShape& d);

}  // namespace npuconv::shapes
