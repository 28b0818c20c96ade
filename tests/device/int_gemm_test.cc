// The int8 MAC core of the device interpreter (converter/device/int_gemm.h): every ISA the CPU has
// gives the bits of the scalar definition on random Conv and Gemm shapes (odd K/N/M tails, groups,
// strides, dilations, padding, zero points at their extremes, signed and unsigned operands,
// saturating bias, every output type), with one thread and with two; the vector requantization
// equals fixed_point.h lane for lane; and the interpreter gives the same output bytes for every
// ISA and thread count on a small converted CNN. An ISA the CPU lacks is skipped.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

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

const Int8Isa kSimdIsas[] = {Int8Isa::Avx2, Int8Isa::AvxVnni, Int8Isa::Avx512Vnni};

/// Zero points at the extremes half of the time.
int32_t zeroPoint(test::SplitMix64& rng, bool isUnsigned) {
  const int32_t lo = isUnsigned ? 0 : -128, hi = isUnsigned ? 255 : 127;
  const double u = rng.uniform();
  return u < 0.25 ? lo : u < 0.5 ? hi : rng.pick(lo, hi);
}

/// Fills the quantization half of a spec with random parameters for O output channels.
void randomQuant(MacSpec& s, test::SplitMix64& rng, int64_t weights) {
  s.xUnsigned = rng.uniform() < 0.6;
  s.zx = zeroPoint(rng, s.xUnsigned);
  s.wUnsigned = rng.uniform() < 0.3;
  const bool symmetric = rng.uniform() < 0.4;  // the common case: s8 weights, zero point 0
  if (symmetric) s.wUnsigned = false;
  s.w.resize(static_cast<size_t>(weights));
  for (int16_t& v : s.w) v = static_cast<int16_t>(s.wUnsigned ? rng.pick(0, 255) : rng.pick(-128, 127));
  const int64_t K = weights / s.O;
  for (int64_t o = 0; o < s.O; ++o) {
    s.zw.push_back(symmetric ? 0 : zeroPoint(rng, s.wUnsigned));
    const double u = rng.uniform();
    s.bias.push_back(u < 0.1 ? INT32_MAX - rng.pick(0, 1000) : u < 0.2 ? INT32_MIN + rng.pick(0, 1000) : rng.pick(-100000, 100000));
  }
  const double kind = rng.uniform();
  if (kind < 0.15) return;  // int32 accumulator output
  s.yUnsigned = rng.uniform() < 0.5;
  s.zy = zeroPoint(rng, s.yUnsigned);
  const int32_t tlo = s.yUnsigned ? 0 : -128, thi = s.yUnsigned ? 255 : 127;
  s.actMin = rng.uniform() < 0.5 ? tlo : rng.pick(tlo, (tlo + thi) / 2);
  s.actMax = rng.uniform() < 0.5 ? thi : rng.pick(s.actMin, thi);
  const device::Rounding rounding = rng.uniform() < 0.5 ? device::Rounding::Single : device::Rounding::Double;
  for (int64_t o = 0; o < s.O; ++o) {
    // A real multiplier near 1 / (K * 255) keeps outputs in range; some large, some saturating.
    double m = 1.0 / (double(std::max<int64_t>(K, 1)) * 64.0) * std::exp2(rng.uniform() * 8 - 4);
    if (rng.uniform() < 0.05) m = std::exp2(rng.uniform() * 40 - 10);
    s.requant.push_back(device::quantizeMultiplier(m));
    s.requant.back().rounding = rounding;
  }
}

std::vector<std::byte> randomBytes(test::SplitMix64& rng, size_t n) {
  std::vector<std::byte> v(n);
  for (std::byte& b : v) b = static_cast<std::byte>(rng.pick(0, 255));
  return v;
}

size_t outBytes(const MacSpec& s) {
  const size_t es = s.requant.empty() ? 4 : 1;
  return static_cast<size_t>(s.gemm ? s.H * s.O : s.batch * s.O * s.OH * s.OW) * es;
}

