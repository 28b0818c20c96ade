// int_kernels.cc - see int_kernels.h.
#include "converter/device/int_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "converter/device/int_simd.h"
#include "converter/exec/thread_pool.h"

namespace npuconv::device {
namespace {

int32_t load(const std::byte* p, DType t, size_t i) {
  if (t == DType::U8) return reinterpret_cast<const uint8_t*>(p)[i];
  return reinterpret_cast<const int8_t*>(p)[i];
}

void store(std::byte* p, DType t, size_t i, int32_t v) {
  if (t == DType::U8) reinterpret_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(v);
  else reinterpret_cast<int8_t*>(p)[i] = static_cast<int8_t>(v);
}

size_t count(const Tensor& t) {
  size_t n = 1;
  for (int64_t d : t.dims) n *= static_cast<size_t>(d);
  return n;
}

FixedMultiplier multiplierAt(const Op& op, size_t i, Rounding rounding) {
  const std::vector<int64_t> m = op.attrInts("multiplier"), s = op.attrInts("shift");
  return {static_cast<int32_t>(m.at(i)), static_cast<int32_t>(s.at(i)), rounding};
}

int32_t zeroPoint(const TensorView& v) { return v.quant ? v.quant->zeroPoints[0] : 0; }

/// out[i] = clamp(zp_out + round((x[i] - zp_in) * M)), for the copy-like ops.
void rescaleRun(const TensorView& x, size_t xi, const TensorView& y, size_t yi, size_t n, FixedMultiplier f,
                const Op& op) {
  const int32_t zin = zeroPoint(x), zout = zeroPoint(y);
  const DType tx = x.desc->dtype, ty = y.desc->dtype;
  if (tx == ty && zin == zout && f.multiplier == (1 << 30) && f.shift == 1 &&
      op.actMin <= (ty == DType::U8 ? 0 : -128) && op.actMax >= (ty == DType::U8 ? 255 : 127)) {
    std::memcpy(y.data + yi, x.data + xi, n);  // the identity: same parameters
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    const int64_t v = int64_t{zout} + multiplyByQuantizedMultiplier(load(x.data, tx, xi + i) - zin, f);
    store(y.data, ty, yi + i, clampToRange(v, op.actMin, op.actMax));
  }
}

}  // namespace

Expected<PreparedMac> prepareMac(const Op& op, const std::vector<TensorView>& in, const Tensor& out, Rounding rounding) {
  PreparedMac p;
  const Tensor& w = *in[1].desc;
  const QuantParams& wq = *in[1].quant;
  const auto* wdata = reinterpret_cast<const std::byte*>(in[1].data);
  const bool conv = op.code == OpCode::Conv;
  const bool transB = !conv && op.attrInt("trans_b", 0) != 0;
  const int64_t outCh = conv ? w.dims[0] : (transB ? w.dims[0] : w.dims[1]);
  const int64_t perOut = static_cast<int64_t>(count(w)) / std::max<int64_t>(outCh, 1);
  p.weights.resize(count(w));
  if (conv) p.kernelH = w.dims[2], p.kernelW = w.dims[3];
  for (int64_t o = 0; o < outCh; ++o) {
    const int32_t zp = wq.zeroPoints[wq.perAxis() ? static_cast<size_t>(o) : 0];
    for (int64_t k = 0; k < perOut; ++k) {
      const size_t src = conv || transB ? static_cast<size_t>(o * perOut + k) : static_cast<size_t>(k * outCh + o);
      p.weights[static_cast<size_t>(o * perOut + k)] = static_cast<int16_t>(load(wdata, w.dtype, src) - zp);
    }
  }
  const auto* b = reinterpret_cast<const int32_t*>(in[2].data);
  p.bias.assign(b, b + outCh);
  if (out.dtype != DType::I32)  // an int32 output is the raw accumulator: no requantization
    for (int64_t o = 0; o < outCh; ++o) p.requant.push_back(multiplierAt(op, static_cast<size_t>(o), rounding));
  // |x - zp| <= 255 and |w - zp| <= 255: the sum of perOut products must fit in int32.
  if (perOut > (std::numeric_limits<int32_t>::max() / 2) / (255 * 255))
    return Status::unsupported("op \"{}\": {} products per output may overflow the int32 accumulator", op.name, perOut);
  return p;
}

MacSpec macSpec(const Op& op, const std::vector<TensorView>& in, const TensorView& out, Rounding rounding) {
  MacSpec s;
  const TensorView& x = in[0];
  const Tensor& w = *in[1].desc;
  const QuantParams& wq = *in[1].quant;
  const bool conv = op.code == OpCode::Conv;
  const bool transB = !conv && op.attrInt("trans_b", 0) != 0;
  s.gemm = !conv;
  s.xUnsigned = x.desc->dtype == DType::U8;
  s.zx = zeroPoint(x);
  const int64_t outCh = conv ? w.dims[0] : (transB ? w.dims[0] : w.dims[1]);
  const int64_t perOut = static_cast<int64_t>(count(w)) / std::max<int64_t>(outCh, 1);
  s.wUnsigned = w.dtype == DType::U8;
  s.w.resize(count(w));
  for (int64_t o = 0; o < outCh; ++o) {
    s.zw.push_back(wq.zeroPoints[wq.perAxis() ? static_cast<size_t>(o) : 0]);
    for (int64_t k = 0; k < perOut; ++k) {
      const size_t src = conv || transB ? static_cast<size_t>(o * perOut + k) : static_cast<size_t>(k * outCh + o);
      s.w[static_cast<size_t>(o * perOut + k)] = static_cast<int16_t>(load(in[1].data, w.dtype, src));
    }
  }
  const auto* b = reinterpret_cast<const int32_t*>(in[2].data);
  s.bias.assign(b, b + outCh);
  if (out.desc->dtype != DType::I32)
    for (int64_t o = 0; o < outCh; ++o) s.requant.push_back(multiplierAt(op, static_cast<size_t>(o), rounding));
  s.yUnsigned = out.desc->dtype == DType::U8;
  s.zy = zeroPoint(out);
  s.actMin = op.actMin, s.actMax = op.actMax;
  s.O = outCh;
  if (!conv) {
    s.C = perOut;
    s.H = static_cast<int64_t>(count(*x.desc)) / std::max<int64_t>(perOut, 1);  // rows M
    return s;
  }
  const auto& xd = x.desc->dims;
  const auto& yd = out.desc->dims;
  const std::vector<int64_t> st = op.attrInts("strides"), pads = op.attrInts("pads"), dil = op.attrInts("dilations");
  s.batch = xd[0], s.C = xd[1], s.H = xd[2], s.W = xd[3];
  s.OH = yd[2], s.OW = yd[3];
  s.kH = w.dims[2], s.kW = w.dims[3];
  s.sh = st[0], s.sw = st[1], s.dh = dil[0], s.dw = dil[1];
  s.pt = pads[0], s.pl = pads[1], s.pb = pads[2], s.pr = pads[3];
  s.group = op.attrInt("group", 1);
  return s;
}

namespace {

void quantizeRunScalar(const float* x, int64_t n, float scale, int32_t zp, int32_t lo, int32_t hi, uint8_t* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float r = std::nearbyint(x[i] / scale);
    const float v = std::clamp(r + float(zp), float(lo), float(hi));
    out[i] = static_cast<uint8_t>(std::isnan(x[i]) ? zp : static_cast<int32_t>(v));
  }
}

/// Quantize of n floats with one (scale, zp): the scalar formula eight lanes at a time (the same
/// IEEE division, round to nearest even, float add and clamp; NaN -> zp).
__attribute__((target("avx2"))) void quantizeRunAvx2(const float* x, int64_t n, float scale, int32_t zp, int32_t lo, int32_t hi,
                                                     uint8_t* out) {
  const __m256 vs = _mm256_set1_ps(scale), vz = _mm256_set1_ps(float(zp)), vlo = _mm256_set1_ps(float(lo)), vhi = _mm256_set1_ps(float(hi));
  const __m256i izp = _mm256_set1_epi32(zp);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 r = _mm256_round_ps(_mm256_div_ps(v, vs), _MM_FROUND_CUR_DIRECTION | _MM_FROUND_NO_EXC);
    const __m256 t = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(r, vz), vlo), vhi);
    const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    simd::store8(out + i, _mm256_blendv_epi8(_mm256_cvttps_epi32(t), izp, nan));
  }
  quantizeRunScalar(x + i, n - i, scale, zp, lo, hi, out + i);
}

