// Every quantizer option of `npuconv convert` reaches its quantizer: converted through the
// binary with and without the option, the emitted model changes as the option says.
// --activation-type and --symmetric-activations act on INT8 static only: until it lands, their
// parse into QuantizeOptions (shared with `calibrate`) is checked here.
#include <gtest/gtest.h>

#include <algorithm>

#include <fmt/format.h>

#include "cli/convert_options.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "tests/cli/two_layer_model.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

/// Two MatMuls with constant weights (the results m and y2 name them) and a Tanh.
fs::path tinyModel() {
  static const fs::path dir = test::tempDir("convert_options_model");
  fs::path p = dir / "m.onnx";
  if (fs::exists(p)) return p;
  Model m = test::parseModel(fmt::format(R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[2,8] x) => (float[2,4] y, float[2,4] y2) {{
      W = Constant<value = float[8,4] {{{}}}>()
      V = Constant<value = float[8,4] {{{}}}>()
      m = MatMul(x, W)
      y = Tanh(m)
      y2 = MatMul(x, V)
    }})", test::pseudoFloatList(32, 3, 900.0), test::pseudoFloatList(32, 4, 900.0)));
  EXPECT_TRUE(writeOnnx(m, p).hasValue());
  return p;
}

/// Converts the tiny model with `args` and reads the result back.
Model convert(const std::string& args) {
  static int n = 0;
  fs::path out = test::tempDir("convert_options") / fmt::format("out{}", n++);
  std::string err;
  std::string cmd = fmt::format("'{}' convert '{}' -o '{}' {}", test::npuconvBinary(), tinyModel().string(), out.string(), args);
  EXPECT_EQ(test::runCommand(cmd, nullptr, &err), 0) << cmd << "\n" << err;
  auto m = readOnnx(out / "model.onnx");
  EXPECT_TRUE(m.hasValue()) << m.status().toString();
  return m ? std::move(*m) : Model();
}

std::vector<const Node*> nodes(const Model& m, std::string_view op) {
  std::vector<const Node*> out;
  if (!m.graph) return out;
  for (const Node* n : m.graph->nodes())
    if (n->opType() == op) out.push_back(n);
  return out;
}

TensorRef constant(const Value* v) { return v && v->isInitializer() ? v->initializer() : nullptr; }

TEST(ConvertOptions, WeightTypeUint8ReachesInt8Dynamic) {
  for (const auto& [arg, want] : {std::pair{"", DType::I8}, std::pair{"--weight-type uint8", DType::U8}}) {
    Model m = convert(fmt::format("--precision int8-dynamic {}", arg));
    auto mm = nodes(m, "MatMulInteger");
    ASSERT_EQ(mm.size(), 2u) << arg;
    for (const Node* n : mm) {
      TensorRef w = constant(n->operand(1));
      ASSERT_TRUE(w) << arg;
      EXPECT_EQ(w->dtype(), want) << arg;
    }
  }
}

TEST(ConvertOptions, PerTensorGivesOneScalePerWeight) {
  for (const char* precision : {"int8-weights", "int8-dynamic"}) {
    for (bool perTensor : {false, true}) {
      Model m = convert(fmt::format("--precision {} {}", precision, perTensor ? "--per-tensor" : ""));
      // int8-weights: the DequantizeLinear of each weight's scale; int8-dynamic: the weight scale
      // the dynamic input scale is multiplied by (a constant operand of a Mul).
      std::vector<int64_t> sizes;
      if (std::string(precision) == "int8-weights") {
        for (const Node* dq : nodes(m, "DequantizeLinear")) sizes.push_back(constant(dq->operand(1))->numElements());
      } else {
        for (const Node* mul : nodes(m, "Mul"))
          if (TensorRef c = constant(mul->operand(1))) sizes.push_back(c->numElements());
      }
      ASSERT_EQ(sizes.size(), 2u) << precision;
      for (int64_t s : sizes) EXPECT_EQ(s, perTensor ? 1 : 4) << precision << (perTensor ? " --per-tensor" : "");
    }
  }
}

