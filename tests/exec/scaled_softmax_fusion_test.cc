// scaled_softmax_fusion_test.cc - the executor's attention-scores fusion: Div(S, c) or Mul(S, c)
// [-> Add(., mask)] -> Softmax over the last axis runs as one pass per row in the Div/Mul step
// (fused_epilogue.h, FusedSoftmax). Every case runs fused (no observer; 1 and 2 threads) and
// unfused (an observer of every value turns fusion off) and must agree bit for bit; the step
// timer tells whether the Softmax was computed by the Div/Mul's step. Where the kernel cannot
// apply it (the Softmax over another axis, a mask that widens S) it declines at run time and the
// steps run one by one, with the same result.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "converter/exec/executor.h"
#include "tests/exec/exec_test_util.h"

namespace npuconv {
namespace {

struct SoftmaxCase {
  const char* what;
  std::vector<int64_t> s, mask;  // mask {}: no Add
  std::string scale;             // "Div" or "Mul"
  std::string softmaxAttrs;      // inside Softmax <...>, may be empty
  int opset = 17;
  bool maskFirst = false;  // Add(M, D) rather than Add(D, M)
  bool fusable = true;     // the kernel applies the fusion (else it declines)
};

/// S and M come from U(-2, 2): the scale (x 20) spreads the scores to +-40 and the mask is
/// computed before the Div as BERT's is, (M - 1.5) * 10000 clamped: large negative where masked.
std::string modelText(const SoftmaxCase& k) {
  std::string in = "float" + test::dimsText(k.s) + " S";
  std::string body;
  std::string last = "D";
  if (!k.mask.empty()) {
    in += ", float" + test::dimsText(k.mask) + " M";
    body += "  Ms = Sub (M, off)\n  Mb = Mul (Ms, big)\n  Mc = Clip (Mb, lo, zero)\n";
  }
  body += "  D = " + k.scale + " (S, c)\n";
  if (!k.mask.empty()) {
    body += k.maskFirst ? "  A = Add (Mc, D)\n" : "  A = Add (D, Mc)\n";
    last = "A";
  }
  body += "  Y = Softmax " + (k.softmaxAttrs.empty() ? std::string() : "<" + k.softmaxAttrs + "> ") + "(" + last + ")\n";
  return "<ir_version: 8, opset_import: [\"\" : " + std::to_string(k.opset) + "]>\ng (" + in + ") => (float[?] Y)\n" +
         "<float c = {" + (k.scale == "Div" ? "0.05" : "20.0") +
         "}, float off = {1.5}, float big = {10000.0}, float lo = {-10000.0}, float zero = {0.0}>\n{\n" + body + "}\n";
}

TEST(ExecScaledSoftmaxFusion, MatchesUnfusedRunBitForBit) {
  const SoftmaxCase cases[] = {
      {"BERT's scores: Div, a [1,1,1,L] mask", {2, 3, 5, 33}, {1, 1, 1, 33}, "Div", ""},
      {"a per-batch mask [B,1,1,L], row length a multiple of 16", {2, 3, 4, 32}, {2, 1, 1, 32}, "Div", "axis = -1"},
      {"Mul by the scale, mask first in the Add, rank-1 mask", {1, 4, 6, 7}, {7}, "Mul", "axis = 3", 17, true},
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
    test::FusionRunSpec spec{modelText(k), {{"S", k.s}}};
    if (!k.mask.empty()) spec.inputs.push_back({"M", k.mask});
    const test::FusedWhen softmaxInScale = [&](const Node& node, const std::vector<const Node*>& fused) {
      return node.is(k.scale) && !fused.empty() && fused.back()->is("Softmax");
    };
    spec.observeAll = true;
    spec.threads = 2;
    const test::FusionRunOutcome plain = test::runFusionCase(spec, softmaxInScale);
    ASSERT_FALSE(plain.y.empty());
    EXPECT_FALSE(plain.fused);
    spec.observeAll = false;
    for (int threads : {1, 2}) {
      spec.threads = threads;
      const test::FusionRunOutcome fused = test::runFusionCase(spec, softmaxInScale);
      EXPECT_EQ(fused.fused, k.fusable) << threads << " threads";
      ASSERT_EQ(fused.y.size(), plain.y.size());
      EXPECT_EQ(std::memcmp(fused.y.data(), plain.y.data(), plain.y.size() * sizeof(float)), 0) << threads << " threads";
    }
  }
}

}  // namespace
}  // namespace npuconv
