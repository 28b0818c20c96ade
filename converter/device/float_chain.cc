// float_chain.cc - see float_chain.h. Built with -ffp-contract=off (converter/CMakeLists.txt): a
// Mul followed by an Add must stay two roundings, as in the unfused ops, never one FMA.
#include "converter/device/float_chain.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "converter/exec/thread_pool.h"

namespace npuconv::device {
namespace {

constexpr int kBlock = 256;     // elements per evaluation block: every slot stays in L1; also the 256 codes of a table
constexpr int kMaxSteps = 15;   // slots = steps + 1 blocks of floats on the stack
constexpr int64_t kItem = 4096; // elements per thread-pool item
constexpr int64_t kMinParallel = 1 << 15;  // fewer elements: one thread (a parallel region costs more)

/// lut[idx] for 64 codes: two 128-byte permutes (vpermi2b over the table's halves), the code's top
/// bit picking between them.
__attribute__((target("avx512f,avx512bw,avx512vbmi"), always_inline)) inline __m512i lutLookup64(__m512i t0, __m512i t1,
                                                                                                 __m512i t2, __m512i t3,
                                                                                                 __m512i idx) {
  const __m512i lo = _mm512_permutex2var_epi8(t0, idx, t1), hi = _mm512_permutex2var_epi8(t2, idx, t3);
  return _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi);
}

/// out[i] = lut[in[i]] for i < n, 64 bytes a step. A lookup, so the same bytes as the scalar loop;
/// needs AVX-512 VBMI.
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) void lutBytesVbmi(const uint8_t* lut, const uint8_t* in,
                                                                            uint8_t* out, int64_t n) {
  const __m512i t0 = _mm512_loadu_si512(lut), t1 = _mm512_loadu_si512(lut + 64);
  const __m512i t2 = _mm512_loadu_si512(lut + 128), t3 = _mm512_loadu_si512(lut + 192);
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) _mm512_storeu_si512(out + i, lutLookup64(t0, t1, t2, t3, _mm512_loadu_si512(in + i)));
  if (i < n) {
    const __mmask64 m = (uint64_t{1} << (n - i)) - 1;  // n - i < 64
    _mm512_mask_storeu_epi8(out + i, m, lutLookup64(t0, t1, t2, t3, _mm512_maskz_loadu_epi8(m, in + i)));
  }
}

bool cpuHasVbmi() {
  static const bool has = __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512bw");
  return has;
}

/// out[i] = lut[in[i]]: the VBMI kernel when `simd` and the CPU has it, else the scalar loop.
void lutBytes(const uint8_t* lut, const uint8_t* in, uint8_t* out, int64_t n, bool simd) {
  if (simd && cpuHasVbmi()) return lutBytesVbmi(lut, in, out, n);
  for (int64_t i = 0; i < n; ++i) out[i] = lut[in[i]];
}

int64_t count(const Tensor& t) {
  int64_t n = 1;
  for (int64_t d : t.dims) n *= d;
  return n;
}

/// A one-element f32 weight: its value.
std::optional<float> scalarConstant(const Program& p, int32_t t) {
  if (t < 0) return std::nullopt;
  const Tensor& d = p.tensors[static_cast<size_t>(t)];
  if (d.storage != Storage::Weight || d.dtype != DType::F32 || count(d) != 1 || !d.weight) return std::nullopt;
  float v;
  std::memcpy(&v, d.weight->bytes(), sizeof v);
  return v;
}

struct QuantOut {
  float scale;
  int32_t zp, lo, hi;
};

