// `npuconv diff A.npub B.npub [--json]` on real builds of the two-layer model (first_matmul,
// first_bias, first_relu fused into one Gemm; second_matmul; final_tanh): two identical builds
// (exit 0), int8 against fp16 (precision and placement per layer), int8 calibrated on x and on
// 2x (scales move by +100%), and a model with one element of second_matmul's weight changed (that
// weight and no other, one element); a corrupt blob, a missing file and bad arguments end in
// their exit codes; --json is byte-identical across runs.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "formats/npy/npy.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "tests/cli/two_layer_model.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

/// The model with element (row 0, column `col`) of W2 halved, where that element is not its
/// column's largest magnitude: the per-channel scale stays, so exactly one int8 code moves.
fs::path writeNudgedModel(const fs::path& model, const fs::path& out) {
  auto m = readOnnx(model);
  EXPECT_TRUE(m.hasValue()) << m.status().toString();
  if (!m.hasValue()) return out;
  bool done = false;
  for (Node* n : m->graph->nodes()) {
    if (!n->is("Constant") || n->result(0)->name() != "W2") continue;
    const TensorRef t = *n->attrs().get<TensorRef>("value");
    std::vector<float> v = t->toFloats();
    const int64_t cols = t->dims()[1];
    for (int64_t col = 0; col < cols && !done; ++col) {
      float maxAbs = 0;
      for (int64_t r = 0; r < t->dims()[0]; ++r) maxAbs = std::max(maxAbs, std::abs(v[static_cast<size_t>(r * cols + col)]));
      float& e = v[static_cast<size_t>(col)];
      if (std::abs(e) < maxAbs && std::abs(e) > maxAbs / 4) {  // halved, its code moves by at least 16
        e *= 0.5f;
        done = true;
      }
    }
    n->mutableAttrs().set("value", std::make_shared<const TensorData>(TensorData::fromValues<float>(DType::F32, t->dims(), std::span<const float>(v))));
  }
  EXPECT_TRUE(done) << "no W2 element to nudge";
  EXPECT_TRUE(writeOnnx(*m, out).hasValue());
  return out;
}

/// The calibration samples times two: every activation range doubles.
fs::path writeDoubledInputs(const fs::path& x, const fs::path& out) {
  auto t = readNpy(x);
  EXPECT_TRUE(t.hasValue()) << t.status().toString();
  if (!t.hasValue()) return out;
  std::vector<float> v = (*t)->toFloats();
  for (float& f : v) f *= 2;
  EXPECT_TRUE(writeNpy(out, DType::F32, (*t)->dims(), v.data()).isOk());
  return out;
}

struct Builds {
  fs::path dir, int8, int8Again, fp16, int8Doubled, int8Nudged;
};

/// Converts once for all tests (each conversion takes about a second).
const Builds& builds() {
  static const Builds b = [] {
    Builds r;
    r.dir = test::tempDir("diff_cli");
    const fs::path model = test::writeTwoLayerModel(r.dir);
    const fs::path x = test::writeTwoLayerInputs(r.dir);
    const fs::path x2 = writeDoubledInputs(x, r.dir / "x2.npy");
    const fs::path nudged = writeNudgedModel(model, r.dir / "nudged.onnx");
    auto convert = [&](const fs::path& m, const std::string& options, const std::string& out) {
      std::string o, e;
      EXPECT_EQ(test::runNpuconv(fmt::format("convert '{}' -q {} -o '{}'", m.string(), options, (r.dir / out).string()), &o, &e), 0) << out << ": " << e;
      return r.dir / out / "model.npub";
    };
    const std::string int8 = "--precision int8 --calib-method minmax --no-bias-correction --calib ";
    r.int8 = convert(model, int8 + "'" + x.string() + "'", "int8");
    r.int8Again = convert(model, int8 + "'" + x.string() + "'", "int8_again");
    r.fp16 = convert(model, "--precision fp16", "fp16");
    r.int8Doubled = convert(model, int8 + "'" + x2.string() + "'", "int8_doubled");
    r.int8Nudged = convert(nudged, int8 + "'" + x.string() + "'", "int8_nudged");
    return r;
  }();
  return b;
}

