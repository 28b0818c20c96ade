// observer_test.cc - selective observation (Executor::setObserver with a list of values): only
// the listed values are reported, by the node that defines them; fusions stay on unless they
// would skip a listed value; every reported tensor is bit-identical to the unfused run's (an
// observer of everything), on a small Conv/MatMul model and on the MiniLM-like zoo encoder after O2.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "converter/exec/executor.h"
#include "formats/onnx/onnx_reader.h"
#include "passes/registry.h"
#include "tests/support/test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

std::string randomList(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  std::string s;
  for (size_t i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(u(rng));
  return s;
}

// Conv + Relu, Conv + residual Add + Relu, MatMul + bias Add: the three fusion kinds.
std::string smallModel() {
  return R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 4, 6, 6] X, float[1, 6, 8] M) => (float[1, 4, 6, 6] Y, float[1, 6, 5] Z)
<float[4, 4, 3, 3] W1 = {)" + randomList(144, 1) + R"(}, float[4] B1 = {)" + randomList(4, 2) + R"(},
 float[4, 4, 3, 3] W2 = {)" + randomList(144, 3) + R"(}, float[4] B2 = {)" + randomList(4, 4) + R"(},
 float[8, 5] WM = {)" + randomList(40, 5) + R"(}, float[5] BM = {)" + randomList(5, 6) + R"(}>
{
  C1 = Conv <pads = [1, 1, 1, 1]> (X, W1, B1)
  R1 = Relu (C1)
  C2 = Conv <pads = [1, 1, 1, 1]> (R1, W2, B2)
  S = Add (C2, X)
  Y = Relu (S)
  P = MatMul (M, WM)
  Z = Add (P, BM)
}
)";
}

NamedTensors smallInputs() {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  std::vector<float> x(144), m(48);
  for (auto& v : x) v = u(rng);
  for (auto& v : m) v = u(rng);
  return {{"X", Tensor::fromValues<float>(DType::F32, {1, 4, 6, 6}, std::span<const float>(x))},
          {"M", Tensor::fromValues<float>(DType::F32, {1, 6, 8}, std::span<const float>(m))}};
}

struct Observed {
  std::map<std::string, Tensor> tensors;  // value name -> a copy of what the observer saw
  std::map<std::string, std::string> producer;  // value name -> the node that reported it
  std::set<std::string> fusedNodes;  // nodes computed through a fused epilogue
  NamedTensors outputs;
};

/// Runs `m` once; `names` empty: the observer of everything, else only those values.
Observed observeRun(const Model& m, const NamedTensors& in, const std::vector<std::string>& names, int threads = 2) {
  Observed r;
  auto exec = Executor::create(m, ExecOptions{threads, nullptr});
  EXPECT_TRUE(exec.hasValue()) << exec.status().toString();
  if (!exec) return r;
  TensorObserver obs = [&](const Node& n, size_t i, const Tensor& t) {
    const std::string& name = n.result(i)->name();
    EXPECT_FALSE(r.tensors.count(name)) << name << " reported twice";
    Tensor copy(t.dtype(), t.dims());  // a copy: the executor reuses the buffer
    if (t.byteSize()) std::memcpy(copy.mutableRaw(), t.raw(), t.byteSize());
    r.tensors[name] = copy;
    r.producer[name] = n.name().empty() ? n.opType() : n.name();
    r.producer[name] += "/" + n.opType();
  };
  if (names.empty()) {
    (*exec)->setObserver(obs);
  } else {
    std::vector<const Value*> values;
    for (const Node* n : m.graph->nodes())
      for (const Value* v : n->results())
        if (v && std::find(names.begin(), names.end(), v->name()) != names.end()) values.push_back(v);
    EXPECT_EQ(values.size(), names.size());
    (*exec)->setObserver(obs, values);
  }
  (*exec)->setStepTimer([&](const Node&, const std::vector<const Node*>& fused, double) {
    for (const Node* f : fused) r.fusedNodes.insert(f->result(0)->name());
  });
  auto out = (*exec)->run(in);
  EXPECT_TRUE(out.hasValue()) << out.status().toString();
  if (out) r.outputs = *out;
  return r;
}

void expectBitIdentical(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.dtype(), b.dtype()) << what;
  ASSERT_EQ(a.dims(), b.dims()) << what;
  ASSERT_EQ(std::memcmp(a.raw(), b.raw(), a.byteSize()), 0) << what << " differs from the unfused run";
}

TEST(ExecObserver, SelectiveObserverKeepsFusionsAndSeesUnfusedTensors) {
  Model m = test::parseModel(smallModel());
  NamedTensors in = smallInputs();
  Observed all = observeRun(m, in, {});
  EXPECT_TRUE(all.fusedNodes.empty()) << "an observer of everything must turn fusion off";
  EXPECT_EQ(all.tensors.size(), 7u);

  // What a QDQ quantizer calibrates: the activations at quantization boundaries.
  Observed some = observeRun(m, in, {"R1", "Y", "Z"});
  EXPECT_EQ(some.fusedNodes, (std::set<std::string>{"R1", "S", "Y", "Z"}));
  ASSERT_EQ(some.tensors.size(), 3u);
  for (const auto& [name, t] : some.tensors) expectBitIdentical(t, all.tensors.at(name), name);
  // Reported by the node that defines the value, not by the Conv/MatMul that computed it.
  EXPECT_EQ(some.producer.at("R1"), "Relu/Relu");
  EXPECT_EQ(some.producer.at("Y"), "Relu/Relu");
  EXPECT_EQ(some.producer.at("Z"), "Add/Add");
  for (const auto& [name, t] : all.outputs) expectBitIdentical(some.outputs.at(name), t, "output " + name);
}

