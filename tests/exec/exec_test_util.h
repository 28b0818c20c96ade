// exec_test_util.h - ONNX text pieces the executor's fusion tests build their models from, and
// the runner that executes one fusion case.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "converter/exec/executor.h"
#include "converter/exec/kernels/gemm_f32.h"
#include "converter/ir/model.h"

namespace npuconv::test {

/// "[d0,d1,...]": dims for a tensor type in ONNX text syntax (float[1,3,8,8]) or an ints
/// attribute (strides = [2,2]), and for test traces.
std::string dimsText(std::span<const int64_t> d);
inline std::string dimsText(std::initializer_list<int64_t> d) { return dimsText(std::span<const int64_t>(d.begin(), d.size())); }
inline std::string dimsText(const std::vector<int64_t>& d) { return dimsText(std::span<const int64_t>(d)); }

/// count values drawn from U(-scale, scale), comma-separated with 6 decimals (std::to_string), for
/// an initializer in ONNX text syntax; the model holds exactly the printed values.
std::string randomValuesText(std::mt19937& rng, int64_t count, float scale);

/// The ONNX text lines computing out = act(in) for act among the executor's fusable activations;
/// "Clip" uses initializers named lo and hi, "HardSwish" is written as PyTorch exports it
/// (Mul(x, HardSigmoid<1/6, 1/2>(x)), through a value named out + "h").
std::string activationText(const std::string& act, const std::string& out, const std::string& in);

/// One run of a fusion case: how the model is fed and watched.
struct FusionRunSpec {
  std::string text{};  // the model in ONNX text syntax, output "Y"
  /// Float inputs by name and dims, drawn in this order from U(-2, 2) (one std::mt19937 of seed).
  std::vector<std::pair<std::string, std::vector<int64_t>>> inputs{};
  uint32_t seed = 5;
  int threads = 1;
  bool observeAll = false;  // an observer of every value (the executor then fuses nothing)
  std::string watch{};      // else, when set: an observer of this value only, which must see it
  std::function<void(Model&)> edit{};  // applied to the parsed model before the executor is made
};

/// What the second run produced, and whether `fusedWhen` held for a step of either run.
struct FusionRunOutcome {
  std::vector<float> y;
  std::vector<int64_t> dims;
  bool fused = false;
};

/// Called by the step timer with each step's node and the nodes fused into it.
using FusedWhen = std::function<bool(const Node& node, const std::vector<const Node*>& fused)>;

/// Runs spec's model twice (the second run reuses the buffer pool's blocks and the kernels'
/// scratch) and returns Y of the second; failures are test failures (and an empty y).
FusionRunOutcome runFusionCase(const FusionRunSpec& spec, const FusedWhen& fusedWhen);

/// Runs the model `text` (ONNX text syntax, output "Y") once on `feeds` with the float kernels
/// forced to `isa` (gemm::setIsa; Auto again afterwards) and `threads`, and returns Y's values:
/// the kernel tests compare them bit for bit across ISAs. Failures are test failures (and {}).
std::vector<float> runTextModelOnIsa(const std::string& text, const NamedTensors& feeds, gemm::Isa isa, int threads);

}  // namespace npuconv::test