/// Dequantize of n 8-bit values with one (scale, zp).
__attribute__((target("avx2"))) void dequantizeRunAvx2(const uint8_t* x, bool isUnsigned, int64_t n, float scale, int32_t zp, float* y) {
  const __m256 vs = _mm256_set1_ps(scale);
  const __m256i vz = _mm256_set1_epi32(zp);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(simd::load8(x + i, isUnsigned), vz)), vs));
  for (; i < n; ++i) {
    const int32_t v = isUnsigned ? int32_t{x[i]} : int32_t{static_cast<int8_t>(x[i])};
    y[i] = static_cast<float>(static_cast<int64_t>(v) - zp) * scale;
  }
}

/// Calls fn(first element, count, channel) for each run of elements sharing quantization parameters.
template <typename F>
void forEachRun(const QuantParams& q, const Tensor& t, F&& fn) {
  const auto n = static_cast<int64_t>(count(t));
  if (!q.perAxis()) {
    fn(int64_t{0}, n, size_t{0});
    return;
  }
  const auto channels = t.dims[static_cast<size_t>(q.axis)];
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(q.axis) + 1; d < t.dims.size(); ++d) inner *= t.dims[d];
  for (int64_t i = 0, run = 0; i < n; i += inner, ++run) fn(i, inner, static_cast<size_t>(run % channels));
}

}  // namespace

void quantizeRun(const float* x, int64_t n, float scale, int32_t zp, int32_t lo, int32_t hi, uint8_t* out, bool avx2) {
  if (avx2)
    quantizeRunAvx2(x, n, scale, zp, lo, hi, out);
  else
    quantizeRunScalar(x, n, scale, zp, lo, hi, out);
}

Status runQuantizeFast(const TensorView& in, const TensorView& out, ThreadPool* pool) {
  if (in.desc->dtype != DType::F32) return Status::unsupported("Quantize: input is not float32");
  const QuantParams& q = *out.quant;
  const int32_t lo = out.desc->dtype == DType::U8 ? 0 : -128, hi = out.desc->dtype == DType::U8 ? 255 : 127;
  const auto* x = reinterpret_cast<const float*>(in.data);
  auto* y = reinterpret_cast<uint8_t*>(out.data);
  forEachRun(q, *out.desc, [&](int64_t first, int64_t n, size_t c) {
    auto part = [&](int64_t b, int64_t e) {
      const int64_t s = b * 8192, t = std::min(n, e * 8192);
      quantizeRunAvx2(x + first + s, t - s, q.scales[c], q.zeroPoints[c], lo, hi, y + first + s);
    };
    const int64_t blocks = (n + 8191) / 8192;
    forEachItem(pool, blocks, part);
  });
  return Status::ok();
}

Status runDequantizeFast(const TensorView& in, const TensorView& out, ThreadPool* pool) {
  const QuantParams& q = *in.quant;
  if (in.desc->dtype == DType::I32 && std::all_of(q.zeroPoints.begin(), q.zeroPoints.end(), [](int32_t z) { return z == 0; })) {
    // An int32 accumulator: float(int64(v) - 0) == float(v), the same rounding, vectorizable.
    const auto* x = reinterpret_cast<const int32_t*>(in.data);
    auto* y = reinterpret_cast<float*>(out.data);
    forEachRun(q, *in.desc, [&](int64_t first, int64_t n, size_t c) {
      const float sc = q.scales[c];
      for (int64_t i = first; i < first + n; ++i) y[i] = static_cast<float>(x[i]) * sc;
    });
    return Status::ok();
  }
  if (in.desc->dtype != DType::U8 && in.desc->dtype != DType::I8) return runDequantize(in, out);
  const bool u8 = in.desc->dtype == DType::U8;
  const auto* x = reinterpret_cast<const uint8_t*>(in.data);
  auto* y = reinterpret_cast<float*>(out.data);
  forEachRun(q, *in.desc, [&](int64_t first, int64_t n, size_t c) {
    auto part = [&](int64_t b, int64_t e) {
      const int64_t s = b * 8192, t = std::min(n, e * 8192);
      dequantizeRunAvx2(x + first + s, u8, t - s, q.scales[c], q.zeroPoints[c], y + first + s);
    };
    const int64_t blocks = (n + 8191) / 8192;
    forEachItem(pool, blocks, part);
  });
  return Status::ok();
}