std::string describe(const MacSpec& s) {
  if (s.gemm) return fmt::format("gemm M={} K={} N={} zx={} wU={} out={}", s.H, s.C, s.O, s.zx, s.wUnsigned, s.requant.empty() ? "i32" : "q8");
  return fmt::format("conv n={} C={} {}x{} O={} k={}x{} s={}x{} d={}x{} pads={},{},{},{} g={} zx={} xU={} wU={} out={}", s.batch, s.C, s.H,
                     s.W, s.O, s.kH, s.kW, s.sh, s.sw, s.dh, s.dw, s.pt, s.pl, s.pb, s.pr, s.group, s.zx, s.xUnsigned, s.wUnsigned,
                     s.requant.empty() ? "i32" : "q8");
}

/// Runs spec on every available SIMD ISA with 1 and 2 threads; all must equal the scalar bytes.
void expectSameAsScalar(const MacSpec& spec, test::SplitMix64& rng) {
  const size_t inBytes = static_cast<size_t>(spec.gemm ? spec.H * spec.C : spec.batch * spec.C * spec.H * spec.W);
  const std::vector<std::byte> x = randomBytes(rng, inBytes);
  auto ref = MacKernel::create(spec, Int8Isa::Scalar);
  ASSERT_TRUE(ref.hasValue()) << ref.status().toString();
  std::vector<std::byte> want(outBytes(spec));
  (*ref)->run(nullptr, x.data(), want.data());
  ThreadPool two(2);
  for (Int8Isa isa : kSimdIsas) {
    if (!device::int8IsaAvailable(isa)) continue;
    // Every AVX-512 Conv/Gemm kernel (Lanes where it applies), not only the one Auto picks.
    for (MacSpec::Path path : {MacSpec::Path::Auto, MacSpec::Path::Tiles, MacSpec::Path::Lanes}) {
      if (path != MacSpec::Path::Auto && isa != Int8Isa::Avx512Vnni) continue;
      MacSpec sp = spec;
      sp.path = path;
      auto k = MacKernel::create(sp, isa);
      ASSERT_TRUE(k.hasValue()) << k.status().toString();
      for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &two}) {
        std::vector<std::byte> got(want.size(), std::byte{0xAB});
        (*k)->run(pool, x.data(), got.data());
        ASSERT_TRUE(got == want) << device::int8IsaName(isa) << " path " << static_cast<int>(path) << (pool ? " 2 threads" : " 1 thread")
                                 << ": " << describe(spec);
      }
    }
  }
}

TEST(IntGemm, IsaNamesAndEnvironment) {
  for (Int8Isa isa : {Int8Isa::Scalar, Int8Isa::Avx2, Int8Isa::AvxVnni, Int8Isa::Avx512Vnni})
    EXPECT_EQ(device::parseInt8Isa(device::int8IsaName(isa)), isa);
  EXPECT_FALSE(device::parseInt8Isa("sse9").has_value());
  EXPECT_TRUE(device::int8IsaAvailable(Int8Isa::Scalar));
  EXPECT_TRUE(device::int8IsaAvailable(device::bestInt8Isa()));
  std::printf("best int8 ISA here: %s\n", std::string(device::int8IsaName(device::bestInt8Isa())).c_str());
}

TEST(IntGemm, RequantizeRowEqualsFixedPoint) {
  test::SplitMix64 rng(5);
  for (int trial = 0; trial < 400; ++trial) {
    const int64_t n = rng.pick(1, 37);
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (int32_t& a : v) {
      const double u = rng.uniform();
      a = u < 0.1 ? INT32_MAX - rng.pick(0, 3) : u < 0.2 ? INT32_MIN + rng.pick(0, 3) : u < 0.6 ? rng.pick(-70000, 70000) : static_cast<int32_t>(rng.next());
    }
    const int32_t bias = rng.uniform() < 0.2 ? static_cast<int32_t>(rng.next()) : rng.pick(-1000, 1000);
    device::FixedMultiplier f{rng.pick(1 << 30, INT32_MAX), rng.pick(-31, 30),
                              trial % 2 ? device::Rounding::Single : device::Rounding::Double};
    if (trial % 7 == 0) f.multiplier = 0;
    const bool u8 = rng.uniform() < 0.5;
    const int32_t zy = zeroPoint(rng, u8), lo = u8 ? 0 : -128, hi = u8 ? 255 : 127;
    std::vector<int32_t> got = v;
    device::requantizeRow(got.data(), n, bias, f, zy, lo, hi);
    for (int64_t i = 0; i < n; ++i) {
      const int32_t want = device::clampToRange(
          int64_t{zy} + device::multiplyByQuantizedMultiplier(device::saturatingAdd(v[static_cast<size_t>(i)], bias), f), lo, hi);
      ASSERT_EQ(got[static_cast<size_t>(i)], want) << "x " << v[static_cast<size_t>(i)] << " bias " << bias << " m " << f.multiplier
                                                   << " shift " << f.shift << " rounding " << device::roundingName(f.rounding);
    }
  }
}

