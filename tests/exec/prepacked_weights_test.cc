// prepacked_weights_test.cc - constant weights packed once per executor node (MatMul's B, Conv's
// W): the same model with the weights as a graph input (packed at every call) and as an
// initializer (prepacked) gives bit-identical results, on both microkernels, 1 and 2 threads,
// and after the microkernel changes between runs (the packing follows).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "converter/exec/kernels/gemm_f32.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

std::string listText(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::vector<float> runMatMul(const std::vector<int64_t>& ad, int64_t K, int64_t N, bool constW, bool bias,
                             const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& b,
                             int threads, bool switchIsa) {
  std::vector<int64_t> yd = ad;
  yd.back() = N;
  std::string text = "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float" + listText(ad) + " X" +
                     (constW ? "" : ", float" + listText({K, N}) + " W") + ") => (float" + listText(yd) + " Y)";
  std::string inits;
  if (constW) {
    inits += "float" + listText({K, N}) + " W = {";
    for (size_t i = 0; i < w.size(); ++i) inits += (i ? ", " : "") + std::to_string(w[i]);
    inits += "}";
  }
  if (bias) {
    inits += std::string(inits.empty() ? "" : ", ") + "float[" + std::to_string(N) + "] B = {";
    for (size_t i = 0; i < b.size(); ++i) inits += (i ? ", " : "") + std::to_string(b[i]);
    inits += "}";
  }
  if (!inits.empty()) text += " <" + inits + ">";
  text += bias ? " {\n  M = MatMul (X, W)\n  Y = Add (M, B)\n}\n" : " {\n  Y = MatMul (X, W)\n}\n";
  auto runner = test::runnerFor(text, threads);
  NamedTensors feeds;
  feeds["X"] = Tensor::fromValues<float>(DType::F32, ad, std::span<const float>(x));
  if (!constW) feeds["W"] = Tensor::fromValues<float>(DType::F32, {K, N}, std::span<const float>(w));
  NamedTensors out = runner->run(feeds);
  if (switchIsa && gemm::cpuHasAvx512()) {
    gemm::setIsa(gemm::activeIsa() == gemm::Isa::Avx2 ? gemm::Isa::Avx512 : gemm::Isa::Avx2);
    out = runner->run(feeds);  // the second run packs again for the other microkernel
  }
  if (!out.count("Y")) return {};
  const Tensor& y = out.at("Y");
  return std::vector<float>(y.data<float>(), y.data<float>() + y.numElements());
}

TEST(PrepackedWeights, MatMulMatchesWeightsAsInput) {
  struct Shape {
    std::vector<int64_t> a;  // A dims; K is the last
    int64_t N;
  };
  const Shape shapes[] = {{{2, 9, 40}, 70}, {{64, 300}, 33}, {{1, 16, 384}, 96}, {{3, 5, 7}, 8}};
  for (const Shape& sh : shapes) {
    const int64_t K = sh.a.back();
    size_t n = 1;
    for (int64_t d : sh.a) n *= size_t(d);
    std::mt19937 rng{static_cast<uint32_t>(n + size_t(sh.N))};
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    std::vector<float> x(n), w(size_t(K * sh.N)), b(size_t(sh.N));
    for (auto& v : x) v = u(rng);
    // Weights with 6 significant digits: the ONNX text holds them exactly.
    for (auto& v : w) v = std::stof(std::to_string(u(rng)));
    for (auto& v : b) v = std::stof(std::to_string(u(rng)));
    for (gemm::Isa isa : {gemm::Isa::Avx2, gemm::Isa::Avx512}) {
      if (isa == gemm::Isa::Avx512 && !gemm::cpuHasAvx512()) continue;
      for (bool bias : {false, true})
        for (int threads : {1, 2}) {
          SCOPED_TRACE(listText(sh.a) + " x [" + std::to_string(K) + ", " + std::to_string(sh.N) + "]" +
                       (bias ? " + bias" : "") + " threads " + std::to_string(threads));
          gemm::setIsa(isa);
          std::vector<float> want = runMatMul(sh.a, K, sh.N, false, bias, x, w, b, threads, false);
          gemm::setIsa(isa);
          std::vector<float> got = runMatMul(sh.a, K, sh.N, true, bias, x, w, b, threads, false);
          ASSERT_EQ(got, want);
          // The microkernel changes between two runs of one executor: the result follows it.
          gemm::setIsa(isa);
          std::vector<float> other = runMatMul(sh.a, K, sh.N, true, bias, x, w, b, threads, true);
          gemm::setIsa(gemm::activeIsa());
          std::vector<float> otherWant = runMatMul(sh.a, K, sh.N, false, bias, x, w, b, threads, false);
          ASSERT_EQ(other, otherWant);
        }
    }
  }
  gemm::setIsa(gemm::Isa::Auto);
}

}  // namespace
}  // namespace npuconv
