// Quantization kernels against naive references written here: dequantize -> float math ->
// quantize with an explicit round-half-to-even, and integer loops in int64.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "converter/exec/executor.h"
#include "formats/onnx/onnx_reader.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

/// Round half to even, written without the FPU rounding mode.
double roundHalfEven(double v) {
  double f = std::floor(v), diff = v - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return std::fmod(f, 2.0) == 0.0 ? f : f + 1;
}

int64_t quantizeRef(double real, double scale, int64_t zp, int64_t lo, int64_t hi) {
  double q = roundHalfEven(real / scale) + double(zp);
  return static_cast<int64_t>(std::clamp(q, double(lo), double(hi)));
}

template <typename T>
Tensor tensorOf(DType dt, std::vector<int64_t> dims, const std::vector<T>& v) {
  return Tensor::fromValues<T>(dt, std::move(dims), std::span<const T>(v));
}

Status runModelStatus(const std::string& text, const NamedTensors& inputs) {
  Model m = test::parseModel(text);
  auto exec = Executor::create(m, ExecOptions{1});
  if (!exec) return exec.status();
  auto out = (*exec)->run(inputs);
  return out.status();
}

template <typename T>
std::vector<T> randomInts(std::mt19937& rng, size_t n, int lo, int hi) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(d(rng));
  return v;
}

TEST(QuantKernels, QuantizeLinearPerAxisRoundsHalfToEvenAndSaturates) {
  const char* text = R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3,2] x, float[3] s, int8[3] zp) => (int8[2,3,2] y) {
      y = QuantizeLinear<axis = 1>(x, s, zp)
    })";
  std::vector<float> x = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 300.f, -300.f, 0.75f, 0.25f, 3.f, -3.f};
  std::vector<float> s = {1.f, 0.5f, 2.f};
  std::vector<int8_t> zp = {0, 1, -3};
  auto out = test::runText(text, {{"x", tensorOf(DType::F32, {2, 3, 2}, x)},
                             {"s", tensorOf(DType::F32, {3}, s)},
                             {"zp", tensorOf(DType::I8, {3}, zp)}});
  ASSERT_EQ(out.count("y"), 1u);
  const Tensor& y = out.at("y");
  ASSERT_EQ(y.dtype(), DType::I8);
  for (int64_t i = 0; i < 12; ++i) {
    int64_t c = (i / 2) % 3;
    EXPECT_EQ(y.data<int8_t>()[i], quantizeRef(x[size_t(i)], s[size_t(c)], zp[size_t(c)], -128, 127)) << i;
  }
  // Spot checks of the rounding rule itself: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -2.5 -> -2.
  EXPECT_EQ(y.data<int8_t>()[0], 0);
  EXPECT_EQ(y.data<int8_t>()[1], 2);
  EXPECT_EQ(y.data<int8_t>()[2], 5 + 1);   // 2.5 / 0.5 = 5, + zp 1
  EXPECT_EQ(y.data<int8_t>()[6], 127);     // saturated
}

TEST(QuantKernels, QuantizeLinearDefaultsToUint8ZeroPointZero) {
  const char* text = R"(
    <ir_version: 8, opset_import: ["" : 10]>
    g (float[5] x, float s) => (uint8[5] y) {
      y = QuantizeLinear(x, s)
    })";
  std::vector<float> x = {-1.f, 0.f, 0.3f, 25.5f, 1000.f};
  auto out = test::runText(text, {{"x", tensorOf(DType::F32, {5}, x)},
                             {"s", tensorOf(DType::F32, {}, std::vector<float>{0.1f})}});
  const Tensor& y = out.at("y");
  ASSERT_EQ(y.dtype(), DType::U8);
  std::vector<int> want = {0, 0, 3, 255, 255};
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(y.data<uint8_t>()[i], want[i]) << i;
}

