// The fused Dequantize -> elementwise FloatOps -> Quantize of the device interpreter
// (converter/device/float_chain.h): for each supported chain the fused pass (a 256-entry table on
// 8-bit per-tensor input, a block evaluation on int32 accumulators per axis) gives the unfused
// ops' output bit for bit, on all 256 codes, with one and two threads and every ISA; chains that
// must not fuse (an intermediate read later or returned, an unsupported op) are left alone; and a
// det-like converted model (Conv -> decomposed HardSwish -> Conv) runs fused with the same bytes; and
// Dequantize -> nearest Resize -> Quantize runs as a gather through a table with the same bytes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "converter/device/float_chain.h"
#include "converter/device/interpreter.h"
#include "converter/device/memory_planner.h"
#include "formats/blob/blob_reader.h"
#include "formats/npy/npy.h"
#include "formats/onnx/onnx_writer.h"
#include "tests/support/test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;
using namespace device;

/// An operand of a chain op: slot >= 0 is a chain tensor (0: the dequantized input, k: the result of
/// op k - 1), otherwise the constant k; absent: an omitted optional input (Clip's min or max).
struct Arg {
  int slot = -1;
  float k = 0.f;
  bool absent = false;
};
Arg S(int slot) { return {slot, 0.f, false}; }
Arg K(float k) { return {-1, k, false}; }
Arg None() { return {-1, 0.f, true}; }

struct OpSpec {
  std::string type;
  std::vector<Arg> args;
};

/// x (inType, inQ) -> Dequantize -> ops -> Quantize (outType, per tensor) -> y. When exposeSlot >= 0
/// that chain tensor is also a program output (so the chain must not fuse).
Program chainProgram(DType inType, QuantParams inQ, std::vector<int64_t> dims, const std::vector<OpSpec>& ops, DType outType,
                     QuantParams outQ, int exposeSlot = -1) {
  Program p;
  p.onnxOpset = 17;
  const int32_t x = p.addTensor({"x", inType, dims, Layout::Any, p.addQuant(inQ), Storage::Activation, 0, nullptr});
  std::vector<int32_t> slots = {p.addTensor({"s0", DType::F32, dims, Layout::Any, -1, Storage::Activation, 0, nullptr})};
  Op dq;
  dq.code = OpCode::Dequantize;
  dq.type = "Dequantize";
  dq.inputs = {x};
  dq.outputs = {slots[0]};
  dq.name = "dq";
  p.ops.push_back(dq);
  for (size_t i = 0; i < ops.size(); ++i) {
    Op op;
    op.code = OpCode::FloatOp;
    op.flags = kOpCpuFallback;
    op.type = ops[i].type;
    op.name = fmt::format("op{}", i);
    for (size_t a = 0; a < ops[i].args.size(); ++a) {
      const Arg& arg = ops[i].args[a];
      if (arg.absent) {
        op.inputs.push_back(-1);
      } else if (arg.slot >= 0) {
        op.inputs.push_back(slots.at(static_cast<size_t>(arg.slot)));
      } else {
        const std::vector<float> v = {arg.k};
        op.inputs.push_back(p.addTensor({fmt::format("k{}_{}", i, a), DType::F32, {1}, Layout::Any, -1, Storage::Weight, 0,
                                         std::make_shared<const TensorData>(TensorData::fromValues<float>(DType::F32, {1}, std::span<const float>(v)))}));
      }
    }
    slots.push_back(p.addTensor({fmt::format("s{}", i + 1), DType::F32, dims, Layout::Any, -1, Storage::Activation, 0, nullptr}));
    op.outputs = {slots.back()};
    p.ops.push_back(op);
  }
  const int32_t y = p.addTensor({"y", outType, dims, Layout::Any, p.addQuant(outQ), Storage::Activation, 0, nullptr});
  Op q;
  q.code = OpCode::Quantize;
  q.type = "Quantize";
  q.inputs = {slots.back()};
  q.outputs = {y};
  q.name = "q";
  p.ops.push_back(q);
  p.inputs = {{x, "x", false}};
  p.outputs = {{y, "y", false}};
  if (exposeSlot >= 0) p.outputs.push_back({slots.at(static_cast<size_t>(exposeSlot)), "exposed", false});
  planMemory(p);
  return p;
}

