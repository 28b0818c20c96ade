// placeNodes: tiny ONNX-text models against small inline profiles and the built-in ones, and
// the zoo's ResNet18 / MobileNetV3 on every built-in profile.
#include <gtest/gtest.h>

#include "converter/target/target_profile.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/target/target_json.h"
#include "passes/registry.h"
#include "tests/passes/pass_test_util.h"
#include "tests/support/test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

/// A profile from JSON text with `ops` as its op table.
TargetProfile profileWith(const std::string& ops, bool staticShapes = true, const std::string& quant = "\"fp16\": true") {
  std::string text = R"({"name": "test", "description": "test", "requires_static_shapes": )" +
                     std::string(staticShapes ? "true" : "false") +
                     R"(, "preferred_layout": "nhwc", "quantization": {"int8_asymmetric": true, )" + quant +
                     R"(}, "ops": {)" + ops + "}}";
  auto p = parseTargetProfile(text, "test.json");
  EXPECT_TRUE(p.hasValue()) << p.status().toString();
  return p.hasValue() ? *p : TargetProfile{};
}

TargetProfile builtin(const std::string& name) {
  auto p = builtinTarget(name);
  EXPECT_TRUE(p.hasValue()) << p.status().toString();
  return p.hasValue() ? *p : TargetProfile{};
}

const NodePlacement& placementOf(const std::vector<NodePlacement>& ps, const std::string& name) {
  for (const NodePlacement& p : ps)
    if (p.name == name) return p;
  static const NodePlacement kNone{"<missing>", "", "", {}, false, "node not found"};
  ADD_FAILURE() << "no placement for node " << name;
  return kNone;
}

TEST(Placement, KernelLargerThanMaxFallsBack) {
  Model m = test::buildModel(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,16,16] x, float[8,3,7,7] w7, float[8,8,3,3] w3) => (float[1,8,10,10] y) {
      a = Conv<pads = [0, 0, 0, 0]>(x, w7)
      y = Conv(a, w3)
    })",
                             {{"w7", {}}, {"w3", {}}});
  TargetProfile p = profileWith(R"("Conv": {"max_kernel": 5})");
  auto ps = placeNodes(*m.graph, p);
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_FALSE(ps[0].onNpu);
  EXPECT_EQ(ps[0].reason, "kernel 7x7 exceeds max 5x5");
  EXPECT_TRUE(ps[1].onNpu) << ps[1].reason;
  EXPECT_EQ(ps[1].originalNames, std::vector<std::string>{ps[1].name});
  // The same model on a profile allowing 7x7 maps both.
  for (const NodePlacement& n : placeNodes(*m.graph, profileWith(R"("Conv": {"max_kernel": 7})")))
    EXPECT_TRUE(n.onNpu) << n.name << ": " << n.reason;
  // An allowed-sizes list.
  auto sized = placeNodes(*m.graph, profileWith(R"("Conv": {"kernel_sizes": [1, 3, 5]})"));
  EXPECT_EQ(sized[0].reason, "kernel 7x7 not supported (allowed sizes: 1, 3, 5)");
  EXPECT_TRUE(sized[1].onNpu);
}

TEST(Placement, StrideDilationPadsAndAttributes) {
  Model m = test::buildModel(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,4,32,32] x, float[4,4,3,3] w) => (float[1,4,4,4] s, float[1,4,28,28] d, float[1,4,48,48] p, float[1,4,16,16] c) {
      s = Conv<strides = [8, 8]>(x, w)
      d = Conv<dilations = [2, 2]>(x, w)
      p = Conv<pads = [16, 16, 2, 2]>(x, w)
      c = MaxPool<kernel_shape = [2, 2], strides = [2, 2], ceil_mode = 1>(x)
    })",
                             {{"w", {}}});
  auto ps = placeNodes(*m.graph, builtin("rk3588"));
  ASSERT_EQ(ps.size(), 4u);
  EXPECT_EQ(ps[0].reason, "stride 8x8 exceeds max 7x7");
  EXPECT_TRUE(ps[1].onNpu) << ps[1].reason;  // RKNN lists no dilation limit for Conv
  EXPECT_EQ(ps[2].reason, "pad 16 exceeds max 15 (pads 16, 16, 2, 2)");
  EXPECT_EQ(ps[3].reason, "attribute ceil_mode=1 not supported (allowed: 0)");
  auto noDilation = placeNodes(*m.graph, profileWith(R"("Conv": {"dilation": false}, "MaxPool": {})"));
  EXPECT_TRUE(noDilation[0].onNpu);
  EXPECT_EQ(noDilation[1].reason, "dilation 2x2 not supported");
  EXPECT_TRUE(noDilation[3].onNpu);
  auto maxDilation = placeNodes(*m.graph, profileWith(R"("Conv": {"max_dilation": 1})"));
  EXPECT_EQ(maxDilation[1].reason, "dilation 2x2 exceeds max 1x1");
}