/// Slot 0 of `slots` holds n dequantized inputs; evaluates the steps and quantizes the result slot
/// into out, exactly as the executor's kernels and runQuantize do, element by element. simd: the
/// CPU has AVX2.
void evalBlock(const FloatChain& c, float (*slots)[kBlock], int n, const QuantOut& q, uint8_t* out, bool simd) {
  for (size_t k = 0; k < c.steps.size(); ++k) {
    const ChainStep& s = c.steps[k];
    float* r = slots[k + 1];
    const float* A = s.a >= 0 ? slots[s.a] : nullptr;
    const float* B = s.b >= 0 ? slots[s.b] : nullptr;
    auto binary = [&](auto op) {
      if (!A) for (int i = 0; i < n; ++i) r[i] = op(s.ca, B[i]);
      else if (!B) for (int i = 0; i < n; ++i) r[i] = op(A[i], s.cb);
      else for (int i = 0; i < n; ++i) r[i] = op(A[i], B[i]);
    };
    switch (s.kind) {
      case ChainStep::Kind::Add: binary([](float a, float b) { return a + b; }); break;
      case ChainStep::Kind::Sub: binary([](float a, float b) { return a - b; }); break;
      case ChainStep::Kind::Mul: binary([](float a, float b) { return a * b; }); break;
      case ChainStep::Kind::Div: binary([](float a, float b) { return a / b; }); break;
      case ChainStep::Kind::Clip: {
        const float l = s.lo, h = s.hi;
        for (int i = 0; i < n; ++i) {
          const float x = A[i];
          r[i] = x != x ? x : (x < l ? l : (x > h ? h : x));  // the executor's kClip
        }
        break;
      }
      case ChainStep::Kind::Relu:
        for (int i = 0; i < n; ++i) r[i] = A[i] > 0.f ? A[i] : 0.f;  // the executor's kRelu
        break;
    }
  }
  const float* v = slots[c.resultSlot];
  quantizeRun(v, n, q.scale, q.zp, q.lo, q.hi, out, simd);
}

/// Dequantizes n elements of x starting at element `first` (one quantization channel) into dst:
/// f32(int64(q) - zero_point) * scale, as runDequantize.
void dequantize(const std::byte* x, DType t, int64_t first, int n, float scale, int32_t zp, float* dst) {
  switch (t) {
    case DType::I32: {
      const auto* s = reinterpret_cast<const int32_t*>(x) + first;
      if (zp == 0)  // an accumulator: float(int64(v) - 0) == float(v), and this form vectorizes
        for (int i = 0; i < n; ++i) dst[i] = static_cast<float>(s[i]) * scale;
      else
        for (int i = 0; i < n; ++i) dst[i] = static_cast<float>(static_cast<int64_t>(s[i]) - zp) * scale;
      break;
    }
    case DType::U8: {
      const auto* s = reinterpret_cast<const uint8_t*>(x) + first;
      for (int i = 0; i < n; ++i) dst[i] = static_cast<float>(static_cast<int32_t>(s[i]) - zp) * scale;
      break;
    }
    default: {
      const auto* s = reinterpret_cast<const int8_t*>(x) + first;
      for (int i = 0; i < n; ++i) dst[i] = static_cast<float>(static_cast<int32_t>(s[i]) - zp) * scale;
      break;
    }
  }
}

QuantOut quantOut(const QuantParams& q, DType t) {
  return {q.scales[0], q.zeroPoints[0], t == DType::U8 ? 0 : -128, t == DType::U8 ? 255 : 127};
}

/// 8-bit per-tensor input: the chain on every code, by the block code itself (so the table and the
/// unfused ops agree as the block code and the unfused ops do).
void prepareLut(FloatChain& c, const Program& p);

}  // namespace

