// The device interpreter's Conv fusion (converter/device/int_gemm.h PlanesTarget): a Conv writing
// its one reader Conv's input planes instead of its output tensor gives the bytes of the two Convs
// run apart: on random Lanes producers against the scalar Convs and the consumer's own re-layout
// (tails of every tile size, signed and unsigned codes, both roundings, one and two threads), and
// on a converted residual CNN through the interpreter with the fusion on and off, on every ISA and
// thread count (and that it did engage).
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include <fmt/format.h>

#include "converter/device/int_gemm.h"
#include "converter/device/interpreter.h"
#include "converter/exec/thread_pool.h"
#include "formats/blob/blob_reader.h"
#include "formats/npy/npy.h"
#include "formats/onnx/onnx_writer.h"
#include "tests/formats/blob_test_util.h"
#include "tests/support/test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;
using device::Int8Isa;
using device::MacKernel;
using device::MacSpec;

std::vector<std::byte> fusionRandomBytes(test::SplitMix64& rng, size_t n) {
  std::vector<std::byte> v(n);
  for (std::byte& b : v) b = static_cast<std::byte>(rng.pick(0, 255));
  return v;
}

/// A Conv the Lanes kernel takes (8-bit output, no weight zero point), random geometry around
/// the 14-pixel tiles and 16/32-channel blocks; C input channels, O output channels.
MacSpec fusionLanesSpec(test::SplitMix64& rng, int64_t C, int64_t O, int64_t H, int64_t W, int kind) {
  MacSpec s;
  s.C = C, s.O = O, s.H = H, s.W = W;
  s.kH = s.kW = kind == 0 ? 1 : 3;
  if (kind) s.pt = s.pl = s.pb = s.pr = 1;
  s.sh = s.sw = kind == 2 ? 2 : 1;
  s.OH = (s.H + s.pt + s.pb - s.kH) / s.sh + 1, s.OW = (s.W + s.pl + s.pr - s.kW) / s.sw + 1;
  s.path = MacSpec::Path::Lanes;
  s.xUnsigned = rng.uniform() < 0.6;
  s.zx = s.xUnsigned ? rng.pick(0, 255) : rng.pick(-128, 127);
  s.w.resize(static_cast<size_t>(O * C * s.kH * s.kW));
  for (int16_t& v : s.w) v = static_cast<int16_t>(rng.pick(-128, 127));
  s.zw.assign(static_cast<size_t>(O), 0);
  s.yUnsigned = rng.uniform() < 0.5;
  s.zy = s.yUnsigned ? rng.pick(0, 255) : rng.pick(-128, 127);
  s.actMin = s.yUnsigned ? 0 : -128, s.actMax = s.yUnsigned ? 255 : 127;
  if (rng.uniform() < 0.3) s.actMin = s.zy;  // a fused Relu
  const device::Rounding rounding = rng.uniform() < 0.5 ? device::Rounding::Single : device::Rounding::Double;
  const double K = double(C * s.kH * s.kW);
  for (int64_t o = 0; o < O; ++o) {
    s.bias.push_back(rng.pick(-20000, 20000));
    s.requant.push_back(device::quantizeMultiplier(1.0 / (K * 64.0) * std::exp2(rng.uniform() * 6 - 3)));
    s.requant.back().rounding = rounding;
  }
  return s;
}

TEST(ConvFusion, PlanesWrittenByTheProducerEqualTheConsumersReLayout) {
  if (!device::int8IsaAvailable(Int8Isa::Avx512Vnni)) GTEST_SKIP() << "no AVX-512 VNNI here (the Lanes kernel)";
  test::SplitMix64 rng(73);
  ThreadPool two(2);
  int fused = 0;
  for (int trial = 0; trial < 48; ++trial) {
    const int64_t mid = 16 * rng.pick(1, 4);
    const MacSpec a = fusionLanesSpec(rng, rng.pick(1, 24), mid, rng.pick(1, 11), rng.pick(1, 31), trial % 3);
    MacSpec b = fusionLanesSpec(rng, mid, rng.pick(1, 40), a.OH, a.OW, (trial / 3) % 3);
    b.xUnsigned = a.yUnsigned;  // b reads a's output
    b.zx = a.zy;
    if (trial % 4 == 3) b.path = MacSpec::Path::Tiles;  // a consumer on the tile kernels reads the same planes
    auto ka = MacKernel::create(a, Int8Isa::Avx512Vnni), kb = MacKernel::create(b, Int8Isa::Avx512Vnni);
    ASSERT_TRUE(ka.hasValue() && kb.hasValue());
    auto ra = MacKernel::create(a, Int8Isa::Scalar), rb = MacKernel::create(b, Int8Isa::Scalar);
    ASSERT_TRUE(ra.hasValue() && rb.hasValue());
    if (!(*ka)->writesPlanes() || !(*kb)->takesPlanes()) continue;
    ++fused;
    const std::vector<std::byte> x = fusionRandomBytes(rng, static_cast<size_t>(a.C * a.H * a.W));
    std::vector<std::byte> mid0(static_cast<size_t>(a.O * a.OH * a.OW)), want(static_cast<size_t>(b.O * b.OH * b.OW));
    (*ra)->run(nullptr, x.data(), mid0.data());
    (*rb)->run(nullptr, mid0.data(), want.data());
    const device::PlanesTarget target = (*kb)->planesTarget();
    for (int rep = 0; rep < 2; ++rep)  // the second run: the padding written once still holds
      for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &two}) {
        std::vector<std::byte> midOut(mid0.size(), std::byte{0xCD}), got(want.size(), std::byte{0xAB});
        device::MacRunExtras ea, eb;
        ea.planesOut = &target;
        eb.prelaid = true;
        (*ka)->run(pool, x.data(), midOut.data(), nullptr, &ea);
        (*kb)->run(pool, nullptr, got.data(), nullptr, &eb);
        ASSERT_TRUE(got == want) << fmt::format("trial {} a: C={} O={} {}x{} kind {}; b: O={} kind {} tiles {} {}", trial, a.C, a.O, a.H,
                                                a.W, trial % 3, b.O, (trial / 3) % 3, trial % 4 == 3, pool ? "2 threads" : "1 thread");
        EXPECT_TRUE(std::all_of(midOut.begin(), midOut.end(), [](std::byte v) { return v == std::byte{0xCD}; }));
      }
  }
  EXPECT_GT(fused, 24);
}