TEST(Placement, DepthwiseAndGroupedConvolutions) {
  Model m = test::buildModel(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,8,8,8] x, float[8,1,3,3] wd, float[16,1,3,3] wm, float[8,2,3,3] wg) => (float[1,8,6,6] d, float[1,16,6,6] dm, float[1,8,6,6] gr) {
      d = Conv<group = 8>(x, wd)
      dm = Conv<group = 8>(x, wm)
      gr = Conv<group = 4>(x, wg)
    })",
                             {{"wd", {}}, {"wm", {}}, {"wg", {}}});
  auto depthwise = placeNodes(*m.graph, profileWith(R"("Conv": {"groups": "depthwise", "max_depth_multiplier": 1})"));
  ASSERT_EQ(depthwise.size(), 3u);
  EXPECT_TRUE(depthwise[0].onNpu) << depthwise[0].reason;
  EXPECT_EQ(depthwise[1].reason, "depthwise channel multiplier 2 exceeds max 1");
  EXPECT_EQ(depthwise[2].reason, "grouped convolution (group=4, 2 input channels per group) not supported; only depthwise");
  auto none = placeNodes(*m.graph, profileWith(R"("Conv": {"groups": "none"})"));
  EXPECT_EQ(none[0].reason, "depthwise convolution (group=8) not supported");
  EXPECT_EQ(none[2].reason, "grouped convolution (group=4) not supported");
  for (const NodePlacement& n : placeNodes(*m.graph, profileWith(R"("Conv": {})"))) EXPECT_TRUE(n.onNpu) << n.reason;
  auto channels = placeNodes(*m.graph, profileWith(R"("Conv": {"max_channels": 8})"));
  EXPECT_TRUE(channels[0].onNpu);
  EXPECT_EQ(channels[1].reason, "output channels 16 exceed max 8");
}

TEST(Placement, DynamicShapeFallsBackWhenStaticShapesRequired) {
  Model m = test::buildModel(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[N,3,8,8] x, float[4,3,1,1] w, float[1,3,8,8] z) => (float[N,4,8,8] y, float[1,3,8,8] zr) {
      c = Conv(x, w)
      y = Relu(c)
      zr = Relu(z)
    })",
                             {{"w", {}}});
  auto ps = placeNodes(*m.graph, profileWith(R"("Conv": {}, "Relu": {})", /*staticShapes=*/true));
  ASSERT_EQ(ps.size(), 3u);
  EXPECT_FALSE(ps[0].onNpu);
  EXPECT_EQ(ps[0].reason, "dynamic shape on input 'x' [N,3,8,8]");
  // The Conv result has no declared shape: its dynamism comes from x.
  EXPECT_EQ(ps[1].reason, "dynamic shape on input 'c' (from graph input 'x' [N,3,8,8])");
  EXPECT_TRUE(ps[2].onNpu) << ps[2].reason;
  for (const NodePlacement& n : placeNodes(*m.graph, profileWith(R"("Conv": {}, "Relu": {})", /*staticShapes=*/false)))
    EXPECT_TRUE(n.onNpu) << n.name << ": " << n.reason;
}

TEST(Placement, ShapeFromNonConstantTensorIsDynamic) {
  Model m = test::buildModel(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,12] x, int64[2] s) => (float[?,?] y) {
      y = Reshape(x, s)
    })");
  auto ps = placeNodes(*m.graph, profileWith(R"("Reshape": {})"));
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_FALSE(ps[0].onNpu);
  EXPECT_EQ(ps[0].reason, "dynamic shape on output 'y' [?,?]");
}

TEST(Placement, FloatModelOnInt8OnlyTarget) {
  Model m = test::buildModel(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,8,8] x, float[4,3,3,3] w) => (float[1,4,6,6] y) {
      c = Conv(x, w)
      y = Relu(c)
    })",
                             {{"w", {}}});
  auto ps = placeNodes(*m.graph, builtin("edgetpu"));
  ASSERT_EQ(ps.size(), 2u);
  for (const NodePlacement& n : ps) {
    EXPECT_FALSE(n.onNpu);
    EXPECT_EQ(n.reason, "int8-only target: float op (float32)");
  }
  // The same model runs in fp16 on a float-capable target.
  for (const NodePlacement& n : placeNodes(*m.graph, builtin("rk3588"))) EXPECT_TRUE(n.onNpu) << n.reason;
}