std::optional<FloatChain> matchFloatChain(const Program& p, size_t first, const std::vector<int64_t>& lastReader,
                                          const std::vector<bool>& graphOutput) {
  const Op& dq = p.ops[first];
  if (dq.code != OpCode::Dequantize) return std::nullopt;
  const Tensor& x = p.tensors[static_cast<size_t>(dq.inputs[0])];
  if (x.dtype != DType::I32 && x.dtype != DType::U8 && x.dtype != DType::I8) return std::nullopt;
  const int32_t s = dq.outputs[0];
  const std::vector<int64_t>& dims = p.tensors[static_cast<size_t>(s)].dims;
  FloatChain c;
  c.firstOp = first;
  c.input = dq.inputs[0];
  std::unordered_map<int32_t, int> slot{{s, 0}};
  auto slotOf = [&](int32_t t) -> int {
    auto it = slot.find(t);
    return it == slot.end() ? -1 : it->second;
  };
  // Operand i of op: a chain slot, or a scalar constant into *k.
  auto operand = [&](const Op& op, size_t i, int* sl, float* k) {
    if (i >= op.inputs.size()) return false;
    *sl = slotOf(op.inputs[i]);
    if (*sl >= 0) return true;
    const auto v = scalarConstant(p, op.inputs[i]);
    if (!v) return false;
    *k = *v;
    return true;
  };
  for (size_t j = first + 1; j < p.ops.size(); ++j) {
    const Op& op = p.ops[j];
    if (op.code == OpCode::Quantize) {
      const int r = slotOf(op.inputs[0]);
      const Tensor& y = p.tensors[static_cast<size_t>(op.outputs[0])];
      if (r < 0 || y.quant < 0 || p.quant[static_cast<size_t>(y.quant)].perAxis()) return std::nullopt;
      for (const auto& [t, sl] : slot)
        if (graphOutput[static_cast<size_t>(t)] || lastReader[static_cast<size_t>(t)] > static_cast<int64_t>(j)) return std::nullopt;
      c.lastOp = j;
      c.output = op.outputs[0];
      c.resultSlot = r;
      prepareLut(c, p);
      return c;
    }
    if (op.code != OpCode::FloatOp || !op.domain.empty() || op.outputs.size() != 1 ||
        static_cast<int>(c.steps.size()) >= kMaxSteps)
      return std::nullopt;
    const Tensor& out = p.tensors[static_cast<size_t>(op.outputs[0])];
    if (op.type == "Resize") {
      // Only DQ -> Resize -> Q on 8-bit per tensor, the Resize with mode nearest (the default) and
      // every input but X constant: then it gathers, and a table does the rest.
      const Attr* mode = op.attr("mode");
      if (j != first + 1 || (mode && (mode->kind != AttrKind::String || mode->str != "nearest")) || x.dtype == DType::I32 ||
          p.quant[static_cast<size_t>(x.quant)].perAxis() || op.inputs.empty() || op.inputs[0] != s || out.dtype != DType::F32 ||
          count(x) >= (int64_t{1} << 24))
        return std::nullopt;
      for (size_t i = 1; i < op.inputs.size(); ++i)
        if (op.inputs[i] >= 0 && p.tensors[static_cast<size_t>(op.inputs[i])].storage != Storage::Weight) return std::nullopt;
      c.resizeOp = static_cast<int64_t>(j);
      slot[op.outputs[0]] = 0;  // the same values, moved
      continue;
    }
    if (c.resizeOp >= 0) return std::nullopt;
    if (out.dtype != DType::F32 || out.dims != dims) return std::nullopt;
    ChainStep st;
    if (op.type == "Add" || op.type == "Sub" || op.type == "Mul" || op.type == "Div") {
      st.kind = op.type == "Add" ? ChainStep::Kind::Add
                : op.type == "Sub" ? ChainStep::Kind::Sub
                : op.type == "Mul" ? ChainStep::Kind::Mul
                                   : ChainStep::Kind::Div;
      if (op.inputs.size() != 2 || !operand(op, 0, &st.a, &st.ca) || !operand(op, 1, &st.b, &st.cb) || (st.a < 0 && st.b < 0))
        return std::nullopt;
    } else if (op.type == "Relu") {
      st.kind = ChainStep::Kind::Relu;
      if (op.inputs.size() != 1 || (st.a = slotOf(op.inputs[0])) < 0) return std::nullopt;
    } else if (op.type == "Clip") {
      st.kind = ChainStep::Kind::Clip;
      if (op.inputs.empty() || (st.a = slotOf(op.inputs[0])) < 0) return std::nullopt;
      st.lo = -std::numeric_limits<float>::infinity();
      st.hi = std::numeric_limits<float>::infinity();
      if (p.onnxOpset < 11) {
        if (op.inputs.size() != 1) return std::nullopt;
        if (const Attr* a = op.attr("min")) {
          if (a->kind != AttrKind::Float || a->floats.size() != 1) return std::nullopt;
          st.lo = a->floats[0];
        }
        if (const Attr* a = op.attr("max")) {
          if (a->kind != AttrKind::Float || a->floats.size() != 1) return std::nullopt;
          st.hi = a->floats[0];
        }
      } else {
        if (op.inputs.size() > 3) return std::nullopt;
        for (size_t i = 1; i < op.inputs.size(); ++i) {
          if (op.inputs[i] < 0) continue;
          const auto v = scalarConstant(p, op.inputs[i]);
          if (!v) return std::nullopt;
          (i == 1 ? st.lo : st.hi) = *v;
        }
      }
    } else {
      return std::nullopt;
    }
    c.steps.push_back(st);
    slot[op.outputs[0]] = static_cast<int>(c.steps.size());
  }
  return std::nullopt;
}

