// conv_c1_pool_test.cc - the fast paths of a CNN's Conv+Relu+MaxPool blocks against the general
// kernels they replace, bit for bit: maxPool2x2PlanesF32 (maxpool2x2_f32.h) against
// maxPoolPlaneF32 plane by plane (NaN, signed zeros, odd maps, rows of 1..40 outputs), and the
// single-input-channel Conv (conv_c1_f32.h) against convDirectF32, unpooled and with its pool
// against convDirectF32 + maxPoolPlaneF32, for kernels 1..7, paddings, activations, with and
// without bias, 1 and 3 threads. AVX-512 only (both fast paths decline without it).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "converter/exec/kernels/conv_c1_f32.h"
#include "converter/exec/kernels/conv_direct_f32.h"
#include "converter/exec/kernels/gemm_f32.h"
#include "converter/exec/kernels/maxpool2x2_f32.h"
#include "converter/exec/thread_pool.h"

namespace npuconv::nn {
namespace {

Geo3 geo2d(int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t s, int64_t pt, int64_t pl, int64_t pb, int64_t pr) {
  Geo3 g{};
  g.in[0] = g.out[0] = g.k[0] = g.s[0] = g.d[0] = 1;
  g.pb[0] = g.pe[0] = 0;
  g.in[1] = h;
  g.in[2] = w;
  g.k[1] = kh;
  g.k[2] = kw;
  g.s[1] = g.s[2] = s;
  g.d[1] = g.d[2] = 1;
  g.pb[1] = pt;
  g.pb[2] = pl;
  g.pe[1] = pb;
  g.pe[2] = pr;
  const int64_t sh = h + pt + pb - kh, sw = w + pl + pr - kw;  // no window fits: no output
  g.out[1] = sh < 0 ? 0 : sh / s + 1;
  g.out[2] = sw < 0 ? 0 : sw / s + 1;
  return g;
}

Geo3 pool2x2Of(int64_t h, int64_t w) { return geo2d(h, w, 2, 2, 2, 0, 0, 0, 0); }

bool haveAvx512() { return gemm::activeIsa() == gemm::Isa::Avx512; }

std::string bitsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0)
      return "element " + std::to_string(i) + ": " + std::to_string(a[i]) + " vs " + std::to_string(b[i]);
  return "";
}

TEST(MaxPool2x2Planes, BitIdenticalToMaxPoolPlaneF32) {
  if (!haveAvx512()) GTEST_SKIP() << "AVX-512 only";
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const int64_t sizes[][2] = {{2, 2}, {3, 3}, {4, 16}, {19, 8}, {38, 16}, {76, 32}, {9, 4}, {5, 17},
                              {6, 30}, {7, 33}, {4, 64}, {3, 81}, {2, 18}, {8, 2}, {1, 40}};
  for (const auto& hw : sizes) {
    const Geo3 g = pool2x2Of(hw[0], hw[1]);
    if (g.out[1] < 1 || g.out[2] < 1) continue;
    ASSERT_TRUE(maxPool2x2Applies(g));
    for (int64_t planes : {1, 2, 5}) {
      std::vector<float> x(size_t(planes * g.inSize()));
      for (float& v : x) {
        const int pick = int(rng() % 16);
        v = pick == 0 ? nan : pick == 1 ? 0.0f : pick == 2 ? -0.0f : u(rng);
      }
      std::vector<float> want(size_t(planes * g.outSize()), 7.f), got(want.size(), 9.f);
      for (int64_t p = 0; p < planes; ++p) maxPoolPlaneF32(x.data() + p * g.inSize(), want.data() + p * g.outSize(), g);
      maxPool2x2PlanesF32(x.data(), got.data(), planes, g);
      EXPECT_EQ(bitsDiff(got, want), "") << hw[0] << "x" << hw[1] << " planes " << planes;
    }
  }
}