// A QDQ model: int8 activations and constant int8 weights through DequantizeLinear.
constexpr const char* kQdqModel = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (int8[1,2,4,4] xq) => (int8[1,2,4,4] yq) {
      s = Constant<value = float {0.5}>()
      zp = Constant<value = int8 {0}>()
      wq = Constant<value = int8[2,2,1,1] {1, 2, 3, 4}>()
      x = DequantizeLinear(xq, s, zp)
      w = DequantizeLinear(wq, s, zp)
      c = Conv(x, w)
      r = Relu(c)
      e = Exp(r)
      t = Tanh(e)
      yq = QuantizeLinear(t, s, zp)
    })";

TEST(Placement, QuantizedModelMapsOnInt8OnlyTarget) {
  Model m = test::buildModel(kQdqModel);
  TargetProfile edgetpu = builtin("edgetpu");
  auto ps = placeNodes(*m.graph, edgetpu);
  auto byOp = [&](const std::string& op) -> const NodePlacement& {
    for (const NodePlacement& p : ps)
      if (p.opType == op) return p;
    static const NodePlacement kNone;
    return kNone;
  };
  EXPECT_TRUE(byOp("Constant").onNpu);
  EXPECT_TRUE(byOp("Conv").onNpu) << byOp("Conv").reason;
  EXPECT_TRUE(byOp("Relu").onNpu) << byOp("Relu").reason;
  EXPECT_EQ(byOp("Exp").reason, "op not supported by target");
  // One NPU segment: everything that depends on the CPU Exp stays on the CPU.
  EXPECT_FALSE(byOp("Tanh").onNpu);
  EXPECT_NE(byOp("Tanh").reason.find("after CPU node"), std::string::npos) << byOp("Tanh").reason;
  EXPECT_FALSE(byOp("QuantizeLinear").onNpu);
  // Without the single-segment rule Tanh and the Quantize map again.
  edgetpu.singleNpuSegment = false;
  for (const NodePlacement& p : placeNodes(*m.graph, edgetpu))
    if (p.opType != "Exp") {
      EXPECT_TRUE(p.onNpu) << p.name << ": " << p.reason;
    }
}

TEST(Placement, PerChannelWeightsNeedSupport) {
  Model m = test::buildModel(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (int8[1,2,4,4] xq) => (float[1,2,4,4] y) {
      s = Constant<value = float {0.5}>()
      sw = Constant<value = float[2] {0.5, 0.25}>()
      zp = Constant<value = int8 {0}>()
      zw = Constant<value = int8[2] {0, 0}>()
      wq = Constant<value = int8[2,2,1,1] {1, 2, 3, 4}>()
      x = DequantizeLinear(xq, s, zp)
      w = DequantizeLinear<axis = 0>(wq, sw, zw)
      y = Conv(x, w)
    })");
  TargetProfile p = profileWith(R"("Conv": {}, "DequantizeLinear": {})", true, "\"per_channel_weights\": true");
  for (const NodePlacement& n : placeNodes(*m.graph, p)) EXPECT_TRUE(n.onNpu) << n.name << ": " << n.reason;
  p.quantization.perChannelWeights = false;
  auto ps = placeNodes(*m.graph, p);
  EXPECT_EQ(ps.back().reason, "per-channel weight quantization not supported");
}

TEST(Placement, BroadcastRankAndInnermostDims) {
  Model m = test::buildModel(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,8,8] a, float[1,3,1,1] c, float[1,1,8,8] s, float[1] k, float[1,2,3,4,5] r) => (float[1,3,8,8] y1, float[1,3,8,8] y2, float[1,3,8,8] y3, float[1,2,3,4,5] y4) {
      y1 = Add(a, c)
      y2 = Add(a, s)
      y3 = Add(a, k)
      y4 = Relu(r)
    })");
  auto ps = placeNodes(*m.graph, builtin("rk3588"));
  ASSERT_EQ(ps.size(), 4u);
  EXPECT_TRUE(ps[0].onNpu) << ps[0].reason;  // per-channel
  EXPECT_EQ(ps[1].reason, "full broadcast of 's' [1, 1, 8, 8] to [1, 3, 8, 8] not supported (target allows channel)");
  EXPECT_TRUE(ps[2].onNpu) << ps[2].reason;  // scalar
  EXPECT_EQ(ps[3].reason, "rank 5 of input 'r' exceeds max 4");
  auto strict = placeNodes(*m.graph, profileWith(R"("Add": {"broadcast": "none"}, "Relu": {})"));
  EXPECT_EQ(strict[0].reason, "channel broadcast of 'c' [1, 3, 1, 1] to [1, 3, 8, 8] not supported (target allows none)");
  EXPECT_TRUE(strict[3].onNpu);

  Model q = test::buildModel(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (int8[2,3,4,5] x, int8[1,3,4,5] z) => (int8[2,3,4,5] y, int8[1,3,4,5] w) {
      y = Relu(x)
      w = Relu(z)
    })");
  auto tpu = placeNodes(*q.graph, builtin("edgetpu"));
  EXPECT_EQ(tpu[0].reason, "tensor 'x' [2,3,4,5]: only the 3 innermost dimensions may exceed 1");
  EXPECT_TRUE(tpu[1].onNpu) << tpu[1].reason;
}

