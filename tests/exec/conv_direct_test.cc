// conv_direct_test.cc - the direct float32 Conv kernel (conv_direct_f32.h) against the general
// im2col + GEMM kernel (Im2colF32 + sgemmPackedB, what nn_conv.cc runs otherwise) and a naive
// double-precision reference, on random shapes: strides 1/2/3, asymmetric padding, dilation,
// odd channel counts, kernels 1/3/5/7, 1-D, batch > 1, fused activations and residuals, both
// microkernels, 1 and 3 threads. Also: bit-identical results for any thread count, and the
// executor routing a Conv+Relu to it. DISABLED_Timing measures the rule of preferDirectConv.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "converter/exec/kernels/conv_direct_f32.h"
#include "converter/exec/kernels/gemm_f32.h"
#include "converter/exec/kernels/im2col_f32.h"
#include "converter/exec/thread_pool.h"
#include "tests/support/test_util.h"

namespace npuconv::nn {
namespace {

struct DirectCase {
  int64_t n, c, m, h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
  gemm::Act act = gemm::Act::None;
  bool residual = false, bias = true;
};

Geo3 geoOf(const DirectCase& k) {
  Window w;
  w.in = {k.h, k.w};
  w.kernel = {k.kh, k.kw};
  w.stride = {k.sh, k.sw};
  w.dilation = {k.dh, k.dw};
  w.padBegin = {k.pt, k.pl};
  w.padEnd = {k.pb, k.pr};
  w.out = {(k.h + k.pt + k.pb - (k.kh - 1) * k.dh - 1) / k.sh + 1, (k.w + k.pl + k.pr - (k.kw - 1) * k.dw - 1) / k.sw + 1};
  return toGeo3(w);
}

gemm::Epilogue epilogueOf(const DirectCase& k, const std::vector<float>& res) {
  gemm::Epilogue ep;
  ep.act = k.act;
  if (k.act == gemm::Act::Clip) {
    ep.p0 = 0.0f;
    ep.p1 = 6.0f;
  } else if (k.act == gemm::Act::LeakyRelu) {
    ep.p0 = 0.1f;
  } else if (k.act == gemm::Act::HardSigmoid) {
    ep.p0 = 0.2f;
    ep.p1 = 0.5f;
  }
  if (k.residual) ep.residual = res.data();
  return ep;
}

/// The general float32 path: per image one GEMM over the im2col matrix, epilogue fused.
void generalConv(ThreadPool& pool, const std::vector<float>& x, const std::vector<float>& w, const float* b,
                 std::vector<float>& y, const DirectCase& k, const Geo3& g, const gemm::Epilogue& act,
                 const gemm::PackedA* pa = nullptr) {
  const int64_t inSp = g.inSize(), outSp = g.outSize(), K = k.c * g.kSize();
  if (k.n > 1 && outSp < 1024) {
    // nn_conv.cc's batched form for small maps: one GEMM over (image, position) columns into a
    // [M, N * outSp] buffer, scattered to [N, M, outSp] with the residual and activation.
    const int64_t cols = k.n * outSp;
    std::vector<float> tmp(size_t(k.m * cols));
    gemm::Epilogue ep;
    ep.bias = b;
    ep.biasPerRow = true;
    if (!act.residual) {
      ep.act = act.act;
      ep.p0 = act.p0;
      ep.p1 = act.p1;
    }
    Im2colF32 im2col(pool, x.data(), k.c, g, k.n);
    const gemm::BPacker bp = im2col.packer();
    if (pa)
      gemm::sgemmPrepacked(&pool, *pa, cols, nullptr, cols, &bp, tmp.data(), cols, ep);
    else
      gemm::sgemmPackedB(&pool, k.m, cols, K, w.data(), K, bp, tmp.data(), cols, ep);
    for (int64_t r = 0; r < k.n * k.m; ++r) {
      const int64_t n = r / k.m, m = r % k.m;
      std::memcpy(y.data() + r * outSp, tmp.data() + m * cols + n * outSp, size_t(outSp) * sizeof(float));
      if (act.residual) gemm::applyEpilogue(y.data() + r * outSp, outSp, 0.0f, act, act.residual + r * outSp);
    }
    return;
  }
  for (int64_t n = 0; n < k.n; ++n) {
    gemm::Epilogue ep = act;
    ep.bias = b;
    ep.biasPerRow = true;
    if (act.residual) {
      ep.residual = act.residual + n * k.m * outSp;
      ep.ldr = outSp;
    }
    Im2colF32 im2col(pool, x.data() + n * k.c * inSp, k.c, g);
    const gemm::BPacker bp = im2col.packer();
    if (pa)
      gemm::sgemmPrepacked(&pool, *pa, outSp, nullptr, outSp, &bp, y.data() + n * k.m * outSp, outSp, ep);
    else
      gemm::sgemmPackedB(&pool, k.m, outSp, K, w.data(), K, bp, y.data() + n * k.m * outSp, outSp, ep);
  }
}

struct Data {
  std::vector<float> x, w, b, res;
};

Data makeData(const DirectCase& k, const Geo3& g, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  Data d;
  d.x.resize(size_t(k.n * k.c * g.inSize()));
  d.w.resize(size_t(k.m * k.c * g.kSize()));
  d.b.resize(size_t(k.m));
  d.res.resize(size_t(k.n * k.m * g.outSize()));
  for (auto* v : {&d.x, &d.w, &d.b, &d.res})
    for (auto& e : *v) e = u(rng);
  return d;
}

std::string describe(const DirectCase& k) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "N%lld C%lld M%lld %lldx%lld k%lldx%lld s%lldx%lld d%lldx%lld p%lld,%lld,%lld,%lld act%d res%d",
                (long long)k.n, (long long)k.c, (long long)k.m, (long long)k.h, (long long)k.w, (long long)k.kh,
                (long long)k.kw, (long long)k.sh, (long long)k.sw, (long long)k.dh, (long long)k.dw, (long long)k.pt,
                (long long)k.pl, (long long)k.pb, (long long)k.pr, int(k.act), int(k.residual));
  return buf;
}