std::optional<FloatChain> matchChannelScale(const Program& p, size_t first, const std::vector<int64_t>& lastReader,
                                            const std::vector<bool>& graphOutput) {
  if (first + 3 >= p.ops.size()) return std::nullopt;
  const Op& d1 = p.ops[first];
  const Op& d2 = p.ops[first + 1];
  const Op& mul = p.ops[first + 2];
  const Op& q = p.ops[first + 3];
  if (d1.code != OpCode::Dequantize || d2.code != OpCode::Dequantize || mul.code != OpCode::FloatOp || mul.type != "Mul" ||
      !mul.domain.empty() || mul.inputs.size() != 2 || mul.outputs.size() != 1 || q.code != OpCode::Quantize ||
      q.inputs[0] != mul.outputs[0])
    return std::nullopt;
  const int32_t f1 = d1.outputs[0], f2 = d2.outputs[0], fm = mul.outputs[0];
  if (!((mul.inputs[0] == f1 && mul.inputs[1] == f2) || (mul.inputs[0] == f2 && mul.inputs[1] == f1)) || f1 == f2) return std::nullopt;
  const Tensor& m = p.tensors[static_cast<size_t>(fm)];
  const Tensor& t1 = p.tensors[static_cast<size_t>(f1)];
  const bool firstIsX = t1.dims == m.dims;
  const Op& dx = firstIsX ? d1 : d2;
  const Op& ds = firstIsX ? d2 : d1;
  const Tensor& x = p.tensors[static_cast<size_t>(dx.inputs[0])];
  const Tensor& sc = p.tensors[static_cast<size_t>(ds.inputs[0])];
  const Tensor& y = p.tensors[static_cast<size_t>(q.outputs[0])];
  auto perTensor8 = [&](const Tensor& t) {
    return (t.dtype == DType::U8 || t.dtype == DType::I8) && t.quant >= 0 && !p.quant[static_cast<size_t>(t.quant)].perAxis();
  };
  if (!perTensor8(x) || !perTensor8(sc) || !perTensor8(y) || m.dtype != DType::F32 || x.dims.size() != 4 || x.dims[0] != 1 ||
      x.dims != m.dims || sc.dims != std::vector<int64_t>{1, x.dims[1], 1, 1} || y.dims != m.dims)
    return std::nullopt;
  for (int32_t t : {f1, f2, fm})
    if (graphOutput[static_cast<size_t>(t)] || lastReader[static_cast<size_t>(t)] > static_cast<int64_t>(first + 3)) return std::nullopt;
  FloatChain c;
  c.firstOp = first;
  c.lastOp = first + 3;
  c.input = dx.inputs[0];
  c.scaleInput = ds.inputs[0];
  c.output = q.outputs[0];
  return c;
}