Status runQuantize(const TensorView& in, const TensorView& out) {
  const QuantParams& q = *out.quant;
  const size_t n = count(*out.desc);
  const int32_t lo = out.desc->dtype == DType::U8 ? 0 : -128, hi = out.desc->dtype == DType::U8 ? 255 : 127;
  if (in.desc->dtype != DType::F32) return Status::unsupported("Quantize: input is not float32");
  const auto* x = reinterpret_cast<const float*>(in.data);
  // Per-axis parameters index by (i / inner) % channels.
  size_t inner = 1, channels = 1;
  if (q.perAxis()) {
    channels = static_cast<size_t>(out.desc->dims[static_cast<size_t>(q.axis)]);
    for (size_t d = static_cast<size_t>(q.axis) + 1; d < out.desc->dims.size(); ++d) inner *= static_cast<size_t>(out.desc->dims[d]);
  }
  for (size_t i = 0; i < n; ++i) {
    const size_t c = q.perAxis() ? (i / inner) % channels : 0;
    const float r = std::nearbyint(x[i] / q.scales[c]);  // round half to even (default FP mode)
    const float v = std::clamp(r + float(q.zeroPoints[c]), float(lo), float(hi));
    store(out.data, out.desc->dtype, i, std::isnan(x[i]) ? q.zeroPoints[c] : static_cast<int32_t>(v));
  }
  return Status::ok();
}

Status runDequantize(const TensorView& in, const TensorView& out) {
  const QuantParams& q = *in.quant;
  const size_t n = count(*in.desc);
  auto* y = reinterpret_cast<float*>(out.data);
  size_t inner = 1, channels = 1;
  if (q.perAxis()) {
    channels = static_cast<size_t>(in.desc->dims[static_cast<size_t>(q.axis)]);
    for (size_t d = static_cast<size_t>(q.axis) + 1; d < in.desc->dims.size(); ++d) inner *= static_cast<size_t>(in.desc->dims[d]);
  }
  for (size_t i = 0; i < n; ++i) {
    const size_t c = q.perAxis() ? (i / inner) % channels : 0;
    int32_t v = 0;
    switch (in.desc->dtype) {
      case DType::U8: v = reinterpret_cast<const uint8_t*>(in.data)[i]; break;
      case DType::I8: v = reinterpret_cast<const int8_t*>(in.data)[i]; break;
      case DType::I32: v = reinterpret_cast<const int32_t*>(in.data)[i]; break;
      case DType::U16: v = reinterpret_cast<const uint16_t*>(in.data)[i]; break;
      case DType::I16: v = reinterpret_cast<const int16_t*>(in.data)[i]; break;
      default: return Status::unsupported("Dequantize: input type {}", dtypeName(in.desc->dtype));
    }
    y[i] = static_cast<float>(static_cast<int64_t>(v) - q.zeroPoints[c]) * q.scales[c];
  }
  return Status::ok();
}

void runConv(const Op& op, const PreparedMac& p, const TensorView& x, const TensorView& y) {
  const auto& xd = x.desc->dims;
  const auto& yd = y.desc->dims;
  const std::vector<int64_t> st = op.attrInts("strides"), pads = op.attrInts("pads"), dil = op.attrInts("dilations");
  const int64_t group = op.attrInt("group", 1);
  const int64_t N = xd[0], C = xd[1], H = xd[2], W = xd[3];
  const int64_t O = yd[1], OH = yd[2], OW = yd[3];
  const int64_t Cg = C / group, Og = O / group;
  const int64_t sh = st[0], sw = st[1], dh = dil[0], dw = dil[1], pt = pads[0], pl = pads[1];
  const int64_t kH = p.kernelH, kW = p.kernelW;
  const int32_t zx = zeroPoint(x), zy = zeroPoint(y);
  // The input, zero point removed and zero-padded, as int16: padding is real 0 = q zp.
  const int64_t PH = H + pads[0] + pads[2], PW = W + pads[1] + pads[3];
  std::vector<int16_t> xp(static_cast<size_t>(C * PH * PW));
  std::vector<int32_t> acc(static_cast<size_t>(OH * OW));
  for (int64_t n = 0; n < N; ++n) {
    std::fill(xp.begin(), xp.end(), int16_t{0});
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w)
          xp[static_cast<size_t>((c * PH + h + pt) * PW + w + pl)] =
              static_cast<int16_t>(load(x.data, x.desc->dtype, static_cast<size_t>(((n * C + c) * H + h) * W + w)) - zx);
    for (int64_t o = 0; o < O; ++o) {
      const int64_t g = o / Og;
      std::fill(acc.begin(), acc.end(), 0);
      for (int64_t ci = 0; ci < Cg; ++ci) {
        const int16_t* plane = xp.data() + (g * Cg + ci) * PH * PW;
        for (int64_t i = 0; i < kH; ++i)
          for (int64_t j = 0; j < kW; ++j) {
            const int32_t wv = p.weights[static_cast<size_t>(((o * Cg + ci) * kH + i) * kW + j)];
            if (wv == 0) continue;
            for (int64_t oh = 0; oh < OH; ++oh) {
              const int16_t* row = plane + (oh * sh + i * dh) * PW + j * dw;
              int32_t* a = acc.data() + oh * OW;
              if (sw == 1)
                for (int64_t ow = 0; ow < OW; ++ow) a[ow] += wv * row[ow];
              else
                for (int64_t ow = 0; ow < OW; ++ow) a[ow] += wv * row[ow * sw];
            }
          }
      }
      const size_t base = static_cast<size_t>((n * O + o) * OH * OW);
      for (int32_t& a : acc) a = saturatingAdd(a, p.bias[static_cast<size_t>(o)]);
      if (y.desc->dtype == DType::I32) {
        std::memcpy(reinterpret_cast<int32_t*>(y.data) + base, acc.data(), acc.size() * sizeof(int32_t));
        continue;
      }
      const FixedMultiplier f = p.requant[static_cast<size_t>(o)];
      for (int64_t i = 0; i < OH * OW; ++i)
        store(y.data, y.desc->dtype, base + static_cast<size_t>(i),
              clampToRange(int64_t{zy} + multiplyByQuantizedMultiplier(acc[static_cast<size_t>(i)], f), op.actMin, op.actMax));
    }
  }
}

