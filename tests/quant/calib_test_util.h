// calib_test_util.h - a SampleStream over tensors held in memory, and value generators, for
// the calibration tests.
#pragma once

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "converter/exec/sample_stream.h"
#include "tests/support/zoo.h"

namespace npuconv::test {

class VectorStream : public SampleStream {
 public:
  explicit VectorStream(std::vector<NamedTensors> samples) : samples_(std::move(samples)) {}
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

/// n values of a standard normal (Box-Muller on SplitMix64: portable, deterministic).
inline std::vector<float> gaussian(size_t n, uint64_t seed, float sigma = 1.0f) {
  SplitMix64 r(seed);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    double u1 = (static_cast<double>(r.next() >> 11) + 1.0) / 9007199254740993.0;
    double u2 = static_cast<double>(r.next() >> 11) / 9007199254740992.0;
    v[i] = sigma * static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
  return v;
}

inline std::vector<float> uniformValues(size_t n, uint64_t seed, float lo, float hi) {
  SplitMix64 r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = r.uniform(lo, hi);
  return v;
}

}  // namespace npuconv::test
