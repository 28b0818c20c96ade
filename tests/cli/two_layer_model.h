// two_layer_model.h - a tiny model with named layers for the command-line tests (compare,
// mixed precision): h = Relu(x W1 + b) (O2 fuses the three into one Gemm), y = Tanh(h W2);
// nodes first_matmul, first_bias, first_relu, second_matmul, final_tanh; and 12 samples of x.
#pragma once

#include <filesystem>

namespace npuconv::test {

std::filesystem::path writeTwoLayerModel(const std::filesystem::path& dir);  // dir/model.onnx
std::filesystem::path writeTwoLayerInputs(const std::filesystem::path& dir);  // dir/x.npy [12,1,16]

}  // namespace npuconv::test
