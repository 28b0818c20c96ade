// quantize.h - the quantizers: float IR in, quantized IR out (QDQ, dynamic, weight-only, fp16).
//
// Quantization is represented in the IR by explicit QuantizeLinear / DequantizeLinear nodes
// (and DynamicQuantizeLinear + MatMulInteger / ConvInteger for int8-dynamic), exactly as it is
// written to ONNX: every pass, the executor and the writer see it as ordinary ops. See
// docs/quantization.md.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "converter/ir/model.h"
#include "converter/support/status.h"
#include "quant/calibration.h"
#include "quant/mixed_config.h"

namespace npuconv {

enum class Precision { Fp32, Fp16, Int8, Int8Weights, Int8Dynamic };
Expected<Precision> parsePrecision(std::string_view name);  // fp32 fp16 int8 int8-weights int8-dynamic
const char* precisionName(Precision p);

struct QuantizeOptions {
  DType activationType = DType::U8;  // U8 or I8
  bool activationSymmetric = false;  // --symmetric-activations, or the target profile says so
  DType weightType = DType::I8;      // I8 (U8 for int8-dynamic's --weight-type uint8)
  bool perChannel = true;            // --per-tensor turns it off
  bool reduceRange = false;          // --reduce-range: 7-bit weights
  bool keepIoTypes = false;          // fp16: graph inputs/outputs stay float32
  std::vector<std::string> fp16BlockOps;  // fp16: op types kept in float32 (default list when empty)
  std::set<std::string> excludeNodes;     // original ONNX node names left in float
  /// Mixed precision (quant/mixed_config.h): int8 and int16 layers are quantized (int16: 16-bit
  /// activations, int8 weights), fp16 and fp32 ones stay float for convertToFp16 to finish.
  /// Empty: every layer int8. convertToFp16 with a non-empty config converts its fp16 nodes only.
  MixedConfig mixed;
  /// int8: Concat inputs and output share one scale (the union of their ranges), so the device
  /// concatenates without requantizing; off, each keeps its own (ONNX Runtime's behaviour).
  bool shareConcatScales = true;
  /// int8: Add inputs and output share one scale: only for targets whose int8 Add needs it.
  bool shareAddScales = false;
};

/// Decisions and warnings, keyed by the user's original ONNX node names.
struct QuantizeReport {
  nlohmann::ordered_json nodes = nlohmann::ordered_json::array();
  std::vector<std::string> warnings;
  /// The scheme applied (types, symmetry, granularity, reduce-range), for the report.
  nlohmann::ordered_json scheme = nlohmann::ordered_json::object();
};

/// A layer quantizeStatic would quantize (a Compute unit: the op with its absorbed bias Add and
/// activation), as the mixed-precision search sees it.
struct QuantUnitInfo {
  std::string key;                 // the anchor's first original ONNX name
  std::vector<std::string> names;  // every original name of every node of the unit
  std::string op;                  // "Conv+Relu"
  int64_t weightElements = 0;      // of its constant weight (0: none)
};
std::vector<QuantUnitInfo> quantizedUnits(const Model& m, const QuantizeOptions& opt);

/// The IR values whose ranges quantizeStatic needs (the activations at quantized boundaries).
std::vector<std::string> tensorsToCalibrate(const Model& m, const QuantizeOptions& opt);
/// INT8 static: QDQ around Conv, ConvTranspose, Gemm, MatMul, Add, Mul, Concat, pooling,
/// Resize and activations; weights per channel, bias int32. Layers the mixed config makes int16
/// get 16-bit activations (uint16, or int16 with int8 activations), with ranges from
/// `wideRanges` where it has them (the observed min/max), else from `ranges`; their Q/DQ are
/// ONNX's from opset 21, ONNX Runtime's com.microsoft ones before.
Status quantizeStatic(Model& m, const QuantRanges& ranges, const QuantizeOptions& opt, QuantizeReport& report,
                      const QuantRanges& wideRanges = {});
/// int8-weights: MatMul/Gemm/Conv weights int8 behind DequantizeLinear, float activations.
Status quantizeWeightsOnly(Model& m, const QuantizeOptions& opt, QuantizeReport& report);
/// int8-dynamic: DynamicQuantizeLinear + MatMulInteger / ConvInteger (ONNX Runtime's
/// quantize_dynamic form).
Status quantizeDynamic(Model& m, const QuantizeOptions& opt, QuantizeReport& report);
/// fp16: weights and activations to float16, block-listed ops in float32.
Status convertToFp16(Model& m, const QuantizeOptions& opt, QuantizeReport& report);

/// The shift bias correction gave one layer: `delta[c]` (float, the output's units) added to
/// the bias of output channel c. `layer` is the layer's node key (converter/ir/node_keys.h: op
/// type and original ONNX name), `bias` its int32 bias initializer.
struct BiasShift {
  std::string layer, bias;
  std::vector<double> delta;
};

/// Fast bias correction (NNCF's): shifts each quantized Conv/Gemm/MatMul bias by the mean
/// error its quantized weights add to its output, measured on `data` against `floatModel`.
/// `shifts`, when given, receives what was applied (applyBiasShifts).
Status correctBias(Model& quantized, const Model& floatModel, SampleStream& data, int threads,
                   QuantizeReport& report, std::vector<BiasShift>* shifts = nullptr);

/// Bias correction decided elsewhere (a shape variant: the same graph at other shapes): each
/// layer's bias gets the given shift by the same formula as correctBias, at this model's own
/// bias scale, so equal scales give bit-identical int32 biases. `floatModel` is this model
/// before quantization (to find the layers as correctBias does). A layer or bias missing here,
/// or of another channel count, is an internal error naming it.
Status applyBiasShifts(Model& quantized, const Model& floatModel, const std::vector<BiasShift>& shifts,
                       QuantizeReport& report);

}  // namespace npuconv
