// zoo.h - the model zoo of testdata/zoo: graphs committed, weights regenerated on demand.
//
// scripts/gen_zoo.py exported each model (torchvision ResNets and MobileNetV3, a MiniLM-like
// BERT) with its large float initializers in external data, and wrote `<name>.json` listing
// those tensors (dtype, dims, offset, length, a role hint such as "conv_weight" with its
// fan-in). The data files are not committed: materializeZooModel() regenerates one
// deterministically (a PRNG keyed by the tensor name) into a cache folder, next to a copy of
// the graph, and returns the path of that copy. Values follow the role so activations stay
// finite: weights ~ U(+-sqrt(3/fan_in)*gain), batch-norm scale/variance ~ U(0.5, 1.5), small
// biases and means, embeddings ~ N(0, 0.02)-like.
//
// Cache folder: $NPUCONV_ZOO_CACHE, else <temp dir>/npuconv-zoo; one sub-folder per model and
// content hash of its graph + metadata + generator version. Creation is atomic (a temporary
// folder renamed into place) and idempotent, so parallel test processes are safe.
// No gtest dependency: the benchmark links this too.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "converter/exec/executor.h"
#include "converter/exec/tensor.h"
#include "converter/support/status.h"

namespace npuconv::test {

/// testdata/zoo of the source tree ($NPUCONV_ZOO_DIR overrides).
std::filesystem::path zooDir();
/// Names of the committed zoo models (every <name>.json in zooDir()), sorted.
std::vector<std::string> zooModelNames();

/// The runnable model file for `name`, materialized into the cache when needed.
Expected<std::filesystem::path> materializeZooModelOr(const std::string& name);
/// Same; on failure prints the error to stderr and returns an empty path.
std::filesystem::path materializeZooModel(const std::string& name);

/// The deterministic values of one zoo tensor (exposed for tests of the generator).
void fillZooTensor(const std::string& tensorName, const std::string& role, int64_t fanIn, uint64_t seed,
                   std::span<float> out);

/// Deterministic seeded test inputs.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1).
  float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  /// An integer in [lo, hi] (both within int32; next() modulo the range's size).
  int32_t pick(int64_t lo, int64_t hi) { return static_cast<int32_t>(lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1))); }
  /// Approximately N(0, 1): Irwin-Hall sum of 4 uniforms (pure arithmetic, portable).
  float normalish() {
    float s = uniform() + uniform() + uniform() + uniform();
    return (s - 2.0f) * 1.7320508f;  // var of the sum is 4/12
  }

 private:
  uint64_t s_;
};

uint64_t fnv1a64(std::string_view bytes, uint64_t h = 0xcbf29ce484222325ull);

/// A seeded model input: floats ~ U(-1, 1); int64 BERT inputs by name: "attention_mask" 1 with
/// the last 16 positions (of the last axis) padded with 0, "token_type_ids" 0 then 1 from the
/// middle, anything else (input_ids) uniform in [0, 1000).
Expected<Tensor> makeSeededInput(const std::string& name, DType dtype, const std::vector<int64_t>& dims,
                                 uint64_t seed);
/// Graph inputs named w... become initializers of random values (uniform, fan-in scaled).
void bindRandomWeights(Model& m, uint64_t seed);
/// Writes each tensor as raw little-endian `<name>.bin` in `dir`, plus `inputs.json`, the input
/// manifest tests/oracle/ort_run.js and bench/ort_bench.js read, and as `<name>.npy` (for
/// `npuconv run --input NAME=FILE.npy`).
Status writeRawInputs(const NamedTensors& inputs, const std::filesystem::path& dir);

}  // namespace npuconv::test