TEST(QuantKernels, DequantizeLinearPerAxisAndInt32) {
  const char* text = R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (uint8[2,3] x, float[2] s, uint8[2] zp, int32[4] b, float bs) => (float[2,3] y, float[4] yb) {
      y = DequantizeLinear<axis = 0>(x, s, zp)
      yb = DequantizeLinear(b, bs)
    })";
  std::vector<uint8_t> x = {0, 128, 255, 10, 20, 30};
  std::vector<float> s = {0.5f, 0.25f};
  std::vector<uint8_t> zp = {128, 20};
  std::vector<int32_t> b = {-100000, 0, 7, 2000000};
  auto out = test::runText(text, {{"x", tensorOf(DType::U8, {2, 3}, x)},
                             {"s", tensorOf(DType::F32, {2}, s)},
                             {"zp", tensorOf(DType::U8, {2}, zp)},
                             {"b", tensorOf(DType::I32, {4}, b)},
                             {"bs", tensorOf(DType::F32, {}, std::vector<float>{0.125f})}});
  const Tensor& y = out.at("y");
  for (int64_t i = 0; i < 6; ++i) {
    int64_t r = i / 3;
    EXPECT_FLOAT_EQ(y.data<float>()[i], (double(x[size_t(i)]) - zp[size_t(r)]) * s[size_t(r)]) << i;
  }
  const Tensor& yb = out.at("yb");
  for (size_t i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(yb.data<float>()[i], b[i] * 0.125) << i;
}

TEST(QuantKernels, DynamicQuantizeLinearMatchesFormula) {
  const char* text = R"(
    <ir_version: 8, opset_import: ["" : 11]>
    g (float[6] x) => (uint8[6] y, float s, uint8 zp) {
      y, s, zp = DynamicQuantizeLinear(x)
    })";
  std::vector<float> x = {-1.f, 2.f, 0.5f, 3.f, -0.25f, 1.f};
  auto out = test::runText(text, {{"x", tensorOf(DType::F32, {6}, x)}});
  // The spec computes the scale in float32; 2 / scale then lands just below the 127.5 tie.
  float scale = (3.f - -1.f) / 255.f;
  int64_t zp = static_cast<int64_t>(std::clamp(roundHalfEven(0 - (-1.0) / scale), 0.0, 255.0));
  EXPECT_NEAR(out.at("s").data<float>()[0], scale, 1e-7);
  EXPECT_EQ(out.at("zp").data<uint8_t>()[0], zp);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(out.at("y").data<uint8_t>()[i], quantizeRef(x[i], scale, zp, 0, 255)) << i;
}

TEST(QuantKernels, MatMulIntegerPerRowAndPerColumnZeroPoints) {
  const char* text = R"(
    <ir_version: 8, opset_import: ["" : 10]>
    g (uint8[2,3,5] a, int8[5,4] b, uint8[3] za, int8[4] zb) => (int32[2,3,4] y) {
      y = MatMulInteger(a, b, za, zb)
    })";
  std::mt19937 rng(7);
  auto a = randomInts<uint8_t>(rng, 30, 0, 255);
  auto b = randomInts<int8_t>(rng, 20, -128, 127);
  std::vector<uint8_t> za = {3, 128, 250};
  std::vector<int8_t> zb = {-1, 0, 5, -128};
  auto out = test::runText(text, {{"a", tensorOf(DType::U8, {2, 3, 5}, a)},
                             {"b", tensorOf(DType::I8, {5, 4}, b)},
                             {"za", tensorOf(DType::U8, {3}, za)},
                             {"zb", tensorOf(DType::I8, {4}, zb)}});
  const Tensor& y = out.at("y");
  ASSERT_EQ(y.dims(), (std::vector<int64_t>{2, 3, 4}));
  for (int bt = 0; bt < 2; ++bt)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) {
        int64_t acc = 0;
        for (int k = 0; k < 5; ++k)
          acc += (int64_t(a[size_t((bt * 3 + i) * 5 + k)]) - za[size_t(i)]) * (int64_t(b[size_t(k * 4 + j)]) - zb[size_t(j)]);
        EXPECT_EQ(y.data<int32_t>()[(bt * 3 + i) * 4 + j], acc);
      }
}

