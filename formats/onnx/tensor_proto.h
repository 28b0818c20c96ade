// tensor_proto.h - conversions between ONNX protos and IR types and tensors.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include <onnx/onnx_pb.h>

#include "converter/ir/model.h"
#include "converter/ir/tensor.h"
#include "converter/ir/type.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/raw_data_cut.h"
#include "formats/support/mapped_file.h"

namespace npuconv {

/// Resolves and maps external-data files relative to the model's folder, refusing locations
/// that escape it (absolute paths, `..`), each file mapped once.
class ExternalDataResolver {
 public:
  ExternalDataResolver(std::filesystem::path baseDir, ImportOptions opt)
      : baseDir_(std::move(baseDir)), opt_(opt) {}
  /// The bytes [offset, offset+length) of `location`; `length` < 0 means to the end of file.
  Expected<std::shared_ptr<const Buffer>> slice(const std::string& tensor, const std::string& location,
                                                int64_t offset, int64_t length);
  /// Payloads cut out of the mapped model file (raw_data_cut.h), keyed by the skeleton's tensors.
  void adoptCutPayloads(std::shared_ptr<const MappedFile> model,
                        std::unordered_map<const onnx::TensorProto*, RawDataSpan> payloads) {
    model_ = std::move(model);
    cut_ = std::move(payloads);
  }
  /// The cut payload of `tp` viewed in the mapped model file, or null when it was not cut.
  std::shared_ptr<const Buffer> cutPayload(const onnx::TensorProto& tp) const;

 private:
  std::filesystem::path baseDir_;
  ImportOptions opt_;
  std::map<std::string, std::shared_ptr<const MappedFile>> files_;
  static constexpr size_t kMaxOpenExternalFiles = 64;
  std::shared_ptr<const MappedFile> model_;
  std::unordered_map<const onnx::TensorProto*, RawDataSpan> cut_;
};

Expected<TensorType> typeFromProto(const onnx::TypeProto& tp, const std::string& valueName);
void typeToProto(const TensorType& t, onnx::TypeProto* out);

/// Converts a TensorProto, adopting its raw_data string (no copy) or viewing external data.
Expected<TensorRef> tensorFromProto(onnx::TensorProto& tp, ExternalDataResolver& ext);
/// A self-contained TensorProto (data inline). `name` may be empty.
void tensorToProto(const TensorData& t, const std::string& name, onnx::TensorProto* out);

/// The whole model as a ModelProto with all data inline (tests, the checker, small models).
void modelToProto(const Model& m, onnx::ModelProto* out);

}  // namespace npuconv
