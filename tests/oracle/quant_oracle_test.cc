// quant_oracle_test.cc - QDQ models from quantizeStatic through ONNX Runtime (onnxruntime-node,
// graph optimizations off, so Q/DQ execute as written, in float) and through our executor:
// onnx's checker accepts them, float outputs agree to 1e-5 relative and the uint8 tensors of
// every QuantizeLinear (added as extra outputs) agree exactly; and the QDQ model stays close to
// the float model (resnet18 with random weights, minmax ranges from a few random samples).
// Skipped when node_modules/onnxruntime-node is absent (scripts/install_ort.sh).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <onnx/checker.h>

#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "passes/match.h"
#include "passes/registry.h"
#include "quant/layer_error.h"
#include "quant/quantize.h"
#include "tests/passes/pass_test_util.h"
#include "tests/quant/quant_test_util.h"
#include "tests/support/test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

bool haveOrt() {
  return fs::exists(test::sourceDir() / "node_modules" / "onnxruntime-node") && test::runCommand("node --version") == 0;
}

using test::slurp;

/// Makes every QuantizeLinear result a graph output too, so both runtimes report the uint8
/// tensors; their dims (which a graph output must declare) come from one run of the executor.
void exposeQuantized(Model& m, const NamedTensors& in) {
  std::map<const Value*, std::vector<int64_t>> dims;
  {
    auto exec = Executor::create(m, ExecOptions{.threads = 2});
    ASSERT_TRUE(exec.hasValue()) << exec.status().toString();
    (*exec)->setObserver([&](const Node& n, size_t i, const Tensor& t) {
      if (n.isQdq("QuantizeLinear")) dims[n.result(i)] = t.dims();
    });
    ASSERT_TRUE((*exec)->run(in).hasValue());
  }
  for (Node* n : m.graph->nodes())
    if (n->isQdq("QuantizeLinear") && !n->result(0)->isGraphOutput()) {
      Value* r = n->result(0);
      r->setType(TensorType{r->dtype(), shapeOf(dims.at(r)), {}, {}});
      m.graph->addOutput(r);
    }
}

struct IntTensorDiff {
  int64_t elements = 0, mismatches = 0, maxStep = 0;
};
struct OracleStats {
  int64_t intTensors = 0, intElements = 0, intMismatches = 0, intMaxStep = 0;
  double worstRel = 0, worstAbs = 0;
  std::vector<IntTensorDiff> perTensor;  // uint8 outputs in graph order
};