/// The output bytes of every program output, fused or not.
std::vector<std::string> runProgram(const Program& p, const npuconv::Tensor& x, bool fuse, int threads, std::optional<Int8Isa> isa = {}) {
  InterpreterOptions o;
  o.fuseFloatChains = fuse;
  o.threads = threads;
  o.isa = isa;
  auto interp = Interpreter::create(p, o);
  EXPECT_TRUE(interp.hasValue()) << interp.status().toString();
  std::vector<std::string> bytes;
  if (!interp) return bytes;
  auto out = (*interp)->run({x});
  EXPECT_TRUE(out.hasValue()) << out.status().toString();
  if (out)
    for (const npuconv::Tensor& t : *out) bytes.emplace_back(reinterpret_cast<const char*>(t.raw()), t.byteSize());
  return bytes;
}

std::optional<FloatChain> match(const Program& p) {
  std::vector<int64_t> lastReader(p.tensors.size(), -1);
  std::vector<bool> graphOutput(p.tensors.size(), false);
  for (size_t i = 0; i < p.ops.size(); ++i)
    for (int32_t t : p.ops[i].inputs)
      if (t >= 0) lastReader[static_cast<size_t>(t)] = static_cast<int64_t>(i);
  for (const IoBinding& b : p.outputs) graphOutput[static_cast<size_t>(b.tensor)] = true;
  return matchFloatChain(p, 0, lastReader, graphOutput);
}

/// Paddle2ONNX's HardSwish (x * clip(x + 3, 0, 6) / 6) and PP-OCRv4's learnable affine after it.
const std::vector<OpSpec> kHardSwishAffine = {
    {"Add", {S(0), K(3.f)}}, {"Clip", {S(1), K(0.f), K(6.f)}}, {"Mul", {S(0), S(2)}},
    {"Div", {S(3), K(6.f)}}, {"Mul", {S(4), K(0.937f)}},       {"Add", {S(5), K(-0.0123f)}}};

/// Constants on the left, Sub, Relu, Clip with only a min, and a division by zero: inf and NaN
/// (0 / 0) reach the Quantize (NaN quantizes to the zero point).
const std::vector<OpSpec> kOddities = {
    {"Sub", {K(0.5f), S(0)}}, {"Relu", {S(1)}}, {"Div", {K(1.5f), S(2)}}, {"Clip", {S(3), K(-1.f), None()}},
    {"Mul", {S(4), S(0)}},    {"Div", {S(5), K(0.f)}}, {"Mul", {S(6), K(0.f)}}, {"Add", {S(7), S(2)}}};

const std::vector<std::vector<OpSpec>> kChains = {
    kHardSwishAffine,
    kOddities,
    {{"Relu", {S(0)}}},
    {},  // Dequantize straight into Quantize (a requantization)
    {{"Clip", {S(0), None(), K(0.25f)}}, {"Sub", {S(1), S(0)}}, {"Div", {S(2), K(3.f)}}},
};

TEST(FloatChain, TableEqualsUnfusedOpsOnAll256Codes) {
  for (DType in : {DType::U8, DType::I8}) {
    std::vector<uint8_t> codes(256);
    for (int b = 0; b < 256; ++b) codes[static_cast<size_t>(b)] = static_cast<uint8_t>(b);
    const npuconv::Tensor x = npuconv::Tensor::fromValues<uint8_t>(DType::U8, {1, 1, 16, 16}, std::span<const uint8_t>(codes));
    npuconv::Tensor xt(in, {1, 1, 16, 16});
    std::memcpy(xt.mutableRaw(), x.raw(), 256);
    for (size_t c = 0; c < kChains.size(); ++c) {
      for (DType out : {DType::U8, DType::I8}) {
        const QuantParams qin{-1, {0.0371f}, {in == DType::U8 ? 131 : -7}};
        const QuantParams qout{-1, {0.0213f}, {out == DType::U8 ? 117 : 3}};
        const Program p = chainProgram(in, qin, {1, 1, 16, 16}, kChains[c], out, qout);
        const auto m = match(p);
        ASSERT_TRUE(m.has_value()) << "chain " << c;
        EXPECT_TRUE(m->useLut);
        EXPECT_EQ(m->lastOp, p.ops.size() - 1);
        const auto want = runProgram(p, xt, false, 1);
        ASSERT_EQ(want.size(), 1u);
        EXPECT_EQ(runProgram(p, xt, true, 1), want) << "chain " << c << " " << dtypeName(in) << " -> " << dtypeName(out);
        EXPECT_EQ(runProgram(p, xt, true, 2), want) << "chain " << c;
      }
    }
  }
}

