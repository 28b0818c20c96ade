// O2 on the model zoo (ResNet18, MobileNetV3-small, MiniLM at opsets 14 and 17): the pipeline
// must keep the outputs (seeded inputs, relative to the output RMS), pass the verifier, and
// actually do its work (no BatchNormalization left in the CNNs; LayerNormalization fused or
// grouped in MiniLM).
#include <algorithm>
#include <cmath>

#include "converter/exec/executor.h"
#include "converter/ir/verifier.h"
#include "formats/onnx/onnx_reader.h"
#include "passes/fuse/fusion_groups.h"
#include "passes/registry.h"
#include "tests/passes/pass_test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

NamedTensors seededInputs(const Graph& g) {
  test::SplitMix64 rng(99);
  NamedTensors in;
  for (const Value* v : g.inputs()) {
    if (v->isInitializer()) continue;
    std::vector<int64_t> dims;
    for (const Dim& d : *v->type().shape) dims.push_back(d.isStatic() ? d.value() : (d.symbolName().find("seq") != std::string::npos ? 8 : 1));
    Tensor t(v->dtype(), dims);
    for (int64_t i = 0; i < t.numElements(); ++i) {
      if (v->dtype() == DType::F32) t.mutableData<float>()[i] = rng.uniform(-1.0f, 1.0f);
      else if (v->dtype() == DType::I64)  // attention mask 1, token types 0, ids below 100
        t.mutableData<int64_t>()[i] = v->name().find("mask") != std::string::npos   ? 1
                                      : v->name().find("type") != std::string::npos ? 0
                                                                                    : static_cast<int64_t>(rng.next() % 100);
    }
    in[v->name()] = t;
  }
  return in;
}

class ZooO2 : public ::testing::TestWithParam<std::string> {};

TEST_P(ZooO2, KeepsOutputs) {
  auto path = test::materializeZooModelOr(GetParam());
  if (!path) GTEST_SKIP() << "zoo model unavailable: " << path.status().toString();
  auto before = readOnnx(*path);
  auto model = readOnnx(*path);
  ASSERT_TRUE(before.hasValue() && model.hasValue());
  auto pm = buildPassManager("O2", "", {});
  ASSERT_TRUE(pm.hasValue());
  pm->setVerifyEach(true);
  PassContext ctx;
  Status s = pm->run(*model, ctx);
  ASSERT_TRUE(s.isOk()) << s.toString();
  ASSERT_TRUE(verifyModel(*model).isOk());
  EXPECT_EQ(test::countOps(*model, "BatchNormalization"), 0);
  EXPECT_LT(countNodes(*model->graph), countNodes(*before->graph));
  // Every Conv whose only reader is a Relu is fused with it (issue 4: resnet50 after O2).
  std::vector<FusionGroup> groups = fusionGroups(*model);
  int64_t convRelu = 0;
  for (const Node* n : model->graph->nodes()) {
    if (!n->is("Conv") || n->result(0)->uses().size() != 1) continue;
    const Node* act = n->result(0)->uses()[0].user;
    if (!act->is("Relu")) continue;
    ++convRelu;
    bool fused = std::any_of(groups.begin(), groups.end(), [&](const FusionGroup& g) {
      return g.kind == "conv-act" && g.nodes.size() == 2 && g.nodes[0] == n->name() && g.nodes[1] == act->name();
    });
    EXPECT_TRUE(fused) << n->describe() << " + " << act->describe() << " not fused";
  }
  if (GetParam().rfind("resnet", 0) == 0) {
    EXPECT_GE(convRelu, GetParam() == "resnet50" ? 33 : 9);  // stem + every bottleneck's inner Convs
  }
  if (GetParam().find("minilm") != std::string::npos) {
    int64_t ln = test::countOps(*model, "LayerNormalization");
    int64_t groups = 0;
    for (const FusionGroup& g : fusionGroups(*model)) groups += g.kind == "layer-norm";
    EXPECT_GT(ln + groups, 0) << "no LayerNorm fused or grouped";
  }
  NamedTensors in = seededInputs(*before->graph);
  auto e0 = Executor::create(*before, ExecOptions{1, nullptr});
  auto e1 = Executor::create(*model, ExecOptions{1, nullptr});
  ASSERT_TRUE(e0.hasValue()) << e0.status().toString();
  ASSERT_TRUE(e1.hasValue()) << e1.status().toString();
  auto r0 = (*e0)->run(in);
  auto r1 = (*e1)->run(in);
  ASSERT_TRUE(r0.hasValue()) << r0.status().toString();
  ASSERT_TRUE(r1.hasValue()) << r1.status().toString();
  for (const auto& [name, t0] : *r0) {
    ASSERT_TRUE(r1->count(name)) << name;
    std::vector<double> a = t0.toDoubles(), b = r1->at(name).toDoubles();
    ASSERT_EQ(a.size(), b.size()) << name;
    double rms = 0, worst = 0;
    for (double x : a) rms += x * x;
    rms = std::sqrt(rms / static_cast<double>(a.size()));
    for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
    EXPECT_LE(worst, 1e-4 * rms + 1e-6) << name << ": max |diff| " << worst << ", rms " << rms;
  }
}

