// tensor_file.h - single serialized ONNX TensorProto files (the conformance suite's
// input_N.pb / output_N.pb).
#pragma once

#include <filesystem>

#include "converter/ir/tensor.h"
#include "converter/support/status.h"

namespace npuconv {

/// Reads a serialized TensorProto; an error if the file holds something else (a sequence).
Expected<TensorRef> readTensorProtoFile(const std::filesystem::path& path);
Status writeTensorProtoFile(const TensorData& t, const std::string& name, const std::filesystem::path& path);

}  // namespace npuconv