json diffJson(const fs::path& a, const fs::path& b, int wantRc) {
  std::string out, err;
  EXPECT_EQ(test::runNpuconv(fmt::format("diff '{}' '{}' --json", a.string(), b.string()), &out, &err), wantRc) << err;
  try {
    return json::parse(out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what() << ": " << out;
    return json::object();
  }
}

/// The text `diff` prints; fails the test unless it exits `wantRc` with nothing on stderr.
std::string diffText(const fs::path& a, const fs::path& b, int wantRc) {
  std::string out, err;
  EXPECT_EQ(test::runNpuconv(fmt::format("diff '{}' '{}'", a.string(), b.string()), &out, &err), wantRc) << out << err;
  EXPECT_TRUE(err.empty()) << err;
  return out;
}

/// The entries of `list` whose `layer` is `layer`.
std::vector<json> atLayer(const json& list, const std::string& layer) {
  std::vector<json> v;
  for (const json& e : list)
    if (e["layer"] == layer) v.push_back(e);
  return v;
}

const json* fieldOf(const json& entry, const std::string& name) {
  for (const json& f : entry["fields"])
    if (f["field"] == name) return &f;
  return nullptr;
}

TEST(DiffCli, TwoBuildsOfTheSameModelAreIdentical) {
  const Builds& b = builds();
  const std::string out = diffText(b.int8, b.int8Again, 0);
  EXPECT_NE(out.find("are identical in content"), std::string::npos) << out;
  EXPECT_NE(out.find("ignored: file layout"), std::string::npos) << out;
  const json d = diffJson(b.int8, b.int8Again, 0);
  EXPECT_EQ(d["differences"], 0) << d.dump(2);
  EXPECT_GT(d["weights"]["compared"].get<int>(), 0);
}

TEST(DiffCli, Int8AgainstFp16NamesEachLayersPrecision) {
  const Builds& b = builds();
  const json d = diffJson(b.int8, b.fp16, 1);
  // Provenance: the precision and the calibration are gone.
  bool precision = false, calibration = false;
  for (const json& e : d["provenance"]) {
    if (e["key"] == "precision") precision = e["a"] == "int8" && e["b"] == "fp16";
    if (e["key"] == "calibration_method") calibration = e["a"] == "minmax" && e["b"].is_null();
  }
  EXPECT_TRUE(precision && calibration) << d["provenance"].dump(2);
  // The int8 build fused first_relu into the first Gemm, the fp16 build did not: regrouped.
  ASSERT_EQ(d["ops"]["regrouped"].size(), 1u) << d["ops"].dump(2);
  const json& r = d["ops"]["regrouped"][0];
  ASSERT_EQ(r["a"].size(), 1u);
  EXPECT_EQ(r["a"][0]["layer"], "first_matmul+first_bias+first_relu");
  EXPECT_EQ(r["a"][0]["placement"], "npu");
  ASSERT_EQ(r["b"].size(), 2u);
  EXPECT_EQ(r["b"][0]["layer"], "first_matmul+first_bias");
  EXPECT_EQ(r["b"][1]["layer"], "first_relu");
  EXPECT_EQ(r["b"][1]["precision"], "f16 in, f16 out");
  // second_matmul and final_tanh are in both, on other precisions (and second_matmul on the CPU).
  for (const char* layer : {"second_matmul", "final_tanh"}) {
    SCOPED_TRACE(layer);
    const std::vector<json> changed = atLayer(d["ops"]["changed"], layer);
    ASSERT_EQ(changed.size(), 1u) << d["ops"].dump(2);
    const json* p = fieldOf(changed[0], "precision");
    ASSERT_NE(p, nullptr) << changed[0].dump();
    EXPECT_EQ((*p)["b"].get<std::string>().find("f32"), std::string::npos) << p->dump();
    EXPECT_NE((*p)["b"].get<std::string>().find("f16"), std::string::npos) << p->dump();
  }
  const std::vector<json> second = atLayer(d["ops"]["changed"], "second_matmul");
  ASSERT_EQ(second.size(), 1u);
  const json* placement = fieldOf(second[0], "placement");
  ASSERT_NE(placement, nullptr);
  EXPECT_EQ((*placement)["b"], "cpu");
  EXPECT_TRUE(d["ops"]["moved"].empty()) << d["ops"].dump(2);
  // The fp16 blob has no Quantize/Dequantize at its borders: removed, not added.
  EXPECT_TRUE(d["ops"]["added"].empty()) << d["ops"].dump(2);
  for (const json& o : d["ops"]["removed"]) EXPECT_TRUE(o["op"] == "Quantize" || o["op"] == "Dequantize") << o.dump();
  bool io = false;
  for (const json& e : d["io"]) io = io || (e["name"] == "x" && e.contains("fields") && e["fields"][0]["field"] == "dtype" && e["fields"][0]["b"] == "float16");
  EXPECT_TRUE(io) << d["io"].dump(2);
  // Quantized tensors became float16 ones, told at the layer; the weights differ in dtype.
  bool dequantized = false;
  for (const json& e : atLayer(d["tensors"], "second_matmul"))
    if (const json* q = fieldOf(e, "quantization"); q && (*q)["b"].is_null() && fieldOf(e, "dtype")) dequantized = true;
  EXPECT_TRUE(dequantized) << d["tensors"].dump(2);
  EXPECT_FALSE(atLayer(d["weights"]["changed"], "second_matmul").empty()) << d["weights"].dump(2);
  const std::string out = diffText(b.int8, b.fp16, 1);
  EXPECT_NE(out.find("provenance precision: int8 -> fp16"), std::string::npos) << out;
  EXPECT_NE(out.find("changed   second_matmul"), std::string::npos) << out;
  EXPECT_NE(out.find("regrouped #1 QGemm first_matmul+first_bias+first_relu (npu"), std::string::npos) << out;
}

TEST(DiffCli, CalibrationOnDoubledSamplesMovesTheScalesByAHundredPercent) {
  const Builds& b = builds();
  const json d = diffJson(b.int8, b.int8Doubled, 1);
  // Ops change only in their requantization (multiplier and shift follow the scales).
  for (const json& c : d["ops"]["changed"])
    for (const json& f : c["fields"]) EXPECT_EQ(f["field"].get<std::string>().rfind("attributes.", 0), 0u) << c.dump();
  EXPECT_TRUE(d["ops"]["added"].empty() && d["ops"]["removed"].empty() && d["ops"]["regrouped"].empty()) << d["ops"].dump(2);
  // The input's quantization is part of no I/O contract (the blob takes float x): the first op,
  // the Quantize npuconv put at the input, shows it: twice the range, twice the scale. The first
  // layer's output range doubles too (Relu(x W1 + b) with a small b), up to rounding.
  ASSERT_FALSE(d["tensors"].empty());
  for (const json& e : d["tensors"]) ASSERT_NE(fieldOf(e, "quantization"), nullptr) << e.dump() << ": only scales may move";
  EXPECT_EQ(d["tensors"][0]["slot"], "output 0");
  EXPECT_NEAR((*fieldOf(d["tensors"][0], "quantization"))["scale_max_rel_change"].get<double>(), 1.0, 1e-3) << d["tensors"].dump(2);
  bool firstLayer = false;
  for (const json& e : atLayer(d["tensors"], "first_matmul+first_bias+first_relu"))
    if (e["slot"] == "output 0") firstLayer = std::abs((*fieldOf(e, "quantization"))["scale_max_rel_change"].get<double>() - 1.0) < 0.02;
  EXPECT_TRUE(firstLayer) << d["tensors"].dump(2);
  // Weights are quantized from themselves: only the int32 bias (scale s_x * s_w) moves.
  for (const json& w : d["weights"]["changed"]) EXPECT_EQ(w["slot"], "input 2") << w.dump();
  const std::string out = diffText(b.int8, b.int8Doubled, 1);
  EXPECT_NE(out.find("first_matmul+first_bias+first_relu output 0"), std::string::npos) << out;
  EXPECT_NE(out.find("(+100%)"), std::string::npos) << out;
}

TEST(DiffCli, AChangedWeightIsNamedWithItsOneElement) {
  const Builds& b = builds();
  const json d = diffJson(b.int8, b.int8Nudged, 1);
  ASSERT_EQ(d["weights"]["changed"].size(), 1u) << d["weights"].dump(2);
  const json& w = d["weights"]["changed"][0];
  EXPECT_EQ(w["layer"], "second_matmul");
  EXPECT_EQ(w["slot"], "input 1");
  EXPECT_EQ(w["elements_changed"], 1);
  EXPECT_GE(w["max_abs_diff"].get<double>(), 16.0);
  EXPECT_EQ(w["unit"], "quantized");
  EXPECT_EQ(w["same_quantization"], true) << "halving a non-extreme element keeps the channel's scale";
  // The source model differs, so does its key; nothing of the first layer changed.
  bool key = false;
  for (const json& e : d["provenance"]) key = key || e["key"] == "source_model_key";
  EXPECT_TRUE(key) << d["provenance"].dump(2);
  EXPECT_TRUE(atLayer(d["tensors"], "first_matmul+first_bias+first_relu").empty()) << d["tensors"].dump(2);
  const std::string out = diffText(b.int8, b.int8Nudged, 1);
  EXPECT_NE(out.find("weights (xxHash64 of the stored bytes; 1 of "), std::string::npos) << out;
  EXPECT_NE(out.find("second_matmul input 1"), std::string::npos) << out;
}

TEST(DiffCli, JsonIsByteIdenticalAcrossRuns) {
  const Builds& b = builds();
  std::string first, second, err;
  const std::string cmd = fmt::format("diff '{}' '{}' --json", b.int8.string(), b.fp16.string());
  ASSERT_EQ(test::runNpuconv(cmd, &first, &err), 1) << err;
  ASSERT_EQ(test::runNpuconv(cmd, &second, &err), 1) << err;
  EXPECT_EQ(first, second);
  EXPECT_GT(first.size(), 1000u);
}

TEST(DiffCli, BadBlobsAndArgumentsEndInTheirExitCodes) {
  const Builds& b = builds();
  // A flipped byte inside a section: the reader's CRC error, one line naming the file.
  std::string bytes = test::slurp(b.int8);
  ASSERT_GT(bytes.size(), 1000u);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x40);
  const fs::path bad = b.dir / "bad.npub";
  std::ofstream(bad, std::ios::binary) << bytes;
  std::string out, err;
  EXPECT_EQ(test::runNpuconv(fmt::format("diff '{}' '{}'", b.int8.string(), bad.string()), &out, &err), 3) << err;
  EXPECT_EQ(err.rfind("npuconv: error: " + bad.string() + ": ", 0), 0u) << err;
  EXPECT_NE(err.find("CRC-32C mismatch"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_TRUE(out.empty()) << out;
  // Missing file: i/o error.
  EXPECT_EQ(test::runNpuconv(fmt::format("diff '{}' '{}'", (b.dir / "none.npub").string(), b.int8.string()), &out, &err), 5) << err;
  EXPECT_NE(err.find("none.npub"), std::string::npos) << err;
  // One blob only, or an unknown option: bad arguments.
  EXPECT_EQ(test::runNpuconv(fmt::format("diff '{}'", b.int8.string()), &out, &err), 2) << err;
  EXPECT_EQ(test::runNpuconv(fmt::format("diff '{}' '{}' --jsn", b.int8.string(), b.fp16.string()), &out, &err), 2) << err;
}

}  // namespace
}  // namespace npuconv