void check(const DirectCase& k, int threads, uint32_t seed) {
  const Geo3 g = geoOf(k);
  ASSERT_TRUE(directConvSupported(g, k.n, k.c, k.m)) << describe(k);
  Data d = makeData(k, g, seed);
  const gemm::Epilogue ep = epilogueOf(k, d.res);
  ThreadPool pool(threads);
  const size_t outN = size_t(k.n * k.m * g.outSize());
  std::vector<float> got(outN, -7.0f), ref(outN, -9.0f);
  const float* b = k.bias ? d.b.data() : nullptr;
  // With more than one thread the weights come prepacked (as from the executor's node cache).
  const auto dw = DirectConvWeights::pack(d.w.data(), k.m, k.c, g.kSize());
  convDirectF32(pool, d.x.data(), d.w.data(), b, got.data(), k.n, k.c, k.m, g, ep, threads > 1 ? dw.get() : nullptr);
  generalConv(pool, d.x, d.w, b, ref, k, g, ep);
  // Both sum K = C * KH * KW products of values in [-1, 1] in float32, in different orders (and
  // FMA groupings): bound by K * eps * sum |terms| ~ K * 1.2e-7 * K; the activations are
  // 1-Lipschitz or scale by < 1 (the HardSwish family, up to ~2 near 3).
  const double K = double(k.c * g.kSize());
  const double tol = 4.0 * 1.2e-7 * K * std::sqrt(K) + 1e-6;
  double worst = 0;
  for (size_t i = 0; i < outN; ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << describe(k) << " at " << i;
    worst = std::max(worst, std::fabs(double(got[i]) - double(ref[i])));
  }
  EXPECT_LE(worst, tol) << describe(k) << " threads " << threads;
}