/// Writes `q`, checks it, runs it in ONNX Runtime and in our executor on `in`, compares: float
/// outputs within 1e-5 relative, or within `absTol` when given.
OracleStats compareWithOrt(const std::string& name, Model q, const NamedTensors& in, double absTol = 0) {
  OracleStats st;
  exposeQuantized(q, in);
  fs::path dir = test::tempDir("quant_oracle_" + name);
  fs::path path = dir / "model.onnx";
  auto w = writeOnnx(q, path);
  EXPECT_TRUE(w.hasValue()) << w.status().toString();
  try {
    onnx::checker::check_model(path.string());
  } catch (const std::exception& e) {
    ADD_FAILURE() << "onnx checker rejects " << name << ": " << e.what();
  }
  Status s = test::writeRawInputs(in, dir);
  EXPECT_TRUE(s.isOk()) << s.toString();
  std::string cmd = fmt::format("node '{}' --model '{}' --inputs '{}' --outdir '{}' --threads 2",
                                (test::sourceDir() / "tests/oracle/ort_run.js").string(), path.string(),
                                (dir / "inputs.json").string(), (dir / "ort").string());
  std::string out, err;
  EXPECT_EQ(test::runCommand(cmd, &out, &err), 0) << cmd << "\n" << err;
  auto manifest = nlohmann::json::parse(slurp(dir / "ort" / "manifest.json"), nullptr, false);
  EXPECT_FALSE(manifest.is_discarded());
  if (manifest.is_discarded()) return st;
  // Our executor on the model as written (read back: what ORT ran).
  auto back = readOnnx(path);
  EXPECT_TRUE(back.hasValue()) << back.status().toString();
  if (!back.hasValue()) return st;
  NamedTensors ours = test::runModel(*back, in, 2);
  for (const auto& o : manifest["outputs"]) {
    const std::string oname = o["name"];
    SCOPED_TRACE(name + " output " + oname);
    auto it = ours.find(oname);
    EXPECT_NE(it, ours.end());
    if (it == ours.end()) continue;
    std::string bytes = slurp(dir / "ort" / o["file"].get<std::string>());
    EXPECT_EQ(bytes.size(), it->second.byteSize());
    if (bytes.size() != it->second.byteSize()) continue;
    if (o["dtype"] == "float32") {
      const float* ref = reinterpret_cast<const float*>(bytes.data());
      auto got = it->second.span<float>();
      double mx = 0, diff = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        mx = std::max(mx, std::fabs(static_cast<double>(ref[i])));
        diff = std::max(diff, std::fabs(static_cast<double>(ref[i]) - got[i]));
      }
      double rel = mx > 0 ? diff / mx : diff;
      st.worstRel = std::max(st.worstRel, rel);
      st.worstAbs = std::max(st.worstAbs, diff);
      if (absTol > 0) EXPECT_LE(diff, absTol) << "max|ort| " << mx;
      else EXPECT_LE(rel, 1e-5) << "max|diff| " << diff << " max|ort| " << mx;
    } else {
      EXPECT_TRUE(o["dtype"] == "uint8" || o["dtype"] == "uint16") << o["dtype"];
      const bool wide = o["dtype"] == "uint16";
      auto at = [&](const void* p, size_t i) -> int64_t {
        return wide ? static_cast<const uint16_t*>(p)[i] : static_cast<const uint8_t*>(p)[i];
      };
      const size_t count = it->second.numElements();
      ++st.intTensors;
      int64_t bad = 0, step = 0;
      for (size_t i = 0; i < count; ++i) {
        ++st.intElements;
        int64_t r = at(bytes.data(), i), g = at(it->second.raw(), i);
        if (r != g) {
          ++st.intMismatches, ++bad;
          step = std::max<int64_t>(step, std::abs(r - g));
        }
      }
      st.intMaxStep = std::max(st.intMaxStep, step);
      st.perTensor.push_back({static_cast<int64_t>(count), bad, step});
      if (bad && getenv("QORACLE_VERBOSE"))
        std::printf("  %s: %lld of %zu differ, max %lld\n", oname.c_str(), static_cast<long long>(bad), count,
                    static_cast<long long>(step));
    }
  }
  std::printf("[ qoracle  ] %s: float outputs max|diff| %.3g (rel %.3g); %lld uint8 tensors, %lld of %lld elements differ (max %lld step)\n",
              name.c_str(), st.worstAbs, st.worstRel, static_cast<long long>(st.intTensors), static_cast<long long>(st.intMismatches),
              static_cast<long long>(st.intElements), static_cast<long long>(st.intMaxStep));
  return st;
}

struct TinyCase {
  std::string name, text;
  std::map<std::string, test::Range> consts;
};

std::vector<TinyCase> tinyCases() {
  return {
      {"conv_relu_maxpool_concat", R"(<ir_version: 8, opset_import: ["" : 13]>
        g (float[1,3,12,12] x, float[8,3,3,3] w1, float[8] b1, float[8,3,1,1] w2) => (float[1,16,5,5] y) {
          c = Conv(x, w1, b1)
          r = Relu(c)
          p = MaxPool<kernel_shape = [2,2], strides = [2,2]>(r)
          d = Conv<strides = [2,2]>(x, w2)
          st = Constant<value = int64[4] {0,0,0,0}>()
          en = Constant<value = int64[4] {1,8,5,5}>()
          e = Slice(d, st, en)
          y = Concat<axis = 1>(p, e)
        })",
       {{"w1", {}}, {"b1", {}}, {"w2", {}}}},
      {"residual_gap_gemm", R"(<ir_version: 8, opset_import: ["" : 11]>
        g (float[1,4,6,6] x, float[4,4,3,3] w, float[10,4] fw, float[10] fb) => (float[1,10] y) {
          c = Conv<pads = [1,1,1,1]>(x, w)
          s = Add(c, x)
          r = Relu(s)
          gp = GlobalAveragePool(r)
          f = Flatten(gp)
          y = Gemm<transB = 1>(f, fw, fb)
        })",
       {{"w", {}}, {"fw", {}}, {"fb", {}}}},
      {"matmul_attention_like", R"(<ir_version: 8, opset_import: ["" : 13]>
        g (float[2,8,16] x, float[16,16] wq, float[16] bq, float[16,16] wk) => (float[2,8,8] y) {
          q = MatMul(x, wq)
          qb = Add(q, bq)
          k = MatMul(x, wk)
          kt = Transpose<perm = [0,2,1]>(k)
          y = MatMul(qb, kt)
        })",
       {{"wq", {}}, {"bq", {}}, {"wk", {}}}},
  };
}

