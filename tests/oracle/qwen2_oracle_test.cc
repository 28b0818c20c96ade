// qwen2_oracle_test.cc - a Qwen2-style decoder (RMSNorm, rotary embeddings, grouped-query
// attention 4 heads / 2 kv heads, SwiGLU, tied LM head; issue 13 section 4) exported by
// testdata/models/qwen2/gen_qwen2.py (Debian's python3-torch) at test time, in its tiny
// config (~0.7 MB, about 2 s). Through the CLI as a user would: `npuconv run` against ONNX
// Runtime on the same input; then `optimize --pipeline O2` and `convert --precision
// fp16 | int8-weights | int8-dynamic`, each output run by `npuconv run` and by ONNX Runtime
// (the two must agree) and compared with the float model (accuracy of the conversion).
// bench/qwen2_bench.sh runs the same steps on the 2.4 GiB config. Skipped without
// python3-torch, node or onnxruntime-node.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "formats/npy/npy.h"
#include "tests/quant/precisions_test_util.h"
#include "tests/support/test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

/// ONNX Runtime's `logits` for `model` on the inputs written in `dir`.
Expected<Tensor> ortLogits(const fs::path& model, const fs::path& dir, const std::string& tag) {
  NPU_ASSIGN_OR_RETURN(NamedTensors outs, test::runOrt(model, dir, dir / ("ort_" + tag)));
  auto it = outs.find("logits");
  if (outs.size() != 1 || it == outs.end()) return Status::internal("ORT outputs: expected logits only");
  return std::move(it->second);
}

/// `npuconv run MODEL` on the inputs in `dir`: its logits (float16 from an fp16 model, whose
/// I/O is float16 unless --keep-io-types).
Expected<Tensor> npuconvLogits(const fs::path& model, const fs::path& dir, const std::string& tag) {
  fs::path outDir = dir / ("npuconv_" + tag);
  std::string cmd = fmt::format("'{}' run '{}' --input input_ids='{}' --input position_ids='{}' --output-dir '{}' --threads 2",
                                test::npuconvBinary(), model.string(), (dir / "input_ids.npy").string(),
                                (dir / "position_ids.npy").string(), outDir.string());
  std::string out, err;
  if (test::runCommand(cmd, &out, &err) != 0) return Status::internal("{}: {}", cmd, err);
  NPU_ASSIGN_OR_RETURN(TensorRef t, readNpy(outDir / "logits.npy"));
  if (t->dtype() != DType::F32 && t->dtype() != DType::F16) return Status::internal("logits.npy: not f32 or f16");
  Tensor logits(t->dtype(), t->dims());
  std::memcpy(logits.mutableRaw(), t->rawBytes(), logits.byteSize());
  return logits;
}

int runCli(const std::string& args, std::string* err) {
  return test::runCommand(fmt::format("'{}' {}", test::npuconvBinary(), args), nullptr, err);
}

struct Variant {
  const char* name;
  const char* command;     // npuconv arguments; {m} the float model, {o} the output folder
  const char* model;       // the file it writes, under {o}
  double ortTolerance;     // max|npuconv - ORT| / max|ORT| on the same model
  double minCosineFloat;   // cosine(npuconv on it, ORT on the float model)
};