TEST(ConvDirect, MatchesGeneralKernelOnFixedShapes) {
  const std::vector<DirectCase> cases = {
      // the suite's shapes: stems, small-K pointwise, the NHWC CNN, small maps
      {1, 3, 32, 33, 31, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, gemm::Act::Clip},
      {1, 3, 16, 30, 30, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, gemm::Act::HardSwish},
      {2, 1, 32, 19, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu},
      {3, 32, 64, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu},
      {1, 16, 96, 14, 14, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, gemm::Act::Clip},
      {1, 24, 24, 11, 13, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, gemm::Act::None, true},
      // odd channel counts, tails of both tile dimensions
      {1, 5, 7, 9, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
      {2, 7, 33, 10, 9, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, gemm::Act::LeakyRelu},
      {1, 9, 17, 13, 17, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, gemm::Act::HardSigmoid},
      {1, 11, 49, 12, 12, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, gemm::Act::ClipHardSwish, true},
      // asymmetric padding, strides 3 and mixed, dilation 3, no bias
      {2, 6, 20, 15, 14, 3, 5, 2, 3, 1, 1, 0, 2, 1, 0, gemm::Act::Relu, true, false},
      {1, 4, 12, 17, 17, 3, 3, 1, 1, 3, 3, 3, 3, 3, 3},
      {1, 8, 40, 20, 18, 3, 3, 2, 1, 2, 1, 1, 0, 2, 1, gemm::Act::Sigmoid},
      // 1-D (H = 1) and a 1x1 output
      {3, 10, 21, 1, 50, 1, 5, 1, 2, 1, 1, 0, 2, 0, 2, gemm::Act::Relu},
      {1, 13, 19, 3, 3, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, gemm::Act::None, true},
  };
  for (gemm::Isa isa : {gemm::Isa::Avx2, gemm::Isa::Avx512}) {
    gemm::setIsa(isa);
    for (int threads : {1, 3})
      for (size_t i = 0; i < cases.size(); ++i) check(cases[i], threads, uint32_t(11 + i));
  }
  gemm::setIsa(gemm::Isa::Auto);
}

TEST(ConvDirect, MatchesGeneralKernelOnRandomShapes) {
  std::mt19937 rng(1234);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  const int64_t ks[] = {1, 3, 5, 7};
  const gemm::Act acts[] = {gemm::Act::None, gemm::Act::Relu, gemm::Act::Clip, gemm::Act::HardSwish,
                            gemm::Act::ClipHardSwish, gemm::Act::LeakyRelu};
  for (int it = 0; it < 60; ++it) {
    DirectCase k{};
    k.n = pick(1, 3);
    k.c = pick(1, 40);
    k.m = pick(1, 70);
    k.kh = ks[pick(0, 3)];
    k.kw = pick(0, 3) == 0 ? ks[pick(0, 3)] : k.kh;
    k.sh = pick(1, 2);
    k.sw = pick(0, 4) == 0 ? pick(1, 3) : k.sh;
    k.dh = pick(0, 4) == 0 ? 2 : 1;
    k.dw = k.dh;
    k.pt = pick(0, k.kh / 2 + 1);
    k.pb = pick(0, k.kh / 2);
    k.pl = pick(0, k.kw / 2);
    k.pr = pick(0, k.kw / 2 + 1);
    k.h = std::max<int64_t>(pick(1, 24), (k.kh - 1) * k.dh + 1);
    k.w = std::max<int64_t>(pick(1, 30), (k.kw - 1) * k.dw + 1);
    k.act = acts[pick(0, 5)];
    k.residual = pick(0, 3) == 0;
    k.bias = pick(0, 4) != 0;
    gemm::setIsa(it % 3 == 0 ? gemm::Isa::Avx2 : gemm::Isa::Auto);
    check(k, it % 2 ? 2 : 1, uint32_t(100 + it));
  }
  gemm::setIsa(gemm::Isa::Auto);
}

TEST(ConvDirect, AgreesWithDoubleReference) {
  const DirectCase k{2, 5, 9, 7, 8, 3, 3, 2, 1, 1, 2, 1, 2, 0, 1, gemm::Act::None, false, true};
  const Geo3 g = geoOf(k);
  Data d = makeData(k, g, 5);
  ThreadPool pool(1);
  std::vector<float> got(size_t(k.n * k.m * g.outSize()));
  convDirectF32(pool, d.x.data(), d.w.data(), d.b.data(), got.data(), k.n, k.c, k.m, g, {});
  const int64_t OH = g.out[1], OW = g.out[2];
  size_t at = 0;
  for (int64_t n = 0; n < k.n; ++n)
    for (int64_t m = 0; m < k.m; ++m)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow, ++at) {
          double acc = 0;
          for (int64_t c = 0; c < k.c; ++c)
            for (int64_t a = 0; a < k.kh; ++a)
              for (int64_t e = 0; e < k.kw; ++e) {
                const int64_t ih = oh * k.sh - k.pt + a * k.dh, iw = ow * k.sw - k.pl + e * k.dw;
                if (ih < 0 || ih >= k.h || iw < 0 || iw >= k.w) continue;
                acc += double(d.x[size_t(((n * k.c + c) * k.h + ih) * k.w + iw)]) *
                       double(d.w[size_t(((m * k.c + c) * k.kh + a) * k.kw + e)]);
              }
          acc += d.b[size_t(m)];
          ASSERT_NEAR(got[at], acc, 2e-5) << n << " " << m << " " << oh << " " << ow;
        }
}

