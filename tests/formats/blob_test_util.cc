#include "tests/formats/blob_test_util.h"

#include <gtest/gtest.h>

#include <memory>
#include <span>
#include <vector>

#include <fmt/format.h>

#include "converter/device/fixed_point.h"
#include "converter/support/crc32c.h"
#include "formats/blob/blob_format.h"
#include "formats/npy/npy.h"
#include "formats/onnx/onnx_writer.h"
#include "tests/support/test_util.h"
#include "tests/support/zoo.h"

namespace npuconv::test {

using device::AttrKind;
using device::FixedMultiplier;
using device::FusedActivation;
using device::Layout;
using device::OpCode;
using device::Storage;
using device::quantizeMultiplier;

MinimalConv minimalConvProgram(int64_t h) {
  MinimalConv c;
  device::Program& p = c.program;
  const int32_t qx = p.addQuant({-1, {0.02f}, {128}});
  const int32_t qw = p.addQuant({0, {0.01f, 0.005f}, {0, 0}});
  const int32_t qb = p.addQuant({0, {0.0002f, 0.0001f}, {0, 0}});
  const int32_t qy = p.addQuant({-1, {0.05f}, {0}});
  c.x = p.addTensor({"x", DType::F32, {1, 1, h, h}, Layout::NCHW, -1, Storage::Activation, 0, nullptr});
  c.xq = p.addTensor({"x_q", DType::U8, {1, 1, h, h}, Layout::NCHW, qx, Storage::Activation, 0, nullptr});
  const std::vector<int8_t> wv = {100, -50};
  const int32_t w = p.addTensor({"conv.weight", DType::I8, {2, 1, 1, 1}, Layout::OIHW, qw, Storage::Weight, 0,
                                 std::make_shared<const TensorData>(TensorData::fromValues<int8_t>(DType::I8, {2, 1, 1, 1}, std::span<const int8_t>(wv)))});
  const std::vector<int32_t> bv = {500, -250};
  const int32_t b = p.addTensor({"conv.bias", DType::I32, {2}, Layout::Any, qb, Storage::Weight, 0,
                                 std::make_shared<const TensorData>(TensorData::fromValues<int32_t>(DType::I32, {2}, std::span<const int32_t>(bv)))});
  c.yq = p.addTensor({"y_q", DType::U8, {1, 2, h, h}, Layout::NCHW, qy, Storage::Activation, 0, nullptr});
  c.y = p.addTensor({"y", DType::F32, {1, 2, h, h}, Layout::NCHW, -1, Storage::Activation, 0, nullptr});
  device::Op quant;
  quant.code = OpCode::Quantize;
  quant.type = "Quantize";
  quant.inputs = {c.x};
  quant.outputs = {c.xq};
  quant.name = "x_QuantizeLinear";
  device::Op conv;
  conv.code = OpCode::Conv;
  conv.type = "QConv";
  conv.inputs = {c.xq, w, b};
  conv.outputs = {c.yq};
  conv.name = "conv";
  conv.provenance = {"conv", "relu"};
  conv.act = FusedActivation::Relu;
  conv.actMin = 0;
  conv.actMax = 255;
  const FixedMultiplier m0 = quantizeMultiplier(0.02 * 0.01 / 0.05), m1 = quantizeMultiplier(0.02 * 0.005 / 0.05);
  conv.attrs = {{"strides", AttrKind::Ints, {1, 1}, {}, {}},
                {"pads", AttrKind::Ints, {0, 0, 0, 0}, {}, {}},
                {"dilations", AttrKind::Ints, {1, 1}, {}, {}},
                {"group", AttrKind::Int, {1}, {}, {}},
                {"multiplier", AttrKind::Ints, {m0.multiplier, m1.multiplier}, {}, {}},
                {"shift", AttrKind::Ints, {m0.shift, m1.shift}, {}, {}}};
  device::Op deq;
  deq.code = OpCode::Dequantize;
  deq.type = "Dequantize";
  deq.inputs = {c.yq};
  deq.outputs = {c.y};
  deq.name = "y_DequantizeLinear";
  p.ops = {quant, conv, deq};
  p.inputs = {{c.x, "x", false}};
  p.outputs = {{c.y, "y", false}};
  p.onnxOpset = 17;
  p.provenance = {{"npuconv_version", "0.1.0"}, {"source_model", "minimal.onnx"}};
  return c;
}

Expected<LoadedBlob> parseBlobBytes(const std::string& bytes) {
  auto owner = std::make_shared<std::string>(bytes);
  return parseBlob(owner, reinterpret_cast<const std::byte*>(owner->data()), owner->size(), "blob");
}

uint64_t blobSectionEntry(const std::string& s, uint32_t fourcc) {
  const uint64_t table = getLe(s, blob::kOffSectionTable, 8);
  const uint64_t count = getLe(s, blob::kOffSectionCount, 4);
  for (uint64_t i = 0; i < count; ++i)
    if (getLe(s, table + i * 32, 4) == fourcc) return table + i * 32;
  ADD_FAILURE() << "no section " << fourcc;
  return 0;
}

void resealBlobCrcs(std::string& s) {
  const uint32_t count = static_cast<uint32_t>(getLe(s, blob::kOffSectionCount, 4));
  const uint64_t table = getLe(s, blob::kOffSectionTable, 8);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t e = table + size_t{i} * 32;
    const uint64_t off = getLe(s, e + 8, 8), size = getLe(s, e + 16, 8);
    if (off + size <= s.size()) putLe(s, e + 24, crc32c(s.data() + off, size), 4);
  }
  putLe(s, blob::kOffHeaderCrc, 0, 4);
  putLe(s, blob::kOffHeaderCrc, crc32c(s.data(), table + size_t{count} * 32), 4);
}

Expected<Int8Conversion> convertInt8WithRandomCalib(const Model& m, const std::filesystem::path& dir,
                                                    const std::vector<int64_t>& inputDims, int64_t samples,
                                                    uint64_t seed) {
  if (auto written = writeOnnx(m, dir / "float.onnx"); !written) return written.status();
  std::vector<int64_t> calibDims = {samples};
  calibDims.insert(calibDims.end(), inputDims.begin(), inputDims.end());
  Int8Conversion c;
  c.calib.resize(static_cast<size_t>(elementCount(calibDims)));
  SplitMix64 rng(seed);
  for (float& v : c.calib) v = rng.uniform() * 4 - 2;
  NPU_TRY(writeNpy(dir / "x.npy", DType::F32, calibDims, c.calib.data()));
  const std::string args = fmt::format("convert '{}' -o '{}' --precision int8 --calib '{}' --layer-error-samples 0 --threads 1",
                                       (dir / "float.onnx").string(), (dir / "out").string(), (dir / "x.npy").string());
  std::string err;
  if (const int rc = runNpuconv(args, nullptr, &err); rc != 0)
    return Status::internal("npuconv {} exited with {}: {}", args, rc, err);
  auto blob = readBlob(dir / "out/model.npub");
  if (!blob) return blob.status();
  c.blob = std::move(*blob);
  return c;
}

}  // namespace npuconv::test