void runFloatChain(const FloatChain& c, const TensorView& x, const TensorView& y, ThreadPool* pool,
                   std::vector<uint8_t>& scratch, bool simd, const TensorView* scale) {
  const int64_t n = count(*x.desc), nOut = count(*y.desc);
  const size_t xBytes = static_cast<size_t>(n) * dtypeSize(x.desc->dtype);
  // The memory plan may give the output bytes the input no longer needs after this chain: then the
  // result goes through scratch (a later block must not read overwritten input).
  const bool overlap = y.data < x.data + xBytes && x.data < y.data + nOut;
  if (overlap && scratch.size() < static_cast<size_t>(nOut)) scratch.resize(static_cast<size_t>(nOut));
  uint8_t* out = overlap ? scratch.data() : reinterpret_cast<uint8_t*>(y.data);
  if (std::max(n, nOut) < kMinParallel) pool = nullptr;
  if (c.scaleInput >= 0 && scale) {
    // Per channel: every code dequantized as runDequantize does, times the channel's dequantized
    // scale (the Mul: one correctly rounded product, the same either order), quantized as
    // runQuantize does; then x through its channel's table. All tables first: y may overlap scale.
    const int64_t C = x.desc->dims[1], inner = C ? n / C : 0;
    const QuantParams& qx = *x.quant;
    const QuantParams& qs = *scale->quant;
    const QuantOut qo = quantOut(*y.quant, y.desc->dtype);
    std::array<std::byte, 256> codes;
    for (int k = 0; k < 256; ++k) codes[static_cast<size_t>(k)] = static_cast<std::byte>(k);
    float dq[256], v[256];
    dequantize(codes.data(), x.desc->dtype, 0, 256, qx.scales[0], qx.zeroPoints[0], dq);
    std::vector<uint8_t> luts(static_cast<size_t>(C) * 256);
    for (int64_t ch = 0; ch < C; ++ch) {
      float s;
      dequantize(scale->data, scale->desc->dtype, ch, 1, qs.scales[0], qs.zeroPoints[0], &s);
      for (int k = 0; k < 256; ++k) v[k] = dq[k] * s;
      quantizeRun(v, 256, qo.scale, qo.zp, qo.lo, qo.hi, luts.data() + ch * 256, simd);
    }
    const auto* in = reinterpret_cast<const uint8_t*>(x.data);
    const int64_t perRun = (inner + kItem * 4 - 1) / (kItem * 4);
    forEachItem(pool, C * perRun, [&](int64_t b, int64_t e) {
      for (int64_t item = b; item < e; ++item) {
        const int64_t ch = item / perRun, lo = ch * inner + (item % perRun) * kItem * 4, hi = std::min(ch * inner + inner, lo + kItem * 4);
        lutBytes(luts.data() + ch * 256, in + lo, out + lo, hi - lo, simd);
      }
    });
  } else if (c.resizeOp >= 0 && !c.rowBase.empty()) {
    const auto* in = reinterpret_cast<const uint8_t*>(x.data);
    const auto rows = static_cast<int64_t>(c.rowBase.size()), W = static_cast<int64_t>(c.colMap.size());
    const int64_t perItem = std::max<int64_t>(1, kItem * 4 / std::max<int64_t>(W, 1));
    forEachItem(pool, (rows + perItem - 1) / perItem, [&](int64_t b, int64_t e) {
      for (int64_t r = b * perItem, end = std::min(rows, e * perItem); r < end; ++r) {
        uint8_t* o = out + r * W;
        if (r > b * perItem && c.rowBase[static_cast<size_t>(r)] == c.rowBase[static_cast<size_t>(r - 1)]) {
          std::memcpy(o, o - W, static_cast<size_t>(W));  // the same source row (this item wrote it)
          continue;
        }
        const uint8_t* src = in + c.rowBase[static_cast<size_t>(r)];
        for (int64_t i = 0; i < W; ++i) o[i] = src[c.colMap[static_cast<size_t>(i)]];  // gather the codes,
        lutBytes(c.lut.data(), o, o, W, simd);                                          // then map them in place
      }
    });
  } else if (c.resizeOp >= 0) {
    const auto* in = reinterpret_cast<const uint8_t*>(x.data);
    const int32_t* g = c.gather.data();
    forEachItem(pool, (nOut + kItem * 4 - 1) / (kItem * 4), [&](int64_t b, int64_t e) {
      for (int64_t i = b * kItem * 4, end = std::min(nOut, e * kItem * 4); i < end; ++i) out[i] = c.lut[in[g[i]]];
    });
  } else if (c.useLut) {
    const auto* in = reinterpret_cast<const uint8_t*>(x.data);
    forEachItem(pool, (n + kItem * 4 - 1) / (kItem * 4), [&](int64_t b, int64_t e) {
      const int64_t i = b * kItem * 4, end = std::min(n, e * kItem * 4);
      lutBytes(c.lut.data(), in + i, out + i, end - i, simd);
    });
  } else {
    const QuantParams& qi = *x.quant;
    int64_t inner = n, channels = 1;
    if (qi.perAxis()) {
      channels = x.desc->dims[static_cast<size_t>(qi.axis)];
      inner = 1;
      for (size_t d = static_cast<size_t>(qi.axis) + 1; d < x.desc->dims.size(); ++d) inner *= x.desc->dims[d];
    }
    const int64_t runs = inner ? n / inner : 0, perRun = (inner + kItem - 1) / kItem;
    const QuantOut qo = quantOut(*y.quant, y.desc->dtype);
    forEachItem(pool, runs * perRun, [&](int64_t b, int64_t e) {
      float slots[kMaxSteps + 1][kBlock];
      for (int64_t item = b; item < e; ++item) {
        const int64_t run = item / perRun;
        const size_t ch = static_cast<size_t>(run % channels);
        const int64_t lo = run * inner + (item % perRun) * kItem, hi = std::min(run * inner + inner, lo + kItem);
        for (int64_t i = lo; i < hi; i += kBlock) {
          const int m = static_cast<int>(std::min<int64_t>(kBlock, hi - i));
          dequantize(x.data, x.desc->dtype, i, m, qi.scales[ch], qi.zeroPoints[ch], slots[0]);
          evalBlock(c, slots, m, qo, out + i, simd);
        }
      }
    });
  }
  if (overlap) std::memcpy(y.data, out, static_cast<size_t>(nOut));
}

