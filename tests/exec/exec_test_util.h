// exec_test_util.h - ONNX text pieces the executor's fusion tests build their models from.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace npuconv::test {

/// count values drawn from U(-scale, scale), comma-separated with 6 decimals (std::to_string), for
/// an initializer in ONNX text syntax; the model holds exactly the printed values.
std::string randomValuesText(std::mt19937& rng, int64_t count, float scale);

/// The ONNX text lines computing out = act(in) for act among the executor's fusable activations;
/// "Clip" uses initializers named lo and hi, "HardSwish" is written as PyTorch exports it
/// (Mul(x, HardSigmoid<1/6, 1/2>(x)), through a value named out + "h").
std::string activationText(const std::string& act, const std::string& out, const std::string& in);

}  // namespace npuconv::test
