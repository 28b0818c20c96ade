// layer_norm_fusion_test.cc - the executor's decomposed-LayerNormalization fusion: ReduceMean ->
// Sub -> Mul(D, D) -> ReduceMean -> Add(eps) -> Sqrt -> Div [-> Mul(gamma)] [-> Add(beta)] over
// the last axis runs as one pass per row in the first ReduceMean's step (fused_epilogue.h,
// FusedLayerNorm). Each case runs fused (no observer; 1 and 2 threads) and unfused (an observer
// of every value) and must agree bit for bit; patterns that are not a LayerNormalization over the
// last axis stay unfused with the same result.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "converter/exec/executor.h"
#include "tests/exec/exec_test_util.h"

namespace npuconv {
namespace {

struct LayerNormCase {
  const char* what;
  std::string body;  // computes Y from X [4, 7, 45]
  int opset = 17;
  bool fusable = true;
};

std::string modelText(const LayerNormCase& k) {
  std::mt19937 rng(11);
  return "<ir_version: 8, opset_import: [\"\" : " + std::to_string(k.opset) +
         "]>\ng (float[4, 7, 45] X) => (float[4, 7, 45] Y)\n<float eps = {1e-5}, float[45] gamma = {" +
         test::randomValuesText(rng, 45, 2.0f) + "}, float[45] beta = {" + test::randomValuesText(rng, 45, 1.0f) +
         "}, int64[1] last = {-1}>\n{\n" + k.body + "}\n";
}

const char* kCore =
    "  M = ReduceMean <axes = [-1]> (X)\n  D = Sub (X, M)\n  Q = Mul (D, D)\n  V = ReduceMean <axes = [-1]> (Q)\n"
    "  E = Add (V, eps)\n  S = Sqrt (E)\n";

TEST(ExecLayerNormFusion, MatchesUnfusedRunBitForBit) {
  const std::string core = kCore;
  const LayerNormCase cases[] = {
      {"with gamma and beta (PyTorch's export)", core + "  N = Div (D, S)\n  G = Mul (N, gamma)\n  Y = Add (G, beta)\n"},
      {"constants first in the Mul and Add", core + "  N = Div (D, S)\n  G = Mul (gamma, N)\n  Y = Add (beta, G)\n"},
      {"no affine tail", core + "  Y = Div (D, S)\n"},
      {"gamma only", core + "  N = Div (D, S)\n  Y = Mul (N, gamma)\n"},
      {"axes = [2] on a rank-3 input, eps first in the Add",
       "  M = ReduceMean <axes = [2]> (X)\n  D = Sub (X, M)\n  Q = Mul (D, D)\n  V = ReduceMean <axes = [2]> (Q)\n"
       "  E = Add (eps, V)\n  S = Sqrt (E)\n  Y = Div (D, S)\n"},
      {"opset 18: axes as a constant input",
       "  M = ReduceMean (X, last)\n  D = Sub (X, M)\n  Q = Mul (D, D)\n  V = ReduceMean (Q, last)\n"
       "  E = Add (V, eps)\n  S = Sqrt (E)\n  N = Div (D, S)\n  Y = Mul (N, gamma)\n",
       18},
      {"not fused: over axis 1",
       "  M = ReduceMean <axes = [1]> (X)\n  D = Sub (X, M)\n  Q = Mul (D, D)\n  V = ReduceMean <axes = [1]> (Q)\n"
       "  E = Add (V, eps)\n  S = Sqrt (E)\n  Y = Div (D, S)\n",
       17, false},
      {"not fused: D read a third time", core + "  N = Div (D, S)\n  Y = Add (N, D)\n", 17, false},
      {"not fused: Sub(M, X)",
       "  M = ReduceMean <axes = [-1]> (X)\n  D = Sub (M, X)\n  Q = Mul (D, D)\n  V = ReduceMean <axes = [-1]> (Q)\n"
       "  E = Add (V, eps)\n  S = Sqrt (E)\n  Y = Div (D, S)\n",
       17, false},
  };
  for (const LayerNormCase& k : cases) {
    SCOPED_TRACE(k.what);
    test::FusionRunSpec spec{modelText(k), {{"X", {4, 7, 45}}}};
    const test::FusedWhen normInMean = [](const Node& node, const std::vector<const Node*>& fused) {
      return node.is("ReduceMean") && !fused.empty() && fused.front()->is("Sub");
    };
    spec.observeAll = true;
    spec.threads = 2;
    const test::FusionRunOutcome plain = test::runFusionCase(spec, normInMean);
    ASSERT_FALSE(plain.y.empty());
    EXPECT_FALSE(plain.fused);
    spec.observeAll = false;
    for (int threads : {1, 2}) {
      spec.threads = threads;
      const test::FusionRunOutcome fused = test::runFusionCase(spec, normInMean);
      EXPECT_EQ(fused.fused, k.fusable) << threads << " threads";
      ASSERT_EQ(fused.y.size(), plain.y.size());
      EXPECT_EQ(std::memcmp(fused.y.data(), plain.y.data(), plain.y.size() * sizeof(float)), 0) << threads << " threads";
    }
  }
}

}  // namespace
}  // namespace npuconv