TEST(FloatChain, AccumulatorPerAxisEqualsUnfusedOps) {
  // An int32 accumulator quantized per channel (a QConv without a following Quantize), large
  // enough for the threaded path, values over the whole int32 range and near zero.
  const std::vector<int64_t> dims = {1, 8, 64, 129};
  const int64_t n = 8 * 64 * 129;
  test::SplitMix64 rng(7);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = i % 5 == 0 ? static_cast<int32_t>(rng.next()) : static_cast<int32_t>(rng.uniform() * 400000 - 200000);
  const npuconv::Tensor x = npuconv::Tensor::fromValues<int32_t>(DType::I32, dims, std::span<const int32_t>(v));
  QuantParams qin{1, {}, {}};
  for (int c = 0; c < 8; ++c) {
    qin.scales.push_back(1e-5f * static_cast<float>(c + 1));
    qin.zeroPoints.push_back(0);
  }
  for (size_t c = 0; c < kChains.size(); ++c) {
    const Program p = chainProgram(DType::I32, qin, dims, kChains[c], DType::U8, {-1, {0.0213f}, {117}});
    const auto m = match(p);
    ASSERT_TRUE(m.has_value()) << "chain " << c;
    EXPECT_FALSE(m->useLut);
    const auto want = runProgram(p, x, false, 1);
    ASSERT_EQ(want.size(), 1u);
    for (int threads : {1, 2})
      for (Int8Isa isa : {Int8Isa::Scalar, Int8Isa::Avx2, Int8Isa::AvxVnni, Int8Isa::Avx512Vnni})
        if (int8IsaAvailable(isa)) {
          EXPECT_EQ(runProgram(p, x, true, threads, isa), want) << "chain " << c << " threads " << threads;
        }
  }
}

TEST(FloatChain, LeavesAloneWhatItCannotFuse) {
  const QuantParams q{-1, {0.05f}, {128}};
  std::vector<uint8_t> codes(256);
  for (int b = 0; b < 256; ++b) codes[static_cast<size_t>(b)] = static_cast<uint8_t>(b);
  const npuconv::Tensor x = npuconv::Tensor::fromValues<uint8_t>(DType::U8, {1, 1, 16, 16}, std::span<const uint8_t>(codes));
  // An intermediate that is also a program output.
  const Program exposed = chainProgram(DType::U8, q, {1, 1, 16, 16}, kHardSwishAffine, DType::U8, q, 2);
  EXPECT_FALSE(match(exposed).has_value());
  EXPECT_EQ(runProgram(exposed, x, true, 1), runProgram(exposed, x, false, 1));
  // An op outside the supported set (Sigmoid: its kernel is not plain IEEE arithmetic).
  const Program sigmoid = chainProgram(DType::U8, q, {1, 1, 16, 16}, {{"Add", {S(0), K(1.f)}}, {"Sigmoid", {S(1)}}}, DType::U8, q);
  EXPECT_FALSE(match(sigmoid).has_value());
  EXPECT_EQ(runProgram(sigmoid, x, true, 1), runProgram(sigmoid, x, false, 1));
}

TEST(FloatChain, UnaryOpTableFromItsOwnKernel) {
  // Sigmoid, Tanh, HardSigmoid (attributes), HardSwish: the kernels' own values in a table, the
  // same bytes as the ops one by one; on 8-bit inputs of 256 codes repeated over a larger tensor.
  const std::vector<int64_t> dims = {1, 3, 16, 16};
  std::vector<uint8_t> codes(3 * 256);
  for (size_t b = 0; b < codes.size(); ++b) codes[b] = static_cast<uint8_t>((b * 7) % 256);
  for (DType in : {DType::U8, DType::I8}) {
    npuconv::Tensor x(in, dims);
    std::memcpy(x.mutableRaw(), codes.data(), codes.size());
    for (const char* type : {"Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Erf"}) {
      const QuantParams qin{-1, {0.0571f}, {in == DType::U8 ? 128 : 0}};
      Program p = chainProgram(in, qin, dims, {{type, {S(0)}}}, DType::U8, {-1, {1.f / 255.f}, {0}});
      if (std::string(type) == "HardSigmoid") p.ops[1].attrs = {{"alpha", AttrKind::Float, {}, {0.1667f}, {}}, {"beta", AttrKind::Float, {}, {0.5f}, {}}};
      std::vector<int64_t> lastReader(p.tensors.size(), -1);
      std::vector<bool> graphOutput(p.tensors.size(), false);
      for (size_t i = 0; i < p.ops.size(); ++i)
        for (int32_t t : p.ops[i].inputs) lastReader[static_cast<size_t>(t)] = static_cast<int64_t>(i);
      graphOutput[static_cast<size_t>(p.outputs[0].tensor)] = true;
      EXPECT_FALSE(matchFloatChain(p, 0, lastReader, graphOutput).has_value()) << type;
      EXPECT_TRUE(matchUnaryTable(p, 0, lastReader, graphOutput).has_value()) << type;
      const auto want = runProgram(p, x, false, 1);
      ASSERT_EQ(want.size(), 1u);
      EXPECT_EQ(runProgram(p, x, true, 1), want) << type;
      EXPECT_EQ(runProgram(p, x, true, 2), want) << type;
    }
  }
  // A probe that cannot be a table: the same byte at two positions with different values.
  FloatChain c;
  const Program p = chainProgram(DType::U8, {-1, {0.05f}, {128}}, {1, 1, 2, 256}, {{"Sigmoid", {S(0)}}}, DType::U8, {-1, {0.01f}, {0}});
  c.input = 0;
  c.output = p.outputs[0].tensor;
  std::vector<float> probe(512);
  tableProbe(c, p, probe.data(), 512);
  EXPECT_TRUE(setUnaryTable(c, p, probe.data(), 512));
  probe[300] = std::nextafter(probe[300], 1e9f);
  EXPECT_FALSE(setUnaryTable(c, p, probe.data(), 512));
}

