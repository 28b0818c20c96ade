// layer_error.h - the per-layer error table: each quantized Conv/ConvTranspose/Gemm/MatMul fed
// its float input (captured from the float model), run in float and with its input, weight
// and output quantized as the QDQ model has them: SQNR and cosine over all samples.
//
// The table isolates each layer's own quantization error (no accumulation from earlier
// layers), which is what tells which layer to keep in float or recalibrate. Memory holds one
// sample's layer inputs at a time.
#pragma once

#include <nlohmann/json.hpp>

#include "converter/exec/sample_stream.h"
#include "converter/ir/model.h"
#include "converter/support/status.h"

namespace npuconv {

/// {"<first original node name>": {"nodes": [...], "op": "Conv+Relu", "sqnr_db": 34.2,
/// "cosine": 0.9998, "min_sample_cosine": 0.9995, "samples": 8}, ...} in node order.
/// SQNR = 10 log10(sum f^2 / sum (f - q)^2) over every output element of every sample
/// (infinite when equal: reported as 999); cosine over the same concatenated vectors.
Expected<nlohmann::ordered_json> layerErrorTable(const Model& floatModel, const Model& quantized, SampleStream& data,
                                                 int threads);

/// The summary the accuracy targets are stated in: {"layers", "min_sqnr_db", "median_sqnr_db",
/// "worst": "<name>"}.
nlohmann::ordered_json layerErrorSummary(const nlohmann::ordered_json& table);

}  // namespace npuconv
