// verifier.h - checks the IR's structural invariants. Tests run it after every transformation;
// the pass manager runs it after every pass with --verify-each.
#pragma once

#include "converter/ir/model.h"
#include "converter/support/status.h"

namespace npuconv {

/// Acyclic and topologically ordered, every operand defined in this graph or an enclosing one
/// before its use, exact use-lists, one producer per value, unique value names, initializer
/// data consistent with the value's type; recursively for subgraphs.
Status verifyGraph(const Graph& g);
Status verifyModel(const Model& m);

}  // namespace npuconv