TEST(IntGemm, ConvEveryIsaMatchesScalar) {
  test::SplitMix64 rng(17);
  for (int trial = 0; trial < 120; ++trial) {
    MacSpec s;
    s.batch = rng.pick(1, 2);
    const int kind = trial % 6;  // 0: 1x1, 1: 3x3 pad 1, 2: strided, 3: depthwise, 4: grouped, 5: odd kernels/dilations
    const int64_t group = kind == 3 ? rng.pick(2, 9) : kind == 4 ? rng.pick(2, 3) : 1;
    const int64_t cg = kind == 3 ? 1 : rng.pick(1, 19);
    s.group = group;
    s.C = cg * group;
    s.O = group * (kind == 3 ? rng.pick(1, 2) : rng.pick(1, 21));
    s.H = rng.pick(1, 13), s.W = rng.pick(1, 37);
    s.kH = kind == 0 ? 1 : kind == 5 ? rng.pick(1, 5) : 3;
    s.kW = kind == 0 ? 1 : kind == 5 ? rng.pick(1, 5) : 3;
    s.sh = kind == 2 ? rng.pick(2, 3) : kind == 5 ? rng.pick(1, 2) : 1;
    s.sw = kind == 2 ? rng.pick(1, 3) : kind == 5 ? rng.pick(1, 2) : 1;
    s.dh = kind == 5 ? rng.pick(1, 2) : 1, s.dw = kind == 5 ? rng.pick(1, 3) : 1;
    if (kind == 3 && trial % 4 == 3) {  // strided and dilated depthwise, wide rows (the 16-lane path and its tail)
      s.sh = rng.pick(1, 2), s.sw = rng.pick(1, 3), s.dw = rng.pick(1, 2);
      s.W = rng.pick(20, 70);
    }
    if (kind != 0) s.pt = rng.pick(0, 2), s.pl = rng.pick(0, 2), s.pb = rng.pick(0, 2), s.pr = rng.pick(0, 2);
    const int64_t spanH = (s.kH - 1) * s.dh + 1, spanW = (s.kW - 1) * s.dw + 1;
    s.H = std::max(s.H, spanH - s.pt - s.pb), s.W = std::max(s.W, spanW - s.pl - s.pr);
    s.OH = (s.H + s.pt + s.pb - spanH) / s.sh + 1;
    s.OW = (s.W + s.pl + s.pr - spanW) / s.sw + 1;
    randomQuant(s, rng, s.O * cg * s.kH * s.kW);
    SCOPED_TRACE(describe(s));
    expectSameAsScalar(s, rng);
    if (HasFatalFailure()) return;
  }
}

