// quant_math.cc - see quant_math.h.
#include "quant/quant_math.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "converter/support/status.h"

namespace npuconv {

int32_t qmin(DType t, bool reduceRange) {
  switch (t) {
    case DType::I8: return reduceRange ? -64 : -128;
    case DType::U8: return 0;
    case DType::I16: return -32768;
    case DType::U16: return 0;
    case DType::I32: return std::numeric_limits<int32_t>::min();
    default: NPU_CHECK(false, "qmin: not a quantized storage type");
  }
  return 0;
}

int32_t qmax(DType t, bool reduceRange) {
  switch (t) {
    case DType::I8: return reduceRange ? 63 : 127;
    case DType::U8: return reduceRange ? 127 : 255;
    case DType::I16: return 32767;
    case DType::U16: return 65535;
    case DType::I32: return std::numeric_limits<int32_t>::max();
    default: NPU_CHECK(false, "qmax: not a quantized storage type");
  }
  return 0;
}

int32_t quantizeValue(float x, float scale, int32_t zeroPoint, DType type) {
  // A float division, as QuantizeLinear computes it (ONNX's reference, ONNX Runtime, our
  // executor), so a weight quantized here equals QuantizeLinear of it bit for bit; nearbyint
  // rounds half to even in the default rounding mode.
  double q = static_cast<double>(std::nearbyint(x / scale)) + zeroPoint;
  q = std::clamp(q, static_cast<double>(qmin(type)), static_cast<double>(qmax(type)));
  return static_cast<int32_t>(q);
}

QuantParams activationParams(float lo, float hi, DType type, bool symmetric) {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  QuantParams p;
  p.type = type;
  const double qlo = qmin(type), qhi = qmax(type);
  if (symmetric) {
    double absMax = std::max(std::fabs(lo), std::fabs(hi));
    double half = (qhi - qlo) / 2.0;  // 127.5 -> use 127 levels each side
    float scale = absMax > 0 ? static_cast<float>(absMax / std::floor(half)) : 1.0f;
    p.scale = {scale};
    p.zeroPoint = {type == DType::U8 ? 128 : type == DType::U16 ? 32768 : 0};
    return p;
  }
  double range = static_cast<double>(hi) - lo;
  float scale = range > 0 ? static_cast<float>(range / (qhi - qlo)) : 1.0f;
  double zp = std::nearbyint(qlo - lo / static_cast<double>(scale));
  p.scale = {scale};
  p.zeroPoint = {static_cast<int32_t>(std::clamp(zp, qlo, qhi))};
  return p;
}

QuantizedTensor quantizeWeight(const TensorData& w, int64_t axis, DType type, bool reduceRange) {
  NPU_CHECK(w.dtype() == DType::F32, "quantizeWeight: float32 weights only");
  NPU_CHECK(type == DType::I8 || type == DType::U8, "quantizeWeight: int8 or uint8");
  std::span<const float> x = w.as<float>();
  const auto& dims = w.dims();
  int64_t channels = 1, inner = static_cast<int64_t>(x.size()), outer = 1;
  if (axis >= 0) {
    NPU_CHECK(axis < w.rank(), "quantizeWeight: axis out of range");
    channels = dims[static_cast<size_t>(axis)];
    inner = 1;
    for (size_t d = static_cast<size_t>(axis) + 1; d < dims.size(); ++d) inner *= dims[d];
    outer = channels > 0 ? static_cast<int64_t>(x.size()) / (channels * inner) : 0;
  }
  const int32_t zp = type == DType::U8 ? (reduceRange ? 64 : 128) : 0;
  const double levels = type == DType::U8 ? (reduceRange ? 63 : 127) : qmax(type, reduceRange);
  QuantizedTensor out;
  out.params.type = type;
  out.params.axis = axis;
  std::vector<double> absMax(static_cast<size_t>(channels), 0.0);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t i = 0; i < inner; ++i)
        absMax[static_cast<size_t>(c)] =
            std::max(absMax[static_cast<size_t>(c)], std::fabs(static_cast<double>(x[static_cast<size_t>((o * channels + c) * inner + i)])));
  for (double m : absMax) {
    out.params.scale.push_back(m > 0 ? static_cast<float>(m / levels) : 1.0f);
    out.params.zeroPoint.push_back(zp);
  }
  std::vector<uint8_t> q(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        size_t k = static_cast<size_t>((o * channels + c) * inner + i);
        int32_t v = quantizeValue(x[k], out.params.scale[static_cast<size_t>(c)], zp, type);
        q[k] = static_cast<uint8_t>(type == DType::I8 ? static_cast<int8_t>(v) : v);
      }
  out.data = std::make_shared<const TensorData>(
      TensorData::fromValues(type, dims, std::span<const uint8_t>(q)));
  return out;
}

TensorRef quantizeBias(const TensorData& bias, float inputScale, const std::vector<float>& weightScales) {
  std::vector<float> b = bias.toFloats();
  std::vector<int32_t> q(b.size());
  for (size_t c = 0; c < b.size(); ++c) {
    double s = static_cast<double>(inputScale) * weightScales[weightScales.size() == 1 ? 0 : c];
    double v = s > 0 ? std::nearbyint(b[c] / s) : 0.0;
    q[c] = static_cast<int32_t>(std::clamp(v, -2147483648.0, 2147483647.0));
  }
  return std::make_shared<const TensorData>(
      TensorData::fromValues(DType::I32, bias.dims(), std::span<const int32_t>(q)));
}

QuantParams biasParams(float inputScale, const QuantParams& weight) {
  QuantParams p;
  p.type = DType::I32;
  p.axis = weight.axis >= 0 ? 0 : -1;
  for (float s : weight.scale) p.scale.push_back(static_cast<float>(static_cast<double>(inputScale) * s));
  p.zeroPoint.assign(p.scale.size(), 0);
  return p;
}

TensorRef scaleTensor(const QuantParams& p) {
  std::vector<int64_t> dims;
  if (p.axis >= 0) dims = {static_cast<int64_t>(p.scale.size())};
  return std::make_shared<const TensorData>(TensorData::fromValues(DType::F32, dims, std::span<const float>(p.scale)));
}

TensorData quantizedTensor(DType type, std::vector<int64_t> dims, std::span<const int32_t> v) {
  auto narrow = [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> out(v.begin(), v.end());
    return TensorData::fromValues(type, std::move(dims), std::span<const T>(out));
  };
  switch (type) {
    case DType::I8: return narrow(int8_t{});
    case DType::U8: return narrow(uint8_t{});
    case DType::I16: return narrow(int16_t{});
    case DType::U16: return narrow(uint16_t{});
    case DType::I32: return TensorData::fromValues(type, std::move(dims), v);
    default: NPU_CHECK(false, "quantizedTensor: not a quantized storage type");
  }
  return {};
}

TensorRef zeroPointTensor(const QuantParams& p) {
  std::vector<int64_t> dims;
  if (p.axis >= 0) dims = {static_cast<int64_t>(p.zeroPoint.size())};
  return std::make_shared<const TensorData>(quantizedTensor(p.type, dims, p.zeroPoint));
}

}  // namespace npuconv