/// x u8 [1,2,3,4] -> Dequantize -> Resize (scales or sizes, the given attributes) -> Quantize.
Program resizeProgram(std::vector<float> scales, std::vector<int64_t> sizes, std::vector<int64_t> outDims, std::vector<Attr> attrs,
                      std::vector<int64_t> dims = {1, 2, 3, 4}) {
  Program p;
  p.onnxOpset = 17;
  const int32_t x = p.addTensor({"x", DType::U8, dims, Layout::Any, p.addQuant({-1, {0.043f}, {121}}), Storage::Activation, 0, nullptr});
  const int32_t f = p.addTensor({"f", DType::F32, dims, Layout::Any, -1, Storage::Activation, 0, nullptr});
  const int32_t r = p.addTensor({"r", DType::F32, outDims, Layout::Any, -1, Storage::Activation, 0, nullptr});
  const int32_t y = p.addTensor({"y", DType::I8, outDims, Layout::Any, p.addQuant({-1, {0.031f}, {-5}}), Storage::Activation, 0, nullptr});
  Op dq;
  dq.code = OpCode::Dequantize;
  dq.type = "Dequantize";
  dq.inputs = {x};
  dq.outputs = {f};
  Op rs;
  rs.code = OpCode::FloatOp;
  rs.flags = kOpCpuFallback;
  rs.type = "Resize";
  rs.name = "resize";
  rs.attrs = std::move(attrs);
  rs.inputs = {f, -1};
  if (!scales.empty()) {
    rs.inputs.push_back(p.addTensor({"scales", DType::F32, {4}, Layout::Any, -1, Storage::Weight, 0,
                                     std::make_shared<const TensorData>(TensorData::fromValues<float>(DType::F32, {4}, std::span<const float>(scales)))}));
  } else {
    rs.inputs.push_back(-1);
    rs.inputs.push_back(p.addTensor({"sizes", DType::I64, {4}, Layout::Any, -1, Storage::Weight, 0,
                                     std::make_shared<const TensorData>(TensorData::fromValues<int64_t>(DType::I64, {4}, std::span<const int64_t>(sizes)))}));
  }
  rs.outputs = {r};
  Op q;
  q.code = OpCode::Quantize;
  q.type = "Quantize";
  q.inputs = {r};
  q.outputs = {y};
  p.ops = {dq, rs, q};
  p.inputs = {{x, "x", false}};
  p.outputs = {{y, "y", false}};
  planMemory(p);
  return p;
}

Attr strAttr(std::string name, std::string v) { return {std::move(name), AttrKind::String, {}, {}, std::move(v)}; }

