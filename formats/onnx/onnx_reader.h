// onnx_reader.h - ONNX files into the IR, losslessly: everything the IR does not interpret is
// kept in an opaque form so that writing the model back loses nothing.
//
// Every failure is a Status naming the file and the node or tensor at fault: not a protobuf,
// truncated, missing or too-short external data, an external-data location escaping the
// model's folder, tensor data whose size does not match its dims and dtype, a graph cycle,
// duplicate value names, undefined inputs, an unknown dtype, an unsupported IR version or
// default-domain opset (newer than kMaxOpset), a string field that is not UTF-8, a node
// that breaks its op's definition (schema_check.h). A subgraph output naming a value of an
// enclosing graph is imported as an Identity inside the subgraph.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "converter/ir/model.h"
#include "converter/support/status.h"

namespace npuconv {

struct ImportOptions {
  /// Map external-data files instead of reading them (zero copy).
  bool mmapExternalData = true;
  /// Parse the model from a memory map, viewing raw_data payloads of at least
  /// `mmapRawDataMinBytes` in it rather than copying them (raw_data_cut.h).
  bool mmapRawData = true;
  uint64_t mmapRawDataMinBytes = 4096;
};

/// IR versions we read.
inline constexpr int64_t kMinIrVersion = 3;
inline constexpr int64_t kMaxIrVersion = 10;
/// The newest default-domain opset we read (ONNX 1.16, the release of IR version 10): a newer
/// one is Unsupported naming it, since its ops may mean something else.
inline constexpr int64_t kMaxOpset = 21;

/// Facts about the file itself, which the IR does not keep (for `inspect`).
struct OnnxFileInfo {
  uint64_t fileBytes = 0;
  /// External data files (relative location) and how many tensor bytes each provides.
  std::map<std::string, uint64_t> externalFiles;
  int64_t externalTensors = 0;
};

Expected<Model> readOnnx(const std::filesystem::path& path, const ImportOptions& opt = {},
                         OnnxFileInfo* info = nullptr);
/// Parses a model from the ONNX text syntax (onnx's parser), e.g. for tests.
Expected<Model> parseOnnxText(std::string_view text);
/// Parses serialized ModelProto bytes; external data resolves against `baseDir`.
Expected<Model> parseOnnxBytes(std::string_view bytes, const std::filesystem::path& baseDir,
                               const std::string& displayName = "<memory>");

}  // namespace npuconv