void runGemm(const Op& op, const PreparedMac& p, const TensorView& x, const TensorView& y) {
  const int64_t N = static_cast<int64_t>(p.bias.size());
  const int64_t K = x.desc->dims.back();
  const int64_t M = static_cast<int64_t>(count(*x.desc)) / std::max<int64_t>(K, 1);
  const int32_t zx = zeroPoint(x), zy = zeroPoint(y);
  std::vector<int16_t> row(static_cast<size_t>(K));
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t k = 0; k < K; ++k)
      row[static_cast<size_t>(k)] = static_cast<int16_t>(load(x.data, x.desc->dtype, static_cast<size_t>(m * K + k)) - zx);
    for (int64_t n = 0; n < N; ++n) {
      const int16_t* w = p.weights.data() + n * K;
      int32_t acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += int32_t{row[static_cast<size_t>(k)]} * w[k];
      acc = saturatingAdd(acc, p.bias[static_cast<size_t>(n)]);
      if (y.desc->dtype == DType::I32) {
        reinterpret_cast<int32_t*>(y.data)[m * N + n] = acc;
        continue;
      }
      store(y.data, y.desc->dtype, static_cast<size_t>(m * N + n),
            clampToRange(int64_t{zy} + multiplyByQuantizedMultiplier(acc, p.requant[static_cast<size_t>(n)]), op.actMin, op.actMax));
    }
  }
}

namespace {

/// Add over elements [b, e), eight at a time; the tail with the scalar formula.
__attribute__((target("avx2"))) void addRangeAvx2(const Op& op, Rounding rounding, const TensorView& a, const TensorView& b, const TensorView& y,
                                                  int64_t begin, int64_t end) {
  const int left = static_cast<int>(op.attrInt("left_shift", 20));
  const FixedMultiplier ma = multiplierAt(op, 0, rounding), mb = multiplierAt(op, 1, rounding), mo = multiplierAt(op, 2, rounding);
  const int32_t za = zeroPoint(a), zb = zeroPoint(b), zy = zeroPoint(y);
  const simd::QMul qa(ma), qb(mb), qo(mo);
  const simd::ClampZy clamp(zy, op.actMin, op.actMax);
  const __m256i vza = _mm256_set1_epi32(za), vzb = _mm256_set1_epi32(zb);
  const __m128i sh = _mm_cvtsi32_si128(left);
  const bool ua = a.desc->dtype == DType::U8, ub = b.desc->dtype == DType::U8;
  const auto* pa = reinterpret_cast<const uint8_t*>(a.data);
  const auto* pb = reinterpret_cast<const uint8_t*>(b.data);
  auto* py = reinterpret_cast<uint8_t*>(y.data);
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    const __m256i va = qa(_mm256_sll_epi32(_mm256_sub_epi32(simd::load8(pa + i, ua), vza), sh));
    const __m256i vb = qb(_mm256_sll_epi32(_mm256_sub_epi32(simd::load8(pb + i, ub), vzb), sh));
    simd::store8(py + i, clamp(qo(simd::satAdd(va, vb))));
  }
  for (; i < end; ++i) {
    const auto k = static_cast<size_t>(i);
    const int32_t va = multiplyByQuantizedMultiplier((load(a.data, a.desc->dtype, k) - za) * (1 << left), ma);
    const int32_t vb = multiplyByQuantizedMultiplier((load(b.data, b.desc->dtype, k) - zb) * (1 << left), mb);
    store(y.data, y.desc->dtype, k, clampToRange(int64_t{zy} + multiplyByQuantizedMultiplier(saturatingAdd(va, vb), mo), op.actMin, op.actMax));
  }
}

/// The same, sixteen lanes at a time (masked tail). (GCC 12 flags the _mm512_undefined_epi32()
/// inside its own AVX-512 intrinsics as maybe-uninitialized at -O3.)
#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning group
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
__attribute__((target("avx512f,avx512bw,avx512vl"))) void addRangeAvx512(const Op& op, Rounding rounding, const TensorView& a, const TensorView& b,
                                                                          const TensorView& y, int64_t begin, int64_t end) {
  const int left = static_cast<int>(op.attrInt("left_shift", 20));
  const FixedMultiplier ma = multiplierAt(op, 0, rounding), mb = multiplierAt(op, 1, rounding);
  const simd::QMul16 qa(ma), qb(mb), qo(multiplierAt(op, 2, rounding));
  // Without a left shift in either input multiplier (the converter's m = s / (2 max(sa, sb)) < 1),
  // |a'|, |b'| <= 255 << left_shift <= 255 * 2^20, so a' + b' cannot leave int32: the saturating
  // add is a plain one.
  const bool plain = ma.shift <= 0 && mb.shift <= 0 && ma.multiplier >= 0 && mb.multiplier >= 0;
  const simd::ClampZy16 clamp(zeroPoint(y), op.actMin, op.actMax);
  const __m512i vza = _mm512_set1_epi32(zeroPoint(a)), vzb = _mm512_set1_epi32(zeroPoint(b));
  const __m128i sh = _mm_cvtsi32_si128(left);
  const bool ua = a.desc->dtype == DType::U8, ub = b.desc->dtype == DType::U8;
  const auto* pa = reinterpret_cast<const uint8_t*>(a.data);
  const auto* pb = reinterpret_cast<const uint8_t*>(b.data);
  auto* py = reinterpret_cast<uint8_t*>(y.data);
  int64_t i = begin;
  // Two independent groups of 16 per iteration (the chain of three multiplies is long).
  for (; i + 32 <= end; i += 32) {
    const __m256i ra = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pa + i));
    const __m256i rb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pb + i));
    const __m128i a0 = _mm256_castsi256_si128(ra), a1 = _mm256_extracti128_si256(ra, 1);
    const __m128i b0 = _mm256_castsi256_si128(rb), b1 = _mm256_extracti128_si256(rb, 1);
    const __m512i xa0 = ua ? _mm512_cvtepu8_epi32(a0) : _mm512_cvtepi8_epi32(a0), xa1 = ua ? _mm512_cvtepu8_epi32(a1) : _mm512_cvtepi8_epi32(a1);
    const __m512i xb0 = ub ? _mm512_cvtepu8_epi32(b0) : _mm512_cvtepi8_epi32(b0), xb1 = ub ? _mm512_cvtepu8_epi32(b1) : _mm512_cvtepi8_epi32(b1);
    const __m512i va0 = qa(_mm512_sll_epi32(_mm512_sub_epi32(xa0, vza), sh)), va1 = qa(_mm512_sll_epi32(_mm512_sub_epi32(xa1, vza), sh));
    const __m512i vb0 = qb(_mm512_sll_epi32(_mm512_sub_epi32(xb0, vzb), sh)), vb1 = qb(_mm512_sll_epi32(_mm512_sub_epi32(xb1, vzb), sh));
    const __m512i s0 = plain ? _mm512_add_epi32(va0, vb0) : simd::satAdd16(va0, vb0);
    const __m512i s1 = plain ? _mm512_add_epi32(va1, vb1) : simd::satAdd16(va1, vb1);
    const __m512i r0 = clamp(qo(s0)), r1 = clamp(qo(s1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(py + i), _mm512_cvtepi32_epi8(r0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(py + i + 16), _mm512_cvtepi32_epi8(r1));
  }
  for (; i < end; i += 16) {
    const __mmask16 k = end - i >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (end - i)) - 1);
    const __m128i ra = _mm_maskz_loadu_epi8(k, pa + i), rb = _mm_maskz_loadu_epi8(k, pb + i);
    const __m512i xa = ua ? _mm512_cvtepu8_epi32(ra) : _mm512_cvtepi8_epi32(ra);
    const __m512i xb = ub ? _mm512_cvtepu8_epi32(rb) : _mm512_cvtepi8_epi32(rb);
    const __m512i va = qa(_mm512_sll_epi32(_mm512_sub_epi32(xa, vza), sh));
    const __m512i vb = qb(_mm512_sll_epi32(_mm512_sub_epi32(xb, vzb), sh));
    _mm512_mask_cvtepi32_storeu_epi8(py + i, k, clamp(qo(simd::satAdd16(va, vb))));
  }
}
#pragma GCC diagnostic pop

}  // namespace

