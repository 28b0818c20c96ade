// device_blob.h - convert's last step for --precision int8 and fp16: the final IR lowered to a
// device program (pipeline/lower_to_device.h) and written atomically as OUTDIR/model.npub
// (docs/blob-format.md), with the report section "device_blob" (memory plan, ops on the NPU vs
// CPU fallback). A model the blob cannot hold (dynamic shapes, subgraphs) is not an error of
// the conversion: the section says why no blob was written.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "converter/ir/model.h"
#include "converter/support/status.h"

namespace npuconv {

struct DeviceBlobRequest {
  std::filesystem::path path;  // OUTDIR/model.npub
  std::string sourceModel, sourceKey, pipeline, target, precision, calibrationMethod;
  int64_t calibrationSamples = 0;
  std::string sourceSha256;                                 // of the .onnx file (ModelIdentity)
  std::map<std::string, std::string> sourceExternalSha256;  // location -> SHA-256 (ModelIdentity)
};

/// Writes the blob; the report section, or an I/O error. May type values of `m` (see lowerToDevice).
/// `moreVariants`: the same model compiled at the other frozen shapes (convert --input-shape
/// NAME=A,B): one blob of format 1.2 holding every variant, weights with identical bytes once.
Expected<nlohmann::ordered_json> writeDeviceBlob(Model& m, const DeviceBlobRequest& r, std::FILE* diagnostics,
                                                 const std::vector<Model*>& moreVariants = {});

}  // namespace npuconv
