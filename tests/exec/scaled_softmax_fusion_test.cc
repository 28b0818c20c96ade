// scaled_softmax_fusion_test.cc - the executor's attention-scores fusion: Div(S, c) or Mul(S, c)
// [-> Add(., mask)] -> Softmax over the last axis runs as one pass per row in the Div/Mul step
// (fused_epilogue.h, FusedSoftmax). Every case runs fused (no observer; 1 and 2 threads) and
// unfused (an observer of every value turns fusion off) and must agree bit for bit; the step
// timer tells whether the Softmax was computed by the Div/Mul's step. Where the kernel cannot
// apply it (the Softmax over another axis, a mask that widens S) it declines at run time and the
// steps run one by one, with the same result.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "converter/exec/executor.h"
#include "formats/onnx/onnx_reader.h"

namespace npuconv {
namespace {

std::string dimsText(const std::vector<int64_t>& d) {
  std::string s;
  for (int64_t v : d) s += (s.empty() ? "" : ", ") + std::to_string(v);
  return s;
}

struct SoftmaxCase {
  const char* what;
  std::vector<int64_t> s, mask;  // mask {}: no Add
  std::string scale;             // "Div" or "Mul"
  std::string softmaxAttrs;      // inside Softmax <...>, may be empty
  int opset = 17;
  bool maskFirst = false;  // Add(M, D) rather than Add(D, M)
  bool fusable = true;     // the kernel applies the fusion (else it declines)
};

std::string modelText(const SoftmaxCase& k) {
  std::string in = "float[" + dimsText(k.s) + "] S";
  std::string body = "  D = " + k.scale + " (S, c)\n";
  std::string last = "D";
  if (!k.mask.empty()) {
    in += ", float[" + dimsText(k.mask) + "] M";
    body += k.maskFirst ? "  A = Add (M, D)\n" : "  A = Add (D, M)\n";
    last = "A";
  }
  body += "  Y = Softmax " + (k.softmaxAttrs.empty() ? std::string() : "<" + k.softmaxAttrs + "> ") + "(" + last + ")\n";
  return "<ir_version: 8, opset_import: [\"\" : " + std::to_string(k.opset) + "]>\ng (" + in + ") => (float[?] Y)\n" +
         "<float c = {" + (k.scale == "Div" ? "5.656854" : "0.17677669") + "}>\n{\n" + body + "}\n";
}

std::vector<float> values(const std::vector<int64_t>& dims, uint32_t seed, float lo, float hi) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = u(rng);
  return v;
}

struct Outcome {
  std::vector<uint32_t> bits;
  bool softmaxFused = false;
};

Outcome run(const SoftmaxCase& k, bool observe, int threads) {
  Outcome r;
  auto model = parseOnnxText(modelText(k));
  EXPECT_TRUE(model.hasValue()) << model.status().toString();
  if (!model) return r;
  auto exec = Executor::create(*model, ExecOptions{threads});
  EXPECT_TRUE(exec.hasValue()) << exec.status().toString();
  if (!exec) return r;
  if (observe) (*exec)->setObserver([](const Node&, size_t, const Tensor&) {});
  (*exec)->setStepTimer([&](const Node& node, const std::vector<const Node*>& fused, double) {
    if (node.is(k.scale))
      for (const Node* f : fused) r.softmaxFused |= f->is("Softmax");
  });
  NamedTensors feeds;
  std::vector<float> s = values(k.s, 3, -40.0f, 40.0f);
  feeds["S"] = Tensor::fromValues<float>(DType::F32, k.s, std::span<const float>(s));
  if (!k.mask.empty()) {
    std::vector<float> m = values(k.mask, 5, -3.0f, 3.0f);
    for (size_t i = 0; i < m.size(); i += 3) m[i] = -10000.0f;  // masked positions, as BERT's
    feeds["M"] = Tensor::fromValues<float>(DType::F32, k.mask, std::span<const float>(m));
  }
  for (int rep = 0; rep < 2; ++rep) {  // the second run reuses the buffer pool's blocks
    auto out = (*exec)->run(feeds);
    EXPECT_TRUE(out.hasValue()) << out.status().toString();
    if (!out) return r;
    const Tensor& y = out->at("Y");
    r.bits.resize(static_cast<size_t>(y.numElements()));
    std::memcpy(r.bits.data(), y.data<float>(), r.bits.size() * sizeof(float));
  }
  return r;
}

TEST(ExecScaledSoftmaxFusion, MatchesUnfusedRunBitForBit) {
  const SoftmaxCase cases[] = {
      {"BERT's scores: Div, a [1,1,1,L] mask", {2, 3, 5, 33}, {1, 1, 1, 33}, "Div", ""},
      {"a per-batch mask [B,1,1,L], row length a multiple of 16", {2, 3, 4, 32}, {2, 1, 1, 32}, "Div", "axis = -1"},
      {"Mul by 1/sqrt(d), mask first in the Add, rank-1 mask", {1, 4, 6, 7}, {7}, "Mul", "axis = 3", 17, true},
      {"no mask", {3, 9, 40}, {}, "Mul", ""},
      {"a mask of x's own dims", {2, 5, 17}, {2, 5, 17}, "Div", ""},
      {"opset 11, axis 1 of a rank-2 input (the last axis)", {6, 19}, {1, 19}, "Div", "", 11},
      // Declined at run time: the steps run one by one.
      {"Softmax over axis 1", {2, 3, 5, 8}, {1, 1, 1, 8}, "Div", "axis = 1", 17, false, false},
      {"a mask that widens S", {1, 3, 4, 8}, {2, 1, 1, 8}, "Div", "", 17, false, false},
      {"opset 11's default axis 1 on rank 4 (a 2-D coercion)", {2, 3, 4, 8}, {1, 1, 1, 8}, "Div", "", 11, false, false},
  };
  for (const SoftmaxCase& k : cases) {
    SCOPED_TRACE(k.what);
    const Outcome plain = run(k, true, 2);
    ASSERT_FALSE(plain.bits.empty());
    EXPECT_FALSE(plain.softmaxFused);
    for (int threads : {1, 2}) {
      const Outcome fused = run(k, false, threads);
      EXPECT_EQ(fused.softmaxFused, k.fusable) << threads << " threads";
      ASSERT_EQ(fused.bits.size(), plain.bits.size());
      for (size_t i = 0; i < plain.bits.size(); ++i) ASSERT_EQ(fused.bits[i], plain.bits[i]) << "element " << i;
    }
  }
}

}  // namespace
}  // namespace npuconv