void runAdd(const Op& op, const TensorView& a, const TensorView& b, const TensorView& y, Rounding rounding, Int8Isa isa,
            ThreadPool* pool) {
  const bool fast = isa != Int8Isa::Scalar;
  const int left = static_cast<int>(op.attrInt("left_shift", 20));
  const FixedMultiplier ma = multiplierAt(op, 0, rounding), mb = multiplierAt(op, 1, rounding), mo = multiplierAt(op, 2, rounding);
  const int32_t za = zeroPoint(a), zb = zeroPoint(b), zy = zeroPoint(y);
  const size_t n = count(*y.desc);
  if (fast) {
    auto range = [&](int64_t b0, int64_t e0) {
      const int64_t s0 = b0 * 4096, s1 = std::min<int64_t>(e0 * 4096, static_cast<int64_t>(n));
      if (isa == Int8Isa::Avx512Vnni) addRangeAvx512(op, rounding, a, b, y, s0, s1);
      else addRangeAvx2(op, rounding, a, b, y, s0, s1);
    };
    const auto blocks = static_cast<int64_t>((n + 4095) / 4096);
    forEachItem(pool, blocks, range);
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    const int32_t va = multiplyByQuantizedMultiplier((load(a.data, a.desc->dtype, i) - za) * (1 << left), ma);
    const int32_t vb = multiplyByQuantizedMultiplier((load(b.data, b.desc->dtype, i) - zb) * (1 << left), mb);
    const int64_t v = int64_t{zy} + multiplyByQuantizedMultiplier(saturatingAdd(va, vb), mo);
    store(y.data, y.desc->dtype, i, clampToRange(v, op.actMin, op.actMax));
  }
}

namespace {

/// d[i] = max(d[i], s[i] ^ flip) for i < n (first: d[i] = s[i] ^ flip), 32 bytes at a time.
__attribute__((target("avx2"))) void maxRowAvx2(uint8_t* d, const uint8_t* s, int64_t n, uint8_t flip, bool first) {
  const __m256i f = _mm256_set1_epi8(static_cast<char>(flip));
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i v = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i)), f);
    if (!first) v = _mm256_max_epu8(v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(d + i)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i), v);
  }
  for (; i < n; ++i) d[i] = first ? static_cast<uint8_t>(s[i] ^ flip) : std::max<uint8_t>(d[i], static_cast<uint8_t>(s[i] ^ flip));
}

/// even[i] = v[2i], odd[i] = v[2i + 1] for i < L.
__attribute__((target("avx2"))) void splitPhases2Avx2(const uint8_t* v, int64_t L, uint8_t* even, uint8_t* odd) {
  const __m256i lo = _mm256_set1_epi16(0xFF);
  int64_t i = 0;
  for (; i + 32 <= L; i += 32) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + 2 * i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + 2 * i + 32));
    const __m256i e = _mm256_packus_epi16(_mm256_and_si256(a, lo), _mm256_and_si256(b, lo));
    const __m256i o = _mm256_packus_epi16(_mm256_srli_epi16(a, 8), _mm256_srli_epi16(b, 8));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(even + i), _mm256_permute4x64_epi64(e, 0xD8));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(odd + i), _mm256_permute4x64_epi64(o, 0xD8));
  }
  for (; i < L; ++i) even[i] = v[2 * i], odd[i] = v[2 * i + 1];
}

