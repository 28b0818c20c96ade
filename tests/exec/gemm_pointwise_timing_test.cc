// gemm_pointwise_timing_test.cc - DISABLED_Timing: resnet50's pointwise (1x1) Convs on every
// float32 kernel that can run them (the column-tile GEMM with B read in place or packed, the pixel
// tiles, the direct kernel), 1 thread, best of alternating rounds, in GFLOP/s: the measurements
// behind the 1x1 dispatch rules (preferDirectConv, pixelTilesPay, the GEMM's blocking). Run with
// --gtest_also_run_disabled_tests --gtest_filter='GemmPointwise.DISABLED_Timing'
// (PW_TIMING_ONLY=substring of a shape name to run only those).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "converter/exec/kernels/conv_direct_f32.h"
#include "converter/exec/kernels/gemm_f32.h"
#include "converter/exec/thread_pool.h"

namespace npuconv {
namespace {

using gemm::Act;
using gemm::Epilogue;

nn::Geo3 pointwiseGeo(int64_t H, int64_t W) {
  return nn::Geo3{{1, H, W}, {1, H, W}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}};
}

TEST(GemmPointwise, DISABLED_Timing) {
  struct Shape {
    const char* name;
    int64_t M, H, W, K;
    bool res;
  };
  const std::vector<Shape> shapes = {
      {"L1 conv1 64->64 56", 64, 56, 56, 64, false},     {"L1 conv1 256->64 56", 64, 56, 56, 256, false},
      {"L1 conv3 64->256 56 res", 256, 56, 56, 64, true}, {"L1 down 64->256 56", 256, 56, 56, 64, false},
      {"L2.0 conv1 256->128 56", 128, 56, 56, 256, false}, {"L2 conv1 512->128 28", 128, 28, 28, 512, false},
      {"L2 conv3 128->512 28 res", 512, 28, 28, 128, true}, {"L3 conv1 1024->256 14", 256, 14, 14, 1024, false},
      {"L3 conv3 256->1024 14 res", 1024, 14, 14, 256, true}, {"L4 conv1 2048->512 7", 512, 7, 7, 2048, false},
      {"L4 conv3 512->2048 7 res", 2048, 7, 7, 512, true},
      // other models' 1x1 Convs with K >= 192 and at most 128 filters (the direct kernel's old rule)
      {"mnv2 192->32 28 res", 32, 28, 28, 192, true},      {"256->64 28", 64, 28, 28, 256, false},
      {"384->96 30x40", 96, 30, 40, 384, false},          {"480->96 60x80", 96, 60, 80, 480, false},
      {"200->32 3x24", 32, 3, 24, 200, false},            {"960->128 15x20", 128, 15, 20, 960, false},
  };
  const char* only = std::getenv("PW_TIMING_ONLY");
  ThreadPool pool(1);
  const bool cold = std::getenv("PW_TIMING_HOT") == nullptr;
  std::vector<float> flush(cold ? size_t(16) << 20 : 0);  // 64 MB: more than the L3
  for (const Shape& s : shapes) {
    if (only && !std::strstr(s.name, only)) continue;
    const int64_t N = s.H * s.W;
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    std::vector<float> W(size_t(s.M * s.K)), X(size_t(s.K * N)), Y(size_t(s.M * N)), R(size_t(s.M * N)),
        bias(size_t(s.M));
    for (auto* v : {&W, &X, &R, &bias})
      for (float& x : *v) x = d(rng);
    Epilogue ep;
    ep.bias = bias.data();
    ep.act = Act::Relu;
    if (s.res) {
      ep.residual = R.data();
      ep.ldr = N;
    }
    const gemm::PackedA pa = gemm::PackedA::pack(W.data(), s.M, s.K, s.K);
    const gemm::PackedB pw = gemm::PackedB::packTransposed(W.data(), s.K, s.M, s.K);
    const auto dw = nn::DirectConvWeights::pack(W.data(), s.M, s.K, 1);
    const nn::Geo3 g = pointwiseGeo(s.H, s.W);
    std::vector<std::pair<const char*, std::function<void()>>> sides = {
        {"gemm", [&] { gemm::sgemmPrepacked(&pool, pa, N, X.data(), N, nullptr, Y.data(), N, ep); }},
        {"gemm packedB",
         [&] {
           gemm::setBInPlace(false);
           gemm::sgemmPrepacked(&pool, pa, N, X.data(), N, nullptr, Y.data(), N, ep);
           gemm::setBInPlace(true);
         }},
        {"direct", [&] { nn::convDirectF32(pool, X.data(), W.data(), bias.data(), Y.data(), 1, s.K, s.M, g, ep, dw.get()); }},
    };
    if (gemm::cpuHasAvx512() && gemm::activeIsa() == gemm::Isa::Avx512 && N <= 784)
      sides.push_back({"pixel", [&] { gemm::sgemmPixelTiles(&pool, pw, N, X.data(), N, Y.data(), N, ep); }});
    const double flop = 2.0 * double(s.M) * double(N) * double(s.K);
    const int reps = std::max(3, int((cold ? 1e8 : 4e8) / flop));
    std::vector<double> best(sides.size(), 1e30);
    // Cold (as in a model run: the weights and the output buffer come from memory, the input
    // and the residual were just used by the previous layers): each call after evicting the
    // caches and reading X and the residual once; else back to back (PW_TIMING_HOT set).
    for (int round = 0; round < 7; ++round)
      for (size_t i = 0; i < sides.size(); ++i) {
        double sum = 0;
        for (int r = 0; r < reps; ++r) {
          if (cold) {
            for (size_t q = 0; q < flush.size(); q += 16) flush[q] += 1.0f;
            volatile float sink = 0;
            for (const auto* v : {&X, &R})
              for (size_t q = 0; q < v->size(); q += 16) sink = sink + (*v)[q];
          }
          const auto t0 = std::chrono::steady_clock::now();
          sides[i].second();
          sum += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        }
        best[i] = std::min(best[i], sum / reps);
      }
    std::printf("%-28s", s.name);
    for (size_t i = 0; i < sides.size(); ++i)
      std::printf("  %s %.3f ms (%.0f GF/s)", sides[i].first, best[i], flop / best[i] * 1e-6);
    std::printf("  prefer direct=%d pixel=%d\n", int(nn::preferDirectConv(g, 1, s.K, s.M)),
                int(gemm::pixelTilesPay(s.M, N)));
  }
}

}  // namespace
}  // namespace npuconv
