// formats/blob/blob_diff.h on the spec's minimal blob (testdata/blobs/minimal.npub) against
// copies changed in known ways: each category reports exactly the change made, by the original
// ONNX node names, with the figures it should (how far a scale moved, which weight element).
// tests/cli/diff_test.cc checks the command on real builds.
#include <gtest/gtest.h>

#include "formats/blob/blob_diff.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

using json = nlohmann::ordered_json;
using namespace device;

LoadedBlob minimal() {
  auto b = readBlob(test::sourceDir() / "testdata/blobs/minimal.npub");
  EXPECT_TRUE(b.hasValue()) << b.status().toString();
  return b.hasValue() ? *b : LoadedBlob{};
}

json diff(const LoadedBlob& a, const LoadedBlob& b) { return diffBlobs(a, b, "a.npub", "b.npub"); }

/// The one entry of `list` whose `key` is `value` (fails the test unless exactly one).
json only(const json& list, const std::string& key, const std::string& value) {
  json found;
  int n = 0;
  for (const json& e : list)
    if (e.contains(key) && e[key] == value) {
      found = e;
      ++n;
    }
  EXPECT_EQ(n, 1) << key << "=" << value << " in " << list.dump();
  return found;
}

TEST(BlobDiff, ABlobIsIdenticalToItself) {
  const LoadedBlob a = minimal();
  ASSERT_EQ(a.program.ops.size(), 3u);
  const json d = diff(a, a);
  EXPECT_TRUE(d["identical"].get<bool>()) << d.dump(2);
  EXPECT_EQ(d["differences"], 0);
  EXPECT_EQ(d["weights"]["compared"], 2) << "conv.weight and conv.bias";
  EXPECT_FALSE(d["ignored"].empty());
  EXPECT_NE(renderBlobDiff(d).find("a.npub and b.npub are identical in content"), std::string::npos) << renderBlobDiff(d);
  std::vector<std::string> keys;
  for (const auto& [k, v] : d.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "identical", "differences", "ignored", "summary", "header", "provenance",
                                            "io", "ops", "tensors", "weights", "memory"}));
}

TEST(BlobDiff, ScalesSayHowFarTheyMovedAtTheLayer) {
  const LoadedBlob a = minimal();
  LoadedBlob b = a;
  // QPRM 0: x_q per tensor; 1: conv.weight per channel (0.01, 0.005).
  b.program.quant[0].scales = {0.021f};
  b.program.quant[0].zeroPoints = {120};
  b.program.quant[1].scales = {0.01f, 0.006f};
  const json d = diff(a, b);
  EXPECT_FALSE(d["identical"].get<bool>());
  EXPECT_EQ(d["differences"], 2) << d.dump(2);
  ASSERT_EQ(d["tensors"].size(), 2u) << d["tensors"].dump(2);
  const json x = only(d["tensors"], "layer", "x_QuantizeLinear");
  EXPECT_EQ(x["slot"], "output 0");
  EXPECT_EQ(x["tensor_a"], "x_q");
  ASSERT_EQ(x["fields"].size(), 1u);
  EXPECT_NEAR(x["fields"][0]["scale_max_rel_change"].get<double>(), 0.05, 1e-6);
  EXPECT_EQ(x["fields"][0]["zero_points_changed"], 1);
  const json w = only(d["tensors"], "layer", "conv+relu");
  EXPECT_EQ(w["slot"], "input 1");
  EXPECT_EQ(w["fields"][0]["scales_changed"], 1);
  EXPECT_EQ(w["fields"][0]["scales"], 2);
  EXPECT_NEAR(w["fields"][0]["scale_max_rel_change"].get<double>(), 0.2, 1e-6);
  const std::string text = renderBlobDiff(d);
  EXPECT_NE(text.find("x_QuantizeLinear output 0 (x_q): scale 0.02 -> 0.021 (+5%), zero point 128 -> 120"), std::string::npos) << text;
  EXPECT_NE(text.find("conv+relu input 1 (conv.weight): 1 of 2 scales moved, max relative change +20%"), std::string::npos) << text;
  EXPECT_TRUE(d["weights"]["changed"].empty()) << "the weight bytes did not change";
}

