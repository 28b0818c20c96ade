// fp16_dtypes.h - element types for node results the model left undeclared (exporters often
// write no value_info), from the ops' type rules: convertToFp16 must know every float32
// activation, including the ones whose type the source model never stated.
#pragma once

#include "converter/ir/model.h"

namespace npuconv {

/// Fills in the dtype of every node result of every graph whose dtype is Undefined and follows
/// from its node's operands and attributes (graph order, so operands come first). Results whose
/// type the rules cannot tell stay Undefined.
void inferUndeclaredDtypes(Model& m);

}  // namespace npuconv