/// The common 3x3 stride-2 MaxPool with a one-pixel top/left border (resnet's stem) on rows of
/// up to 128 codes, AVX-512 VBMI: per output row the valid input rows' maxima in two registers
/// (code ^ flip, 0 past the row: the neutral border), then the three taps of each output column
/// picked by byte permutes (columns 2 ow - 1, 2 ow, 2 ow + 1; ow = 0's left tap is the border), the
/// maximum ^ flip stored. The same bytes as maxPoolBytes' general path with the identity table.
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) void maxPool3x3s2Vbmi(const uint8_t* src, uint8_t* dst, int64_t H, int64_t W,
                                                                               int64_t OH, int64_t OW, uint8_t flip) {
  const __m512i f = _mm512_set1_epi8(static_cast<char>(flip));
  const __mmask64 k0 = W >= 64 ? ~__mmask64{0} : (__mmask64{1} << W) - 1;
  const __mmask64 k1 = W <= 64 ? 0 : W >= 128 ? ~__mmask64{0} : (__mmask64{1} << (W - 64)) - 1;
  const __mmask64 ko = OW >= 64 ? ~__mmask64{0} : (__mmask64{1} << OW) - 1;
  alignas(64) uint8_t ie[64], io[64], im[64];
  for (int i = 0; i < 64; ++i) {
    ie[i] = static_cast<uint8_t>((2 * i) & 127), io[i] = static_cast<uint8_t>((2 * i + 1) & 127), im[i] = static_cast<uint8_t>((2 * i + 127) & 127);
  }
  const __m512i idxE = _mm512_load_si512(ie), idxO = _mm512_load_si512(io), idxM = _mm512_load_si512(im);
  for (int64_t oh = 0; oh < OH; ++oh) {
    __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
    for (int64_t h = std::max<int64_t>(0, 2 * oh - 1); h <= std::min<int64_t>(H - 1, 2 * oh + 1); ++h) {
      const uint8_t* row = src + h * W;
      lo = _mm512_max_epu8(lo, _mm512_maskz_mov_epi8(k0, _mm512_xor_si512(_mm512_maskz_loadu_epi8(k0, row), f)));
      if (k1) hi = _mm512_max_epu8(hi, _mm512_maskz_mov_epi8(k1, _mm512_xor_si512(_mm512_maskz_loadu_epi8(k1, row + 64), f)));
    }
    const __m512i e = _mm512_permutex2var_epi8(lo, idxE, hi), o = _mm512_permutex2var_epi8(lo, idxO, hi);
    const __m512i m = _mm512_maskz_permutex2var_epi8(~__mmask64{1}, lo, idxM, hi);  // column -1 for ow = 0: the border
    _mm512_mask_storeu_epi8(dst + oh * OW, ko, _mm512_xor_si512(_mm512_max_epu8(_mm512_max_epu8(e, o), m), f));
  }
}

/// MaxPool on the bytes themselves: the requantization r(v) = clamp(zy + M(v - zx)) is
/// non-decreasing in v when the multiplier is >= 0 (every step of fixed_point.h is), so
/// r(max v) = max r(v) and the op is a 256-entry table of the window's largest code (skipped when
/// it is the identity, as when input and output share their quantization). Signed codes are
/// compared as code ^ 0x80 (order-preserving). Per output row: the valid input rows' byte maxima,
/// the row split into `stride` column phases (phase p holds padded columns p, p + s, ...) so each
/// tap reads consecutive bytes, then the taps' maxima; the zero border is neutral because every
/// window has a valid tap (checked by the caller). Returns false when it does not apply.
bool maxPoolBytes(const Op& op, Rounding rounding, const TensorView& x, const TensorView& y, const std::vector<int64_t>& k, const std::vector<int64_t>& st,
                  const std::vector<int64_t>& pads, const std::vector<int64_t>& dil, ThreadPool* pool) {
  const auto& xd = x.desc->dims;
  const auto& yd = y.desc->dims;
  if (xd.size() != 4 || k.size() != 2 || st.size() != 2 || pads.size() != 4 || dil.size() != 2) return false;
  const int64_t NC = xd[0] * xd[1], H = xd[2], W = xd[3], OH = yd[2], OW = yd[3];
  const int64_t sh = st[0], sw = st[1], dh = dil[0], dw = dil[1], pt = pads[0], pl = pads[1];
  if (sh < 1 || sw < 1 || dh < 1 || dw < 1 || k[0] < 1 || k[1] < 1 || sw > 16 || W > (int64_t{1} << 24)) return false;
  // Every window must hold a valid row and column.
  auto covered = [](int64_t o, int64_t s, int64_t p, int64_t kk, int64_t d, int64_t size) {
    for (int64_t j = 0; j < kk; ++j)
      if (o * s - p + j * d >= 0 && o * s - p + j * d < size) return true;
    return false;
  };
  for (int64_t o = 0; o < OH; ++o)
    if (!covered(o, sh, pt, k[0], dh, H)) return false;
  for (int64_t o = 0; o < OW; ++o)
    if (!covered(o, sw, pl, k[1], dw, W)) return false;
  const FixedMultiplier f = multiplierAt(op, 0, rounding);
  if (f.multiplier < 0) return false;
  const int32_t zx = zeroPoint(x), zy = zeroPoint(y);
  const bool ux = x.desc->dtype == DType::U8;
  const uint8_t flip = ux ? 0 : 0x80;
  uint8_t lut[256];
  bool identity = true;
  for (int c = 0; c < 256; ++c) {  // c: the compared code (raw byte ^ flip)
    const int32_t v = ux ? c : c - 128;
    const int32_t r = clampToRange(int64_t{zy} + multiplyByQuantizedMultiplier(v - zx, f), op.actMin, op.actMax);
    lut[c] = static_cast<uint8_t>(r);
    identity &= lut[c] == static_cast<uint8_t>(c ^ flip);
  }
  static const bool vbmi = __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512bw");
  if (vbmi && identity && k[0] == 3 && k[1] == 3 && sh == 2 && sw == 2 && dh == 1 && dw == 1 && pt == 1 && pl == 1 && W <= 128 && OW <= 64 &&
      (OW - 1) * 2 + 1 <= W && (OH - 1) * 2 - 1 < H) {
    forEachItem(pool, NC, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c)
        maxPool3x3s2Vbmi(reinterpret_cast<const uint8_t*>(x.data) + c * H * W, reinterpret_cast<uint8_t*>(y.data) + c * OH * OW, H, W, OH,
                         OW, flip);
    });
    return true;
  }
  // Padded row: pl zeros, W codes, zeros to the right up to the last tap of the last output.
  const int64_t PWd = std::max<int64_t>(pl + W, (OW - 1) * sw + (k[1] - 1) * dw + 1);
  const int64_t L = (PWd + sw - 1) / sw;
  auto work = [&](int64_t b, int64_t e) {
    thread_local std::vector<uint8_t> vm, ph, out;
    vm.assign(static_cast<size_t>(sw * L + 64), 0), ph.assign(static_cast<size_t>(sw * L + 64), 0);
    out.resize(static_cast<size_t>(OW + 32));
    for (int64_t c = b; c < e; ++c) {
      const uint8_t* src = reinterpret_cast<const uint8_t*>(x.data) + c * H * W;
      uint8_t* dst = reinterpret_cast<uint8_t*>(y.data) + c * OH * OW;
      for (int64_t oh = 0; oh < OH; ++oh) {
        bool first = true;
        for (int64_t i = 0; i < k[0]; ++i) {
          const int64_t h = oh * sh - pt + i * dh;
          if (h < 0 || h >= H) continue;
          maxRowAvx2(vm.data() + pl, src + h * W, W, flip, first);
          first = false;
        }
        const uint8_t* rowp = vm.data();
        if (sw == 2) {
          splitPhases2Avx2(vm.data(), L, ph.data(), ph.data() + L);
          rowp = ph.data();
        } else if (sw > 2) {  // phases: ph[p * L + i] = vm[p + i * sw]
          for (int64_t i = 0; i < L; ++i)
            for (int64_t p = 0; p < sw; ++p) ph[static_cast<size_t>(p * L + i)] = vm[static_cast<size_t>(p + i * sw)];
          rowp = ph.data();
        }
        for (int64_t j = 0; j < k[1]; ++j) {  // tap j reads padded column ow * sw + j * dw
          const int64_t cj = j * dw;
          maxRowAvx2(out.data(), rowp + (cj % sw) * L + cj / sw, OW, 0, j == 0);
        }
        uint8_t* d = dst + oh * OW;
        if (identity) maxRowAvx2(d, out.data(), OW, flip, true);
        else for (int64_t ow = 0; ow < OW; ++ow) d[ow] = lut[out[static_cast<size_t>(ow)]];
      }
    }
  };
  forEachItem(pool, NC, work);
  return true;
}

