// layer_probe.h - the quantized linear layers of a QDQ model as standalone one-layer models,
// each paired with its float twin, fed the float model's own inputs to the layer.
//
// Bias correction and the per-layer error table both ask "what does quantization do to this
// one layer when its input is exact?": they run the float model once per sample, capture the
// float input of every quantized Conv/ConvTranspose/Gemm/MatMul (the executor's observer), and
// run the layer in float and in QDQ on it. Only one sample's layer inputs are held at a time.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "converter/exec/executor.h"
#include "converter/exec/sample_stream.h"
#include "converter/ir/model.h"
#include "converter/support/status.h"

namespace npuconv {

struct ProbedLayer {
  std::vector<std::string> names;  // original ONNX names (provenance) of the layer's nodes
  std::string key;                 // the linear node's key (converter/ir/node_keys.h), its twin's too
  std::string op;                  // "Conv", "MatMul+Add", "Conv+Relu", ...
  std::vector<std::string> floatInputs;  // float-model values fed to the layer (1, or 2 for A*B)
  /// Up to the bias (no activation, no output Q/DQ): what bias correction compares.
  Model floatPre, quantPre;
  /// The whole quantized unit: activation and output Q/DQ included (the error table).
  Model floatFull, quantFull;
  int64_t channelAxis = 1;  // of the layer output: 1 for Conv, -1 (last) for Gemm/MatMul
  /// The int32 bias initializer of the quantized model (empty when none) and its scales.
  std::string biasInit;
  std::vector<float> biasScale;
};

/// Every quantized linear layer of `quantized` (one whose weight or second input is
/// dequantized and whose input is a Q/DQ pair) that `floatModel` has too (the same node key,
/// converter/ir/node_keys.h: names may be empty or repeated), in node order.
Expected<std::vector<ProbedLayer>> probeLayers(const Model& floatModel, const Model& quantized);

/// Runs `floatModel` on every sample of `data` (rewound first) and calls `onSample` with the
/// float values named in `capture` for that sample (copies; released after the call).
Status forEachCapture(const Model& floatModel, SampleStream& data, const std::vector<std::string>& capture, const ExecOptions& exec,
                      const std::function<Status(const NamedTensors&)>& onSample);

/// Runs a one-layer model on its inputs (in floatInputs order); the single output.
Expected<Tensor> runLayer(Executor& exec, const std::vector<std::string>& inputs, const NamedTensors& captured);

}  // namespace npuconv
