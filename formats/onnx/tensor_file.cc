#include "formats/onnx/tensor_file.h"

#include "formats/onnx/tensor_proto.h"
#include "formats/support/mapped_file.h"

namespace npuconv {

Expected<TensorRef> readTensorProtoFile(const std::filesystem::path& path) {
  NPU_ASSIGN_OR_RETURN(std::string bytes, readFile(path));
  onnx::TensorProto tp;
  if (!tp.ParseFromString(bytes) || tp.data_type() == 0)
    return Status::invalidModel("{}: not a serialized ONNX tensor", path.string());
  ExternalDataResolver ext(path.parent_path(), ImportOptions{});
  auto t = tensorFromProto(tp, ext);
  if (!t) return std::move(t).status().in(path.string());
  return t;
}

Status writeTensorProtoFile(const TensorData& t, const std::string& name, const std::filesystem::path& path) {
  onnx::TensorProto tp;
  tensorToProto(t, name, &tp);
  return writeFileAtomically(path, tp.SerializeAsString());
}

}  // namespace npuconv
