// quant_math.h - the arithmetic every quantizer shares: scales and zero points from ranges,
// weights quantized per tensor or per channel, int32 biases.
//
// Conventions (ONNX QuantizeLinear): q = saturate(round_half_even(x / scale) + zero_point),
// real = scale * (q - zero_point). Ranges always include 0 so that zero (padding, Relu's
// floor) is exact. A zero range gives scale 1, never a division by zero.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "converter/ir/tensor.h"

namespace npuconv {

/// Scale and zero point of one tensor or of each channel along `axis`.
struct QuantParams {
  DType type = DType::U8;  // U8, I8, U16, I16 (16-bit activations); I32 for biases
  std::vector<float> scale;
  std::vector<int32_t> zeroPoint;
  int64_t axis = -1;  // -1: per tensor
};

/// Smallest and largest integer of a storage type; `reduceRange` drops one bit (7-bit weights).
int32_t qmin(DType t, bool reduceRange = false);
int32_t qmax(DType t, bool reduceRange = false);

/// Per-tensor parameters for an activation range [lo, hi] (widened to include 0). Symmetric:
/// zero point 0 for I8/I16, 128 for U8, 32768 for U16, scale = max(|lo|, |hi|) / 127
/// (32767 for 16 bits).
QuantParams activationParams(float lo, float hi, DType type, bool symmetric);

/// A weight tensor quantized to `type`: symmetric (zero point 0, or 128 for U8), per channel
/// along `axis` (-1: per tensor). The scale is max|w| / qmax (qmax = 127, 63 with reduceRange).
struct QuantizedTensor {
  TensorRef data;  // int8/uint8, same dims as the input
  QuantParams params;
};
QuantizedTensor quantizeWeight(const TensorData& w, int64_t axis, DType type, bool reduceRange);

/// round_half_even(x / scale) + zp, saturated to the type's range.
int32_t quantizeValue(float x, float scale, int32_t zeroPoint, DType type);

/// A float bias as int32 with scale inputScale * weightScale[c] (per output channel), zero point 0.
TensorRef quantizeBias(const TensorData& bias, float inputScale, const std::vector<float>& weightScales);

/// The parameters of an int32 bias: scale inputScale * weight.scale[c], zero point 0, along
/// axis 0 when the weight is per channel (per tensor otherwise).
QuantParams biasParams(float inputScale, const QuantParams& weight);

/// Integers (already in range) stored as `type`: I8, U8, I16, U16 or I32.
TensorData quantizedTensor(DType type, std::vector<int64_t> dims, std::span<const int32_t> values);

/// Scale / zero-point initializers as ONNX wants them: a scalar when per tensor, a 1-D tensor
/// along the axis otherwise.
TensorRef scaleTensor(const QuantParams& p);
TensorRef zeroPointTensor(const QuantParams& p);

}  // namespace npuconv