TEST(MaxPool2x2Planes, DeclinesOtherGeometries) {
  if (!haveAvx512()) GTEST_SKIP() << "AVX-512 only";
  EXPECT_FALSE(maxPool2x2Applies(geo2d(8, 8, 3, 3, 2, 0, 0, 0, 0)));
  EXPECT_FALSE(maxPool2x2Applies(geo2d(8, 8, 2, 2, 1, 0, 0, 0, 0)));
  EXPECT_FALSE(maxPool2x2Applies(geo2d(8, 8, 2, 2, 2, 1, 1, 1, 1)));
  EXPECT_FALSE(maxPool2x2Applies(geo2d(8, 8, 2, 2, 2, 0, 0, 1, 1)));  // ceil-like end padding
  gemm::setIsa(gemm::Isa::Avx2);
  EXPECT_FALSE(maxPool2x2Applies(pool2x2Of(8, 8)));
  gemm::setIsa(gemm::Isa::Auto);
}

struct C1Case {
  int64_t n, m, h, w, kh, kw, pt, pl, pb, pr;
  gemm::Act act;
  bool bias;
};

gemm::Epilogue actOf(gemm::Act a) {
  gemm::Epilogue ep;
  ep.act = a;
  if (a == gemm::Act::Clip) {
    ep.p0 = -0.2f;
    ep.p1 = 0.6f;
  } else if (a == gemm::Act::LeakyRelu) {
    ep.p0 = 0.1f;
  }
  return ep;
}

void checkC1(const C1Case& k, int threads, bool pooled, uint32_t seed) {
  const Geo3 g = geo2d(k.h, k.w, k.kh, k.kw, 1, k.pt, k.pl, k.pb, k.pr);
  const Geo3 pg = pool2x2Of(g.out[1], g.out[2]);
  const std::string what = std::to_string(k.n) + "x1x" + std::to_string(k.h) + "x" + std::to_string(k.w) + " M" +
                           std::to_string(k.m) + " k" + std::to_string(k.kh) + "x" + std::to_string(k.kw) + " pads " +
                           std::to_string(k.pt) + std::to_string(k.pl) + std::to_string(k.pb) + std::to_string(k.pr) +
                           " act " + std::to_string(int(k.act)) + " bias " + std::to_string(k.bias) + " threads " +
                           std::to_string(threads) + (pooled ? " pooled" : "");
  if (pooled && (pg.out[1] < 1 || pg.out[2] < 1)) return;
  const gemm::Epilogue ep = actOf(k.act);
  ASSERT_TRUE(singleChannelConvApplies(g, 1, ep, pooled ? &pg : nullptr)) << what;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> x(size_t(k.n * g.inSize())), w(size_t(k.m * g.kSize())), b(size_t(k.m));
  for (auto* v : {&x, &w, &b})
    for (float& e : *v) e = u(rng);
  ThreadPool pool(threads);
  const float* bp = k.bias ? b.data() : nullptr;
  std::vector<float> conv(size_t(k.n * k.m * g.outSize()));
  convDirectF32(pool, x.data(), w.data(), bp, conv.data(), k.n, 1, k.m, g, ep);
  std::vector<float> want = conv;
  if (pooled) {
    want.assign(size_t(k.n * k.m * pg.outSize()), 0.f);
    for (int64_t p = 0; p < k.n * k.m; ++p) maxPoolPlaneF32(conv.data() + p * g.outSize(), want.data() + p * pg.outSize(), pg);
  }
  std::vector<float> got(want.size(), -5.f);
  convSingleChannelF32(pool, x.data(), w.data(), bp, got.data(), k.n, k.m, g, ep, pooled ? &pg : nullptr);
  EXPECT_EQ(bitsDiff(got, want), "") << what;
}

