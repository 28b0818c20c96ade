// mixed_search_test.cc - the mixed-precision search on a synthetic evaluator: each layer adds a
// known noise power when int8 (none when higher), so the fewest layers that meet a target are
// known in advance. Checks the choice, pruning, the fallback to the next higher precision, the
// unreachable case and determinism.
#include <gtest/gtest.h>

#include <cmath>

#include "quant/mixed_search.h"

namespace npuconv {
namespace {

struct Synthetic {
  std::vector<QuantUnitInfo> units;
  std::vector<double> noise;    // output noise power of each layer in int8 (signal = 1)
  double int16Residual = 0;     // noise left by a layer in int16 (0: int16 removes it all)
  int calls = 0;

  MixedEvaluator evaluator() {
    return [this](const MixedConfig& c) -> Expected<MixedScore> {
      ++calls;
      double total = 1e-9;
      for (size_t i = 0; i < units.size(); ++i) {
        LayerPrecision p = c.defaultPrecision;
        for (const auto& [name, q] : c.nodes)
          if (name == units[i].key) p = q;
        if (p == LayerPrecision::Int8) total += noise[i];
        if (p == LayerPrecision::Int16) total += noise[i] * int16Residual;
      }
      return MixedScore{-10 * std::log10(total), 1 - total / 2};
    };
  }
};

Synthetic make(std::vector<double> noise) {
  Synthetic s;
  for (size_t i = 0; i < noise.size(); ++i) s.units.push_back({"layer" + std::to_string(i), {"layer" + std::to_string(i)}, "Conv", 10});
  s.noise = std::move(noise);
  return s;
}

std::vector<std::string> higherNodes(const MixedSearchResult& r) {
  std::vector<std::string> out;
  for (const auto& [name, p] : r.config.nodes)
    if (p != LayerPrecision::Int8) out.push_back(name);
  return out;
}

TEST(MixedSearch, KeepsTheFewestLayersThatMeetTheTarget) {
  // Noise 0.05 + 0.02 + 0.001 * 6: int8 is 11 dB. 15 dB needs noise <= 0.0316: both big layers.
  Synthetic s = make({0.001, 0.05, 0.001, 0.02, 0.001, 0.001, 0.001, 0.001});
  MixedSearchOptions opt;
  opt.target.sqnrDb = 15;
  opt.higher = {LayerPrecision::Int16, LayerPrecision::Fp32};
  auto r = searchMixedPrecision(s.units, s.evaluator(), opt);
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  EXPECT_TRUE(r->met);
  EXPECT_EQ(r->higher, LayerPrecision::Int16);
  EXPECT_EQ(higherNodes(*r), (std::vector<std::string>{"layer1"})) << "0.02 + 0.006 already meets 15 dB";
  EXPECT_GE(r->finalScore.sqnrDb, 15.0);
  EXPECT_LT(r->int8Score.sqnrDb, 15.0);
  ASSERT_EQ(r->layers.size(), 8u);
  EXPECT_EQ(r->layers[1].rank, 1);
  EXPECT_EQ(r->layers[3].rank, 2);
  EXPECT_EQ(r->units, 8u);
  EXPECT_EQ(r->evaluations, s.calls);
  // A tighter target needs both large layers and some small ones.
  opt.target.sqnrDb = 20;  // noise <= 0.01
  Synthetic t = make(s.noise);
  auto r2 = searchMixedPrecision(t.units, t.evaluator(), opt);
  ASSERT_TRUE(r2.hasValue());
  EXPECT_TRUE(r2->met);
  EXPECT_EQ(higherNodes(*r2), (std::vector<std::string>{"layer1", "layer3"}));
  // Deterministic: the same evaluations, the same config.
  Synthetic u = make(s.noise);
  auto r3 = searchMixedPrecision(u.units, u.evaluator(), opt);
  EXPECT_EQ(mixedConfigToJson(r3->config).dump(), mixedConfigToJson(r2->config).dump());
}

TEST(MixedSearch, NothingKeptWhenInt8MeetsTheTarget) {
  Synthetic s = make({0.001, 0.001});
  MixedSearchOptions opt;
  opt.target.cosine = 0.99;
  opt.higher = {LayerPrecision::Int16};
  auto r = searchMixedPrecision(s.units, s.evaluator(), opt);
  ASSERT_TRUE(r.hasValue());
  EXPECT_TRUE(r->met);
  EXPECT_TRUE(r->config.empty());
  EXPECT_EQ(r->evaluations, 1);
}

TEST(MixedSearch, FallsBackToTheNextPrecisionAndSaysWhenUnreachable) {
  // int16 leaves half of each layer's noise: all-int16 stays below 15 dB, fp16 removes it.
  Synthetic s = make({0.05, 0.05});
  s.int16Residual = 0.5;
  MixedSearchOptions opt;
  opt.target.sqnrDb = 15;
  opt.higher = {LayerPrecision::Int16, LayerPrecision::Fp16};
  auto r = searchMixedPrecision(s.units, s.evaluator(), opt);
  ASSERT_TRUE(r.hasValue());
  EXPECT_TRUE(r->met);
  EXPECT_EQ(r->higher, LayerPrecision::Fp16);
  // Demotion: with fp16 chosen, each layer is tried at int16 (half its noise left): one of the
  // two can be (0.025 + 0 -> 16 dB), not both (0.05 -> 13 dB).
  int fp16 = 0, int16 = 0;
  for (const auto& [name, p] : r->config.nodes) {
    fp16 += p == LayerPrecision::Fp16;
    int16 += p == LayerPrecision::Int16;
  }
  EXPECT_EQ(fp16, 1) << mixedConfigToJson(r->config).dump();
  EXPECT_EQ(int16, 1) << mixedConfigToJson(r->config).dump();
  EXPECT_GE(r->finalScore.sqnrDb, 15.0);
  for (const LayerChoice& L : r->layers) {
    if (L.precision == LayerPrecision::Int16) {
      EXPECT_NE(L.why.find("int16 suffices"), std::string::npos) << L.why;
    }
  }
  // Only int16 allowed: unreachable, reported, every layer at the best precision there is.
  Synthetic t = make({0.05, 0.05});
  t.int16Residual = 0.5;
  opt.higher = {LayerPrecision::Int16};
  auto u = searchMixedPrecision(t.units, t.evaluator(), opt);
  ASSERT_TRUE(u.hasValue());
  EXPECT_FALSE(u->met);
  EXPECT_EQ(higherNodes(*u).size(), 2u);
  EXPECT_NE(u->layers[0].why.find("unmet"), std::string::npos);
  // No precision above int8 at all: an error.
  opt.higher = {};
  EXPECT_FALSE(searchMixedPrecision(t.units, t.evaluator(), opt).hasValue());
}

}  // namespace
}  // namespace npuconv
