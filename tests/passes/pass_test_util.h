// pass_test_util.h - building tiny models for pass tests and checking a pass by execution.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "converter/ir/model.h"

namespace npuconv::test {

/// Uniform random data in [lo, hi].
struct Range {
  float lo = -1.0f;
  float hi = 1.0f;
};

/// Parses ONNX text and turns the named graph inputs (which must have static shapes) into
/// initializers holding seeded random f32 data: a way to give a tiny model real weights
/// without writing them out. Unnamed main-graph nodes get names "<Op>_<index>" (and that
/// provenance), as an exporter would give. Fails the test on a parse error.
Model buildModel(const std::string& text, const std::map<std::string, Range>& consts = {}, uint64_t seed = 7);

/// Nodes of default-domain op `op` in the main graph and all subgraphs.
int64_t countOps(const Model& m, std::string_view op);

struct EquivOptions {
  /// Graph inputs made random constants (see buildModel).
  std::map<std::string, Range> consts = {};
  /// Value ranges of the remaining inputs; [-1, 1] when not listed.
  std::map<std::string, Range> inputs = {};
  /// Expected op counts after the passes: makes a test that checks nothing impossible.
  std::map<std::string, int64_t> expectOps = {};
  /// Whether the passes must change the model (false: must leave it untouched).
  bool expectChange = true;
  /// |after - before| <= rtol * max(|before|, rms(before)) per element.
  double rtol = 1e-5;
  int trials = 2;
  /// PassContext options, e.g. {"opset", "20"}.
  std::map<std::string, std::string> options = {};
};

/// Runs the comma-separated `passes` (or "pipeline=NAME") with verification after each one on the model of `text`,
/// then checks: verifyModel, changed or not as expected, the op counts, and that the model
/// computes the same outputs before and after on seeded random inputs. When an op of either
/// model has no kernel yet, the numeric part is skipped (GTEST_SKIP naming the op) after the
/// structural checks. `after`, when given, receives the model after the passes.
void expectEquivalentAfter(const std::string& passes, const std::string& text, const EquivOptions& opt,
                           Model* after = nullptr);

}  // namespace npuconv::test