constexpr int64_t kGlobalBlock = int64_t{1} << 23;  // bytes summed in int32 by the global average

/// Pooling one plane at a time: the plane as int32 (x - zx) once, window bounds clipped to the
/// image per output row and column, then the row requantized eight lanes at a time.
void poolFast(const Op& op, Rounding rounding, const TensorView& x, const TensorView& y, ThreadPool* pool) {
  const auto& xd = x.desc->dims;
  const auto& yd = y.desc->dims;
  const int64_t NC = xd[0] * xd[1];
  const int64_t H = xd[2], W = xd.size() > 3 ? xd[3] : 1;
  const int64_t OH = yd[2], OW = yd.size() > 3 ? yd[3] : 1;
  const bool global = op.code == OpCode::GlobalAveragePool, isMax = op.code == OpCode::MaxPool;
  const std::vector<int64_t> k = global ? std::vector<int64_t>{H, W} : op.attrInts("kernel_shape");
  const std::vector<int64_t> st = global ? std::vector<int64_t>{1, 1} : op.attrInts("strides");
  const std::vector<int64_t> pads = global ? std::vector<int64_t>{0, 0, 0, 0} : op.attrInts("pads");
  const std::vector<int64_t> dil = global ? std::vector<int64_t>{1, 1} : op.attrInts("dilations");
  const FixedMultiplier f = multiplierAt(op, 0, rounding);
  const int32_t zx = zeroPoint(x), zy = zeroPoint(y);
  if (isMax && maxPoolBytes(op, rounding, x, y, k, st, pads, dil, pool)) return;
  const bool ux = x.desc->dtype == DType::U8;
  if (global) {
    // One sum per plane, then one requantization over a run of channels (resnet18's 512 planes of
    // 7x7: the row machinery below would requantize one value at a time). The same value as the
    // general path: sum(x) - count * zx, clamped to int32.
    const int64_t HW = H * W;
    forEachItem(pool, NC, [&](int64_t b, int64_t e) {
      std::vector<int32_t> row(static_cast<size_t>(e - b));
      for (int64_t c = b; c < e; ++c) {
        const uint8_t* src = reinterpret_cast<const uint8_t*>(x.data) + c * HW;
        int64_t v = 0;
        for (int64_t i0 = 0; i0 < HW; i0 += kGlobalBlock) {  // int32 partial sums: <= 2^23 x 255
          int32_t part = 0;
          const int64_t i1 = std::min(HW, i0 + kGlobalBlock);
          if (ux) for (int64_t i = i0; i < i1; ++i) part += src[i];
          else for (int64_t i = i0; i < i1; ++i) part += static_cast<int8_t>(src[i]);
          v += part;
        }
        row[static_cast<size_t>(c - b)] = clampToRange(v - HW * int64_t{zx}, INT32_MIN, INT32_MAX);
      }
      requantizeRow(row.data(), e - b, 0, f, zy, op.actMin, op.actMax);
      uint8_t* dst = reinterpret_cast<uint8_t*>(y.data);
      for (int64_t c = b; c < e; ++c) dst[c] = static_cast<uint8_t>(row[static_cast<size_t>(c - b)]);
    });
    return;
  }
  // Per output column: the first valid tap and the number of valid taps (dilation steps).
  auto taps = [](int64_t o, int64_t stride, int64_t pad, int64_t kk, int64_t d, int64_t size, int64_t& first, int64_t& n) {
    const int64_t s0 = o * stride - pad;
    int64_t j0 = 0;
    while (j0 < kk && s0 + j0 * d < 0) ++j0;
    int64_t j1 = kk;
    while (j1 > j0 && s0 + (j1 - 1) * d >= size) --j1;
    first = s0 + j0 * d;
    n = j1 - j0;
  };
  std::vector<int64_t> colFirst(static_cast<size_t>(OW)), colN(static_cast<size_t>(OW));
  for (int64_t ow = 0; ow < OW; ++ow) taps(ow, st[1], pads[1], k[1], dil[1], W, colFirst[static_cast<size_t>(ow)], colN[static_cast<size_t>(ow)]);
  // Separable: over each output row's valid input rows first (a whole row at once, which the
  // compiler vectorizes), then over each column's valid taps. Max and integer sums are exact in
  // any order; x - zx is applied after (max(x) - zx, sum(x) - count * zx).
  auto work = [&](int64_t b, int64_t e) {
    std::vector<int32_t> acc(static_cast<size_t>(W));  // <= 2^16 rows x 255 per window: no overflow
    std::vector<int32_t> row(static_cast<size_t>(OW));
    for (int64_t c = b; c < e; ++c) {
      const uint8_t* src = reinterpret_cast<const uint8_t*>(x.data) + c * H * W;
      uint8_t* dst = reinterpret_cast<uint8_t*>(y.data) + c * OH * OW;
      for (int64_t oh = 0; oh < OH; ++oh) {
        int64_t h0 = 0, nh = 0;
        taps(oh, st[0], pads[0], k[0], dil[0], H, h0, nh);
        std::fill(acc.begin(), acc.end(), isMax ? INT32_MIN : 0);
        for (int64_t i = 0; i < nh; ++i) {
          const uint8_t* r = src + (h0 + i * dil[0]) * W;
          if (ux) {
            if (isMax) for (int64_t w = 0; w < W; ++w) acc[static_cast<size_t>(w)] = std::max<int32_t>(acc[static_cast<size_t>(w)], r[w]);
            else for (int64_t w = 0; w < W; ++w) acc[static_cast<size_t>(w)] += r[w];
          } else {
            const auto* rs = reinterpret_cast<const int8_t*>(r);
            if (isMax) for (int64_t w = 0; w < W; ++w) acc[static_cast<size_t>(w)] = std::max<int32_t>(acc[static_cast<size_t>(w)], rs[w]);
            else for (int64_t w = 0; w < W; ++w) acc[static_cast<size_t>(w)] += rs[w];
          }
        }
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t w0 = colFirst[static_cast<size_t>(ow)], nw = colN[static_cast<size_t>(ow)];
          const int32_t* a = acc.data() + w0;
          int64_t v = isMax ? int64_t{INT32_MIN} : 0;
          if (isMax) for (int64_t j = 0; j < nw; ++j) v = std::max<int64_t>(v, a[j * dil[1]]);
          else for (int64_t j = 0; j < nw; ++j) v += a[j * dil[1]];
          row[static_cast<size_t>(ow)] = isMax ? (nh * nw == 0 ? 0 : static_cast<int32_t>(v - zx))
                                               : clampToRange(v - nh * nw * int64_t{zx}, INT32_MIN, INT32_MAX);
        }
        requantizeRow(row.data(), OW, 0, f, zy, op.actMin, op.actMax);
        for (int64_t ow = 0; ow < OW; ++ow) dst[oh * OW + ow] = static_cast<uint8_t>(row[static_cast<size_t>(ow)]);
      }
    }
  };
  forEachItem(pool, NC, work);
}

}  // namespace

