// convert_validation.h - `convert --validate-inputs ...`: the converted artifacts (model.onnx and
// model.npub) checked against the original model (or the framework's saved outputs) on the
// user's inputs, with validate's thresholds, into the report's "validation" section. A failed
// threshold is an accuracy failure of the conversion (exit 1, or the --fallback precision).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "converter/support/status.h"
#include "pipeline/validate.h"

namespace npuconv {

struct ConvertValidation {
  std::vector<std::string> inputs;           // --validate-inputs, as validate's --inputs
  std::filesystem::path referenceOutputs;    // --reference-outputs; empty: the original model
  ValidateThresholds thresholds;             // --min-cosine, --min-sqnr, --atol, --rtol
  std::map<std::string, ValidateThresholds> perOutput;
  bool enabled() const { return !inputs.empty(); }
  nlohmann::ordered_json toJson() const;
};

struct ConvertValidationResult {
  nlohmann::ordered_json report;  // {"model.onnx": validate's report, "model.npub": ...}
  std::string failure;            // the first failed check, naming the artifact; empty: passed
};

/// Validates each artifact (file name -> path) in order against `reference` (the original
/// model) or v.referenceOutputs. `shownDir` replaces the folder in the paths the report names
/// (the staging folder is not where the user will find them).
Expected<ConvertValidationResult> validateConverted(
    const ConvertValidation& v, const std::filesystem::path& reference,
    const std::vector<std::filesystem::path>& artifacts, const std::filesystem::path& shownDir, int threads,
    bool progress = false);

}  // namespace npuconv
