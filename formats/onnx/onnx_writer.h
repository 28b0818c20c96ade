// onnx_writer.h - the IR out to ONNX.
//
// Deterministic: the same model and options give byte-identical files. Large initializers are
// streamed from their buffers into the file (never copied into a protobuf message), so writing
// costs about one pass over the weights. The output appears atomically (temp file + rename).
#pragma once

#include <filesystem>
#include <string>

#include "converter/ir/model.h"
#include "converter/support/status.h"

namespace npuconv {

struct WriteOptions {
  /// Store initializers of at least `externalThreshold` bytes in a separate data file.
  bool externalData = false;
  int64_t externalThreshold = 1024;
  /// Data file name, relative to the model's folder; default "<model file name>.data".
  std::string externalFile;
  /// Switch to external data by itself when the file would pass protobuf's 2 GiB limit.
  bool autoExternalOver2GiB = true;
};

/// What writeOnnx did, for reports.
struct WriteResult {
  uint64_t modelBytes = 0;
  uint64_t externalBytes = 0;
  std::string externalFile;  // empty when everything is inline
};

Expected<WriteResult> writeOnnx(const Model& m, const std::filesystem::path& path, const WriteOptions& opt = {});

/// Serialized bytes of the whole model with all data inline, deterministic (small models).
std::string serializeModel(const Model& m);

}  // namespace npuconv
