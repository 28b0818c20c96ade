// variant_decisions.h - several shapes in one blob (`convert --input-shape NAME=A,B`,
// pipeline/shape_variants.h): what the first variant decides from data, and every later variant
// repeats instead of deciding again.
//
// The mixed-precision search, depthwise input equalization and bias correction all change the
// quantized weights (or which layers are quantized) from calibration data of one shape. Deciding
// again per variant would give each variant its own weights (no longer one copy in WGHT) and a
// different model per shape; so the decision is made once, on the first variant, exactly as with
// one shape, and applied to the same layers of the later variants (matched by node names: the
// variants are one graph at other shapes). A layer the first variant decided on that a later
// variant lacks is an internal error naming it, never a silent skip. Activation ranges are not such
// a decision: they only set a variant's own activation and bias scales, so a later variant is
// calibrated at its own shape when the data can give it its samples there (text, images:
// pipeline/calib_follows_shape.h), and takes the first variant's ranges only from tensor data.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "converter/ir/model.h"
#include "converter/support/status.h"
#include "quant/equalize.h"
#include "quant/quantize.h"

namespace npuconv {

struct FirstVariantDecisions {
  /// The per-layer precisions --auto-mixed chose (the later variants quantize with the first
  /// variant's QuantizeOptions, which carry them); for the report.
  bool mixedSearched = false;
  MixedConfig mixed;
  std::vector<EqualizedPair> equalized;  // depthwise input equalization's per-channel scales
  std::vector<BiasShift> biasShifts;     // bias correction's per-channel float shifts
};

/// A later variant before its calibration: the first variant's equalization scales. `modelKey`
/// gains the mark equalizeBeforeCalibration gives it (statistics of the unequalized graph are
/// never reused).
Status equalizeLikeFirstVariant(Model& m, const FirstVariantDecisions& d, std::string& modelKey);

/// A later variant right after quantizeStatic: the first variant's bias shifts, at this
/// variant's bias scales. `floatModel` is the variant before quantization.
Status correctBiasLikeFirstVariant(Model& quantized, const Model& floatModel, const FirstVariantDecisions& d,
                                   QuantizeReport& report);

/// The report's device_blob.variants[v].from_first_variant for a later variant: what it took.
nlohmann::ordered_json takenFromFirstVariant(const FirstVariantDecisions& d);

}  // namespace npuconv
