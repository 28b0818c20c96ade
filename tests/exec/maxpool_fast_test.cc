// maxpool_fast_test.cc - the float32 MaxPool fast path (2-D, stride 1 or 2, no indices) against
// the general kernel, which the same node runs when its Indices output is wanted: bit-identical
// outputs over kernel sizes, strides, asymmetric pads, ceil mode, widths that are not multiples
// of 8, 1-D inputs, inputs with -inf; NaN inputs are skipped as the general kernel without
// indices skips them.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tests/exec/exec_test_util.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

struct PoolCase {
  std::vector<int64_t> in;  // N, C, spatial...
  std::string attrs;
};

std::vector<float> runPool(const PoolCase& pc, bool withIndices, const std::vector<float>& x, int threads) {
  std::string outs = withIndices ? "(float Y, int64 I)" : "(float Y)";
  std::string text = "<ir_version: 8, opset_import: [\"\" : 12]>\ng (float" + test::dimsText(pc.in) + " X) => " + outs +
                     " {\n  " + (withIndices ? "Y, I" : "Y") + " = MaxPool <" + pc.attrs + "> (X)\n}\n";
  NamedTensors feeds;
  feeds["X"] = Tensor::fromValues<float>(DType::F32, pc.in, std::span<const float>(x));
  NamedTensors out = test::runnerFor(text, threads)->run(feeds);
  if (!out.count("Y")) return {};
  const Tensor& y = out.at("Y");
  return std::vector<float>(y.data<float>(), y.data<float>() + y.numElements());
}

TEST(MaxPoolFast, MatchesGeneralKernel) {
  const PoolCase cases[] = {
      {{1, 4, 112, 112}, "kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1]"},  // ResNet's
      {{2, 3, 13, 17}, "kernel_shape = [3, 3]"},
      {{1, 2, 9, 30}, "kernel_shape = [2, 5], strides = [1, 2], pads = [0, 2, 1, 1]"},
      {{1, 3, 11, 11}, "kernel_shape = [3, 3], strides = [2, 2], ceil_mode = 1"},
      {{1, 2, 7, 7}, "kernel_shape = [7, 7]"},
      {{1, 2, 6, 9}, "kernel_shape = [3, 4], strides = [3, 1], pads = [2, 3, 0, 1]"},
      {{1, 3, 40}, "kernel_shape = [3], strides = [2], pads = [1, 1]"},
      // 2x2 stride 2 (the NHWC CNN's pools; vector even/odd split over 16-column runs), rows all
      // padding at the top (the first real row starts the window), widths around 16.
      {{3, 2, 12, 32}, "kernel_shape = [2, 2], strides = [2, 2]"},
      {{1, 2, 9, 47}, "kernel_shape = [2, 2], strides = [2, 2], ceil_mode = 1"},
      {{1, 2, 6, 33}, "kernel_shape = [3, 3], strides = [2, 2], pads = [2, 1, 2, 1]"},
  };
  for (const PoolCase& pc : cases) {
    SCOPED_TRACE(test::dimsText(pc.in) + " " + pc.attrs);
    size_t n = 1;
    for (int64_t d : pc.in) n *= size_t(d);
    std::mt19937 rng{static_cast<uint32_t>(n)};
    std::uniform_real_distribution<float> u(-3.f, 3.f);
    std::vector<float> x(n);
    for (auto& v : x) v = u(rng);
    for (size_t i = 5; i < n; i += 41) x[i] = -std::numeric_limits<float>::infinity();
    std::vector<float> general = runPool(pc, true, x, 1);
    ASSERT_FALSE(general.empty());
    for (int threads : {1, 2}) {
      std::vector<float> fast = runPool(pc, false, x, threads);
      ASSERT_EQ(fast.size(), general.size());
      for (size_t i = 0; i < fast.size(); ++i) ASSERT_EQ(fast[i], general[i]) << "element " << i;
    }
  }
}

TEST(MaxPoolFast, SkipsNaN) {
  // 1 x 1 x 2 x 10, kernel 2 x 2, stride 2: each window holds one NaN and three numbers.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x = {nan, 1, nan, -4, nan, 2, nan, 0, nan, -1,  //
                          3, -2, 5, -7, 0.5f, 1, -3, -9, 8, -1};
  std::vector<float> y = runPool({{1, 1, 2, 10}, "kernel_shape = [2, 2], strides = [2, 2]"}, false, x, 1);
  EXPECT_EQ(y, (std::vector<float>{3, 5, 2, 0, 8}));
}

}  // namespace
}  // namespace npuconv
