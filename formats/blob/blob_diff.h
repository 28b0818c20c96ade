// blob_diff.h - what `npuconv diff A.npub B.npub` reports: what changed between two device blobs
// (two builds of a model), grouped by category, every op named by the original ONNX node names it
// stands for (section DBUG): the header, provenance and metadata, the I/O contract, ops (added,
// removed, regrouped by a different fusion, changed, moved), tensors (dtype, shape, layout,
// quantization with how far the scales moved), weights by content hash (with the largest element
// change) and the memory plan. It compares programs, not files: what two blobs may differ in and
// still be identical in content is listed in the result's "ignored".
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "formats/blob/blob_reader.h"

namespace npuconv {

/// The differences of `b` against `a` (named `nameA` and `nameB` in the result) as JSON in a
/// fixed key order, so equal inputs give equal bytes: "a", "b", "identical", "differences" (the
/// number of difference entries), "ignored", "summary" (counts per side, not differences), then
/// "header", "provenance", "io", "ops", "tensors", "weights", "memory" (docs/cli.md, `npuconv diff`).
nlohmann::ordered_json diffBlobs(const LoadedBlob& a, const LoadedBlob& b, const std::string& nameA,
                                 const std::string& nameB);

/// The same for a terminal: a headline, then one line per difference, grouped by category.
std::string renderBlobDiff(const nlohmann::ordered_json& diff);

}  // namespace npuconv
