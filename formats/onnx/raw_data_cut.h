// raw_data_cut.h - an ONNX file's protobuf with the large raw_data payloads cut out, and where
// each payload lies in the file.
//
// protobuf's parser copies every bytes field into a std::string: for a 512 MiB model that is
// 512 MiB of fresh memory written once and read once more by whoever uses the weights. Cutting
// the payloads out of the wire bytes first (rewriting only the length prefixes on the path to
// them) leaves a skeleton of a few kilobytes to parse; the importer then views each payload in
// the memory-mapped file, so reading a model touches no weight byte until something uses it
// (`inspect` never does; a round trip streams the mapped pages straight to the output).
//
// Payloads are found where ONNX keeps tensors: graph initializers, sparse initializers' values
// and indices, and tensors in node attributes (Constant's `value`, subgraphs' initializers),
// at any graph depth. Anything the cutter does not fully understand (a group field, a message
// field repeated where protobuf would merge it, a length past the end) makes it give up; the
// caller then parses the whole file as before, which reports the defect.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace onnx {
class ModelProto;
class TensorProto;
}  // namespace onnx

namespace npuconv {

/// A payload's place in the file.
struct RawDataSpan {
  uint64_t offset = 0, size = 0;
};

struct CutModel {
  /// The model's bytes with the cut payloads' raw_data fields removed.
  std::string skeleton;
  /// Keyed by the tensor's path from the ModelProto: "field.index/" per message on the way,
  /// e.g. "7.0/5.3/" for graph.initializer[3].
  std::map<std::string, RawDataSpan> payloads;
};

/// Cuts out every raw_data payload of at least `minBytes`; nullopt when the bytes do not
/// parse as the cutter expects (the caller falls back to a plain parse).
std::optional<CutModel> cutRawData(std::span<const std::byte> file, uint64_t minBytes);

/// The tensors of the parsed skeleton whose payload was cut, found by walking the paths the
/// cutter recorded; a path the skeleton does not have is skipped (it cannot happen for a
/// skeleton parsed from `cut`).
std::vector<std::pair<onnx::TensorProto*, RawDataSpan>> cutTensors(onnx::ModelProto& skeleton, const CutModel& cut);

}  // namespace npuconv