TEST(QuantOracle, TinyModelsMatchOnnxRuntime) {
  if (!haveOrt()) GTEST_SKIP() << "node_modules/onnxruntime-node absent: run scripts/install_ort.sh";
  for (const TinyCase& c : tinyCases()) {
    SCOPED_TRACE(c.name);
    Model f = test::buildModel(c.text, c.consts);
    Model q = test::buildModel(c.text, c.consts);
    auto samples = test::seededSamples(f, 4, 77);
    QuantizeReport rep;
    Status s = quantizeStatic(q, test::observedRanges(f, samples), {}, rep);
    ASSERT_TRUE(s.isOk()) << s.toString();
    EXPECT_GT(test::countOps(q, "QuantizeLinear"), 0);
    OracleStats st = compareWithOrt(c.name, std::move(q), test::seededInputs(f, 999));
    EXPECT_GT(st.intTensors, 0);
    EXPECT_EQ(st.intMismatches, 0) << "uint8 tensors differ between ONNX Runtime and the executor";
  }
}

// Mixed precision: the MatMuls with 16-bit activations (com.microsoft Q/DQ at opset 13), the
// Conv case with one layer in fp16 and one int16 by pattern: ONNX Runtime runs what we write and
// agrees with the executor on every quantized tensor, 16-bit ones included.
TEST(QuantOracle, MixedInt16AndFp16LayersMatchOnnxRuntime) {
  if (!haveOrt()) GTEST_SKIP() << "node_modules/onnxruntime-node absent: run scripts/install_ort.sh";
  std::vector<TinyCase> cases = tinyCases();
  struct Mix {
    size_t caseIndex;
    const char* config;
  };
  const Mix mixes[] = {
      {2, R"({"op_types": {"MatMul": "int16"}})"},
      {0, R"({"default": "int8", "patterns": {".*Conv.*": "int16"}, "op_types": {"MaxPool": "fp16"}})"},
  };
  for (const Mix& mix : mixes) {
    const TinyCase& c = cases[mix.caseIndex];
    SCOPED_TRACE(c.name + " " + mix.config);
    Model f = test::buildModel(c.text, c.consts);
    Model q = test::buildModel(c.text, c.consts);
    auto samples = test::seededSamples(f, 4, 77);
    QuantizeOptions opt;
    auto cfg = parseMixedConfig(nlohmann::ordered_json::parse(mix.config), "test");
    ASSERT_TRUE(cfg.hasValue()) << cfg.status().toString();
    opt.mixed = *cfg;
    ASSERT_TRUE(checkMixedConfigKeys(opt.mixed, *q.graph, "test").isOk());
    QuantizeReport rep;
    Status s = quantizeStatic(q, test::observedRanges(f, samples), opt, rep);
    ASSERT_TRUE(s.isOk()) << s.toString();
    if (opt.mixed.mentions(LayerPrecision::Fp16)) {
      opt.keepIoTypes = true;
      ASSERT_TRUE(convertToFp16(q, opt, rep).isOk());
    }
    int wide = 0;
    for (const Node* n : q.graph->nodes())
      if (n->isQdq("QuantizeLinear") && n->domain() == "com.microsoft") {
        ++wide;
        EXPECT_EQ(n->result(0)->dtype(), DType::U16) << n->name();
      }
    EXPECT_GT(wide, 0) << "no 16-bit QuantizeLinear";
    EXPECT_EQ(q.opsetVersion("com.microsoft"), 1);
    // ONNX Runtime computes a float16 MaxPool in float32: Cast(f32->f16) -> MaxPool -> Cast(f16->f32)
    // returns unrounded values on its CPU provider (measured on 1.30, optimizations disabled too),
    // while the executor rounds to float16 as ONNX says. Downstream that is at most half a float16
    // step: 2^(16-11) steps of a 16-bit tensor, 2^-11 relative on float outputs. (Before the
    // com.microsoft DequantizeLinear had its result type, the "fp16" MaxPool read float32 and
    // nothing was rounded on either side.)
    const bool fp16 = opt.mixed.mentions(LayerPrecision::Fp16);
    OracleStats st = compareWithOrt(c.name + "_mixed", std::move(q), test::seededInputs(f, 999), fp16 ? 1e-2 : 0);
    EXPECT_GT(st.intTensors, 0);
    if (fp16) {
      EXPECT_LE(st.intMaxStep, 32) << "more than float16 rounding between ONNX Runtime and the executor";
    } else {
      EXPECT_EQ(st.intMismatches, 0) << "quantized tensors differ between ONNX Runtime and the executor";
    }
  }
}