TEST(ConvDirect, BitIdenticalForAnyThreadCount) {
  // Many tiles (split over positions) and a 5x5 map with 100 filters (split over panels too).
  for (const DirectCase& k : {DirectCase{2, 12, 45, 21, 19, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu, true},
                        DirectCase{1, 20, 100, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Clip, false}}) {
    const Geo3 g = geoOf(k);
    Data d = makeData(k, g, 9);
    const gemm::Epilogue ep = epilogueOf(k, d.res);
    std::vector<float> first;
    for (int threads : {1, 2, 4}) {
      ThreadPool pool(threads);
      std::vector<float> y(size_t(k.n * k.m * g.outSize()));
      convDirectF32(pool, d.x.data(), d.w.data(), d.b.data(), y.data(), k.n, k.c, k.m, g, ep);
      if (first.empty())
        first = y;
      else
        EXPECT_EQ(0, std::memcmp(first.data(), y.data(), y.size() * sizeof(float))) << threads << " threads";
    }
  }
}

TEST(ConvDirect, Avx512PathsBitIdenticalToAvx2Kernel) {
  // Both microkernels sum each output in the documented order (one FMA chain over (kh, kw, c)
  // from zero, then + bias, then the activation), so the AVX-512 path with its own input pack
  // (channels in blocks of 16) and tile epilogue (bias, Relu and the transpose in registers) must
  // give the AVX2 path's bits: channel counts that are and are not multiples of 16, padding on
  // every side, strides, dilation, the cut of rows and columns no output reads, small maps,
  // Relu, none, another activation, a residual, a half panel (M <= 16), several images.
  if (!gemm::cpuHasAvx512()) GTEST_SKIP() << "needs AVX-512";
  const std::vector<DirectCase> cases = {
      {3, 32, 64, 38, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu},
      {2, 64, 128, 19, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu},
      {2, 128, 128, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu},
      {1, 16, 40, 13, 11, 3, 3, 2, 2, 1, 1, 0, 1, 2, 0, gemm::Act::None},
      {2, 48, 16, 10, 9, 5, 3, 1, 2, 2, 1, 3, 0, 0, 2, gemm::Act::Relu, true},
      {1, 32, 33, 12, 17, 3, 3, 3, 2, 1, 1, 1, 1, 1, 1, gemm::Act::Clip},
      {1, 16, 8, 7, 30, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, gemm::Act::Relu},
      {1, 64, 64, 2, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu, false, false},
      {2, 20, 36, 11, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu},
      {1, 32, 24, 25, 7, 7, 3, 2, 1, 1, 1, 3, 1, 0, 1, gemm::Act::LeakyRelu},
      // wide maps: the pack splits the rows into bands (8 and 7 rows here)
      {1, 16, 8, 60, 120, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu},
      {2, 32, 20, 41, 139, 3, 3, 2, 2, 1, 1, 0, 1, 1, 0, gemm::Act::None, true},
  };
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const DirectCase& k = cases[ci];
    const Geo3 g = geoOf(k);
    Data d = makeData(k, g, uint32_t(300 + ci));
    const gemm::Epilogue ep = epilogueOf(k, d.res);
    const float* b = k.bias ? d.b.data() : nullptr;
    std::vector<float> y[2];
    for (int which = 0; which < 2; ++which) {
      gemm::setIsa(which ? gemm::Isa::Avx512 : gemm::Isa::Avx2);
      for (int threads : {1, 2}) {
        ThreadPool pool(threads);
        std::vector<float> out(size_t(k.n * k.m * g.outSize()), -3.0f);
        convDirectF32(pool, d.x.data(), d.w.data(), b, out.data(), k.n, k.c, k.m, g, ep);
        if (y[which].empty())
          y[which] = out;
        else
          EXPECT_EQ(0, std::memcmp(out.data(), y[which].data(), out.size() * sizeof(float))) << describe(k);
      }
    }
    gemm::setIsa(gemm::Isa::Auto);
    ASSERT_EQ(y[0].size(), y[1].size());
    EXPECT_EQ(0, std::memcmp(y[0].data(), y[1].data(), y[0].size() * sizeof(float))) << describe(k);
  }
}