TEST(BlobDiff, WeightsByHashWithTheLargestElementChange) {
  const LoadedBlob a = minimal();
  LoadedBlob b = a;
  const std::vector<int8_t> w = {100, -47};
  b.program.tensors[2].weight = std::make_shared<const TensorData>(TensorData::fromValues<int8_t>(DType::I8, {2, 1, 1, 1}, std::span<const int8_t>(w)));
  const json d = diff(a, b);
  EXPECT_EQ(d["differences"], 1) << d.dump(2);
  EXPECT_EQ(d["weights"]["compared"], 2);
  ASSERT_EQ(d["weights"]["changed"].size(), 1u);
  const json& e = d["weights"]["changed"][0];
  EXPECT_EQ(e["layer"], "conv+relu");
  EXPECT_EQ(e["slot"], "input 1");
  EXPECT_EQ(e["tensor_a"], "conv.weight");
  EXPECT_NE(e["hash_a"], e["hash_b"]);
  EXPECT_EQ(e["hash_a"].get<std::string>().size(), 16u);
  EXPECT_EQ(e["elements"], 2);
  EXPECT_EQ(e["elements_changed"], 1);
  EXPECT_EQ(e["max_abs_diff"], 3.0);
  EXPECT_EQ(e["unit"], "quantized");
  EXPECT_EQ(e["same_quantization"], true);
  const std::string text = renderBlobDiff(d);
  EXPECT_NE(text.find("1 of 2 elements differ, max |diff| 3 quantized units\n"), std::string::npos) << text;
  // With its scales changed too, a quantized unit means something else on each side.
  b.program.quant[1].scales = {0.02f, 0.005f};
  const json d2 = diff(a, b);
  EXPECT_EQ(d2["weights"]["changed"][0]["same_quantization"], false);
  EXPECT_NE(renderBlobDiff(d2).find("max |diff| 3 quantized units (of other scales)"), std::string::npos) << renderBlobDiff(d2);
}

