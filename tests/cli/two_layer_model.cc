// two_layer_model.cc - see two_layer_model.h.
#include "tests/cli/two_layer_model.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include "formats/npy/npy.h"
#include "formats/onnx/onnx_writer.h"
#include "tests/support/test_util.h"

namespace npuconv::test {
namespace fs = std::filesystem;

std::string pseudoFloatList(int n, uint32_t seed, double div) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    s += fmt::format("{}{:.4f}", i ? ", " : "", (int(seed >> 9) % 2001 - 1000) / div);
  }
  return s;
}

std::vector<float> pseudoFloats(size_t n, uint32_t seed, float div) {
  std::vector<float> v;
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    v.push_back(static_cast<float>(int(seed >> 9) % 2001 - 1000) / div);
  }
  return v;
}

namespace {

fs::path writeLayers(const fs::path& dir, const std::string& rows, const std::string& file) {
  std::string text = fmt::format(R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[{0},16] x) => (float[{0},8] y) {{
      W1 = Constant<value = float[16,16] {{{1}}}>()
      b = Constant<value = float[16] {{{2}}}>()
      W2 = Constant<value = float[16,8] {{{3}}}>()
      m = MatMul(x, W1)
      a = Add(m, b)
      h = Relu(a)
      n = MatMul(h, W2)
      y = Tanh(n)
    }})", rows, pseudoFloatList(256, 1, 4000), pseudoFloatList(16, 2, 8000), pseudoFloatList(128, 3, 4000));
  Model m = parseModel(text);
  const char* names[] = {"first_matmul", "first_bias", "first_relu", "second_matmul", "final_tanh"};
  size_t i = 0;
  for (Node* n : m.graph->nodes())
    if (!n->is("Constant")) {
      n->setName(names[i]);
      n->setProvenance({names[i++]});
    }
  fs::path p = dir / file;
  EXPECT_TRUE(writeOnnx(m, p).hasValue());
  return p;
}

}  // namespace

fs::path writeTwoLayerModel(const fs::path& dir) { return writeLayers(dir, "1", "model.onnx"); }
fs::path writeRowModel(const fs::path& dir) { return writeLayers(dir, "rows", "rows.onnx"); }

fs::path writeTwoLayerInputs(const fs::path& dir) {
  const std::vector<float> v = pseudoFloats(12 * 16, 5, 500.0f);
  fs::path p = dir / "x.npy";
  std::vector<int64_t> dims = {12, 1, 16};
  EXPECT_TRUE(writeNpy(p, DType::F32, dims, v.data()).isOk());
  return p;
}

}  // namespace npuconv::test
