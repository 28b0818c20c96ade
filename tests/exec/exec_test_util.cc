// exec_test_util.cc - see exec_test_util.h.
#include "tests/exec/exec_test_util.h"

#include <gtest/gtest.h>

#include "formats/onnx/onnx_reader.h"

namespace npuconv::test {

std::string dimsText(std::span<const int64_t> d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

std::string randomValuesText(std::mt19937& rng, int64_t count, float scale) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::string s;
  for (int64_t i = 0; i < count; ++i) s += (i ? ", " : "") + std::to_string(u(rng));
  return s;
}

std::string activationText(const std::string& act, const std::string& out, const std::string& in) {
  if (act == "Clip") return "  " + out + " = Clip (" + in + ", lo, hi)\n";
  if (act == "HardSwish")
    return "  " + out + "h = HardSigmoid <alpha = 0.16666667, beta = 0.5> (" + in + ")\n  " + out + " = Mul (" + in +
           ", " + out + "h)\n";
  return "  " + out + " = " + act + " (" + in + ")\n";
}

FusionRunOutcome runFusionCase(const FusionRunSpec& spec, const FusedWhen& fusedWhen) {
  FusionRunOutcome r;
  auto model = parseOnnxText(spec.text);
  EXPECT_TRUE(model.hasValue()) << model.status().toString();
  if (!model) return r;
  if (spec.edit) spec.edit(*model);
  auto exec = Executor::create(*model, ExecOptions{spec.threads});
  EXPECT_TRUE(exec.hasValue()) << exec.status().toString();
  if (!exec) return r;
  if (spec.observeAll) (*exec)->setObserver([](const Node&, size_t, const Tensor&) {});
  bool saw = false;
  if (!spec.observeAll && !spec.watch.empty()) {
    const Value* v = model->graph->findValue(spec.watch);
    EXPECT_NE(v, nullptr) << spec.watch;
    (*exec)->setObserver([&](const Node& n, size_t, const Tensor&) { saw |= n.result(0)->name() == spec.watch; }, {v});
  }
  (*exec)->setStepTimer([&](const Node& node, const std::vector<const Node*>& fused, double) {
    r.fused |= fusedWhen(node, fused);
  });
  std::mt19937 rng(spec.seed);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  NamedTensors feeds;
  for (const auto& [name, dims] : spec.inputs) {
    std::vector<float> x(static_cast<size_t>(elementCount(dims)));
    for (float& v : x) v = u(rng);
    feeds[name] = Tensor::fromValues<float>(DType::F32, dims, std::span<const float>(x));
  }
  for (int rep = 0; rep < 2; ++rep) {
    auto out = (*exec)->run(feeds);
    EXPECT_TRUE(out.hasValue()) << out.status().toString();
    if (!out) return r;
    const Tensor& y = out->at("Y");
    r.dims = y.dims();
    r.y.assign(y.data<float>(), y.data<float>() + y.numElements());
  }
  if (!spec.observeAll && !spec.watch.empty()) {
    EXPECT_TRUE(saw) << spec.watch;
  }
  return r;
}

std::vector<float> runTextModelOnIsa(const std::string& text, const NamedTensors& feeds, gemm::Isa isa, int threads) {
  auto model = parseOnnxText(text);
  EXPECT_TRUE(model.hasValue()) << model.status().toString();
  if (!model) return {};
  gemm::setIsa(isa);
  // The ISA is process-wide: it must be Auto again on every way out.
  auto run = [&]() -> Expected<NamedTensors> {
    NPU_ASSIGN_OR_RETURN(std::unique_ptr<Executor> exec, Executor::create(*model, ExecOptions{threads}));
    return exec->run(feeds);
  };
  Expected<NamedTensors> out = run();
  gemm::setIsa(gemm::Isa::Auto);
  EXPECT_TRUE(out.hasValue()) << out.status().toString();
  if (!out) return {};
  const Tensor& y = out->at("Y");
  return std::vector<float>(y.data<float>(), y.data<float>() + y.numElements());
}

}  // namespace npuconv::test
