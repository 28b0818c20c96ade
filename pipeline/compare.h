// compare.h - `npuconv compare A B`: two models run on the same inputs (float vs QDQ, original vs
// optimized), their outputs and, with perLayer, the tensors of every original node both compute
// (pipeline/layer_match.h) measured against A (quant/error_stats.h).
//
// Two per-layer modes. Accumulated: B runs on its own, each layer inherits the error of the ones
// before it. Isolated: every matched tensor B reads is replaced by A's (B is cut at those values;
// for a quantized tensor the cut is before its QuantizeLinear, so a layer still reads its input
// quantized), so each layer's own error shows apart from what it inherits. Samples stream: one
// sample's tensors are held at a time.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "converter/support/status.h"
#include "formats/calib/calib_data.h"

namespace npuconv {

struct CompareOptions {
  std::filesystem::path a, b;
  CalibDataOptions inputs;  // the same sources as --calib (npy, npz, HDF5, lists, images, text)
  int threads = 0;
  bool perLayer = false;
  bool isolated = false;  // with perLayer: also the isolated error of each layer
  double jumpDb = 6.0;    // a layer whose SQNR is this far below its inputs' is a jump
  std::optional<double> minSqnrDb, minCosine;  // every output must reach them (pooled)
};

struct CompareResult {
  nlohmann::ordered_json report;
  bool passed = true;      // the thresholds hold (true without thresholds)
  std::string failure;     // the first output below a threshold, as one line
};

Expected<CompareResult> compareModels(const CompareOptions& o);

/// The human-readable form of a report: one line per output, then the per-layer table.
std::string formatCompareReport(const nlohmann::ordered_json& report);

}  // namespace npuconv