std::string listText(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::string valuesText(const std::vector<float>& v) {
  std::string s = "{";
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.9g", i ? ", " : "", double(v[i]));
    s += buf;
  }
  return s + "}";
}

/// Y = Relu(Conv(X, W, B) + R) through the executor (which fuses the Add and the Relu into the
/// Conv's epilogue), W an initializer (prepacked in the node cache) or a graph input.
std::vector<float> runConvAddRelu(const DirectCase& k, const Geo3& g, const Data& d, bool constW, int threads,
                                  bool switchIsa) {
  const std::vector<int64_t> xd = {k.n, k.c, k.h, k.w}, wd = {k.m, k.c, k.kh, k.kw},
                             yd = {k.n, k.m, g.out[1], g.out[2]};
  std::string text = "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float" + listText(xd) + " X, float" + listText(yd) +
                     " R" + (constW ? "" : ", float" + listText(wd) + " W") + ") => (float" + listText(yd) + " Y) <";
  if (constW) text += "float" + listText(wd) + " W = " + valuesText(d.w) + ", ";
  text += "float" + listText({k.m}) + " B = " + valuesText(d.b) + "> {\n";
  text += "  C = Conv <strides = " + listText({k.sh, k.sw}) + ", dilations = " + listText({k.dh, k.dw}) +
          ", pads = " + listText({k.pt, k.pl, k.pb, k.pr}) + "> (X, W, B)\n  S = Add (C, R)\n  Y = Relu (S)\n}\n";
  auto runner = test::runnerFor(text, threads);
  NamedTensors feeds;
  feeds["X"] = Tensor::fromValues<float>(DType::F32, xd, std::span<const float>(d.x));
  feeds["R"] = Tensor::fromValues<float>(DType::F32, yd, std::span<const float>(d.res));
  if (!constW) feeds["W"] = Tensor::fromValues<float>(DType::F32, wd, std::span<const float>(d.w));
  NamedTensors out = runner->run(feeds);
  if (switchIsa && gemm::cpuHasAvx512()) {
    gemm::setIsa(gemm::activeIsa() == gemm::Isa::Avx2 ? gemm::Isa::Avx512 : gemm::Isa::Avx2);
    out = runner->run(feeds);  // packs again for the other microkernel
  }
  if (!out.count("Y")) return {};
  const Tensor& y = out.at("Y");
  return std::vector<float>(y.data<float>(), y.data<float>() + y.numElements());
}

