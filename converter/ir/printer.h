// printer.h - the IR as deterministic text: for --print-ir-after, golden tests and round-trip
// equality (two models print the same iff they hold the same IR).
#pragma once

#include <ostream>
#include <string>

#include "converter/ir/model.h"

namespace npuconv {

struct PrintOptions {
  /// Constants up to this many elements are printed in full; larger ones as size and hash.
  int64_t maxInlineElements = 16;
  /// Also print doc strings, metadata and value_info flags (round-trip comparisons).
  bool full = false;
};

void printGraph(std::ostream& os, const Graph& g, const PrintOptions& opt = {}, int indent = 0);
void printModel(std::ostream& os, const Model& m, const PrintOptions& opt = {});
std::string toText(const Model& m, const PrintOptions& opt = {});
std::string toText(const Graph& g, const PrintOptions& opt = {});
std::string tensorSummary(const TensorData& t, int64_t maxInlineElements);

}  // namespace npuconv