void runPool(const Op& op, const TensorView& x, const TensorView& y, Rounding rounding, bool fast, ThreadPool* pool) {
  if (fast && x.desc->dims[2] <= (int64_t{1} << 23)) {  // int32 column sums of up to 2^23 rows x 255
    poolFast(op, rounding, x, y, pool);
    return;
  }
  const auto& xd = x.desc->dims;
  const auto& yd = y.desc->dims;
  const int64_t NC = xd[0] * xd[1];
  const int64_t H = xd[2], W = xd.size() > 3 ? xd[3] : 1;
  const int64_t OH = yd[2], OW = yd.size() > 3 ? yd[3] : 1;
  const bool global = op.code == OpCode::GlobalAveragePool, isMax = op.code == OpCode::MaxPool;
  std::vector<int64_t> k = global ? std::vector<int64_t>{H, W} : op.attrInts("kernel_shape");
  std::vector<int64_t> st = global ? std::vector<int64_t>{1, 1} : op.attrInts("strides");
  std::vector<int64_t> pads = global ? std::vector<int64_t>{0, 0, 0, 0} : op.attrInts("pads");
  std::vector<int64_t> dil = global ? std::vector<int64_t>{1, 1} : op.attrInts("dilations");
  const FixedMultiplier f = multiplierAt(op, 0, rounding);
  const int32_t zx = zeroPoint(x), zy = zeroPoint(y);
  for (int64_t c = 0; c < NC; ++c)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        int32_t best = std::numeric_limits<int32_t>::min();
        int64_t sum = 0;  // a global pool over a large image may pass 2^31 / 255 elements
        for (int64_t i = 0; i < k[0]; ++i) {
          const int64_t h = oh * st[0] - pads[0] + i * dil[0];
          if (h < 0 || h >= H) continue;
          for (int64_t j = 0; j < k[1]; ++j) {
            const int64_t w = ow * st[1] - pads[1] + j * dil[1];
            if (w < 0 || w >= W) continue;
            const int32_t v = load(x.data, x.desc->dtype, static_cast<size_t>((c * H + h) * W + w)) - zx;
            best = std::max(best, v);
            sum += v;
          }
        }
        const int32_t r = isMax ? (best == std::numeric_limits<int32_t>::min() ? 0 : best) : clampToRange(sum, INT32_MIN, INT32_MAX);
        store(y.data, y.desc->dtype, static_cast<size_t>((c * OH + oh) * OW + ow),
              clampToRange(int64_t{zy} + multiplyByQuantizedMultiplier(r, f), op.actMin, op.actMax));
      }
}

void runConcat(const Op& op, const std::vector<TensorView>& in, const TensorView& y, Rounding rounding) {
  const auto axis = static_cast<size_t>(op.attrInt("axis", 0));
  size_t outer = 1;
  for (size_t d = 0; d < axis; ++d) outer *= static_cast<size_t>(y.desc->dims[d]);
  size_t yOffset = 0;
  const size_t yRow = count(*y.desc) / std::max<size_t>(outer, 1);
  for (size_t i = 0; i < in.size(); ++i) {
    const size_t row = count(*in[i].desc) / std::max<size_t>(outer, 1);
    for (size_t o = 0; o < outer; ++o) rescaleRun(in[i], o * row, y, o * yRow + yOffset, row, multiplierAt(op, i, rounding), op);
    yOffset += row;
  }
}

void runReshape(const Op& op, const TensorView& x, const TensorView& y, Rounding rounding) {
  rescaleRun(x, 0, y, 0, count(*y.desc), multiplierAt(op, 0, rounding), op);
}

void runTranspose(const Op& op, const TensorView& x, const TensorView& y, Rounding rounding) {
  const std::vector<int64_t> perm = op.attrInts("perm");
  const auto& xd = x.desc->dims;
  const size_t rank = xd.size();
  std::vector<size_t> xStride(rank, 1);
  for (size_t d = rank; d-- > 1;) xStride[d - 1] = xStride[d] * static_cast<size_t>(xd[d]);
  const size_t n = count(*y.desc);
  std::vector<size_t> idx(rank, 0);
  std::vector<std::byte> gathered(n);
  TensorView g = x;
  Tensor gd = *x.desc;
  gd.dims = y.desc->dims;
  g.desc = &gd;
  g.data = gathered.data();
  for (size_t i = 0; i < n; ++i) {
    size_t src = 0;
    for (size_t d = 0; d < rank; ++d) src += idx[d] * xStride[static_cast<size_t>(perm[d])];
    gathered[i] = x.data[src];
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < static_cast<size_t>(y.desc->dims[d])) break;
      idx[d] = 0;
    }
  }
  rescaleRun(g, 0, y, 0, n, multiplierAt(op, 0, rounding), op);
}

}  // namespace npuconv::device