/// Direct 2-D convolution over already zero-point-corrected ints (int64), NCHW / MCkk.
std::vector<int64_t> convRef(const std::vector<int64_t>& x, const std::vector<int64_t>& w, int64_t n, int64_t c,
                             int64_t h, int64_t wd, int64_t m, int64_t kh, int64_t kw, int64_t group, int64_t sh,
                             int64_t sw, int64_t dh, int64_t dw, int64_t pt, int64_t pl, int64_t oh, int64_t ow) {
  std::vector<int64_t> y(size_t(n * m * oh * ow), 0);
  int64_t cg = c / group, mg = m / group;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < m; ++o) {
      int64_t g = o / mg;
      for (int64_t yy = 0; yy < oh; ++yy)
        for (int64_t xx = 0; xx < ow; ++xx) {
          int64_t acc = 0;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t ky = 0; ky < kh; ++ky)
              for (int64_t kx = 0; kx < kw; ++kx) {
                int64_t iy = yy * sh - pt + ky * dh, ix = xx * sw - pl + kx * dw;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                acc += x[size_t(((b * c + g * cg + ci) * h + iy) * wd + ix)] * w[size_t(((o * cg + ci) * kh + ky) * kw + kx)];
              }
          y[size_t(((b * m + o) * oh + yy) * ow + xx)] = acc;
        }
    }
  return y;
}

TEST(QuantKernels, ConvIntegerGroupsStridesDilationsPadsPerChannelZeroPoint) {
  // x [1,4,7,6], w [6,2,3,2], group 2, strides (2,1), dilations (1,2), pads (1,2,0,1).
  const char* text = R"(
    <ir_version: 8, opset_import: ["" : 10]>
    g (uint8[1,4,7,6] x, uint8[6,2,3,2] w, uint8 zx, uint8[6] zw) => (int32[1,6,3,7] y) {
      y = ConvInteger<group = 2, strides = [2, 1], dilations = [1, 2], pads = [1, 2, 0, 1]>(x, w, zx, zw)
    })";
  std::mt19937 rng(11);
  auto x = randomInts<uint8_t>(rng, 4 * 7 * 6, 0, 255);
  auto w = randomInts<uint8_t>(rng, 6 * 2 * 3 * 2, 0, 255);
  uint8_t zx = 100;
  std::vector<uint8_t> zw = {0, 1, 128, 255, 7, 77};
  auto out = test::runText(text, {{"x", tensorOf(DType::U8, {1, 4, 7, 6}, x)},
                             {"w", tensorOf(DType::U8, {6, 2, 3, 2}, w)},
                             {"zx", tensorOf(DType::U8, {}, std::vector<uint8_t>{zx})},
                             {"zw", tensorOf(DType::U8, {6}, zw)}});
  // out h = (7 + 1 + 0 - 3) / 2 + 1 = 3; out w = (6 + 2 + 1 - 3) / 1 + 1 = 7.
  std::vector<int64_t> xi(x.size()), wi(w.size());
  for (size_t i = 0; i < x.size(); ++i) xi[i] = int64_t(x[i]) - zx;
  for (size_t i = 0; i < w.size(); ++i) wi[i] = int64_t(w[i]) - zw[i / 12];
  auto want = convRef(xi, wi, 1, 4, 7, 6, 6, 3, 2, 2, 2, 1, 1, 2, 1, 2, 3, 7);
  const Tensor& y = out.at("y");
  ASSERT_EQ(y.dims(), (std::vector<int64_t>{1, 6, 3, 7}));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(y.data<int32_t>()[i], want[i]) << i;
}

