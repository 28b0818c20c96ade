// shape_variants.h - `convert --input-shape NAME=1x128,1x256`: several frozen shapes compiled into
// one blob (docs/blob-format.md, VARS). Variant i freezes every listed input to the i-th shape of
// its list; an input given a single shape has it in every variant.
#pragma once

#include <string>
#include <vector>

#include "converter/support/status.h"

namespace npuconv {

/// The --input-shape entries of each variant. Entries without a comma list give one variant:
/// the entries exactly as given (today's single-shape conversion). Errors (invalid argument,
/// exit 2): lists of different lengths, an empty shape in a list, a list without NAME=, two
/// variants with the same shapes.
Expected<std::vector<std::vector<std::string>>> shapeVariants(const std::vector<std::string>& inputShapes);

}  // namespace npuconv
