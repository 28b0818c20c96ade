// blob_variants.h - choosing among the frozen shapes of a blob (format 1.2, section VARS): a
// caller's inputs select the variant whose input dims equal theirs exactly, so a runtime never
// pads or crops behind the user's back.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "converter/support/status.h"
#include "formats/blob/blob_reader.h"

namespace npuconv {

/// One variant's input shapes as `--input-shape` spells them: "input_ids=1x32 attention_mask=1x32".
std::string variantInputShapes(const device::Program& p);

/// The variant whose inputs have exactly `dims` (by input name; inputs not in `dims` are left to
/// the caller's own "not given" error); otherwise an invalid-argument error listing what the
/// blob takes.
Expected<size_t> selectBlobVariant(const LoadedBlob& b, const std::map<std::string, std::vector<int64_t>>& dims);

}  // namespace npuconv