TEST(Placement, SummaryCountsPerOp) {
  std::vector<NodePlacement> ps = {{"a", "Conv", "", {"a"}, true, ""},
                                   {"b", "Conv", "", {"b"}, false, "kernel 7x7 exceeds max 5x5"},
                                   {"c", "Conv", "", {"c"}, false, "kernel 7x7 exceeds max 5x5"},
                                   {"d", "Gelu", "com.microsoft", {"d"}, false, "op not supported by target"}};
  auto s = summarizePlacement(ps);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].opType, "Conv");
  EXPECT_EQ(s[0].onNpu, 1);
  EXPECT_EQ(s[0].onCpu, 2);
  EXPECT_EQ(s[0].reasons, std::vector<std::string>{"kernel 7x7 exceeds max 5x5"});
  EXPECT_EQ(s[1].opType, "com.microsoft:Gelu");
  TargetProfile x;
  x.name = "x";
  auto j = placementToJson(x, ps);
  EXPECT_EQ(j["on_npu"], 1);
  EXPECT_EQ(j["on_cpu"], 3);
  EXPECT_EQ(j["nodes"][1]["device"], "cpu");
  EXPECT_EQ(j["nodes"][0].count("reason"), 0u);
}

// --- the zoo -----------------------------------------------------------------------------------

struct ZooCase {
  std::string model, target;
};

class ZooPlacement : public ::testing::TestWithParam<ZooCase> {};

TEST_P(ZooPlacement, GivesASensibleTable) {
  const ZooCase& c = GetParam();
  auto path = test::materializeZooModelOr(c.model);
  if (!path) GTEST_SKIP() << "zoo model unavailable: " << path.status().toString();
  auto m = readOnnx(*path);
  ASSERT_TRUE(m.hasValue()) << m.status().toString();
  auto pm = buildPassManager("O2", "", {});
  ASSERT_TRUE(pm.hasValue());
  PassContext ctx;
  ASSERT_TRUE(pm->run(*m, ctx).isOk());
  TargetProfile p = builtin(c.target);
  auto ps = placeNodes(*m->graph, p);
  ASSERT_EQ(ps.size(), m->graph->numNodes());
  int64_t convs = 0, depthwise = 0;
  for (const Node* n : m->graph->nodes()) {
    const NodePlacement& pl = placementOf(ps, n->name());
    EXPECT_FALSE(pl.originalNames.empty()) << n->name() << " lost its provenance";
    if (!n->is("Conv")) continue;
    ++convs;
    depthwise += n->attrs().getInt("group", 1) > 1;
    if (p.quantization.floatCompute()) {
      EXPECT_TRUE(pl.onNpu) << c.target << ": " << n->name() << ": " << pl.reason;
    } else {
      EXPECT_EQ(pl.reason, "int8-only target: float op (float32)") << n->name();
    }
  }
  EXPECT_GT(convs, 0);
  if (c.model == "mobilenet_v3_small") {
    EXPECT_GT(depthwise, 0);
  }
  int64_t npu = 0, cpu = 0;
  for (const OpPlacementSummary& s : summarizePlacement(ps)) {
    npu += s.onNpu;
    cpu += s.onCpu;
    EXPECT_EQ(s.reasons.empty(), s.onCpu == 0) << s.opType;
  }
  EXPECT_EQ(npu + cpu, static_cast<int64_t>(ps.size()));
  // Float CNNs: every node on float-capable NPUs (the zoo has static input shapes), none on
  // the int8-only ones.
  if (p.quantization.floatCompute()) {
    EXPECT_EQ(cpu, 0);
  } else {
    EXPECT_EQ(npu, 0);
  }
}

std::vector<ZooCase> zooCases() {
  std::vector<ZooCase> cases;
  for (const char* model : {"resnet18", "mobilenet_v3_small"})
    for (const char* target : {"generic_npu", "rk3588", "qualcomm_htp", "edgetpu", "ethos_u55"})
      cases.push_back({model, target});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Zoo, ZooPlacement, ::testing::ValuesIn(zooCases()),
                         [](const ::testing::TestParamInfo<ZooCase>& i) { return i.param.model + "_" + i.param.target; });

}  // namespace
}  // namespace npuconv
