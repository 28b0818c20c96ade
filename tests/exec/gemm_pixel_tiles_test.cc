// gemm_pixel_tiles_test.cc - sgemmPixelTiles (tiles of output positions x 32 channels, the
// channels along the vector lanes, transposed at the store; for 1x1 Convs on 7x7 maps) against
// sgemmPrepacked on the AVX-512 column tiles: the same K blocks summed from zero and added to the
// previous blocks' total, then bias, residual and activation, so the outputs must be bit-identical,
// at one and two threads. DISABLED_Timing measures pixelTilesPay's rule.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "converter/exec/kernels/gemm_f32.h"
#include "converter/exec/thread_pool.h"

namespace npuconv {
namespace {

using gemm::Act;
using gemm::Epilogue;
using gemm::Isa;

TEST(GemmPixelTiles, MatchesColumnTilesBitwise) {
  // N: a 7x7 map (49: three tiles of 14 and one of 7), 14 and 7 exactly, tails of 1, 6, 8 and 13
  // positions (a zero-padded copy of the tail); M: multiples of 32, a last panel of 16 or fewer
  // channels (one vector) and of 17-31; K: 1, one K block (192), just past it (193), several
  // (960: a project Conv of mobilenet_v2); B's row stride wider than N; bias or none, a residual,
  // every activation.
  if (!gemm::cpuHasAvx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
  struct Shape {
    int64_t M, N, K, ldbPad;
  };
  std::mt19937 rng(2026);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  ThreadPool pool(2);
  gemm::setIsa(Isa::Avx512);
  for (const Shape& sh : {Shape{160, 49, 960, 0}, Shape{960, 49, 160, 0}, Shape{40, 49, 193, 3}, Shape{17, 14, 192, 0},
                          Shape{64, 7, 64, 0}, Shape{48, 15, 1, 2}, Shape{33, 20, 27, 0}, Shape{96, 21, 400, 5},
                          Shape{8, 27, 33, 0}, Shape{320, 50, 96, 0}})
    for (Act act : {Act::None, Act::Relu, Act::Clip, Act::LeakyRelu, Act::HardSigmoid, Act::HardSwish, Act::Sigmoid,
                    Act::ClipHardSwish})
      for (int variant = 0; variant < 3; ++variant) {
        SCOPED_TRACE(std::to_string(sh.M) + "x" + std::to_string(sh.N) + "x" + std::to_string(sh.K) + " act " +
                     std::to_string(int(act)) + " variant " + std::to_string(variant));
        const int64_t ldb = sh.N + sh.ldbPad, ldc = sh.N + 5;
        std::vector<float> W(size_t(sh.M * sh.K)), B(size_t(sh.K * ldb)), bias(size_t(sh.M)), res(size_t(sh.M * sh.N));
        for (auto* v : {&W, &B, &bias, &res})
          for (float& x : *v) x = d(rng) * 4.0f;
        const gemm::PackedA pa = gemm::PackedA::pack(W.data(), sh.M, sh.K, sh.K);
        const gemm::PackedB pw = gemm::PackedB::packTransposed(W.data(), sh.K, sh.M, sh.K);
        Epilogue ep;
        ep.act = act;
        ep.p0 = -0.5f;
        ep.p1 = 0.75f;
        if (variant != 1) {  // variant 1: no bias (a trivial epilogue with act None)
          ep.bias = bias.data();
          ep.biasLen = sh.M;
        }
        if (variant == 2) {
          ep.residual = res.data();
          ep.ldr = sh.N;
        }
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
          std::vector<float> want(size_t(sh.M * ldc), -7.0f), got = want;
          gemm::sgemmPrepacked(p, pa, sh.N, B.data(), ldb, nullptr, want.data(), ldc, ep);
          gemm::sgemmPixelTiles(p, pw, sh.N, B.data(), ldb, got.data(), ldc, ep);
          size_t diff = 0;
          for (size_t i = 0; i < want.size(); ++i) diff += std::memcmp(&want[i], &got[i], sizeof(float)) != 0;
          EXPECT_EQ(diff, 0u) << (p ? "2 threads" : "1 thread");
        }
      }
  gemm::setIsa(Isa::Auto);
}

TEST(GemmPixelTiles, PaysOnlyOnPoorlyFilledColumnTiles) {
  if (!gemm::cpuHasAvx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
  gemm::setIsa(Isa::Avx512);
  EXPECT_TRUE(gemm::pixelTilesPay(960, 49));   // 7x7: 49 of 64 lanes
  EXPECT_TRUE(gemm::pixelTilesPay(576, 196));  // 14x14: 196 of 208
  EXPECT_FALSE(gemm::pixelTilesPay(40, 196));  // 40 channels: 40 of 48 lanes
  EXPECT_FALSE(gemm::pixelTilesPay(96, 64));
  EXPECT_FALSE(gemm::pixelTilesPay(144, 3136));
  gemm::setIsa(Isa::Avx2);
  EXPECT_FALSE(gemm::pixelTilesPay(960, 49));
  gemm::setIsa(Isa::Auto);
}

/// Time of both kernels (1 thread, Clip epilogue, best of 30 alternating rounds of 20 calls) on
/// the 1x1 Convs of mobilenet_v2 / v3_small's small maps:
/// --gtest_also_run_disabled_tests --gtest_filter='GemmPixelTiles.DISABLED_Timing'.
TEST(GemmPixelTiles, DISABLED_Timing) {
  if (!gemm::cpuHasAvx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
  gemm::setIsa(Isa::Avx512);
  struct Shape {
    int64_t M, N, K;
  };
  for (const Shape& sh : {Shape{960, 49, 160}, Shape{160, 49, 960}, Shape{320, 49, 960}, Shape{1280, 49, 320},
                          Shape{576, 49, 96}, Shape{96, 49, 576}, Shape{576, 196, 96}, Shape{96, 196, 576},
                          Shape{384, 196, 64}, Shape{64, 196, 384}, Shape{240, 196, 40}, Shape{40, 196, 240},
                          Shape{192, 784, 32}, Shape{32, 784, 192}, Shape{144, 784, 24}, Shape{144, 3136, 24}}) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    std::vector<float> W(size_t(sh.M * sh.K)), B(size_t(sh.K * sh.N)), C(size_t(sh.M * sh.N)), bias(size_t(sh.M));
    for (auto* v : {&W, &B, &bias})
      for (float& x : *v) x = d(rng);
    const gemm::PackedA pa = gemm::PackedA::pack(W.data(), sh.M, sh.K, sh.K);
    const gemm::PackedB pw = gemm::PackedB::packTransposed(W.data(), sh.K, sh.M, sh.K);
    Epilogue ep;
    ep.bias = bias.data();
    ep.act = Act::Clip;
    ep.p1 = 6.0f;
    double best[2] = {1e30, 1e30};
    for (int round = 0; round < 30; ++round)
      for (int which = 0; which < 2; ++which) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < 20; ++r) {
          if (which == 0)
            gemm::sgemmPrepacked(nullptr, pa, sh.N, B.data(), sh.N, nullptr, C.data(), sh.N, ep);
          else
            gemm::sgemmPixelTiles(nullptr, pw, sh.N, B.data(), sh.N, C.data(), sh.N, ep);
        }
        const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / 20;
        best[which] = std::min(best[which], us);
      }
    std::printf("M %4lld N %4lld K %4lld: column tiles %7.1f us, pixel tiles %7.1f us (%.2fx)%s\n", (long long)sh.M,
                (long long)sh.N, (long long)sh.K, best[0], best[1], best[0] / best[1],
                gemm::pixelTilesPay(sh.M, sh.N) ? "  [pixel tiles]" : "");
  }
  gemm::setIsa(Isa::Auto);
}

}  // namespace
}  // namespace npuconv