TEST(BlobDiff, OpsAreMatchedByTheirOriginalNames) {
  const LoadedBlob a = minimal();
  {
    SCOPED_TRACE("fused differently: conv+relu becomes conv and a CPU relu");
    LoadedBlob b = a;
    Op& conv = b.program.ops[1];
    conv.provenance = {"conv"};
    conv.act = FusedActivation::None;
    Op relu;
    relu.code = OpCode::FloatOp;
    relu.type = "Relu";
    relu.flags = kOpCpuFallback;
    relu.inputs = conv.outputs;
    relu.outputs = conv.outputs;
    relu.name = "relu";
    relu.provenance = {"relu"};
    b.program.ops.insert(b.program.ops.begin() + 2, relu);
    const json d = diff(a, b);
    ASSERT_EQ(d["ops"]["regrouped"].size(), 1u) << d["ops"].dump(2);
    const json& r = d["ops"]["regrouped"][0];
    ASSERT_EQ(r["a"].size(), 1u);
    EXPECT_EQ(r["a"][0]["layer"], "conv+relu");
    ASSERT_EQ(r["b"].size(), 2u);
    EXPECT_EQ(r["b"][0]["layer"], "conv");
    EXPECT_EQ(r["b"][1]["layer"], "relu");
    EXPECT_EQ(r["b"][1]["placement"], "cpu");
    EXPECT_TRUE(d["ops"]["added"].empty());
    EXPECT_TRUE(d["ops"]["removed"].empty());
    EXPECT_TRUE(d["ops"]["moved"].empty());
  }
  {
    SCOPED_TRACE("changed attributes and fused activation");
    LoadedBlob b = a;
    b.program.ops[1].attrs[0].ints = {2, 2};  // strides
    b.program.ops[1].act = FusedActivation::None;
    const json d = diff(a, b);
    ASSERT_EQ(d["ops"]["changed"].size(), 1u) << d["ops"].dump(2);
    const json& c = d["ops"]["changed"][0];
    EXPECT_EQ(c["layer"], "conv+relu");
    ASSERT_EQ(c["fields"].size(), 2u) << c.dump();
    EXPECT_EQ(c["fields"][0]["field"], "fused_activation");
    EXPECT_EQ(c["fields"][0]["a"], "relu");
    EXPECT_EQ(c["fields"][1]["field"], "attributes.strides");
    EXPECT_EQ(c["fields"][1]["b"], json::array({2, 2}));
    EXPECT_EQ(d["differences"], 1);
  }
  {
    SCOPED_TRACE("order: the Quantize moved to the end");
    LoadedBlob b = a;
    std::rotate(b.program.ops.begin(), b.program.ops.begin() + 1, b.program.ops.end());
    const json d = diff(a, b);
    ASSERT_EQ(d["ops"]["moved"].size(), 1u) << d["ops"].dump(2);
    EXPECT_EQ(d["ops"]["moved"][0]["layer"], "x_QuantizeLinear");
    EXPECT_EQ(d["ops"]["moved"][0]["index_a"], 0);
    EXPECT_EQ(d["ops"]["moved"][0]["index_b"], 2);
    EXPECT_TRUE(d["ops"]["changed"].empty());
  }
  {
    SCOPED_TRACE("an op of other origin: removed and added");
    LoadedBlob b = a;
    b.program.ops[2].provenance = {"y_out"};
    const json d = diff(a, b);
    ASSERT_EQ(d["ops"]["removed"].size(), 1u) << d["ops"].dump(2);
    EXPECT_EQ(d["ops"]["removed"][0]["layer"], "y_DequantizeLinear");
    EXPECT_EQ(d["ops"]["removed"][0]["precision"], "u8 in, f32 out");
    ASSERT_EQ(d["ops"]["added"].size(), 1u);
    EXPECT_EQ(d["ops"]["added"][0]["layer"], "y_out");
    EXPECT_EQ(d["differences"], 2);
  }
}

TEST(BlobDiff, IoProvenanceHeaderAndMemory) {
  const LoadedBlob a = minimal();
  LoadedBlob b = a;
  b.program.outputs[0].name = "z";
  b.program.inputs[0].normalizationBakedIn = true;
  b.program.provenance[1].value = "other.onnx";
  b.program.provenance.push_back({"calibration_method", "minmax"});
  b.program.memory.arenaBytes = 256;
  b.program.onnxOpset = 13;
  const json d = diff(a, b);
  const json x = only(d["io"], "name", "x");
  EXPECT_EQ(x["change"], "changed");
  EXPECT_EQ(x["fields"][0]["field"], "normalization_baked_in");
  EXPECT_EQ(only(d["io"], "name", "y")["change"], "removed");
  EXPECT_EQ(only(d["io"], "name", "z")["change"], "added");
  const json src = only(d["provenance"], "key", "source_model");
  EXPECT_EQ(src["a"], "minimal.onnx");
  EXPECT_EQ(src["b"], "other.onnx");
  EXPECT_TRUE(only(d["provenance"], "key", "calibration_method")["a"].is_null());
  ASSERT_EQ(d["header"].size(), 1u);
  EXPECT_EQ(d["header"][0]["field"], "onnx_opset");
  ASSERT_EQ(d["memory"]["changes"].size(), 1u);
  EXPECT_EQ(d["memory"]["changes"][0]["b"], 256);
  EXPECT_EQ(d["differences"], 3 + 2 + 1 + 1);
  const std::string text = renderBlobDiff(d);
  EXPECT_NE(text.find("arena_bytes 128 -> 256 (+128)"), std::string::npos) << text;
  EXPECT_NE(text.find("provenance source_model: minimal.onnx -> other.onnx"), std::string::npos) << text;
  EXPECT_NE(text.find("output y: removed (float32[1,2,2,2] NCHW, float)"), std::string::npos) << text;
}

}  // namespace
}  // namespace npuconv