TEST(ConvDirect, ExecutorFusedConvAddReluPrepackedOrNot) {
  const DirectCase k{2, 9, 37, 11, 10, 3, 3, 1, 2, 1, 1, 1, 1, 1, 0, gemm::Act::Relu, true};
  const Geo3 g = geoOf(k);
  if (gemm::activeIsa() != gemm::Isa::Avx512) GTEST_SKIP() << "the executor runs the direct kernel with AVX-512 only";
  ASSERT_TRUE(preferDirectConv(g, k.n, k.c, k.m));
  Data d = makeData(k, g, 21);
  // Reference: the kernel called directly with the same epilogue.
  ThreadPool pool(1);
  std::vector<float> want(size_t(k.n * k.m * g.outSize()));
  convDirectF32(pool, d.x.data(), d.w.data(), d.b.data(), want.data(), k.n, k.c, k.m, g, epilogueOf(k, d.res));
  for (int threads : {1, 2})
    for (bool constW : {false, true})
      for (bool sw : {false, true}) {
        std::vector<float> got = runConvAddRelu(k, g, d, constW, threads, sw);
        const gemm::Isa isa = gemm::activeIsa();
        gemm::setIsa(gemm::Isa::Auto);
        ASSERT_EQ(got.size(), want.size());
        if (!sw || isa == gemm::activeIsa()) {
          EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * sizeof(float)))
              << "threads " << threads << " const " << constW;
        } else {
          for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4) << i;
        }
      }
}

