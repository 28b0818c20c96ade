// provenance_record.h - node provenance (the user's original ONNX node names a node stands for)
// kept across a write and a read, so a model npuconv wrote still reports, compares and configures
// by the names of the file the user started from.
//
// Format: the metadata entry "npuconv.provenance", one line per main-graph node whose provenance
// is neither empty (a node npuconv made) nor just its own name: "node<TAB>original1<TAB>...". The ONNX writer writes it
// (replacing a stale one); the reader applies it to the nodes it names and drops the entry, so the
// IR holds provenance in one place only. ONNX node names cannot hold a tab or a newline in
// practice; a node whose name does hold one is left out.
#pragma once

#include <string>
#include <string_view>

#include "converter/ir/model.h"

namespace npuconv {

inline constexpr std::string_view kProvenanceKey = "npuconv.provenance";

/// The entry's value for `g` (empty: nothing to record).
std::string encodeProvenance(const Graph& g);

/// Applies and removes the model's "npuconv.provenance" entry; lines naming no node are ignored
/// (a node a tool outside npuconv removed).
void restoreProvenance(Model& m);

}  // namespace npuconv