TEST(QuantKernels, QLinearConvPerChannelMatchesDequantizedFloatConv) {
  // Power-of-two scales keep every float step exact, so results must match bit for bit,
  // ties included (round half to even).
  const char* text = R"(
    <ir_version: 8, opset_import: ["" : 10]>
    g (uint8[2,2,5,5] x, float xs, uint8 xz, int8[4,1,3,3] w, float[4] ws, int8[4] wz, float ys, uint8 yz,
       int32[4] b) => (uint8[2,4,3,3] y) {
      y = QLinearConv<group = 2, strides = [2, 2], auto_pad = "SAME_LOWER">(x, xs, xz, w, ws, wz, ys, yz, b)
    })";
  std::mt19937 rng(3);
  auto x = randomInts<uint8_t>(rng, 2 * 2 * 5 * 5, 0, 255);
  auto w = randomInts<int8_t>(rng, 4 * 9, -128, 127);
  std::vector<int32_t> b = {-5000, 0, 123, 40000};
  float xs = 0.5f, ys = 64.f;
  std::vector<float> ws = {0.25f, 0.125f, 1.f, 0.0625f};
  std::vector<int8_t> wz = {0, 0, 0, 0};
  uint8_t xz = 128, yz = 100;
  auto out = test::runText(text, {{"x", tensorOf(DType::U8, {2, 2, 5, 5}, x)},
                             {"xs", tensorOf(DType::F32, {}, std::vector<float>{xs})},
                             {"xz", tensorOf(DType::U8, {}, std::vector<uint8_t>{xz})},
                             {"w", tensorOf(DType::I8, {4, 1, 3, 3}, w)},
                             {"ws", tensorOf(DType::F32, {4}, ws)},
                             {"wz", tensorOf(DType::I8, {4}, wz)},
                             {"ys", tensorOf(DType::F32, {}, std::vector<float>{ys})},
                             {"yz", tensorOf(DType::U8, {}, std::vector<uint8_t>{yz})},
                             {"b", tensorOf(DType::I32, {4}, b)}});
  // SAME_LOWER, in 5, k 3, stride 2: out 3, total pad (3-1)*2+3-5 = 2, begin 1.
  const Tensor& y = out.at("y");
  ASSERT_EQ(y.dims(), (std::vector<int64_t>{2, 4, 3, 3}));
  int checkedTies = 0;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t m = 0; m < 4; ++m) {
      int64_t gi = m / 2;
      for (int64_t oy = 0; oy < 3; ++oy)
        for (int64_t ox = 0; ox < 3; ++ox) {
          double real = b[size_t(m)] * double(xs) * ws[size_t(m)];
          for (int64_t ky = 0; ky < 3; ++ky)
            for (int64_t kx = 0; kx < 3; ++kx) {
              int64_t iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx;
              if (iy < 0 || iy >= 5 || ix < 0 || ix >= 5) continue;
              double xr = (double(x[size_t(((n * 2 + gi) * 5 + iy) * 5 + ix)]) - xz) * xs;
              double wr = (double(w[size_t((m * 3 + ky) * 3 + kx)]) - wz[size_t(m)]) * ws[size_t(m)];
              real += xr * wr;
            }
          double q = real / ys;
          if (q - std::floor(q) == 0.5) ++checkedTies;
          int64_t want = quantizeRef(real, ys, yz, 0, 255);
          EXPECT_EQ(y.data<uint8_t>()[((n * 4 + m) * 3 + oy) * 3 + ox], want) << n << "," << m << "," << oy << "," << ox;
        }
    }
  RecordProperty("ties", checkedTies);
}

TEST(QuantKernels, QLinearMatMulPerColumnScaleAndBroadcast) {
  const char* text = R"(
    <ir_version: 8, opset_import: ["" : 10]>
    g (int8[2,3,4] a, float as, int8 az, int8[4,5] b, float[5] bs, int8 bz, float ys, int8 yz) => (int8[2,3,5] y) {
      y = QLinearMatMul(a, as, az, b, bs, bz, ys, yz)
    })";
  std::mt19937 rng(5);
  auto a = randomInts<int8_t>(rng, 24, -128, 127);
  auto b = randomInts<int8_t>(rng, 20, -128, 127);
  float as = 0.25f, ys = 8.f;
  std::vector<float> bs = {1.f, 0.5f, 0.125f, 2.f, 0.25f};
  int8_t az = -3, bz = 4, yz = -10;
  auto out = test::runText(text, {{"a", tensorOf(DType::I8, {2, 3, 4}, a)},
                             {"as", tensorOf(DType::F32, {}, std::vector<float>{as})},
                             {"az", tensorOf(DType::I8, {}, std::vector<int8_t>{az})},
                             {"b", tensorOf(DType::I8, {4, 5}, b)},
                             {"bs", tensorOf(DType::F32, {5}, bs)},
                             {"bz", tensorOf(DType::I8, {}, std::vector<int8_t>{bz})},
                             {"ys", tensorOf(DType::F32, {}, std::vector<float>{ys})},
                             {"yz", tensorOf(DType::I8, {}, std::vector<int8_t>{yz})}});
  const Tensor& y = out.at("y");
  ASSERT_EQ(y.dims(), (std::vector<int64_t>{2, 3, 5}));
  for (int bt = 0; bt < 2; ++bt)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 5; ++j) {
        double real = 0;
        for (int k = 0; k < 4; ++k)
          real += (double(a[size_t((bt * 3 + i) * 4 + k)]) - az) * as * (double(b[size_t(k * 5 + j)]) - bz) * bs[size_t(j)];
        EXPECT_EQ(y.data<int8_t>()[(bt * 3 + i) * 5 + j], quantizeRef(real, ys, yz, -128, 127));
      }
}