TEST(Qwen2Oracle, TinyDecoderThroughEveryPrecisionMatchesOrt) {
  if (test::runCommand("/usr/bin/python3 -c 'import torch'") != 0)
    GTEST_SKIP() << "python3-torch absent (apt-get install python3-torch)";
  if (!fs::exists(test::sourceDir() / "node_modules" / "onnxruntime-node"))
    GTEST_SKIP() << "node_modules/onnxruntime-node absent: run scripts/install_ort.sh";
  if (test::runCommand("node --version") != 0) GTEST_SKIP() << "node not found";

  fs::path dir = test::tempDir("qwen2_tiny");
  fs::path model = dir / "qwen2_tiny.onnx";
  std::string out, err;
  int rc = test::runCommand(fmt::format("/usr/bin/python3 '{}' --config tiny -o '{}'",
                                        (test::sourceDir() / "testdata/models/qwen2/gen_qwen2.py").string(),
                                        model.string()),
                            &out, &err);
  ASSERT_EQ(rc, 0) << out << err;
  std::printf("[ qwen2] %s", out.c_str());
  ASSERT_LT(fs::file_size(model), 2u << 20);

  // One input: 16 token ids, positions 0..15.
  NamedTensors inputs;
  Tensor ids(DType::I64, {1, 16}), pos(DType::I64, {1, 16});
  test::SplitMix64 rng(2024);
  for (int i = 0; i < 16; ++i) {
    ids.mutableData<int64_t>()[i] = static_cast<int64_t>(rng.next() % 512);
    pos.mutableData<int64_t>()[i] = i;
  }
  inputs.emplace("input_ids", std::move(ids));
  inputs.emplace("position_ids", std::move(pos));
  ASSERT_TRUE(test::writeRawInputs(inputs, dir).isOk());

  auto ortFloat = ortLogits(model, dir, "float");
  ASSERT_TRUE(ortFloat.hasValue()) << ortFloat.status().toString();
  ASSERT_EQ(ortFloat->dims(), (std::vector<int64_t>{1, 16, 512}));
  auto ours = npuconvLogits(model, dir, "float");
  ASSERT_TRUE(ours.hasValue()) << ours.status().toString();
  double rel = test::relMaxDiff(*ortFloat, *ours);
  std::printf("[ qwen2] float: npuconv run vs ORT max|diff|/max|ORT| %.3g\n", rel);
  EXPECT_LE(rel, 1e-4);

  const Variant variants[] = {
      {"O2", "optimize {m} -o {o}/model.onnx --pipeline O2", "model.onnx", 1e-4, 0.99999},
      {"fp16", "convert {m} -o {o} --precision fp16", "model.onnx", 5e-3, 0.9999},
      {"int8_weights", "convert {m} -o {o} --precision int8-weights", "model.onnx", 1e-4, 0.999},
      {"int8_dynamic", "convert {m} -o {o} --precision int8-dynamic", "model.onnx", 2e-3, 0.999},
  };
  for (const Variant& v : variants) {
    SCOPED_TRACE(v.name);
    fs::path o = dir / v.name;
    fs::create_directories(o);
    std::string args = v.command;
    args.replace(args.find("{m}"), 3, "'" + model.string() + "'");
    args.replace(args.find("{o}"), 3, "'" + o.string() + "'");
    ASSERT_EQ(runCli(args, &err), 0) << args << "\n" << err;
    fs::path written = o / v.model;
    auto ort = ortLogits(written, dir, v.name);
    ASSERT_TRUE(ort.hasValue()) << ort.status().toString();
    auto got = npuconvLogits(written, dir, v.name);
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    ASSERT_EQ(got->dims(), ortFloat->dims());
    double r = test::relMaxDiff(*ort, *got);
    double oursVsOrt = test::cosine(test::asDoubles(*ort), test::asDoubles(*got));
    double vsFloat = test::cosine(test::asDoubles(*ortFloat), test::asDoubles(*got));
    double ortVsFloat = test::cosine(test::asDoubles(*ortFloat), test::asDoubles(*ort));
    std::printf("[ qwen2] %s: npuconv vs ORT max|diff|/max|ORT| %.3g (tol %.g), cosine %.6f; vs float32: npuconv "
                "%.6f, ORT %.6f\n",
                v.name, r, v.ortTolerance, oursVsOrt, vsFloat, ortVsFloat);
    EXPECT_LE(r, v.ortTolerance);
    EXPECT_GE(vsFloat, v.minCosineFloat);
    EXPECT_GE(ortVsFloat, v.minCosineFloat);
  }
}

}  // namespace
}  // namespace npuconv