TEST(ConvSingleChannel, BitIdenticalToDirectKernelAndPool) {
  if (!haveAvx512()) GTEST_SKIP() << "AVX-512 only";
  const std::vector<C1Case> fixed = {
      {3, 32, 76, 32, 3, 3, 1, 1, 1, 1, gemm::Act::Relu, true},  // the NHWC CNN's first layer
      {2, 8, 19, 8, 3, 3, 1, 1, 1, 1, gemm::Act::Relu, true},
      {1, 9, 7, 45, 3, 3, 1, 1, 1, 1, gemm::Act::None, false},
      {2, 16, 10, 70, 5, 5, 2, 2, 2, 2, gemm::Act::Clip, true},
      {1, 12, 9, 9, 7, 7, 3, 3, 3, 3, gemm::Act::LeakyRelu, true},
      {2, 10, 6, 5, 3, 2, 0, 1, 1, 0, gemm::Act::HardSwish, true},
      {1, 8, 13, 33, 1, 1, 0, 0, 0, 0, gemm::Act::Sigmoid, false},
      {1, 8, 4, 3, 3, 3, 0, 0, 0, 0, gemm::Act::Relu, true},  // 2x1 output
      {2, 8, 5, 9, 3, 3, 3, 4, 2, 5, gemm::Act::None, true},  // pads wider than the kernel
      {1, 8, 3, 40, 2, 5, 1, 4, 0, 0, gemm::Act::Relu, true},  // 32-column block past the end
  };
  for (int threads : {1, 3})
    for (bool pooled : {false, true})
      for (size_t i = 0; i < fixed.size(); ++i) checkC1(fixed[i], threads, pooled, uint32_t(40 + i));
  std::mt19937 rng(99);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  const gemm::Act acts[] = {gemm::Act::None, gemm::Act::Relu, gemm::Act::Clip, gemm::Act::LeakyRelu};
  for (int it = 0; it < 40; ++it) {
    C1Case k{};
    k.n = pick(1, 3);
    k.m = pick(8, 40);
    k.kh = pick(1, 7);
    k.kw = pick(0, 2) ? k.kh : pick(1, 7);
    k.pt = pick(0, k.kh / 2);
    k.pb = pick(0, k.kh / 2);
    k.pl = pick(0, k.kw / 2);
    k.pr = pick(0, k.kw / 2);
    k.h = pick(k.kh, 30);
    k.w = pick(k.kw, 70);
    k.act = acts[pick(0, 3)];
    k.bias = pick(0, 3) != 0;
    checkC1(k, it % 2 ? 3 : 1, it % 3 != 0, uint32_t(200 + it));
  }
}

TEST(ConvSingleChannel, DeclinesWhatItDoesNotHandle) {
  if (!haveAvx512()) GTEST_SKIP() << "AVX-512 only";
  const Geo3 g = geo2d(20, 20, 3, 3, 1, 1, 1, 1, 1);
  EXPECT_TRUE(singleChannelConvApplies(g, 1, {}, nullptr));
  EXPECT_FALSE(singleChannelConvApplies(g, 2, {}, nullptr));
  EXPECT_FALSE(singleChannelConvApplies(geo2d(20, 20, 3, 3, 2, 1, 1, 1, 1), 1, {}, nullptr));
  EXPECT_FALSE(singleChannelConvApplies(geo2d(20, 20, 9, 9, 1, 1, 1, 1, 1), 1, {}, nullptr));
  gemm::Epilogue res;
  const float r = 0;
  res.residual = &r;
  EXPECT_FALSE(singleChannelConvApplies(g, 1, res, nullptr));
  const Geo3 pool3 = geo2d(20, 20, 3, 3, 2, 0, 0, 0, 0);
  EXPECT_FALSE(singleChannelConvApplies(g, 1, {}, &pool3));
  const Geo3 otherIn = pool2x2Of(18, 20);
  EXPECT_FALSE(singleChannelConvApplies(g, 1, {}, &otherIn));
  gemm::setIsa(gemm::Isa::Avx2);
  EXPECT_FALSE(singleChannelConvApplies(g, 1, {}, nullptr));
  gemm::setIsa(gemm::Isa::Auto);
}

}  // namespace
}  // namespace npuconv::nn