TEST(FloatChain, NearestResizeIsAGatherThroughATable) {
  std::vector<uint8_t> v(24);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(i * 11 + 3);
  const npuconv::Tensor x = npuconv::Tensor::fromValues<uint8_t>(DType::U8, {1, 2, 3, 4}, std::span<const uint8_t>(v));
  struct Case {
    std::vector<float> scales;
    std::vector<int64_t> sizes, out;
    std::vector<Attr> attrs;
    bool fuses;
  };
  const std::vector<Case> cases = {
      {{1, 1, 2, 2}, {}, {1, 2, 6, 8}, {strAttr("mode", "nearest")}, true},
      {{1, 1, 2, 2}, {}, {1, 2, 6, 8}, {}, true},  // mode defaults to nearest
      {{}, {1, 2, 5, 7}, {1, 2, 5, 7}, {strAttr("coordinate_transformation_mode", "asymmetric"), strAttr("nearest_mode", "floor")}, true},
      {{}, {1, 2, 5, 7}, {1, 2, 5, 7}, {strAttr("coordinate_transformation_mode", "half_pixel"), strAttr("nearest_mode", "round_prefer_ceil")}, true},
      {{1, 1, 0.5f, 0.5f}, {}, {1, 2, 1, 2}, {}, true},
      {{1, 1, 2, 2}, {}, {1, 2, 6, 8}, {strAttr("mode", "linear")}, false},  // computes values: not a gather
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& k = cases[i];
    const Program p = resizeProgram(k.scales, k.sizes, k.out, k.attrs);
    const auto m = match(p);
    EXPECT_EQ(m.has_value(), k.fuses) << "case " << i;
    const auto want = runProgram(p, x, false, 1);
    ASSERT_EQ(want.size(), 1u) << "case " << i;
    EXPECT_EQ(runProgram(p, x, true, 1), want) << "case " << i;
    EXPECT_EQ(runProgram(p, x, true, 2), want) << "case " << i;
  }
}

/// Random bytes of `dims` as `dtype`.
npuconv::Tensor randomBytes(DType dtype, std::vector<int64_t> dims, uint64_t seed) {
  npuconv::Tensor t(dtype, std::move(dims));
  test::SplitMix64 rng(seed);
  auto* b = reinterpret_cast<uint8_t*>(t.mutableRaw());
  for (size_t i = 0; i < t.byteSize(); ++i) b[i] = static_cast<uint8_t>(rng.next());
  return t;
}

// The table and the gather on tensors large enough for the thread pool and the 64-byte table
// lookup (AVX-512 VBMI where the CPU has it), with lengths that leave a tail: every ISA, one and two
// threads, the same bytes as the unfused ops.
TEST(FloatChain, LargeTableAndGatherEqualUnfusedOnEveryIsa) {
  std::vector<Int8Isa> isas;
  for (Int8Isa i : {Int8Isa::Scalar, Int8Isa::Avx2, Int8Isa::AvxVnni, Int8Isa::Avx512Vnni})
    if (int8IsaAvailable(i)) isas.push_back(i);
  const std::vector<int64_t> dims = {1, 3, 131, 171};  // 67203 elements: past kMinParallel, odd
  for (const auto& chain : {kHardSwishAffine, std::vector<OpSpec>{{"Relu", {S(0)}}}}) {
    const Program p = chainProgram(DType::U8, {-1, {0.0371f}, {131}}, dims, chain, DType::I8, {-1, {0.0213f}, {3}});
    ASSERT_TRUE(match(p).has_value());
    const npuconv::Tensor x = randomBytes(DType::U8, dims, 3);
    const auto want = runProgram(p, x, false, 1, Int8Isa::Scalar);
    ASSERT_EQ(want.size(), 1u);
    for (Int8Isa isa : isas)
      for (int threads : {1, 2}) EXPECT_EQ(runProgram(p, x, true, threads, isa), want) << int8IsaName(isa) << " " << threads;
  }
  // Nearest 2x upsampling of a 77-wide plane (154 output columns: two 64-byte steps and a tail).
  const Program p = resizeProgram({1, 1, 2, 2}, {}, {1, 3, 90, 154}, {}, {1, 3, 45, 77});
  ASSERT_TRUE(match(p).has_value());
  const npuconv::Tensor x = randomBytes(DType::U8, {1, 3, 45, 77}, 4);
  const auto want = runProgram(p, x, false, 1, Int8Isa::Scalar);
  ASSERT_EQ(want.size(), 1u);
  for (Int8Isa isa : isas)
    for (int threads : {1, 2}) EXPECT_EQ(runProgram(p, x, true, threads, isa), want) << int8IsaName(isa) << " " << threads;
}

