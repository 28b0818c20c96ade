// erf_gelu_fusion_test.cc - the executor's decomposed-Gelu fusion: Div(X, c) or Mul(X, c) -> Erf
// -> Add(., 1) -> the last two Muls in each exporter's order run as one pass in the Div/Mul step
// (fused_epilogue.h, FusedErfGelu). Each case runs fused (no observer; 1 and 2 threads) and
// unfused (an observer of every value) and must agree bit for bit; patterns the matcher must not
// take (an intermediate read twice, a Mul by a non-constant) run unfused with the same result.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "converter/exec/executor.h"
#include "tests/exec/exec_test_util.h"

namespace npuconv {
namespace {

struct GeluCase {
  const char* what;
  std::string body;  // computes Y from X (and the constants below)
  bool fusable = true;
};

std::string modelText(const std::string& body) {
  // X from U(-2, 2) times 3 (Xs): erf's Taylor branch below |t| = 0.5, its tail above. "half"
  // is 0.49, not 0.5: a product by a power of two is exact, so 0.5 would hide a wrong Mul order.
  return "<ir_version: 8, opset_import: [\"\" : 17]>\ng (float[3, 37, 45] X) => (float[3, 37, 45] Y)\n"
         "<float three = {3.0}, float sqrt2 = {1.4142135}, float rsqrt2 = {0.70710677}, float one = {1.0}, "
         "float half = {0.49}>\n{\n  Xs = Mul (X, three)\n" +
         body + "}\n";
}

TEST(ExecErfGeluFusion, MatchesUnfusedRunBitForBit) {
  const GeluCase cases[] = {
      {"lower-to-opset's order: Mul(Mul(X, half), a)",
       "  T = Div (Xs, sqrt2)\n  E = Erf (T)\n  A = Add (E, one)\n  H = Mul (Xs, half)\n  Y = Mul (H, A)\n"},
      {"PyTorch's order, Add(one, E), Mul(A, X) first",
       "  T = Div (Xs, sqrt2)\n  E = Erf (T)\n  A = Add (one, E)\n  P = Mul (A, Xs)\n  Y = Mul (P, half)\n"},
      {"Mul by 1/sqrt 2, Mul(Mul(a, half), X)",
       "  T = Mul (Xs, rsqrt2)\n  E = Erf (T)\n  A = Add (E, one)\n  Q = Mul (half, A)\n  Y = Mul (Xs, Q)\n"},
      {"the half branch computed before the Div: not fused",
       "  H = Mul (Xs, half)\n  T = Div (Xs, sqrt2)\n  E = Erf (T)\n  A = Add (E, one)\n  Y = Mul (H, A)\n", false},
      {"the Erf read twice: not fused",
       "  T = Div (Xs, sqrt2)\n  E = Erf (T)\n  A = Add (E, one)\n  P = Mul (Xs, A)\n  Q = Mul (P, half)\n"
       "  Y = Add (Q, E)\n",
       false},
      {"the last Mul by a tensor, not a constant: not fused",
       "  T = Div (Xs, sqrt2)\n  E = Erf (T)\n  A = Add (E, one)\n  P = Mul (Xs, A)\n  Y = Mul (P, Xs)\n", false},
  };
  for (const GeluCase& k : cases) {
    SCOPED_TRACE(k.what);
    test::FusionRunSpec spec{modelText(k.body), {{"X", {3, 37, 45}}}};
    const test::FusedWhen geluInScale = [](const Node& node, const std::vector<const Node*>& fused) {
      return (node.is("Div") || node.is("Mul")) && fused.size() >= 4 && fused.front()->is("Erf");
    };
    spec.observeAll = true;
    spec.threads = 2;
    const test::FusionRunOutcome plain = test::runFusionCase(spec, geluInScale);
    ASSERT_FALSE(plain.y.empty());
    EXPECT_FALSE(plain.fused);
    spec.observeAll = false;
    for (int threads : {1, 2}) {
      spec.threads = threads;
      const test::FusionRunOutcome fused = test::runFusionCase(spec, geluInScale);
      EXPECT_EQ(fused.fused, k.fusable) << threads << " threads";
      ASSERT_EQ(fused.y.size(), plain.y.size());
      EXPECT_EQ(std::memcmp(fused.y.data(), plain.y.data(), plain.y.size() * sizeof(float)), 0) << threads << " threads";
    }
  }
}

}  // namespace
}  // namespace npuconv