std::optional<FloatChain> matchUnaryTable(const Program& p, size_t first, const std::vector<int64_t>& lastReader,
                                          const std::vector<bool>& graphOutput) {
  // Elementwise by definition: each output depends on its own input element only.
  static const std::unordered_set<std::string> kUnary = {
      "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Relu", "LeakyRelu", "Elu", "Selu", "Celu", "Softplus", "Softsign",
      "Exp", "Log", "Sqrt", "Abs", "Neg", "Erf", "Gelu", "Mish", "Clip", "Reciprocal", "Floor", "Ceil", "Round",
      "Sin", "Cos", "ThresholdedRelu", "Identity", "Sign"};
  if (first + 2 >= p.ops.size()) return std::nullopt;
  const Op& dq = p.ops[first];
  const Op& op = p.ops[first + 1];
  const Op& q = p.ops[first + 2];
  if (dq.code != OpCode::Dequantize || op.code != OpCode::FloatOp || q.code != OpCode::Quantize || !op.domain.empty() ||
      !kUnary.contains(op.type) || op.outputs.size() != 1 || op.inputs.empty())
    return std::nullopt;
  const Tensor& x = p.tensors[static_cast<size_t>(dq.inputs[0])];
  const int32_t s = dq.outputs[0], r = op.outputs[0];
  if ((x.dtype != DType::U8 && x.dtype != DType::I8) || p.quant[static_cast<size_t>(x.quant)].perAxis() || op.inputs[0] != s ||
      q.inputs[0] != r || p.quant[static_cast<size_t>(p.tensors[static_cast<size_t>(q.outputs[0])].quant)].perAxis())
    return std::nullopt;
  const Tensor& rt = p.tensors[static_cast<size_t>(r)];
  if (rt.dtype != DType::F32 || rt.dims != x.dims) return std::nullopt;
  for (size_t i = 1; i < op.inputs.size(); ++i)
    if (op.inputs[i] >= 0 && p.tensors[static_cast<size_t>(op.inputs[i])].storage != Storage::Weight) return std::nullopt;
  for (int32_t t : {s, r})
    if (graphOutput[static_cast<size_t>(t)] || lastReader[static_cast<size_t>(t)] > static_cast<int64_t>(first + 2)) return std::nullopt;
  FloatChain c;
  c.firstOp = first;
  c.lastOp = first + 2;
  c.input = dq.inputs[0];
  c.output = q.outputs[0];
  return c;
}