// PP-OCR det's squeeze-excitation scale: Dequantize(x [1,C,H,W]) * Dequantize(s [1,C,1,1]) ->
// Quantize, run as per-channel tables: the unfused ops' bytes for either Mul operand order, signed
// and unsigned codes, every ISA, one and two threads; a scale of another shape does not fuse.
TEST(FloatChain, ChannelScaleEqualsUnfusedOps) {
  std::vector<Int8Isa> isas;
  for (Int8Isa i : {Int8Isa::Scalar, Int8Isa::Avx2, Int8Isa::AvxVnni, Int8Isa::Avx512Vnni})
    if (int8IsaAvailable(i)) isas.push_back(i);
  for (int variant = 0; variant < 4; ++variant) {
    const bool swap = variant & 1, signedX = variant & 2;
    const int64_t C = 37, H = 33, W = 29;  // 35409 elements: past kMinParallel; rows not a multiple of 64
    Program p;
    p.onnxOpset = 17;
    const DType xt = signedX ? DType::I8 : DType::U8;
    const int32_t x = p.addTensor({"x", xt, {1, C, H, W}, Layout::Any, p.addQuant({-1, {0.0473f}, {signedX ? -9 : 121}}), Storage::Activation, 0, nullptr});
    const int32_t sc = p.addTensor({"s", DType::U8, {1, C, 1, 1}, Layout::Any, p.addQuant({-1, {0.00392f}, {0}}), Storage::Activation, 0, nullptr});
    const int32_t fx = p.addTensor({"fx", DType::F32, {1, C, H, W}, Layout::Any, -1, Storage::Activation, 0, nullptr});
    const int32_t fs = p.addTensor({"fs", DType::F32, {1, C, 1, 1}, Layout::Any, -1, Storage::Activation, 0, nullptr});
    const int32_t fm = p.addTensor({"fm", DType::F32, {1, C, H, W}, Layout::Any, -1, Storage::Activation, 0, nullptr});
    const int32_t y = p.addTensor({"y", DType::U8, {1, C, H, W}, Layout::Any, p.addQuant({-1, {0.0311f}, {97}}), Storage::Activation, 0, nullptr});
    auto op = [](OpCode code, std::string type, std::vector<int32_t> in, int32_t out) {
      Op o;
      o.code = code;
      o.type = o.name = std::move(type);
      if (code == OpCode::FloatOp) o.flags = kOpCpuFallback;
      o.inputs = std::move(in);
      o.outputs = {out};
      return o;
    };
    p.ops = {op(OpCode::Dequantize, "Dequantize", {swap ? sc : x}, swap ? fs : fx), op(OpCode::Dequantize, "Dequantize", {swap ? x : sc}, swap ? fx : fs),
             op(OpCode::FloatOp, "Mul", swap ? std::vector<int32_t>{fs, fx} : std::vector<int32_t>{fx, fs}, fm),
             op(OpCode::Quantize, "Quantize", {fm}, y)};
    p.inputs = {{x, "x", false}, {sc, "s", false}};
    p.outputs = {{y, "y", false}};
    planMemory(p);
    std::vector<int64_t> lastReader(p.tensors.size(), -1);
    std::vector<bool> graphOutput(p.tensors.size(), false);
    for (size_t i = 0; i < p.ops.size(); ++i)
      for (int32_t t : p.ops[i].inputs) lastReader[static_cast<size_t>(t)] = static_cast<int64_t>(i);
    graphOutput[static_cast<size_t>(y)] = true;
    ASSERT_TRUE(matchChannelScale(p, 0, lastReader, graphOutput).has_value()) << variant;
    const npuconv::Tensor xv = randomBytes(xt, {1, C, H, W}, 7 + static_cast<uint64_t>(variant));
    const npuconv::Tensor sv = randomBytes(DType::U8, {1, C, 1, 1}, 8);
    InterpreterOptions o;
    o.fuseFloatChains = false;
    o.threads = 1;
    o.isa = Int8Isa::Scalar;
    auto ref = Interpreter::create(p, o);
    ASSERT_TRUE(ref.hasValue()) << ref.status().toString();
    auto want = (*ref)->run({xv, sv});
    ASSERT_TRUE(want.hasValue()) << want.status().toString();
    for (Int8Isa isa : isas)
      for (int threads : {1, 2}) {
        o.fuseFloatChains = true;
        o.threads = threads;
        o.isa = isa;
        auto fused = Interpreter::create(p, o);
        ASSERT_TRUE(fused.hasValue()) << fused.status().toString();
        auto got = (*fused)->run({xv, sv});
        ASSERT_TRUE(got.hasValue()) << got.status().toString();
        EXPECT_EQ(std::memcmp((*got)[0].raw(), (*want)[0].raw(), (*want)[0].byteSize()), 0)
            << "variant " << variant << " " << int8IsaName(isa) << " " << threads << " threads";
      }
    // A scale over H as well is no channel scale.
    p.tensors[static_cast<size_t>(sc)].dims = {1, C, H, 1};
    EXPECT_FALSE(matchChannelScale(p, 0, lastReader, graphOutput).has_value());
  }
}