INSTANTIATE_TEST_SUITE_P(Passes, ZooO2,
                         ::testing::Values("resnet18", "resnet50", "mobilenet_v3_small", "minilm_l6_opset14", "minilm_l6_opset17"));

}  // namespace
}  // namespace npuconv

namespace npuconv {
namespace {

// Issue 4: the MiniLM-like encoder through `--pipeline npu` with its inputs frozen to 1x256:
// static shapes everywhere, no Shape op, LayerNorm and Gelu fused in the IR whatever the opset
// (lower-to-opset writes them decomposed when the ONNX opset lacks them).
struct NpuCase {
  std::string zoo;
  std::string opset;
  int64_t layerNorms, gelus;
};

class ZooNpu : public ::testing::TestWithParam<NpuCase> {};

TEST_P(ZooNpu, StaticAndFused) {
  const NpuCase& c = GetParam();
  auto path = test::materializeZooModelOr(c.zoo);
  if (!path) GTEST_SKIP() << "zoo model unavailable: " << path.status().toString();
  auto model = readOnnx(*path);
  ASSERT_TRUE(model.hasValue());
  auto pm = buildPassManager("npu", "", {});
  ASSERT_TRUE(pm.hasValue());
  pm->setVerifyEach(true);
  PassContext ctx;
  ctx.options = {{"opset", c.opset},
                 {"freeze.input-shapes", "input_ids=1x256;attention_mask=1x256;token_type_ids=1x256"},
                 {"target.static-shapes", "1"}};
  Status s = pm->run(*model, ctx);
  ASSERT_TRUE(s.isOk()) << s.toString();
  EXPECT_EQ(test::countOps(*model, "Shape"), 0);
  EXPECT_EQ(test::countOps(*model, "LayerNormalization"), c.layerNorms);
  EXPECT_EQ(test::countOps(*model, "Gelu"), c.gelus);
  for (const Value* v : model->graph->valueList())
    if (v->producer() || v->isGraphInput() || v->isInitializer()) {
      EXPECT_TRUE(v->type().hasStaticShape()) << v->name() << ": " << v->type().toString();
    }
}

INSTANTIATE_TEST_SUITE_P(Passes, ZooNpu,
                         ::testing::Values(NpuCase{"minilm_l6_opset14", "17", 13, 6},
                                           NpuCase{"minilm_l6_opset17", "20", 13, 6}),
                         [](const ::testing::TestParamInfo<NpuCase>& i) { return i.param.zoo + "_opset" + i.param.opset; });

}  // namespace
}  // namespace npuconv
