// fuzz_raw_data_cut.cc - the raw_data cutter (formats/onnx/raw_data_cut.h) against protobuf
// itself: whatever bytes the cutter accepts, its skeleton parses exactly when the file parses,
// every payload lies inside the file, and the skeleton with the payloads put back is the
// message protobuf reads from the file.
#include <google/protobuf/util/message_differencer.h>
#include <onnx/onnx_pb.h>

#include <climits>
#include <cstdint>
#include <string>

#include "formats/onnx/raw_data_cut.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace npuconv;
  auto cut = cutRawData({reinterpret_cast<const std::byte*>(data), size}, 1);
  if (!cut || size > INT_MAX) return 0;
  onnx::ModelProto original, skeleton;
  bool fileParses = original.ParseFromArray(data, static_cast<int>(size));
  bool skeletonParses = skeleton.ParseFromString(cut->skeleton);
  if (fileParses != skeletonParses) fuzz::fail("the skeleton and the file parse differently");
  if (!fileParses) return 0;
  for (const auto& [tensor, span] : cutTensors(skeleton, *cut)) {
    if (span.offset > size || span.size > size - span.offset) fuzz::fail("a payload outside the file");
    tensor->set_raw_data(reinterpret_cast<const char*>(data) + span.offset, span.size);
  }
  // Serialized again, both are canonical: equal bytes are equal messages (NaN included, which
  // MessageDifferencer calls different from itself); the differencer only explains a mismatch.
  if (original.SerializeAsString() != skeleton.SerializeAsString()) {
    google::protobuf::util::MessageDifferencer diff;
    std::string report;
    diff.ReportDifferencesToString(&report);
    diff.Compare(original, skeleton);
    fuzz::fail("the skeleton with its payloads is not the file's message: " + report);
  }
  return 0;
}