/// A residual CNN: stem Conv+Relu (16 -> 32), Conv+Relu -> Conv (the first writes the second's
/// planes) -> Add with the stem -> Relu, a strided Conv to 48 and one to 24 (48 channels write
/// planes, 24 do not), a last Conv to 16.
constexpr const char* kResidualCnn = R"(
<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 16, 15, 13] x, float[32, 16, 3, 3] w0, float[32] wb0, float[32, 32, 3, 3] w1, float[32] wb1, float[32, 32, 3, 3] w2,
   float[32] wb2, float[48, 32, 3, 3] w3, float[48] wb3, float[24, 48, 3, 3] w4, float[24] wb4, float[16, 24, 1, 1] w5, float[16] wb5)
   => (float[1, 16, 8, 7] y) {
  c0 = Conv <pads = [1, 1, 1, 1]> (x, w0, wb0)
  s0 = Relu (c0)
  c1 = Conv <pads = [1, 1, 1, 1]> (s0, w1, wb1)
  r1 = Relu (c1)
  c2 = Conv <pads = [1, 1, 1, 1]> (r1, w2, wb2)
  a2 = Add (c2, s0)
  r2 = Relu (a2)
  c3 = Conv <pads = [1, 1, 1, 1], strides = [2, 2]> (r2, w3, wb3)
  r3 = Relu (c3)
  c4 = Conv <pads = [1, 1, 1, 1]> (r3, w4, wb4)
  r4 = Relu (c4)
  y = Conv (r4, w5, wb5)
}
)";

TEST(ConvFusion, InterpreterSameBytesWithAndWithoutFusions) {
  Model m = test::parseModel(kResidualCnn);
  test::bindRandomWeights(m, 29);
  // Bias correction on (the default): the model's nodes have no names.
  const std::vector<int64_t> dims = {1, 16, 15, 13};
  auto conv = test::convertInt8WithRandomCalib(m, test::tempDir("conv_fusion"), dims, 4, 5);
  ASSERT_TRUE(conv.hasValue()) << conv.status().toString();
  const device::Program& p = conv->blob.program;
  ASSERT_EQ(p.cpuOps(), 0u);

  std::vector<Tensor> inputs;
  const size_t n = 16 * 15 * 13;
  for (size_t i = 0; i < 3; ++i) {  // the last input far out of the calibrated range (saturation)
    std::vector<float> v(conv->calib.begin() + static_cast<std::ptrdiff_t>(i * n),
                         conv->calib.begin() + static_cast<std::ptrdiff_t>((i + 1) * n));
    if (i == 2)
      for (float& e : v) e *= 8;
    inputs.push_back(Tensor::fromValues<float>(DType::F32, dims, std::span<const float>(v)));
  }
  std::map<std::string, int> kinds;  // of the last run: "prelaid" counts the re-layouts that read no clock
  auto run = [&](Int8Isa isa, int threads, bool fuse) {
    device::InterpreterOptions o;
    o.isa = isa;
    o.threads = threads;
    o.fuseConvPlanes = fuse;
    kinds.clear();
    o.stepTimer = [&](size_t, std::string_view kind, double ms) {
      ++kinds[std::string(kind)];
      if (kind == "QConv re-layout" && ms == 0.0) ++kinds["prelaid"];
    };
    auto interp = device::Interpreter::create(p, o);
    EXPECT_TRUE(interp.hasValue()) << interp.status().toString();
    std::vector<std::string> bytes;
    if (!interp) return bytes;
    for (const Tensor& x : inputs) {
      auto out = (*interp)->run({x});
      EXPECT_TRUE(out.hasValue()) << out.status().toString();
      if (out) bytes.emplace_back(reinterpret_cast<const char*>((*out)[0].raw()), (*out)[0].byteSize());
    }
    return bytes;
  };
  const std::vector<std::string> want = run(Int8Isa::Scalar, 1, false);
  ASSERT_EQ(want.size(), inputs.size());
  for (Int8Isa isa : {Int8Isa::Scalar, Int8Isa::Avx2, Int8Isa::AvxVnni, Int8Isa::Avx512Vnni}) {
    if (!device::int8IsaAvailable(isa)) continue;
    for (int threads : {1, 2})
      for (bool fuse : {false, true}) {
        EXPECT_EQ(run(isa, threads, fuse), want) << device::int8IsaName(isa) << ", " << threads << " threads, fusion " << fuse;
        if (isa == Int8Isa::Avx512Vnni && fuse) {
          EXPECT_GE(kinds["prelaid"], 3 * 1) << "c1 -> c2 re-laid its input";  // 3 runs; c3 -> c4 too where c3 runs on Lanes
        }
      }
  }
}

}  // namespace
}  // namespace npuconv