// The float fallback ops run on the interpreter's workers: a ConvTranspose (PP-OCR det's head:
// packed float GEMM, then col2im per channel), a broadcast Mul and a BatchNormalization give the
// same float bits with one, two and three threads.
TEST(FloatChain, FallbackThreadsBitIdentical) {
  Program p;
  p.onnxOpset = 17;
  const int64_t C = 24, M = 24, H = 40, W = 49;  // outputs of 753 KB: copied into the arena in pieces
  test::SplitMix64 rng(9);
  auto weight = [&](const std::string& name, std::vector<int64_t> d) {
    std::vector<float> v(static_cast<size_t>(elementCount(d)));
    for (float& e : v) e = static_cast<float>(rng.uniform() * 2 - 1) * 0.3f;
    return p.addTensor({name, DType::F32, d, Layout::Any, -1, Storage::Weight, 0,
                        std::make_shared<const TensorData>(TensorData::fromValues<float>(DType::F32, d, std::span<const float>(v)))});
  };
  auto act = [&](const std::string& name, DType dt, std::vector<int64_t> d, int32_t q = -1) {
    return p.addTensor({name, dt, std::move(d), Layout::Any, q, Storage::Activation, 0, nullptr});
  };
  const int32_t x = act("x", DType::U8, {1, C, H, W}, p.addQuant({-1, {0.05f}, {120}}));
  const int32_t f = act("f", DType::F32, {1, C, H, W});
  const int32_t ct = act("ct", DType::F32, {1, M, 2 * H, 2 * W});
  const int32_t mu = act("mu", DType::F32, {1, M, 2 * H, 2 * W});
  const int32_t bn = act("bn", DType::F32, {1, M, 2 * H, 2 * W});
  auto floatOp = [](std::string type, std::vector<int32_t> in, int32_t out, std::vector<Attr> attrs = {}) {
    Op op;
    op.code = OpCode::FloatOp;
    op.flags = kOpCpuFallback;
    op.type = op.name = std::move(type);
    op.inputs = std::move(in);
    op.outputs = {out};
    op.attrs = std::move(attrs);
    return op;
  };
  Op dq;
  dq.code = OpCode::Dequantize;
  dq.type = dq.name = "Dequantize";
  dq.inputs = {x};
  dq.outputs = {f};
  p.ops.push_back(dq);
  p.ops.push_back(floatOp("ConvTranspose", {f, weight("w", {C, M, 2, 2}), weight("b", {M})}, ct,
                          {{"strides", AttrKind::Ints, {2, 2}, {}, {}}}));
  p.ops.push_back(floatOp("Mul", {ct, weight("s", {1, M, 1, 1})}, mu));
  p.ops.push_back(floatOp("BatchNormalization", {mu, weight("g", {M}), weight("be", {M}), weight("mean", {M}), weight("var1", {M})}, bn));
  p.inputs = {{x, "x", false}};
  p.outputs = {{bn, "bn", false}};
  // BatchNormalization needs a positive variance: replace the random one.
  {
    std::vector<float> v(static_cast<size_t>(M));
    for (float& e : v) e = 0.5f + static_cast<float>(rng.uniform());
    device::Tensor& t = p.tensors[static_cast<size_t>(p.ops.back().inputs[4])];
    t.weight = std::make_shared<const TensorData>(TensorData::fromValues<float>(DType::F32, {M}, std::span<const float>(v)));
  }
  planMemory(p);
  const npuconv::Tensor xt = randomBytes(DType::U8, {1, C, H, W}, 5);
  const auto want = runProgram(p, xt, true, 1);
  ASSERT_EQ(want.size(), 1u);
  for (int threads : {2, 3}) EXPECT_EQ(runProgram(p, xt, true, threads), want) << threads << " threads";
}

// Conv -> HardSwish decomposed as Paddle2ONNX writes it -> Mul/Add affine -> Conv: the converted
// blob has an int32-accumulator Dequantize feeding the chain; fused and unfused give the same bytes.
const char* kDetLike = R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 3, 24, 20] x, float[8, 3, 3, 3] w1, float[8, 8, 1, 1] w2, float[1] three, float[] zero, float[] six, float[1] scale, float[1] bias) => (float[1, 8, 24, 20] y) {
  a = Conv <pads = [1, 1, 1, 1]> (x, w1)
  a3 = Add (a, three)
  c = Clip (a3, zero, six)
  m = Mul (a, c)
  h = Div (m, six)
  s = Mul (h, scale)
  t = Add (s, bias)
  y = Conv (t, w2)
})";

