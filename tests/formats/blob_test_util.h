// blob_test_util.h - the spec's minimal program (docs/blob-format.md §16) and the byte-level
// helpers the blob tests share: parsing bytes, finding a section, re-sealing CRCs after damage;
// and a float model converted to a blob the way the device tests do it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "converter/device/device_program.h"
#include "converter/ir/model.h"
#include "converter/support/status.h"
#include "formats/blob/blob_reader.h"

namespace npuconv::test {

/// x f32[1,1,h,h] -> Quantize -> 1x1 QConv (2 int8 weights per channel, int32 bias, fused Relu)
/// -> Dequantize -> y f32[1,2,h,h]: the spec's minimal program at spatial size h (2 in the
/// spec). Arena offsets and the memory plan are the caller's: the spec's dump reuses buffers.
struct MinimalConv {
  device::Program program;
  int32_t x = -1, xq = -1, yq = -1, y = -1;  // the activations, for the caller's arena plan
};
MinimalConv minimalConvProgram(int64_t h);

/// Parses a blob held in memory (the bytes are copied and kept alive by the result).
Expected<LoadedBlob> parseBlobBytes(const std::string& bytes);

/// The offset of the section table entry of `fourcc` (0 and a test failure when absent).
uint64_t blobSectionEntry(const std::string& s, uint32_t fourcc);

/// Recomputes every section CRC and the header CRC: damage that the CRCs must not hide.
void resealBlobCrcs(std::string& s);

/// What convertInt8WithRandomCalib made: the calibration samples (also the tests' inputs) and
/// the blob read back.
struct Int8Conversion {
  std::vector<float> calib;  // `samples` tensors of the input's dims, one after the other
  LoadedBlob blob;
};

/// Writes `m` to dir/float.onnx and `samples` calibration tensors of `inputDims` drawn from
/// U(-2, 2) (SplitMix64 of `seed`) to dir/x.npy, runs `npuconv convert --precision int8` on them
/// (QDQ model.onnx and model.npub in dir/out) and reads the blob back.
Expected<Int8Conversion> convertInt8WithRandomCalib(const Model& m, const std::filesystem::path& dir,
                                                    const std::vector<int64_t>& inputDims, int64_t samples,
                                                    uint64_t seed);

}  // namespace npuconv::test