void tableProbe(const FloatChain& c, const Program& p, float* x, int64_t n) {
  const Tensor& t = p.tensors[static_cast<size_t>(c.input)];
  const QuantParams& q = p.quant[static_cast<size_t>(t.quant)];
  std::array<uint8_t, 256> codes;
  for (int b = 0; b < 256; ++b) codes[static_cast<size_t>(b)] = static_cast<uint8_t>(b);
  float v[256];
  dequantize(reinterpret_cast<const std::byte*>(codes.data()), t.dtype, 0, 256, q.scales[0], q.zeroPoints[0], v);
  for (int64_t i = 0; i < n; ++i) x[i] = v[i % 256];
}

bool setUnaryTable(FloatChain& c, const Program& p, const float* y, int64_t n) {
  for (int64_t i = 256; i < n; ++i)
    if (std::memcmp(y + i, y + i % 256, sizeof(float)) != 0) return false;
  const Tensor& out = p.tensors[static_cast<size_t>(c.output)];
  const QuantOut q = quantOut(p.quant[static_cast<size_t>(out.quant)], out.dtype);
  float v[256] = {};
  std::memcpy(v, y, static_cast<size_t>(std::min<int64_t>(n, 256)) * sizeof(float));
  // Fewer than 256 elements: the codes the probe did not reach get no table entry; no table then.
  if (n < 256) return false;
  const float flo = float(q.lo), fhi = float(q.hi), fzp = float(q.zp);
  for (int i = 0; i < 256; ++i) {  // runQuantize
    const float r = std::nearbyint(v[i] / q.scale);
    const float w = std::clamp(r + fzp, flo, fhi);
    c.lut[static_cast<size_t>(i)] = static_cast<uint8_t>(std::isnan(v[i]) ? q.zp : static_cast<int32_t>(w));
  }
  c.useLut = true;
  return true;
}

bool setGatherMap(FloatChain& c, const float* resized, int64_t outCount, int64_t n, int64_t outW) {
  c.gather.resize(static_cast<size_t>(outCount));
  for (int64_t i = 0; i < outCount; ++i) {
    const float v = resized[i];
    if (!(v >= 0.f && v < static_cast<float>(n)) || v != std::floor(v)) return false;
    c.gather[static_cast<size_t>(i)] = static_cast<int32_t>(v);
  }
  if (outW > 0 && outCount % outW == 0) {
    const int64_t rows = outCount / outW;
    std::vector<int32_t> base(static_cast<size_t>(rows)), col(static_cast<size_t>(outW));
    for (int64_t x = 0; x < outW; ++x) col[static_cast<size_t>(x)] = c.gather[static_cast<size_t>(x)] - c.gather[0];
    bool separable = true;
    for (int64_t r = 0; r < rows && separable; ++r) {
      base[static_cast<size_t>(r)] = c.gather[static_cast<size_t>(r * outW)];
      for (int64_t x = 0; x < outW && separable; ++x)
        separable = c.gather[static_cast<size_t>(r * outW + x)] == base[static_cast<size_t>(r)] + col[static_cast<size_t>(x)];
    }
    if (separable) {
      c.rowBase = std::move(base);
      c.colMap = std::move(col);
      c.gather.clear();
      c.gather.shrink_to_fit();
    }
  }
  return true;
}

namespace {
void prepareLut(FloatChain& c, const Program& p) {
  const Tensor& x = p.tensors[static_cast<size_t>(c.input)];
  const Tensor& y = p.tensors[static_cast<size_t>(c.output)];
  if (x.dtype == DType::I32 || x.quant < 0 || p.quant[static_cast<size_t>(x.quant)].perAxis()) return;
  const QuantParams& qi = p.quant[static_cast<size_t>(x.quant)];
  // The 256 codes in byte order: lut[b] is the output for the input byte b (int8 -1 is byte 255).
  std::array<uint8_t, 256> codes;
  for (int b = 0; b < 256; ++b) codes[static_cast<size_t>(b)] = static_cast<uint8_t>(b);
  float slots[kMaxSteps + 1][kBlock];
  dequantize(reinterpret_cast<const std::byte*>(codes.data()), x.dtype, 0, 256, qi.scales[0], qi.zeroPoints[0], slots[0]);
  evalBlock(c, slots, 256, quantOut(p.quant[static_cast<size_t>(y.quant)], y.dtype), c.lut.data(), false);
  c.useLut = true;
}

}  // namespace

}  // namespace npuconv::device