TEST(QuantKernels, QuantizeAndDequantizeBlocked) {
  // opset 21 block quantization: scale [2,2] for x [2,4] with block_size 2 on axis 1.
  const char* text = R"(
    <ir_version: 10, opset_import: ["" : 21]>
    g (float[2,4] x, float[2,2] s, int8[2,2] zp) => (int8[2,4] q, float[2,4] d) {
      q = QuantizeLinear<axis = 1, block_size = 2>(x, s, zp)
      d = DequantizeLinear<axis = 1, block_size = 2>(q, s, zp)
    })";
  std::vector<float> x = {1.f, -2.f, 3.f, 4.5f, 0.25f, 100.f, -7.f, 8.f};
  std::vector<float> s = {0.5f, 1.f, 0.25f, 2.f};
  std::vector<int8_t> zp = {1, -1, 0, 3};
  auto out = test::runText(text, {{"x", tensorOf(DType::F32, {2, 4}, x)},
                             {"s", tensorOf(DType::F32, {2, 2}, s)},
                             {"zp", tensorOf(DType::I8, {2, 2}, zp)}});
  for (size_t i = 0; i < 8; ++i) {
    size_t si = (i / 4) * 2 + (i % 4) / 2;
    int64_t q = quantizeRef(x[i], s[si], zp[si], -128, 127);
    EXPECT_EQ(out.at("q").data<int8_t>()[i], q) << i;
    EXPECT_FLOAT_EQ(out.at("d").data<float>()[i], float(q - zp[si]) * s[si]) << i;
  }
}

TEST(QuantKernels, MatMulIntegerVectorTimesBatchedMatrixWithPerBatchZeroPoints) {
  // 1-D A promotes to [1, K]; B [2, K, N] with per-batch, per-column zero points [2, 1, N].
  const char* text = R"(
    <ir_version: 8, opset_import: ["" : 10]>
    g (int8[3] a, uint8[2,3,4] b, uint8[2,1,4] zb) => (int32[2,4] y) {
      y = MatMulInteger(a, b, , zb)
    })";
  std::mt19937 rng(13);
  auto a = randomInts<int8_t>(rng, 3, -128, 127);
  auto b = randomInts<uint8_t>(rng, 24, 0, 255);
  auto zb = randomInts<uint8_t>(rng, 8, 0, 255);
  auto out = test::runText(text, {{"a", tensorOf(DType::I8, {3}, a)},
                             {"b", tensorOf(DType::U8, {2, 3, 4}, b)},
                             {"zb", tensorOf(DType::U8, {2, 1, 4}, zb)}});
  const Tensor& y = out.at("y");
  ASSERT_EQ(y.dims(), (std::vector<int64_t>{2, 4}));
  for (int bt = 0; bt < 2; ++bt)
    for (int j = 0; j < 4; ++j) {
      int64_t acc = 0;
      for (int k = 0; k < 3; ++k) acc += int64_t(a[size_t(k)]) * (int64_t(b[size_t((bt * 3 + k) * 4 + j)]) - zb[size_t(bt * 4 + j)]);
      EXPECT_EQ(y.data<int32_t>()[bt * 4 + j], acc);
    }
}

TEST(QuantKernels, BadPerAxisScaleIsAnErrorNamingTheNode) {
  const char* text = R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3] x, float[2] s) => (uint8[2,3] y) {
      y = QuantizeLinear<axis = 1>(x, s)
    })";
  Status st = runModelStatus(text, {{"x", tensorOf(DType::F32, {2, 3}, std::vector<float>(6, 1.f))},
                                    {"s", tensorOf(DType::F32, {2}, std::vector<float>{1.f, 1.f})}});
  EXPECT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("QuantizeLinear"), std::string::npos) << st.toString();
}

}  // namespace
}  // namespace npuconv