TEST(ExecObserver, ObservingASkippedValueTurnsOnlyThatFusionOff) {
  Model m = test::parseModel(smallModel());
  NamedTensors in = smallInputs();
  Observed all = observeRun(m, in, {});
  // S is the residual sum inside Conv C2's fused chain: that chain runs unfused, the others stay.
  Observed some = observeRun(m, in, {"S", "C1"});
  EXPECT_EQ(some.fusedNodes, (std::set<std::string>{"Z"}));
  ASSERT_EQ(some.tensors.size(), 2u);
  for (const auto& [name, t] : some.tensors) expectBitIdentical(t, all.tensors.at(name), name);
  EXPECT_EQ(some.producer.at("S"), "Add/Add");
  for (const auto& [name, t] : all.outputs) expectBitIdentical(some.outputs.at(name), t, "output " + name);

  // The MatMul's own result (skipped by the bias fusion) is reported when asked for.
  Observed p = observeRun(m, in, {"P"});
  EXPECT_EQ(p.fusedNodes, (std::set<std::string>{"R1", "S", "Y"}));
  ASSERT_EQ(p.tensors.size(), 1u);
  expectBitIdentical(p.tensors.at("P"), all.tensors.at("P"), "P");
}

TEST(ExecObserver, OldOverloadAndResetStillWork) {
  Model m = test::parseModel(smallModel());
  NamedTensors in = smallInputs();
  auto exec = Executor::create(m, ExecOptions{2, nullptr});
  ASSERT_TRUE(exec.hasValue());
  int calls = 0;
  std::vector<const Value*> one = {m.graph->outputs()[1]};
  (*exec)->setObserver([&](const Node&, size_t, const Tensor&) { ++calls; }, one);
  ASSERT_TRUE((*exec)->run(in).hasValue());
  EXPECT_EQ(calls, 1);
  calls = 0;
  (*exec)->setObserver([&](const Node&, size_t, const Tensor&) { ++calls; });  // everything again
  ASSERT_TRUE((*exec)->run(in).hasValue());
  EXPECT_EQ(calls, 7);
  calls = 0;
  (*exec)->setObserver(nullptr);
  ASSERT_TRUE((*exec)->run(in).hasValue());
  EXPECT_EQ(calls, 0);
}

// The MiniLM-like encoder after O2, observed as a calibrator would: every value except the raw
// MatMul results (their bias Adds are the quantization boundary). Bias fusions stay on and every
// observed tensor matches the observe-everything run bit for bit, at 1 and 2 threads.
TEST(ExecObserver, MiniLmO2BoundariesMatchUnfusedRun) {
  auto path = test::materializeZooModelOr("minilm_l6_opset17");
  if (!path) GTEST_SKIP() << "zoo model unavailable: " << path.status().toString();
  auto model = readOnnx(*path);
  ASSERT_TRUE(model.hasValue()) << model.status().toString();
  auto pm = buildPassManager("O2", "", {});
  ASSERT_TRUE(pm.hasValue());
  PassContext ctx;
  ASSERT_TRUE(pm->run(*model, ctx).isOk());
  NamedTensors in;
  for (const Value* v : model->graph->inputs()) {
    if (v->isInitializer()) continue;
    Tensor t(DType::I64, {1, 32});
    for (int64_t i = 0; i < 32; ++i)
      t.mutableData<int64_t>()[i] = v->name().find("mask") != std::string::npos ? (i < 28 ? 1 : 0)
                                    : v->name().find("type") != std::string::npos ? 0
                                                                                  : (i * 37 + 11) % 1000;
    in[v->name()] = t;
  }
  std::vector<std::string> names;
  for (const Node* n : model->graph->nodes())
    if (!n->is("MatMul"))
      for (const Value* v : n->results())
        if (v && v->dtype() == DType::F32) names.push_back(v->name());
  for (int threads : {1, 2}) {
    Observed all = observeRun(*model, in, {}, threads);
    Observed some = observeRun(*model, in, names, threads);
    EXPECT_GE(some.fusedNodes.size(), 36u) << "the bias Adds of the 36 projection MatMuls should stay fused";
    ASSERT_EQ(some.tensors.size(), names.size());
    for (const auto& [name, t] : some.tensors) expectBitIdentical(t, all.tensors.at(name), name);
    for (const auto& [name, t] : all.outputs) expectBitIdentical(some.outputs.at(name), t, "output " + name);
  }
}

}  // namespace
}  // namespace npuconv