// The Lanes kernel's edges: channel counts around its 32-channel blocks and 16-lane halves, pixel
// counts around its 14-pixel tiles (a tail of every size), strides without im2col, row quads.
TEST(IntGemm, ConvLanesEdgesMatchScalar) {
  test::SplitMix64 rng(43);
  const int64_t Os[] = {1, 15, 16, 17, 32, 33, 48, 64, 70};
  for (int trial = 0; trial < 72; ++trial) {
    MacSpec s;
    s.O = Os[trial % 9];
    // 0: 1x1, 1: 3x3 pad 1, 2: 3x3 stride 2 pad 1, 3: a 7x7 stride 2 pad 3 stem on 1-3 channels
    // (the row-quad planes)
    const int kind = (trial / 9) % 4;
    s.C = kind == 3 ? rng.pick(1, 3) : rng.pick(1, 40);
    s.H = rng.pick(1, 9), s.W = rng.pick(1, 17);
    s.kH = s.kW = kind == 0 ? 1 : kind == 3 ? 7 : 3;
    if (kind) s.pt = s.pl = s.pb = s.pr = kind == 3 ? 3 : 1;
    s.sh = s.sw = kind >= 2 ? 2 : 1;
    s.H = std::max<int64_t>(s.H, s.kH - 2 * s.pt), s.W = std::max<int64_t>(s.W, s.kW - 2 * s.pl);
    s.OH = (s.H + 2 * s.pt - s.kH) / s.sh + 1, s.OW = (s.W + 2 * s.pl - s.kW) / s.sw + 1;
    randomQuant(s, rng, s.O * s.C * s.kH * s.kW);
    if (s.requant.empty() || trial % 2) {  // Lanes needs an 8-bit output and no weight zero point
      s.wUnsigned = false;
      std::fill(s.zw.begin(), s.zw.end(), 0);
      for (int16_t& v : s.w) v = static_cast<int16_t>(rng.pick(-128, 127));
      if (s.requant.empty()) {
        s.yUnsigned = true, s.zy = rng.pick(0, 255), s.actMin = 0, s.actMax = 255;
        for (int64_t o = 0; o < s.O; ++o) {
          s.requant.push_back(device::quantizeMultiplier(std::exp2(rng.uniform() * 12 - 16)));
          s.requant.back().rounding = trial % 4 < 2 ? device::Rounding::Single : device::Rounding::Double;
        }
      }
    }
    SCOPED_TRACE(describe(s));
    expectSameAsScalar(s, rng);
    if (HasFatalFailure()) return;
  }
}

TEST(IntGemm, GemmEveryIsaMatchesScalar) {
  test::SplitMix64 rng(29);
  const int64_t Ms[] = {1, 2, 5, 31, 33, 70}, Ks[] = {1, 3, 4, 5, 17, 64, 130}, Ns[] = {1, 5, 8, 9, 40};
  for (int64_t M : Ms)
    for (int64_t K : Ks)
      for (int64_t N : Ns) {
        MacSpec s;
        s.gemm = true;
        s.H = M, s.C = K, s.O = N;
        randomQuant(s, rng, N * K);
        SCOPED_TRACE(describe(s));
        expectSameAsScalar(s, rng);
        if (HasFatalFailure()) return;
      }
}

// Every integer path of the interpreter: padded 3x3 (direct), depthwise, Add, MaxPool, strided
// 1x1 and 3x3 (im2col), GlobalAveragePool, Gemm.
const char* kSmallCnn = R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 3, 20, 19] x, float[8, 3, 3, 3] w1, float[8] wb1, float[8, 1, 3, 3] w2, float[16, 8, 1, 1] w3, float[16, 16, 3, 3] w4, float[10, 16] w5) => (float[1, 10] y) {
  a = Conv <pads = [1, 1, 1, 1]> (x, w1, wb1)
  ar = Relu (a)
  b = Conv <pads = [1, 1, 1, 1], group = 8> (ar, w2)
  s = Add (b, ar)
  m = MaxPool <kernel_shape = [3, 3], pads = [1, 1, 1, 1], strides = [2, 2]> (s)
  c = Conv <strides = [2, 2]> (m, w3)
  d = Conv <pads = [1, 1, 1, 1], strides = [2, 2]> (c, w4)
  e = GlobalAveragePool (d)
  f = Flatten (e)
  y = Gemm <transB = 1> (f, w5)
})";