/// Times the direct kernel against the general one on the suite's Conv shapes (1 thread, best
/// of alternating rounds): run with --gtest_also_run_disabled_tests
/// --gtest_filter='ConvDirect.DISABLED_Timing' to re-derive preferDirectConv's rule.
TEST(ConvDirect, DISABLED_Timing) {
  struct Named {
    const char* name;
    DirectCase k;
  };
  const std::vector<Named> shapes = {
      {"nhwc conv0 1->32 76x32 b41", {41, 1, 32, 76, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu}},
      {"nhwc conv1 32->64 38x16 b41", {41, 32, 64, 38, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu}},
      {"nhwc conv2 64->128 19x8 b41", {41, 64, 128, 19, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu}},
      {"nhwc conv3 128->128 9x4 b41", {41, 128, 128, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu}},
      {"mnv2 stem 3->32 224 s2", {1, 3, 32, 224, 224, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, gemm::Act::Clip}},
      {"mnv3 stem 3->16 224 s2", {1, 3, 16, 224, 224, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, gemm::Act::HardSwish}},
      {"pw 16->96 112", {1, 16, 96, 112, 112, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, gemm::Act::Clip}},
      {"pw 32->16 112", {1, 32, 16, 112, 112, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}},
      {"pw 24->144 56", {1, 24, 144, 56, 56, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, gemm::Act::Clip}},
      {"pw 144->24 56 res", {1, 144, 24, 56, 56, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, gemm::Act::None, true}},
      {"pw 32->192 28", {1, 32, 192, 28, 28, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, gemm::Act::Clip}},
      {"pw 192->64 14", {1, 192, 64, 14, 14, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}},
      {"pw 320->1280 7", {1, 320, 1280, 7, 7, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, gemm::Act::Clip}},
      {"pw 960->160 7", {1, 960, 160, 7, 7, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}},
      {"pw 16->72 56 v3", {1, 16, 72, 56, 56, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, gemm::Act::Relu}},
      {"r50 stem 3->64 224 k7 s2", {1, 3, 64, 224, 224, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, gemm::Act::Relu}},
      {"r50 3x3 64->64 56", {1, 64, 64, 56, 56, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu}},
      {"r50 3x3 128->128 28", {1, 128, 128, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu}},
      {"r50 3x3 256->256 14", {1, 256, 256, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu}},
      {"r50 3x3 512->512 7", {1, 512, 512, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu}},
      {"r50 pw 64->256 56", {1, 64, 256, 56, 56, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, gemm::Act::None, true}},
      {"r50 pw 1024->256 14", {1, 1024, 256, 14, 14, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, gemm::Act::Relu}},
      {"3x3 8->32 112", {1, 8, 32, 112, 112, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu}},
      {"5x5 4->24 56", {1, 4, 24, 56, 56, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, gemm::Act::Relu}},
      {"3x3 16->16 56", {1, 16, 16, 56, 56, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu}},
      {"3x3 s2 32->64 56", {1, 32, 64, 56, 56, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, gemm::Act::Relu}},
      {"3x3 160->160 14", {1, 160, 160, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu}},
      {"3x3 192->192 7", {1, 192, 192, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu}},
      {"1x1 s2 256->512 28 (r50 down)", {1, 256, 512, 56, 56, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0}},
      {"pw 384->64 14", {1, 384, 64, 14, 14, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, gemm::Act::None, true}},
      {"pw 96->576 14", {1, 96, 576, 14, 14, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, gemm::Act::Clip}},
      {"pw 576->96 14", {1, 576, 96, 14, 14, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}},
      {"pw 160->960 7", {1, 160, 960, 7, 7, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, gemm::Act::Clip}},
      {"pw 256->64 28", {1, 256, 64, 28, 28, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}},
      {"pw 512->128 28", {1, 512, 128, 28, 28, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, gemm::Act::Relu}},
      {"pw 2048->512 7", {1, 2048, 512, 7, 7, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, gemm::Act::Relu}},
      {"pw SE 200->50 1x1 map", {1, 200, 50, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, gemm::Act::Relu}},
      {"pw 200->32 2x6 map", {1, 200, 32, 2, 6, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}},
      {"pw 200->32 3x24 map", {1, 200, 32, 3, 24, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}},
      {"3x3 64->64 2x3 map", {1, 64, 64, 2, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu}},
      {"stft 1-D 1->257 k512 s160", {1, 1, 257, 1, 64000, 1, 512, 1, 160, 1, 1, 0, 0, 0, 0}},
      {"3x3 2->32 112", {1, 2, 32, 112, 112, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, gemm::Act::Relu}},
      {"det 3x3 s2 3->16 480x640", {1, 3, 16, 480, 640, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, gemm::Act::ClipHardSwish}},
      {"det 3x3 96->24 120x160", {1, 96, 24, 120, 160, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}},
      {"det 3x3 24->6 120x160", {1, 24, 6, 120, 160, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}},
  };
  ThreadPool pool(1);
  const char* only = std::getenv("CONV_TIMING_ONLY");  // a substring of the shape names to run
  for (const Named& s : shapes) {
    if (only && !std::strstr(s.name, only)) continue;
    const DirectCase& k = s.k;
    const Geo3 g = geoOf(k);
    Data d = makeData(k, g, 3);
    const gemm::Epilogue ep = epilogueOf(k, d.res);
    std::vector<float> y(size_t(k.n * k.m * g.outSize()));
    const double macs = double(k.n * k.m * g.outSize()) * double(k.c * g.kSize());
    const int reps = std::max(1, int(4e8 / macs));
    // Both sides with their weights packed once, as the executor does for constant weights.
    const gemm::PackedA pa = gemm::PackedA::pack(d.w.data(), k.m, k.c * g.kSize(), k.c * g.kSize());
    const auto dw = DirectConvWeights::pack(d.w.data(), k.m, k.c, g.kSize());
    double best[2] = {1e30, 1e30};
    for (int round = 0; round < 7; ++round)
      for (int which = 0; which < 2; ++which) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < reps; ++r) {
          if (which == 0)
            generalConv(pool, d.x, d.w, d.b.data(), y, k, g, ep, &pa);
          else
            convDirectF32(pool, d.x.data(), d.w.data(), d.b.data(), y.data(), k.n, k.c, k.m, g, ep, dw.get());
        }
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
        best[which] = std::min(best[which], ms);
      }
    std::printf("%-30s K=%5lld M=%4lld sp=%6lld  gemm %8.3f ms  direct %8.3f ms  direct/gemm %.2f  prefer=%d\n", s.name,
                (long long)(k.c * g.kSize()), (long long)k.m, (long long)g.outSize(), best[0], best[1],
                best[1] / best[0], int(preferDirectConv(g, k.n, k.c, k.m)));
  }
}

}  // namespace
}  // namespace npuconv::nn
