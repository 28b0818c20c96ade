// gemm_b_in_place_test.cc - sgemmPrepacked reading a stored B's full panels in place (a 1x1
// Conv's activation, rows H*W apart) against the same GEMM with every panel packed: the
// microkernels make the same loads and FMAs in the same order either way, so the outputs must be
// bit-identical, on both ISAs, at one and two threads.
#include <gtest/gtest.h>

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

TEST(GemmBInPlace, MatchesPackedBBitwise) {
  // N not a multiple of either NR (16, 32), B's row stride wider than N (a band of rows inside
  // a map), K of 1, 27, one K block (192), just past it (193) and several (400: accumulation
  // across blocks), M below and above the in-place row limit (96) and not a multiple of MR;
  // bias per row, a residual, every activation.
  struct Shape {
    int64_t M, N, K, ldbPad;
  };
  std::vector<Isa> isas = {Isa::Avx2};
  if (gemm::cpuHasAvx512()) isas.push_back(Isa::Avx512);
  std::mt19937 rng(91);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  ThreadPool pool(2);
  for (Isa isa : isas)
    for (const Shape& sh : {Shape{16, 49, 96, 0}, Shape{24, 784, 16, 0}, Shape{96, 3136, 24, 0}, Shape{13, 45, 1, 3},
                            Shape{32, 333, 27, 56}, Shape{64, 100, 192, 7}, Shape{40, 71, 193, 0},
                            Shape{20, 196, 400, 12}, Shape{97, 130, 32, 0}, Shape{144, 96, 24, 5}})
      for (Act act : {Act::None, Act::Relu, Act::Clip, Act::HardSwish, Act::Sigmoid})
        for (int variant = 0; variant < 2; ++variant) {
          SCOPED_TRACE(std::string(isa == Isa::Avx2 ? "avx2 " : "avx512 ") + std::to_string(sh.M) + "x" +
                       std::to_string(sh.N) + "x" + std::to_string(sh.K) + " act " + std::to_string(int(act)) +
                       " variant " + std::to_string(variant));
          gemm::setIsa(isa);
          const int64_t ldb = sh.N + sh.ldbPad, ldc = sh.N + 5;
          std::vector<float> A(size_t(sh.M * sh.K)), B(size_t(sh.K * ldb)), bias(size_t(sh.M)), res(size_t(sh.M * sh.N));
          for (auto* v : {&A, &B, &bias, &res})
            for (float& x : *v) x = d(rng) * 4.0f;
          const gemm::PackedA pa = gemm::PackedA::pack(A.data(), sh.M, sh.K, sh.K);
          Epilogue ep;
          ep.act = act;
          ep.p0 = -0.5f;
          ep.p1 = 0.75f;
          ep.bias = bias.data();
          ep.biasLen = sh.M;
          if (variant == 1) {
            ep.residual = res.data();
            ep.ldr = sh.N;
          }
          for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
            std::vector<float> want(size_t(sh.M * ldc), -7.0f), got = want;
            gemm::setBInPlace(false);
            gemm::sgemmPrepacked(p, pa, sh.N, B.data(), ldb, nullptr, want.data(), ldc, ep);
            gemm::setBInPlace(true);
            gemm::sgemmPrepacked(p, pa, sh.N, B.data(), ldb, nullptr, got.data(), ldc, ep);
            size_t diff = 0;
            for (size_t i = 0; i < want.size(); ++i) diff += std::memcmp(&want[i], &got[i], sizeof(float)) != 0;
            EXPECT_EQ(diff, 0u) << (p ? "2 threads" : "1 thread");
          }
        }
  gemm::setBInPlace(true);
  gemm::setIsa(Isa::Auto);
}

}  // namespace
}  // namespace npuconv
