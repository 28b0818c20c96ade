// two_layer_model.h - a tiny model with named layers for the command-line tests (compare,
// mixed precision): h = Relu(x W1 + b) (O2 fuses the three into one Gemm), y = Tanh(h W2);
// nodes first_matmul, first_bias, first_relu, second_matmul, final_tanh; and 12 samples of x.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace npuconv::test {

std::filesystem::path writeTwoLayerModel(const std::filesystem::path& dir);  // dir/model.onnx
/// The same layers with a dynamic row count, x [rows,16] -> y [rows,8]: rows are independent,
/// so samples holding the same rows give the same ranges at any row count (dir/rows.onnx).
std::filesystem::path writeRowModel(const std::filesystem::path& dir);
std::filesystem::path writeTwoLayerInputs(const std::filesystem::path& dir);  // dir/x.npy [12,1,16]

/// n deterministic values in [-1000/div, 1000/div] (a linear congruential sequence from seed):
/// as a comma-separated list for a Constant in ONNX text syntax, or as floats.
std::string pseudoFloatList(int n, uint32_t seed, double div);
std::vector<float> pseudoFloats(size_t n, uint32_t seed, float div);

}  // namespace npuconv::test
