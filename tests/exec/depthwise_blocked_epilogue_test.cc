// depthwise_blocked_epilogue_test.cc - the 8-channel interleaved depthwise kernel
// (depthwiseF32Blocked) applies a fused activation without a residual to its interleaved sums
// before moving them back to planes; that must give the bits of the kernel without the
// activation followed by the planar epilogue pass (gemm::applyEpilogue per plane, bias 0), which
// it replaced: full and partial channel blocks, 7x7 and 14x14 planes, stride 1 and 2, both ISAs.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "converter/exec/kernels/depthwise_f32.h"
#include "converter/exec/kernels/gemm_f32.h"

namespace npuconv {
namespace {

using gemm::Act;

nn::Geo3 planeGeometry(int64_t h, int64_t w, int64_t k, int64_t s) {
  nn::Geo3 g{};
  g.in[0] = g.out[0] = g.k[0] = g.s[0] = g.d[0] = 1;
  const int64_t in[2] = {h, w};
  for (int a = 0; a < 2; ++a) {
    g.in[a + 1] = in[a];
    g.k[a + 1] = k;
    g.s[a + 1] = s;
    g.d[a + 1] = 1;
    g.pb[a + 1] = g.pe[a + 1] = k / 2;
    g.out[a + 1] = (in[a] + 2 * (k / 2) - k) / s + 1;
  }
  return g;
}

TEST(DepthwiseBlockedEpilogue, MatchesPlanarEpiloguePassBitwise) {
  std::vector<gemm::Isa> isas = {gemm::Isa::Avx2};
  if (gemm::cpuHasAvx512()) isas.push_back(gemm::Isa::Avx512);
  std::mt19937 rng(314);
  std::uniform_real_distribution<float> d(-4.0f, 4.0f);
  struct Shape {
    int64_t h, w, k, s;
  };
  for (gemm::Isa isa : isas)
    for (const Shape& sh : {Shape{7, 7, 3, 1}, Shape{14, 14, 3, 1}, Shape{14, 14, 3, 2}, Shape{7, 7, 5, 1},
                            Shape{9, 13, 3, 1}})
      for (int64_t count : {8, 5})
        for (Act act : {Act::Relu, Act::Clip, Act::HardSwish, Act::Sigmoid, Act::ClipHardSwish}) {
          SCOPED_TRACE(std::to_string(sh.h) + "x" + std::to_string(sh.w) + " k" + std::to_string(sh.k) + " s" +
                       std::to_string(sh.s) + " count " + std::to_string(count) + " act " + std::to_string(int(act)));
          gemm::setIsa(isa);
          const nn::Geo3 g = planeGeometry(sh.h, sh.w, sh.k, sh.s);
          ASSERT_TRUE(nn::blockedDepthwise(g));
          const int64_t inSp = g.inSize(), outSp = g.outSize(), taps = g.kSize();
          std::vector<float> x(static_cast<size_t>(count * inSp)), w(static_cast<size_t>(count * taps)), b(static_cast<size_t>(count));
          for (auto* v : {&x, &w, &b})
            for (float& e : *v) e = d(rng);
          x[0] = -0.0f;  // a -0 input (+0 bias add turns a -0 sum into +0 in both)
          gemm::Epilogue none, ep;
          ep.act = act;
          ep.p0 = -0.5f;
          ep.p1 = 0.75f;
          std::vector<float> want(size_t(count * outSp)), got(want.size());
          nn::depthwiseF32Blocked(x.data(), w.data(), b.data(), count, g, none, nullptr, want.data());
          for (int64_t c = 0; c < count; ++c) gemm::applyEpilogue(want.data() + c * outSp, outSp, 0.0f, ep);
          nn::depthwiseF32Blocked(x.data(), w.data(), b.data(), count, g, ep, nullptr, got.data());
          size_t diff = 0;
          for (size_t i = 0; i < want.size(); ++i) diff += std::memcmp(&want[i], &got[i], sizeof(float)) != 0;
          EXPECT_EQ(diff, 0u);
        }
  gemm::setIsa(gemm::Isa::Auto);
}

}  // namespace
}  // namespace npuconv
