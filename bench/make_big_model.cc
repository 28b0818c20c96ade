// make_big_model - writes a large ONNX model for the I/O and pass benchmarks: a chain of
// `layers` MatMul(+Add) layers with `width` x `width` float32 weights of seeded random values.
//   make_big_model OUT.onnx [width=4096] [layers=8]   (4096 x 4096 x 4 B x 8 = 512 MiB)
#include <cstdio>
#include <cstdlib>
#include <random>

#include "converter/ir/model.h"
#include "formats/onnx/onnx_writer.h"

int main(int argc, char** argv) {
  using namespace npuconv;
  if (argc < 2) {
    std::fprintf(stderr, "usage: make_big_model OUT.onnx [width] [layers]\n");
    return 2;
  }
  int64_t width = argc > 2 ? std::atoll(argv[2]) : 4096;
  int64_t layers = argc > 3 ? std::atoll(argv[3]) : 8;
  Model m;
  m.opsetImports = {{"", 13}};
  m.producerName = "npuconv-bench";
  Graph& g = *m.graph;
  g.setName("big");
  Value* x = g.addInput("x", TensorType{DType::F32, Shape{Dim::symbol("batch"), Dim(width)}, {}, {}});
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-0.01f, 0.01f);
  for (int64_t l = 0; l < layers; ++l) {
    auto w = std::make_shared<AlignedBuffer>(size_t(width * width) * 4);
    float* p = reinterpret_cast<float*>(w->mutableData());
    for (int64_t i = 0; i < width * width; ++i) p[i] = dist(rng);
    std::vector<float> bias(size_t(width), 0.001f * float(l));
    Value* wv = g.addInitializer("layer" + std::to_string(l) + ".weight",
                                 std::make_shared<TensorData>(DType::F32, std::vector<int64_t>{width, width}, w));
    Value* bv = g.addInitializer("layer" + std::to_string(l) + ".bias",
                                 std::make_shared<TensorData>(TensorData::fromValues<float>(DType::F32, {width}, bias)));
    Node* mm = g.createNode("MatMul", {x, wv}, 1, nullptr, "layer" + std::to_string(l) + ".matmul");
    Node* add = g.createNode("Add", {mm->result(), bv}, 1, nullptr, "layer" + std::to_string(l) + ".add");
    x = add->result();
  }
  x->setType(TensorType{DType::F32, Shape{Dim::symbol("batch"), Dim(width)}, {}, {}});
  g.addOutput(x);
  auto r = writeOnnx(m, argv[1]);
  if (!r) {
    std::fprintf(stderr, "make_big_model: %s\n", r.status().toString().c_str());
    return 1;
  }
  std::printf("wrote %s: %llu bytes\n", argv[1], static_cast<unsigned long long>(r->modelBytes));
  return 0;
}
