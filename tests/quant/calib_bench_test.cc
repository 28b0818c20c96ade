// The observer's cost on the zoo MiniLM at 1x256 (disabled: a measurement, not a check). Run with
//   ./build/tests/npuconv_tests --gtest_also_run_disabled_tests --gtest_filter='CalibBench*'
// It times, over the same seeded samples, plain executor runs, runs with an empty observer (the
// observer turns the executor's epilogue fusions off) and collectStats over every float tensor.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "formats/onnx/onnx_reader.h"
#include "quant/calibration.h"
#include "quant/observe/float_histogram.h"
#include "tests/quant/calib_test_util.h"
#include "tests/support/zoo.h"

namespace npuconv {
namespace {

TEST(CalibBench, DISABLED_MiniLmObserverOverhead) {
  auto path = test::materializeZooModel("minilm_l6_opset17");
  ASSERT_FALSE(path.empty());
  auto model = readOnnx(path);
  ASSERT_TRUE(model.hasValue()) << model.status().toString();
  const int n = std::getenv("CALIB_BENCH_SAMPLES") ? std::atoi(std::getenv("CALIB_BENCH_SAMPLES")) : 20;
  const int64_t seq = 256;
  std::vector<NamedTensors> samples;
  for (int k = 0; k < n; ++k) {
    NamedTensors s;
    for (const char* name : {"input_ids", "attention_mask", "token_type_ids"}) {
      auto t = test::makeSeededInput(name, DType::I64, {1, seq}, 1000 + static_cast<uint64_t>(k));
      ASSERT_TRUE(t.hasValue());
      s[name] = *t;
    }
    samples.push_back(std::move(s));
  }
  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  auto exec = Executor::create(*model, ExecOptions{2});
  ASSERT_TRUE(exec.hasValue());
  (void)(*exec)->run(samples[0]);  // warm-up
  for (int round = 0; round < 3; ++round) {
    (*exec)->setObserver(nullptr);
    auto t0 = Clock::now();
    for (const auto& s : samples) ASSERT_TRUE((*exec)->run(s).hasValue());
    auto t1 = Clock::now();
    (*exec)->setObserver([](const Node&, size_t, const Tensor&) {});
    for (const auto& s : samples) ASSERT_TRUE((*exec)->run(s).hasValue());
    auto t2 = Clock::now();
    test::VectorStream stream(samples);
    CalibrateOptions o;
    o.threads = 2;
    auto stats = collectStats(*model, stream, o);
    auto t3 = Clock::now();
    ASSERT_TRUE(stats.hasValue()) << stats.status().toString();
    int64_t values = 0;
    for (const auto& [name, ts] : stats->tensors) values += ts.count;
    std::printf("round %d: %d samples of 1x%lld: plain %.1f ms/sample, empty observer %.1f, collectStats %.1f "
                "(%zu tensors, %.1f M values/sample); collectStats / plain = %.2f\n",
                round, n, static_cast<long long>(seq), ms(t0, t1) / n, ms(t1, t2) / n, ms(t2, t3) / n,
                stats->tensors.size(), static_cast<double>(values) / n / 1e6, ms(t2, t3) / ms(t0, t1));
  }
}

}  // namespace
}  // namespace npuconv

namespace npuconv {
namespace {

// The accumulator alone: ns per value, serial, on a gaussian tensor of attention-score size.
TEST(CalibBench, DISABLED_AccumulatorThroughput) {
  std::vector<float> v = test::gaussian(12 * 256 * 256, 5, 3.0f);
  for (size_t i = 0; i < v.size(); i += 3) v[i] = 0;  // Relu-like runs of zeros
  TensorStats s;
  calib::HistogramAccumulator acc(nullptr);
  auto t0 = std::chrono::steady_clock::now();
  const int reps = 20;
  for (int r = 0; r < reps; ++r) acc.add(v.data(), static_cast<int64_t>(v.size()), s);
  double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  std::printf("accumulator: %.3f ns/value (serial)\n", ns / reps / static_cast<double>(v.size()));
}

}  // namespace
}  // namespace npuconv