TEST(ConvertOptions, ReduceRangeKeepsWeightsIn7Bits) {
  for (bool reduce : {false, true}) {
    Model m = convert(fmt::format("--precision int8-weights {}", reduce ? "--reduce-range" : ""));
    int lo = 0, hi = 0;
    for (const Node* dq : nodes(m, "DequantizeLinear")) {
      TensorRef w = constant(dq->operand(0));
      ASSERT_TRUE(w && w->dtype() == DType::I8);
      for (int8_t v : w->as<int8_t>()) {
        lo = std::min<int>(lo, v);
        hi = std::max<int>(hi, v);
      }
    }
    if (reduce) {
      EXPECT_GE(lo, -64);
      EXPECT_LE(hi, 63);
      EXPECT_GE(std::max(-lo, hi), 63);  // still uses the 7-bit range
    } else {
      EXPECT_EQ(std::max(-lo, hi), 127);  // symmetric: the largest weight of a channel maps to 127
    }
  }
}

TEST(ConvertOptions, ExcludeLeavesTheNamedNodeInFloat) {
  for (const char* precision : {"int8-weights", "int8-dynamic", "fp16"}) {
    Model all = convert(fmt::format("--precision {}", precision));
    Model ex = convert(fmt::format("--precision {} --exclude y2", precision));
    // The excluded MatMul (its output y2 names it in the file) keeps a float32 weight.
    auto floatMatMuls = [](const Model& m) {
      int n = 0;
      for (const Node* mm : nodes(m, "MatMul"))
        if (TensorRef w = constant(mm->operand(1)); w && w->dtype() == DType::F32) ++n;
      return n;
    };
    EXPECT_EQ(floatMatMuls(all), 0) << precision;
    EXPECT_EQ(floatMatMuls(ex), 1) << precision;
  }
}

TEST(ConvertOptions, KeepIoTypesKeepsFloat32Interface) {
  for (bool keep : {false, true}) {
    Model m = convert(fmt::format("--precision fp16 {}", keep ? "--keep-io-types" : ""));
    ASSERT_TRUE(m.graph);
    DType want = keep ? DType::F32 : DType::F16;
    for (const Value* v : m.graph->inputs()) EXPECT_EQ(v->dtype(), want) << v->name();
    for (const Value* v : m.graph->outputs()) EXPECT_EQ(v->dtype(), want) << v->name();
  }
}

TEST(ConvertOptions, Fp16BlockOpsKeepsThoseOpsInFloat32) {
  for (bool block : {false, true}) {
    Model m = convert(fmt::format("--precision fp16 --keep-io-types {}", block ? "--fp16-block-ops Tanh,Exp" : ""));
    auto tanh = nodes(m, "Tanh");
    ASSERT_EQ(tanh.size(), 1u);
    // Blocked: the float16 MatMul result is cast back to float32 for the Tanh, which then needs
    // no Cast to its float32 output; converted: the Tanh reads the MatMul directly.
    const Node* feed = tanh[0]->operand(0)->producer();
    ASSERT_TRUE(feed);
    EXPECT_EQ(feed->opType(), block ? "Cast" : "MatMul");
    if (block) {
      EXPECT_EQ(feed->attrs().getInt("to", 0), static_cast<int64_t>(DType::F32));
    }
    for (const Node* mm : nodes(m, "MatMul")) EXPECT_EQ(constant(mm->operand(1))->dtype(), DType::F16);  // the rest converts
  }
}

TEST(ConvertOptions, ActivationOptionsReachQuantizeOptions) {
  for (bool set : {false, true}) {
    CLI::App app;
    ConversionCli c;
    addConversionOptions(app, c, "fp32");
    std::vector<std::string> args = {"m.onnx", "--precision", "int8"};
    if (set) args.insert(args.end(), {"--activation-type", "int8", "--symmetric-activations", "--weight-type", "uint8",
                                      "--per-tensor", "--reduce-range", "--exclude", "a", "--exclude", "b"});
    std::reverse(args.begin(), args.end());  // CLI11 takes them reversed
    ASSERT_NO_THROW(app.parse(args));
    ASSERT_TRUE(finishConversionOptions(c).isOk());
    const QuantizeOptions& q = c.convert.quant;
    EXPECT_EQ(c.convert.precision, Precision::Int8);
    EXPECT_EQ(q.activationType, set ? DType::I8 : DType::U8);
    EXPECT_EQ(q.activationSymmetric, set);
    EXPECT_EQ(q.weightType, set ? DType::U8 : DType::I8);
    EXPECT_EQ(q.perChannel, !set);
    EXPECT_EQ(q.reduceRange, set);
    EXPECT_EQ(q.excludeNodes.size(), set ? 2u : 0u);
    EXPECT_EQ(q.excludeNodes.count("b"), set ? 1u : 0u);
    EXPECT_EQ(c.convert.passes.pipeline, "O2");
  }
}

}  // namespace
}  // namespace npuconv
