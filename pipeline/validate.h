// validate.h - `npuconv validate CANDIDATE`: a converted model's outputs against a reference, the
// reference model run on the same inputs or the outputs the exporting framework saved (PyTorch:
// one .npy per output, an .npz, HDF5), over one or several input sets, with pass/fail per
// threshold (quant/error_stats.h figures, plus numpy allclose-style atol/rtol).
//
// Input sets: a file (.npz, .h5, .npy) or `NAME=FILE.npy` arguments are one set; a folder holding
// NAME.npy files is one set; a folder of sub-folders (each of NAME.npy) and/or .npz/.h5 files is
// one set per entry, named by it (sorted). Reference outputs follow the same layout (a folder of
// OUTPUT.npy; with several sets, DIR/SET/ or DIR/SET.npz|.h5), and split into samples by the
// stacking rules of calibration data (docs/calibration-data.md) against the candidate's actual
// output shapes: `[N, ...]` for N samples of one input set.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "converter/support/status.h"

namespace npuconv {

/// Thresholds an output must hold (unset: not checked). atol/rtol: every element within
/// atol + rtol * |ref| (numpy.allclose; the one not given is 0). Cosine and SQNR are pooled over
/// the set's samples, as `npuconv compare` measures them.
struct ValidateThresholds {
  std::optional<double> atol, rtol, minCosine, minSqnrDb;
  bool any() const { return atol || rtol || minCosine || minSqnrDb; }
  /// This one's values where set, else `fallback`'s.
  ValidateThresholds over(const ValidateThresholds& fallback) const;
};

/// "NAME:KEY=VALUE" (KEY: atol, rtol, min-cosine, min-sqnr) into `into[NAME]`; errors name it.
Status parsePerOutputThreshold(const std::string& spec, std::map<std::string, ValidateThresholds>& into);

struct ValidateOptions {
  std::filesystem::path candidate;
  std::filesystem::path referenceModel;    // either this
  std::filesystem::path referenceOutputs;  // or this
  std::vector<std::string> inputs;         // DIR | FILE | NAME=FILE.npy ...
  ValidateThresholds thresholds;
  std::map<std::string, ValidateThresholds> perOutput;
  int threads = 0;
  bool progress = false;  // a progress bar on stderr when it is a terminal
};

struct ValidateResult {
  nlohmann::ordered_json report;
  bool passed = true;
  std::string failure;  // the first failed check, one line
};

Expected<ValidateResult> runValidate(const ValidateOptions& o);

/// The human-readable form: per set and output one line, then the aggregate and the verdict.
std::string formatValidateReport(const nlohmann::ordered_json& report);

}  // namespace npuconv