/// Graph inputs other than x become initializers: w... random (fan-in scaled), the rest the named
/// scalars.
void bindConstants(Model& m, uint64_t seed) {
  test::SplitMix64 rng(seed);
  const std::map<std::string, float> scalars = {{"three", 3.f}, {"zero", 0.f}, {"six", 6.f}, {"scale", 0.9f}, {"bias", 0.05f}};
  for (Value* in : std::vector<Value*>(m.graph->inputs())) {
    if (in->name() == "x") continue;
    std::vector<int64_t> dims = staticDims(*in->type().shape);
    std::vector<float> v(static_cast<size_t>(elementCount(dims)));
    if (in->name()[0] == 'w') {
      const double fanIn = double(v.size() / static_cast<size_t>(dims[0]));
      for (float& e : v) e = static_cast<float>((rng.uniform() * 2 - 1) * std::sqrt(3.0 / fanIn));
    } else {
      v.assign(v.size(), scalars.at(in->name()));
    }
    Value* init = m.graph->addInitializer(in->name() + "_init",
                                          std::make_shared<const TensorData>(TensorData::fromValues<float>(DType::F32, dims, std::span<const float>(v))));
    m.graph->replaceAllUsesWith(in, init);
    m.graph->eraseInput(in);
  }
}

TEST(FloatChain, DetLikeConvertedModelSameBytes) {
  const fs::path dir = test::tempDir("float_chain_det");
  Model model = test::parseModel(kDetLike);
  bindConstants(model, 5);
  ASSERT_TRUE(writeOnnx(model, dir / "float.onnx").hasValue());
  test::SplitMix64 rng(11);
  const std::vector<int64_t> calibDims = {3, 1, 3, 24, 20};
  std::vector<float> xs(3 * 3 * 24 * 20);
  for (float& v : xs) v = static_cast<float>(rng.uniform() * 6 - 3);
  ASSERT_TRUE(writeNpy(dir / "x.npy", DType::F32, calibDims, xs.data()).isOk());
  std::string err;
  const std::string cmd = fmt::format("'{}' convert '{}' -o '{}' --precision int8 --calib '{}' --layer-error-samples 0 --threads 1",
                                      test::npuconvBinary(), (dir / "float.onnx").string(), (dir / "out").string(), (dir / "x.npy").string());
  ASSERT_EQ(test::runCommand(cmd, nullptr, &err), 0) << cmd << "\n" << err;
  auto blob = readBlob(dir / "out/model.npub");
  ASSERT_TRUE(blob.hasValue()) << blob.status().toString();
  const Program& p = blob->program;
  std::vector<int64_t> lastReader(p.tensors.size(), -1);
  std::vector<bool> graphOutput(p.tensors.size(), false);
  for (size_t i = 0; i < p.ops.size(); ++i)
    for (int32_t t : p.ops[i].inputs)
      if (t >= 0) lastReader[static_cast<size_t>(t)] = static_cast<int64_t>(i);
  for (const IoBinding& b : p.outputs) graphOutput[static_cast<size_t>(b.tensor)] = true;
  int chains = 0;
  for (size_t i = 0; i < p.ops.size(); ++i)
    if (auto c = matchFloatChain(p, i, lastReader, graphOutput)) {
      ++chains;
      EXPECT_EQ(c->steps.size(), 6u);
      EXPECT_EQ(p.tensors[static_cast<size_t>(c->input)].dtype, DType::I32);
    }
  EXPECT_EQ(chains, 1) << "the HardSwish + affine chain is found in the converted blob";
  for (int i = 0; i < 3; ++i) {
    std::vector<float> v(xs.begin() + i * 3 * 24 * 20, xs.begin() + (i + 1) * 3 * 24 * 20);
    if (i == 2)
      for (float& e : v) e *= 5;  // far outside the calibrated range: saturation on both sides
    const npuconv::Tensor x = npuconv::Tensor::fromValues<float>(DType::F32, {1, 3, 24, 20}, std::span<const float>(v));
    const auto want = runProgram(p, x, false, 1);
    ASSERT_EQ(want.size(), 1u);
    EXPECT_EQ(runProgram(p, x, true, 1), want);
    EXPECT_EQ(runProgram(p, x, true, 2), want);
  }
}

}  // namespace
}  // namespace npuconv