double cosine(std::span<const float> a, std::span<const float> b) {
  double d = 0, x = 0, y = 0;
  for (size_t i = 0; i < a.size(); ++i) d += double(a[i]) * b[i], x += double(a[i]) * a[i], y += double(b[i]) * b[i];
  return d / std::sqrt(x * y);
}

TEST(QuantOracle, Resnet18QdqMatchesOrtAndStaysCloseToFloat) {
  if (!haveOrt()) GTEST_SKIP() << "node_modules/onnxruntime-node absent: run scripts/install_ort.sh";
  auto path = test::materializeZooModelOr("resnet18");
  ASSERT_TRUE(path.hasValue()) << path.status().toString();
  auto loaded = readOnnx(*path);
  ASSERT_TRUE(loaded.hasValue()) << loaded.status().toString();
  Model f = std::move(*loaded);
  auto o2 = buildPassManager("O2", "", {});
  ASSERT_TRUE(o2.hasValue()) << o2.status().toString();
  PassContext ctx;
  ASSERT_TRUE(o2->run(f, ctx).isOk());
  std::vector<NamedTensors> calib;
  for (uint64_t k = 0; k < 4; ++k) {
    auto t = test::makeSeededInput("input", DType::F32, {1, 3, 224, 224}, 100 + k);
    ASSERT_TRUE(t.hasValue());
    calib.push_back({{"input", *t}});
  }
  QuantRanges ranges = test::observedRanges(f, calib);
  // The quantized copy: read again and optimized the same way.
  auto again = readOnnx(*path);
  ASSERT_TRUE(again.hasValue());
  Model q = std::move(*again);
  // A PassManager resumes where it stopped (run() runs only passes added since): a fresh one.
  auto o2again = buildPassManager("O2", "", {});
  ASSERT_TRUE(o2again.hasValue());
  ASSERT_TRUE(o2again->run(q, ctx).isOk());
  QuantizeReport rep;
  Status s = quantizeStatic(q, ranges, {}, rep);
  ASSERT_TRUE(s.isOk()) << s.toString();
  EXPECT_GT(test::countOps(q, "QuantizeLinear"), 20);
  test::VectorSampleStream data(calib);
  auto table = layerErrorTable(f, q, data, 2);
  ASSERT_TRUE(table.hasValue()) << table.status().toString();
  auto sum = layerErrorSummary(*table);
  std::printf("[ qoracle  ] resnet18 per-layer error (float input, 4 samples): %s\n", sum.dump().c_str());
  EXPECT_GE(sum["layers"].get<int>(), 20);

  auto eval = test::makeSeededInput("input", DType::F32, {1, 3, 224, 224}, 4242);
  ASSERT_TRUE(eval.hasValue());
  NamedTensors in{{"input", *eval}};
  NamedTensors fo = test::runModel(f, in, 2), qo = test::runModel(q, in, 2);
  ASSERT_EQ(fo.size(), 1u);
  const std::string out = fo.begin()->first;
  double cos = cosine(fo.at(out).span<float>(), qo.at(out).span<float>());
  std::printf("[ qoracle  ] resnet18 QDQ vs float logits: cosine %.5f\n", cos);
  EXPECT_GT(cos, 0.99);

  // Both runtimes execute Q/DQ in float but sum the convolutions in different orders: a value
  // a few ulps from a rounding boundary lands on the other side in one of them (3 of 200704 in
  // the first block here), and each such step feeds the next layers, so differences cascade
  // through the 20 layers. Exactness is checked where it cannot have cascaded yet (the input
  // and the first layers: at most 1e-4 of the elements, one step), and the logits to two steps
  // of their own scale.
  const Value* logits = q.graph->outputs()[0];
  ASSERT_TRUE(logits->producer() && logits->producer()->is("DequantizeLinear"));
  float sOut = m::constTensor(logits->producer()->operand(1))->toFloats()[0];
  OracleStats st = compareWithOrt("resnet18", std::move(q), in, 2.0 * sOut);
  EXPECT_GT(st.intTensors, 20);
  ASSERT_GE(st.perTensor.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_LE(st.perTensor[i].maxStep, 1);
    EXPECT_LE(static_cast<double>(st.perTensor[i].mismatches), 1e-4 * static_cast<double>(st.perTensor[i].elements));
  }
}

}  // namespace
}  // namespace npuconv
