// layer_error_test.cc - the per-layer error table: a layer fed its float input. For the first
// layer (whose input is the graph input) the table must equal the end-to-end error of a
// one-layer model computed here directly; a later layer is measured on the float activation.
#include <gtest/gtest.h>

#include <cmath>

#include "quant/layer_error.h"
#include "quant/quantize.h"
#include "tests/passes/pass_test_util.h"
#include "tests/quant/quant_test_util.h"

namespace npuconv {
namespace {

constexpr const char* kTwoConvsAndMid = R"(<ir_version: 8, opset_import: ["" : 13]>
  g (float[1,3,8,8] x, float[4,3,3,3] w1, float[4] b1, float[4,4,3,3] w2) => (float[1,4,6,6] a, float[1,4,4,4] y) {
    c = Conv(x, w1, b1)
    a = Relu(c)
    y = Conv(a, w2)
  })";

TEST(LayerError, FirstLayerMatchesDirectSqnrAndSecondUsesFloatInput) {
  Model f = test::buildModel(kTwoConvsAndMid, {{"w1", {}}, {"b1", {}}, {"w2", {}}});
  Model q = test::buildModel(kTwoConvsAndMid, {{"w1", {}}, {"b1", {}}, {"w2", {}}});
  auto samples = test::seededSamples(f, 3, 42);
  QuantizeReport rep;
  ASSERT_TRUE(quantizeStatic(q, test::observedRanges(f, samples), {}, rep).isOk());
  test::VectorSampleStream data(samples);
  auto table = layerErrorTable(f, q, data, 1);
  ASSERT_TRUE(table.hasValue()) << table.status().toString();
  ASSERT_EQ(table->size(), 2u) << table->dump();

  // Output "a" of both models is exactly the first unit (Conv+Relu with its output Q/DQ) on x.
  double sig = 0, noise = 0;
  for (const auto& s : samples) {
    NamedTensors fo = test::runModel(f, s), qo = test::runModel(q, s);
    auto fa = fo.at("a").span<float>();
    auto qa = qo.at("a").span<float>();
    for (size_t i = 0; i < fa.size(); ++i) {
      sig += double(fa[i]) * fa[i];
      noise += (double(fa[i]) - qa[i]) * (double(fa[i]) - qa[i]);
    }
  }
  double direct = 10 * std::log10(sig / noise);
  std::string first = test::producerOf(f, "c")->provenance().at(0);
  ASSERT_TRUE(table->contains(first)) << table->dump();
  const auto& e = (*table)[first];
  EXPECT_EQ(e["op"], "Conv+Relu");
  EXPECT_NEAR(e["sqnr_db"].get<double>(), direct, 0.01);
  EXPECT_EQ(e["samples"], 3);
  EXPECT_GT(e["cosine"].get<double>(), 0.99);
  EXPECT_LE(e["cosine"].get<double>(), 1.0);

  // The second layer sees float "a": its error is its own, smaller than the end-to-end error of y.
  double sigY = 0, noiseY = 0;
  for (const auto& s : samples) {
    NamedTensors fo = test::runModel(f, s), qo = test::runModel(q, s);
    auto fy = fo.at("y").span<float>();
    auto qy = qo.at("y").span<float>();
    for (size_t i = 0; i < fy.size(); ++i) {
      sigY += double(fy[i]) * fy[i];
      noiseY += (double(fy[i]) - qy[i]) * (double(fy[i]) - qy[i]);
    }
  }
  std::string second = test::producerOf(f, "y")->provenance().at(0);
  ASSERT_TRUE(table->contains(second));
  EXPECT_GT((*table)[second]["sqnr_db"].get<double>(), 10 * std::log10(sigY / noiseY));
  EXPECT_EQ((*table)[second]["op"], "Conv");

  auto sum = layerErrorSummary(*table);
  EXPECT_EQ(sum["layers"], 2);
  EXPECT_LE(sum["min_sqnr_db"].get<double>(), sum["median_sqnr_db"].get<double>());
}

}  // namespace
}  // namespace npuconv
