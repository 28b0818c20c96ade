// quant_test_util.h - header-only helpers for the quantizer tests: an in-memory SampleStream, seeded inputs,
// running a model, and finding the Q/DQ nodes around a tensor.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "converter/exec/executor.h"
#include "converter/exec/sample_stream.h"
#include "converter/ir/model.h"
#include "passes/match.h"
#include "quant/calibration.h"
#include "tests/support/zoo.h"

namespace npuconv::test {

/// Samples held in memory, yielded in order.
class VectorSampleStream final : public SampleStream {
 public:
  explicit VectorSampleStream(std::vector<NamedTensors> samples) : samples_(std::move(samples)) {}
  Expected<std::optional<NamedTensors>> next() override {
    if (pos_ >= samples_.size()) return std::optional<NamedTensors>();
    return std::optional<NamedTensors>(samples_[pos_++]);
  }
  size_t size() const override { return samples_.size(); }
  Status rewind() override {
    pos_ = 0;
    return Status::ok();
  }
  std::string describe() const override { return "memory (" + std::to_string(samples_.size()) + " samples)"; }

 private:
  std::vector<NamedTensors> samples_;
  size_t pos_ = 0;
};

/// Uniform [lo, hi] float32 data for every non-initializer graph input (static shapes).
inline NamedTensors seededInputs(const Model& m, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  NamedTensors in;
  SplitMix64 rng(seed);
  for (const Value* v : m.graph->inputs()) {
    if (v->isInitializer()) continue;
    EXPECT_TRUE(v->type().hasStaticShape()) << v->name();
    if (!v->type().hasStaticShape()) continue;
    std::vector<int64_t> dims = staticDims(*v->type().shape);
    std::vector<float> x(static_cast<size_t>(elementCount(dims)));
    for (float& f : x) f = rng.uniform(lo, hi);
    in.emplace(v->name(), Tensor::fromValues(DType::F32, dims, std::span<const float>(x)));
  }
  return in;
}

inline std::vector<NamedTensors> seededSamples(const Model& m, int count, uint64_t seed, float lo = -1.0f,
                                                float hi = 1.0f) {
  std::vector<NamedTensors> out;
  for (int i = 0; i < count; ++i) out.push_back(seededInputs(m, seed + static_cast<uint64_t>(i) * 7919, lo, hi));
  return out;
}

/// Runs `m` on the executor; fails the test (empty result) on error.
inline NamedTensors runModel(const Model& m, const NamedTensors& in, int threads = 1) {
  auto exec = Executor::create(m, ExecOptions{.threads = threads});
  EXPECT_TRUE(exec.hasValue()) << exec.status().toString();
  if (!exec.hasValue()) return {};
  auto out = (*exec)->run(in);
  EXPECT_TRUE(out.hasValue()) << out.status().toString();
  return out.hasValue() ? std::move(*out) : NamedTensors{};
}

/// Min/max of every float tensor the model computes (graph inputs included) over `samples`:
/// exact minmax ranges for tests, independent of the calibration library.
inline QuantRanges observedRanges(const Model& m, const std::vector<NamedTensors>& samples) {
  QuantRanges r;
  auto add = [&](const std::string& name, const Tensor& t) {
    if (t.dtype() != DType::F32 || t.numElements() == 0) return;
    auto s = t.span<float>();
    auto [lo, hi] = std::minmax_element(s.begin(), s.end());
    auto it = r.find(name);
    if (it == r.end()) r[name] = {*lo, *hi};
    else it->second = {std::min(it->second.lo, *lo), std::max(it->second.hi, *hi)};
  };
  auto exec = Executor::create(m, ExecOptions{.threads = 1});
  EXPECT_TRUE(exec.hasValue()) << exec.status().toString();
  if (!exec.hasValue()) return r;
  (*exec)->setObserver([&](const Node& n, size_t i, const Tensor& t) {
    if (n.result(i)) add(n.result(i)->name(), t);
  });
  for (const auto& s : samples) {
    for (const auto& [name, t] : s) add(name, t);
    auto out = (*exec)->run(s);
    EXPECT_TRUE(out.hasValue()) << out.status().toString();
  }
  return r;
}

inline const Node* producerOf(const Model& m, const std::string& name) {
  const Value* v = m.graph->findValue(name);
  return v ? v->producer() : nullptr;
}

inline const Node* quantizeOf(const Model& m, const std::string& name) {
  const Value* v = m.graph->findValue(name);
  if (!v) return nullptr;
  for (const Use& u : v->uses())
    if (u.user->is("QuantizeLinear")) return u.user;
  return nullptr;
}

inline std::vector<float> constFloats(const Value* v) {
  TensorRef t = v ? m::constTensor(v) : nullptr;
  return t ? t->toFloats() : std::vector<float>{};
}
inline std::vector<int64_t> constInts64(const Value* v) {
  TensorRef t = v ? m::constTensor(v) : nullptr;
  return t ? t->toInt64s() : std::vector<int64_t>{};
}

}  // namespace npuconv::test
