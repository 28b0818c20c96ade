// precisions_test_util.h - running a float model and its int8-weights / int8-dynamic / fp16
// conversion on the same seeded inputs, and comparing them.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "converter/exec/executor.h"
#include "converter/ir/model.h"
#include "converter/ir/verifier.h"
#include "tests/passes/pass_test_util.h"
#include "tests/support/zoo.h"

namespace npuconv::test {

/// Seeded U(-1, 1) values for every float graph input with a static shape (f32 or f16).
inline NamedTensors seededFloatInputs(const Model& m, uint64_t seed) {
  NamedTensors out;
  SplitMix64 rng(seed);
  for (const Value* v : m.graph->inputs()) {
    if (v->isInitializer() || !v->type().hasStaticShape()) continue;
    std::vector<int64_t> dims = staticDims(*v->shape());
    Tensor t(v->dtype(), dims);
    for (int64_t i = 0; i < t.numElements(); ++i) {
      float x = rng.uniform(-1.0f, 1.0f);
      if (v->dtype() == DType::F32) t.mutableData<float>()[i] = x;
      else if (v->dtype() == DType::F16) t.mutableData<uint16_t>()[i] = floatToHalf(x);
    }
    out.emplace(v->name(), std::move(t));
  }
  return out;
}

/// The inputs as `m` declares them (f32 values rounded to f16 where it takes f16).
inline NamedTensors inputsFor(const Model& m, const NamedTensors& f32) {
  NamedTensors out;
  for (const auto& [name, t] : f32) {
    const Value* v = m.graph->findValue(name);
    if (v && v->dtype() == DType::F16 && t.dtype() == DType::F32) {
      Tensor h(DType::F16, t.dims());
      for (int64_t i = 0; i < t.numElements(); ++i) h.mutableData<uint16_t>()[i] = floatToHalf(t.data<float>()[i]);
      out.emplace(name, std::move(h));
    } else {
      out.emplace(name, t);
    }
  }
  return out;
}

/// Runs a converted `m` on f32 `inputs` (rounded to f16 where it takes f16); fails the test
/// (empty result) on error.
inline NamedTensors runConverted(const Model& m, const NamedTensors& inputs, int threads = 1) {
  auto exec = Executor::create(m, ExecOptions{.threads = threads});
  EXPECT_TRUE(exec.hasValue()) << exec.status().toString();
  if (!exec.hasValue()) return {};
  auto out = (*exec)->run(inputsFor(m, inputs));
  EXPECT_TRUE(out.hasValue()) << out.status().toString();
  return out.hasValue() ? std::move(*out) : NamedTensors{};
}

/// Elements of a float tensor (f32 or f16) as doubles.
inline std::vector<double> asDoubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numElements()));
  for (int64_t i = 0; i < t.numElements(); ++i)
    v[static_cast<size_t>(i)] = t.dtype() == DType::F16 ? halfToFloat(t.data<uint16_t>()[i]) : t.data<float>()[i];
  return v;
}

/// max|a - b| / max|a|.
inline double relMaxDiff(const Tensor& ref, const Tensor& got) {
  std::vector<double> a = asDoubles(ref), b = asDoubles(got);
  EXPECT_EQ(a.size(), b.size());
  double maxAbs = 0, maxDiff = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    maxAbs = std::max(maxAbs, std::fabs(a[i]));
    maxDiff = std::max(maxDiff, std::fabs(a[i] - b[i]));
  }
  return maxAbs > 0 ? maxDiff / maxAbs : maxDiff;
}

inline double cosine(const std::vector<double>& a, const std::vector<double>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
  return ab / std::sqrt(std::max(aa * bb, 1e-300));
}

/// The initializer or Constant-node data of `v`, or null.
inline TensorRef constData(const Value* v) {
  if (!v) return nullptr;
  if (v->isInitializer()) return v->initializer();
  if (v->producer() && v->producer()->is("Constant")) return v->producer()->attrs().get<TensorRef>("value").value_or(nullptr);
  return nullptr;
}

/// Nodes of op `op` in the main graph.
inline std::vector<Node*> nodesOf(const Model& m, std::string_view op) {
  std::vector<Node*> out;
  for (Node* n : m.graph->nodes())
    if (n->is(op)) out.push_back(n);
  return out;
}

}  // namespace npuconv::test