TEST(IntGemmInterpreter, SameBytesForEveryIsaAndThreadCount) {
  Model m = test::parseModel(kSmallCnn);
  test::bindRandomWeights(m, 23);
  const std::vector<int64_t> dims = {1, 3, 20, 19};
  const fs::path dir = test::tempDir("int_gemm_interp");
  auto conv = test::convertInt8WithRandomCalib(m, dir, dims, 4, 4);
  ASSERT_TRUE(conv.hasValue()) << conv.status().toString();
  const device::Program& p = conv->blob.program;
  EXPECT_EQ(p.cpuOps(), 0u);
  int convs = 0;
  for (const device::Op& op : p.ops) convs += op.code == device::OpCode::Conv;
  EXPECT_EQ(convs, 4);

  std::vector<Tensor> inputs;
  for (int i = 0; i < 3; ++i) {  // three inputs: the last one with values far out of the calibrated range
    std::vector<float> v(conv->calib.begin() + i * 3 * 20 * 19, conv->calib.begin() + (i + 1) * 3 * 20 * 19);
    if (i == 2)
      for (float& e : v) e *= 8;
    inputs.push_back(Tensor::fromValues<float>(DType::F32, dims, std::span<const float>(v)));
  }
  auto run = [&](Int8Isa isa, int threads) {
    device::InterpreterOptions o;
    o.isa = isa;
    o.threads = threads;
    auto interp = device::Interpreter::create(p, o);
    EXPECT_TRUE(interp.hasValue()) << interp.status().toString();
    std::vector<std::string> bytes;
    if (!interp) return bytes;
    EXPECT_EQ((*interp)->isa(), isa);
    for (const Tensor& x : inputs) {
      auto out = (*interp)->run({x});
      EXPECT_TRUE(out.hasValue()) << out.status().toString();
      if (out) bytes.emplace_back(reinterpret_cast<const char*>((*out)[0].raw()), (*out)[0].byteSize());
    }
    return bytes;
  };
  const std::vector<std::string> want = run(Int8Isa::Scalar, 1);
  ASSERT_EQ(want.size(), inputs.size());

  // `npuconv run model.npub --threads --repeat --warmup --json` under NPUCONV_INT8_ISA: the same
  // bytes, the latency fields, the ISA it ran; an unknown ISA name is a usage error (exit 2).
  ASSERT_TRUE(writeNpy(dir / "x1.npy", DType::F32, dims, conv->calib.data()).isOk());
  std::string err;
  for (const char* isa : {"scalar", "avx2"}) {
    if (!device::int8IsaAvailable(*device::parseInt8Isa(isa))) continue;
    std::string out;
    const std::string run = fmt::format("NPUCONV_INT8_ISA={} '{}' run '{}' --input '{}' --threads 2 --warmup 2 --repeat 3 --output-dir '{}' --json",
                                        isa, test::npuconvBinary(), (dir / "out/model.npub").string(), (dir / "x1.npy").string(),
                                        (dir / fmt::format("run_{}", isa)).string());
    ASSERT_EQ(test::runCommand(run, &out, &err), 0) << run << "\n" << err;
    const auto j = nlohmann::json::parse(out);
    EXPECT_EQ(j["int8_isa"], isa);
    EXPECT_EQ(j["repeat"], 3);
    EXPECT_EQ(j["threads"], 2);
    EXPECT_GT(j["median_ms"].get<double>(), 0.0);
    const std::string bytes = test::slurp(dir / fmt::format("run_{}", isa) / j["outputs"][0]["file"].get<std::string>());
    EXPECT_TRUE(bytes.size() > want[0].size() && bytes.compare(bytes.size() - want[0].size(), want[0].size(), want[0]) == 0)
        << isa << ": the .npy payload differs from the interpreter's bytes";
  }
  EXPECT_EQ(test::runCommand(fmt::format("NPUCONV_INT8_ISA=sse9 '{}' run '{}' --input '{}'", test::npuconvBinary(),
                                         (dir / "out/model.npub").string(), (dir / "x1.npy").string()),
                             nullptr, &err),
            2);
  EXPECT_EQ(run(Int8Isa::Scalar, 2), want);
  for (Int8Isa isa : kSimdIsas) {
    if (!device::int8IsaAvailable(isa)) {
      std::printf("%s: not on this CPU, skipped\n", std::string(device::int8IsaName(isa)).c_str());
      continue;
    }
    for (int threads : {1, 2}) EXPECT_EQ(run(isa, threads), want) << device::int8IsaName(isa) << ", " << threads << " threads";
  }
}

TEST(IntGemmInterpreter, UnavailableIsaIsAnError) {
  for (Int8Isa isa : kSimdIsas) {
    if (device::int8IsaAvailable(isa)) continue;
    device::Program p;
    device::InterpreterOptions o;
    o.isa = isa;
    auto interp = device::Interpreter::create(p, o);
    EXPECT_FALSE(interp.hasValue());
    return;
  }
  GTEST_SKIP() << "this CPU has every int8 ISA";
}

}  // namespace
}  // namespace npuconv
