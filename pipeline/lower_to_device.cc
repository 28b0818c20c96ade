// lower_to_device.cc - see lower_to_device.h. One walk over the nodes in order: a DequantizeLinear
// of an activation only records an alias (the float value is "q tensor T, dequantized"); a compute
// node whose activations are such aliases, whose weights are quantized constants and whose result
// (through at most one Relu/Clip) feeds one QuantizeLinear becomes one integer op writing the Q's
// result; anything else becomes a float op, asking for float inputs, which materializes a
// Dequantize op on first need.
#include "pipeline/lower_to_device.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "converter/device/fixed_point.h"
#include "converter/device/memory_planner.h"
#include "passes/shape/static_shapes.h"
#include "quant/quant_math.h"

namespace npuconv {
namespace {

using device::Attr;
using device::AttrKind;
using device::FixedMultiplier;
using device::OpCode;

struct ConstQ {
  TensorRef data;
  device::QuantParams q;
};

Attr intsAttr(std::string name, std::vector<int64_t> v) {
  Attr a;
  a.name = std::move(name);
  a.kind = AttrKind::Ints;
  a.ints = std::move(v);
  return a;
}

Attr intAttr(std::string name, int64_t v) {
  Attr a = intsAttr(std::move(name), {v});
  a.kind = AttrKind::Int;
  return a;
}

bool isAct8(DType t) { return t == DType::U8 || t == DType::I8; }

class Lowerer {
 public:
  Lowerer(const Model& m, const std::map<std::string, double>* widenInputScale)
      : m_(m), g_(*m.graph), widenInputScale_(widenInputScale) {}

  Expected<device::Program> run() {
    for (Value* in : g_.inputs()) {
      if (in->isInitializer()) continue;
      NPU_ASSIGN_OR_RETURN(int32_t t, newActivation(in, in->dtype(), -1));
      dev_[in] = t;
      p_.inputs.push_back({t, in->name(), false});
    }
    for (Node* n : g_.nodes()) {
      if (consumed_.count(n)) continue;
      NPU_TRY(lowerNode(n).in(fmt::format("node \"{}\" ({})", n->name(), n->opType())));
    }
    for (Value* out : g_.outputs()) {
      NPU_ASSIGN_OR_RETURN(int32_t t, floatOrDevice(out));
      p_.outputs.push_back({t, out->name(), false});
    }
    p_.onnxOpset = m_.opsetVersion("");
    device::planMemory(p_);
    return std::move(p_);
  }

 private:
  // --- values ---------------------------------------------------------------------------------
  static Expected<std::vector<int64_t>> dimsOf(const Value* v) {
    if (!v->type().hasStaticShape())
      return Status::unsupported("value \"{}\": the device blob needs static shapes (give --input-shape)", v->name());
    return staticDims(*v->type().shape);
  }

  static const TensorData* constant(const Value* v) {
    return v && v->isInitializer() && !v->isGraphInput() ? v->initializer().get() : nullptr;
  }

  static device::Layout layoutFor(size_t rank) { return rank == 4 ? device::Layout::NCHW : device::Layout::Any; }

  Expected<int32_t> newActivation(const Value* v, DType dtype, int32_t quant) {
    NPU_ASSIGN_OR_RETURN(std::vector<int64_t> dims, dimsOf(v));
    device::Tensor t;
    t.name = v->name();
    t.dtype = dtype;
    t.layout = layoutFor(dims.size());
    t.dims = std::move(dims);
    t.quant = quant;
    return p_.addTensor(std::move(t));
  }

  int32_t newWeight(std::string name, TensorRef data, device::Layout layout, int32_t quant) {
    device::Tensor t;
    t.name = std::move(name);
    t.dtype = data->dtype();
    t.dims = data->dims();
    t.layout = layout;
    t.quant = quant;
    t.storage = device::Storage::Weight;
    t.weight = std::move(data);
    return p_.addTensor(std::move(t));
  }

  /// Scale / zero point of a Q or DQ node when they are constants.
  static std::optional<device::QuantParams> qdqParams(const Node* n) {
    const TensorData* s = constant(n->operand(1));
    const TensorData* z = constant(n->operand(2));
    if (!s || s->dtype() != DType::F32 || s->numElements() < 1) return std::nullopt;
    device::QuantParams q;
    q.scales = s->toFloats();
    if (z) {
      if (z->numElements() != s->numElements()) return std::nullopt;
      for (int64_t v : z->toInt64s()) q.zeroPoints.push_back(static_cast<int32_t>(v));
    } else {
      q.zeroPoints.assign(q.scales.size(), 0);
    }
    for (float sc : q.scales)
      if (!(sc > 0) || !std::isfinite(sc)) return std::nullopt;
    if (s->rank() >= 1 && s->numElements() > 1) q.axis = static_cast<int32_t>(n->attrs().getInt("axis", 1));
    return q;
  }

  /// The storage type a Q node produces.
  static DType qType(const Node* q) {
    const TensorData* z = constant(q->operand(2));
    if (z) return z->dtype();
    return q->result()->dtype() != DType::Undefined ? q->result()->dtype() : DType::U8;
  }

  /// v = DequantizeLinear(constant) -> the constant and its parameters.
  static std::optional<ConstQ> constDq(const Value* v) {
    const Node* dq = v ? v->producer() : nullptr;
    if (!dq || !dq->isQdq("DequantizeLinear")) return std::nullopt;
    const TensorData* d = constant(dq->operand(0));
    std::optional<device::QuantParams> q = qdqParams(dq);
    if (!d || !q) return std::nullopt;
    if (q->axis < 0 && q->scales.size() > 1) return std::nullopt;
    if (q->axis < 0 && d->rank() > 0 && q->scales.size() == 1) q->axis = -1;
    if (q->axis < 0 && q->scales.size() != 1) return std::nullopt;
    if (q->axis >= 0) {
      if (q->axis < 0 || q->axis >= d->rank()) q->axis += static_cast<int32_t>(d->rank());
      if (q->axis < 0 || q->axis >= d->rank() ||
          d->dims()[static_cast<size_t>(q->axis)] != static_cast<int64_t>(q->scales.size()))
        return std::nullopt;
    }
    return ConstQ{dq->operand(0)->initializer(), *q};
  }

  std::optional<int32_t> qAlias(const Value* v) const {
    auto it = qAlias_.find(v);
    return it == qAlias_.end() ? std::nullopt : std::optional<int32_t>(it->second);
  }

  /// An alias usable as an integer op's activation: 8-bit, quantized per tensor (not an int32
  /// accumulator).
  std::optional<int32_t> q8Alias(const Value* v) const {
    std::optional<int32_t> q = qAlias(v);
    if (!q) return std::nullopt;
    const device::Tensor& t = p_.tensors[static_cast<size_t>(*q)];
    if (!isAct8(t.dtype) || t.quant < 0 || quantOf(*q).perAxis()) return std::nullopt;
    return q;
  }

  const device::QuantParams& quantOf(int32_t t) const {
    return p_.quant[static_cast<size_t>(p_.tensors[static_cast<size_t>(t)].quant)];
  }

  /// The single non-output user of v, or null.
  static Node* soleUser(const Value* v) {
    if (!v || v->isGraphOutput() || v->uses().size() != 1) return nullptr;
    return v->uses()[0].user;
  }

  /// A float tensor (or whatever dtype a float op produced) for v, materialized on first need.
  Expected<int32_t> floatOrDevice(const Value* v) {
    if (auto it = dev_.find(v); it != dev_.end()) return it->second;
    if (std::optional<int32_t> q = qAlias(v)) {
      if (auto it = floatOf_.find(*q); it != floatOf_.end()) return it->second;
      NPU_ASSIGN_OR_RETURN(int32_t f, newActivation(v, DType::F32, -1));
      emitBorder(OpCode::Dequantize, *q, f, v->producer());
      floatOf_[*q] = f;
      return f;
    }
    if (const TensorData* c = constant(v)) {
      const int32_t t = newWeight(v->name(), v->initializer(), layoutFor(c->dims().size()), -1);
      dev_[v] = t;
      return t;
    }
    if (std::optional<ConstQ> c = constDq(v)) {
      const int32_t w = newWeight(v->producer()->operand(0)->name(), c->data, layoutFor(c->data->dims().size()),
                                  p_.addQuant(c->q));
      NPU_ASSIGN_OR_RETURN(int32_t f, newActivation(v, DType::F32, -1));
      emitBorder(OpCode::Dequantize, w, f, v->producer());
      dev_[v] = f;
      return f;
    }
    return Status::internal("value \"{}\" has no device tensor", v->name());
  }

  void emitBorder(OpCode code, int32_t in, int32_t out, const Node* from) {
    device::Op op;
    op.code = code;
    op.type = std::string(device::opCodeName(code));
    op.inputs = {in};
    op.outputs = {out};
    if (from) setNames(op, {from});
    p_.ops.push_back(std::move(op));
  }

  static void setNames(device::Op& op, const std::vector<const Node*>& nodes) {
    op.name = nodes.front()->name();
    for (const Node* n : nodes) {
      if (n->provenance().empty()) {
        // A node npuconv made (a QuantizeLinear) has no original; the op's own node keeps its name.
        if (n == nodes.front() && !n->name().empty()) op.provenance.push_back(n->name());
      } else {
        for (const std::string& s : n->provenance()) op.provenance.push_back(s);
      }
    }
  }

  // --- nodes ----------------------------------------------------------------------------------
  Status lowerNode(Node* n) {
    if (n->isQdq("DequantizeLinear")) {
      if (constant(n->operand(0))) return Status::ok();  // a weight: taken by its consumer
      if (auto it = dev_.find(n->operand(0)); it != dev_.end()) {
        std::optional<device::QuantParams> q = qdqParams(n);
        device::Tensor& t = p_.tensors[static_cast<size_t>(it->second)];
        if (q && !q->perAxis() && isAct8(t.dtype)) {
          if (t.quant < 0) t.quant = p_.addQuant(*q);
          if (quantOf(it->second) == *q) {
            qAlias_[n->result()] = it->second;
            return Status::ok();
          }
        }
      }
      return lowerFloat(n);
    }
    if (n->is("Constant")) {
      if (std::optional<TensorRef> v = n->attrs().get<TensorRef>("value")) {
        dev_[n->result()] = newWeight(n->result()->name(), *v, layoutFor((*v)->dims().size()), -1);
        return Status::ok();
      }
      return lowerFloat(n);
    }
    if (n->isQdq("QuantizeLinear")) return lowerQuantize(n);
    NPU_ASSIGN_OR_RETURN(bool done, lowerInteger(n));
    return done ? Status::ok() : lowerFloat(n);
  }

  Status lowerQuantize(Node* n) {
    std::optional<device::QuantParams> q = qdqParams(n);
    // The device Quantize is float32 -> 8 bits; 16-bit (mixed int16 layers) or float16 input
    // stays an ONNX QuantizeLinear on the CPU.
    if (!q || !isAct8(qType(n)) || n->operand(0)->dtype() != DType::F32) return lowerFloat(n);
    NPU_ASSIGN_OR_RETURN(int32_t in, floatOrDevice(n->operand(0)));
    NPU_ASSIGN_OR_RETURN(int32_t out, newActivation(n->result(), qType(n), p_.addQuant(*q)));
    emitBorder(OpCode::Quantize, in, out, n);
    dev_[n->result()] = out;
    return Status::ok();
  }

  Status lowerFloat(Node* n) {
    device::Op op;
    op.code = OpCode::FloatOp;
    op.type = n->opType();
    op.domain = n->domain();
    op.flags = device::kOpCpuFallback;
    for (Value* v : n->operands()) {
      if (!v) {
        op.inputs.push_back(-1);
        continue;
      }
      NPU_ASSIGN_OR_RETURN(int32_t t, floatOrDevice(v));
      op.inputs.push_back(t);
    }
    for (Value* r : n->results()) {
      if (!r) {
        op.outputs.push_back(-1);
        continue;
      }
      NPU_ASSIGN_OR_RETURN(int32_t t, newActivation(r, r->dtype(), -1));
      dev_[r] = t;
      op.outputs.push_back(t);
    }
    for (const Attribute& a : n->attrs().all()) {
      Attr d;
      d.name = a.name;
      if (const auto* i = std::get_if<int64_t>(&a.value)) d.kind = AttrKind::Int, d.ints = {*i};
      else if (const auto* is = std::get_if<std::vector<int64_t>>(&a.value)) d.kind = AttrKind::Ints, d.ints = *is;
      else if (const auto* f = std::get_if<float>(&a.value)) d.kind = AttrKind::Float, d.floats = {*f};
      else if (const auto* fs = std::get_if<std::vector<float>>(&a.value)) d.kind = AttrKind::Floats, d.floats = *fs;
      else if (const auto* s = std::get_if<std::string>(&a.value)) d.kind = AttrKind::String, d.str = *s;
      else return Status::unsupported("attribute \"{}\": the device blob holds no tensor, graph or list-of-string attributes", a.name);
      if (!a.refAttrName.empty()) return Status::unsupported("attribute \"{}\" refers to a function attribute", a.name);
      op.attrs.push_back(std::move(d));
    }
    setNames(op, {n});
    p_.ops.push_back(std::move(op));
    return Status::ok();
  }

  // --- integer ops ----------------------------------------------------------------------------
  /// The end of n's output chain: [Relu|Clip] -> QuantizeLinear with per-tensor 8-bit params.
  struct OutChain {
    Node* act = nullptr;
    Node* q = nullptr;
    device::QuantParams params;
    DType type = DType::U8;
  };
  std::optional<OutChain> outChain(Node* n, bool allowAct) const {
    OutChain c;
    Node* u = soleUser(n->result());
    if (u && allowAct && (u->is("Relu") || u->is("Clip"))) {
      if (u->is("Clip") && ((u->operand(1) && !constant(u->operand(1))) || (u->operand(2) && !constant(u->operand(2)))))
        return std::nullopt;
      c.act = u;
      u = soleUser(u->result());
    }
    if (!u || !u->isQdq("QuantizeLinear") || u->operand(0) != (c.act ? c.act->result() : n->result()))
      return std::nullopt;
    std::optional<device::QuantParams> q = qdqParams(u);
    if (!q || q->perAxis() || !isAct8(qType(u))) return std::nullopt;
    c.q = u;
    c.params = *q;
    c.type = qType(u);
    return c;
  }

  /// Creates the integer op's output tensor (the Q's result) and fills the clamp.
  Expected<int32_t> finishChain(device::Op& op, Node* n, const OutChain& c) {
    NPU_ASSIGN_OR_RETURN(int32_t out, newActivation(c.q->result(), c.type, p_.addQuant(c.params)));
    const int32_t zp = c.params.zeroPoints[0];
    const float s = c.params.scales[0];
    int64_t lo = qmin(c.type), hi = qmax(c.type);
    if (c.act && c.act->is("Relu")) {
      op.act = device::FusedActivation::Relu;
      lo = std::max<int64_t>(lo, zp);
    } else if (c.act) {
      op.act = device::FusedActivation::Clip;
      if (const TensorData* mn = constant(c.act->operand(1)))
        lo = std::max<int64_t>(lo, zp + std::llround(std::nearbyint(mn->elementAsDouble(0) / s)));
      if (const TensorData* mx = constant(c.act->operand(2)))
        hi = std::min<int64_t>(hi, zp + std::llround(std::nearbyint(mx->elementAsDouble(0) / s)));
      if (lo > hi) lo = hi;
    }
    op.actMin = static_cast<int32_t>(lo);
    op.actMax = static_cast<int32_t>(hi);
    op.outputs = {out};
    std::vector<const Node*> names = {n};
    if (c.act) names.push_back(c.act);
    names.push_back(c.q);
    setNames(op, names);
    op.name = n->name();
    consumed_.insert(c.q);
    if (c.act) consumed_.insert(c.act);
    dev_[c.q->result()] = out;
    return out;
  }

  static Attr multipliersAttr(std::string name, const std::vector<FixedMultiplier>& m, bool shifts) {
    std::vector<int64_t> v;
    for (const FixedMultiplier& f : m) v.push_back(shifts ? f.shift : f.multiplier);
    return intsAttr(std::move(name), std::move(v));
  }

  /// Widens the weight scale of each channel whose bias would not fit the accumulator: to
  /// |b| / (s_in * 2^30) (prepareMac bounds the products' sum by 2^30, so bias + products fit
  /// int32), its weights requantized on the wider grid (tiny weights become 0, off by at most
  /// half a new step: negligible against the bias). `rowMajor`: channel c is the c-th run of
  /// weights (Conv OIHW, Gemm transB), else element (k, c) sits at k * channels + c. False when
  /// a bias needs it but the weight has one scale for every channel (the op stays on the CPU).
  static bool widenWeightScalesForBias(ConstQ& w, const std::vector<double>& biasReal, double inputScale,
                                       int64_t channels, bool rowMajor) {
    constexpr double kBiasLimit = 1073741824.0;  // 2^30
    std::vector<uint8_t> bytes;
    const int64_t total = w.data->numElements(), perOut = channels > 0 ? total / channels : 0;
    const bool s8 = w.data->dtype() == DType::I8;
    for (int64_t c = 0; c < channels; ++c) {
      const size_t ci = w.q.perAxis() ? static_cast<size_t>(c) : 0;
      const double sw = w.q.scales[ci], b = std::fabs(biasReal[static_cast<size_t>(c)]);
      if (b == 0 || (sw > 0 && b / (inputScale * sw) <= kBiasLimit)) continue;
      if (!w.q.perAxis()) return false;
      if (bytes.empty()) {
        const auto* raw = reinterpret_cast<const uint8_t*>(w.data->bytes());
        bytes.assign(raw, raw + total);
      }
      const float wider = std::nextafter(static_cast<float>(b / (inputScale * kBiasLimit)), std::numeric_limits<float>::max());
      const int32_t zp = w.q.zeroPoints[ci];
      for (int64_t k = 0; k < perOut; ++k) {
        uint8_t& e = bytes[static_cast<size_t>(rowMajor ? c * perOut + k : k * channels + c)];
        const int32_t q = s8 ? static_cast<int8_t>(e) : e;
        const double r = std::nearbyint(sw * (q - zp) / double(wider)) + zp;
        const int32_t v = static_cast<int32_t>(std::clamp(r, s8 ? -128.0 : 0.0, s8 ? 127.0 : 255.0));
        e = static_cast<uint8_t>(s8 ? static_cast<uint8_t>(static_cast<int8_t>(v)) : v);
      }
      w.q.scales[ci] = wider;
    }
    if (!bytes.empty())
      w.data = std::make_shared<const TensorData>(TensorData::fromValues(w.data->dtype(), w.data->dims(), std::span<const uint8_t>(bytes)));
    return true;
  }

  /// Conv / Gemm / MatMul: quantized weight, int32 bias requantized to s_in * s_w[c].
  Expected<bool> lowerMac(Node* n) {
    const bool conv = n->is("Conv"), matmul = n->is("MatMul");
    std::optional<int32_t> x = q8Alias(n->operand(0));
    std::optional<ConstQ> w = constDq(n->operand(1));
    if (!x || !w || !isAct8(p_.tensors[static_cast<size_t>(*x)].dtype)) return false;
    const DType wt = w->data->dtype();
    if (wt != DType::I8 && wt != DType::U8) return false;
    const auto& wd = w->data->dims();
    const AttrMap& a = n->attrs();
    bool transB = false;
    int64_t outChannels = 0;
    int32_t wantAxis = 0;
    if (conv) {
      if (wd.size() != 4 || a.getString("auto_pad", "NOTSET") != "NOTSET") return false;
      outChannels = wd[0];
    } else {
      if (wd.size() != 2) return false;
      if (!matmul) {
        if (a.getInt("transA", 0) != 0 || a.getFloat("alpha", 1) != 1 || a.getFloat("beta", 1) != 1) return false;
        transB = a.getInt("transB", 0) != 0;
        NPU_ASSIGN_OR_RETURN(std::vector<int64_t> xd, dimsOf(n->operand(0)));
        if (xd.size() != 2) return false;
      }
      outChannels = transB ? wd[0] : wd[1];
      wantAxis = transB ? 0 : 1;
    }
    if (w->q.perAxis() && w->q.axis != wantAxis) return false;
    const Value* biasV = matmul ? nullptr : n->operand(2);
    std::vector<double> biasReal(static_cast<size_t>(outChannels), 0.0);
    if (biasV) {
      std::vector<double> b;
      if (std::optional<ConstQ> bq = constDq(biasV)) {
        if (bq->data->numElements() != outChannels) return false;
        for (int64_t i = 0; i < outChannels; ++i) {
          const size_t c = bq->q.perAxis() ? static_cast<size_t>(i) : 0;
          b.push_back((bq->data->elementAsDouble(i) - bq->q.zeroPoints[c]) * double(bq->q.scales[c]));
        }
      } else if (const TensorData* bf = constant(biasV)) {
        if (bf->numElements() != outChannels) return false;
        for (int64_t i = 0; i < outChannels; ++i) b.push_back(bf->elementAsDouble(i));
      } else {
        return false;
      }
      biasReal = std::move(b);
    }
    std::optional<OutChain> c = outChain(n, true);
    NPU_ASSIGN_OR_RETURN(std::vector<int64_t> outDims, dimsOf(n->result()));
    // No QuantizeLinear after it (a HardSwish or another float op follows): the op still runs in
    // integers and writes its int32 accumulator, which a Dequantize hands to the float consumers.
    const bool accumulatorOut = !c;
    if (accumulatorOut && (outDims.empty() || n->result()->isGraphOutput())) return false;
    const device::QuantParams xq = quantOf(*x);  // a copy: addQuant below may reallocate
    // A float bias the quantizer left float because b / (s_in * s_w) passes int32 (a dead
    // channel: weights ~0 after equalization, s_w ~1e-16, yet a bias) must still reach the
    // accumulator whole; clamped, it zeroed the channel where the QDQ model adds the bias.
    double widenAt = double(xq.scales[0]);
    if (widenInputScale_)
      if (auto it = widenInputScale_->find(n->provenance().empty() ? n->name() : n->provenance().front());
          it != widenInputScale_->end())
        widenAt = std::min(widenAt, it->second);
    if (!widenWeightScalesForBias(*w, biasReal, widenAt, outChannels, conv || transB)) return false;
    device::Op op;
    op.code = conv ? OpCode::Conv : OpCode::Gemm;
    op.type = std::string(device::opCodeName(op.code));
    const int32_t wIdx = newWeight(n->operand(1)->producer()->operand(0)->name(), w->data,
                                   conv ? device::Layout::OIHW : device::Layout::Any, p_.addQuant(w->q));
    std::vector<int32_t> bias(static_cast<size_t>(outChannels));
    std::vector<FixedMultiplier> mult(static_cast<size_t>(outChannels));
    for (int64_t i = 0; i < outChannels; ++i) {
      const double sw = w->q.scales[w->q.perAxis() ? static_cast<size_t>(i) : 0];
      const double accScale = double(xq.scales[0]) * sw;
      const double bq = std::nearbyint(biasReal[static_cast<size_t>(i)] / accScale);
      bias[static_cast<size_t>(i)] = static_cast<int32_t>(std::clamp(bq, -2147483648.0, 2147483647.0));
      if (!accumulatorOut) mult[static_cast<size_t>(i)] = device::quantizeMultiplier(accScale / double(c->params.scales[0]));
    }
    device::QuantParams biasQ;
    for (int64_t i = 0; i < outChannels; ++i) {
      biasQ.scales.push_back(float(double(xq.scales[0]) * w->q.scales[w->q.perAxis() ? static_cast<size_t>(i) : 0]));
      biasQ.zeroPoints.push_back(0);
    }
    biasQ.axis = 0;
    const int32_t bIdx = newWeight((biasV ? biasV->name() : n->name() + "_bias"),
                                   std::make_shared<const TensorData>(TensorData::fromValues<int32_t>(
                                       DType::I32, {outChannels}, std::span<const int32_t>(bias))),
                                   device::Layout::Any, p_.addQuant(biasQ));
    op.inputs = {*x, wIdx, bIdx};
    if (conv) {
      const size_t sp = wd.size() - 2;
      op.attrs.push_back(intsAttr("strides", a.getInts("strides", std::vector<int64_t>(sp, 1))));
      op.attrs.push_back(intsAttr("pads", a.getInts("pads", std::vector<int64_t>(2 * sp, 0))));
      op.attrs.push_back(intsAttr("dilations", a.getInts("dilations", std::vector<int64_t>(sp, 1))));
      op.attrs.push_back(intAttr("group", a.getInt("group", 1)));
    } else {
      op.attrs.push_back(intAttr("trans_b", transB ? 1 : 0));
    }
    if (accumulatorOut) {
      biasQ.axis = conv ? 1 : static_cast<int32_t>(outDims.size() - 1);
      NPU_ASSIGN_OR_RETURN(int32_t out, newActivation(n->result(), DType::I32, p_.addQuant(biasQ)));
      op.actMin = std::numeric_limits<int32_t>::min();
      op.actMax = std::numeric_limits<int32_t>::max();
      op.outputs = {out};
      setNames(op, {n});
      qAlias_[n->result()] = out;
      p_.ops.push_back(std::move(op));
      return true;
    }
    op.attrs.push_back(multipliersAttr("multiplier", mult, false));
    op.attrs.push_back(multipliersAttr("shift", mult, true));
    NPU_TRY(finishChain(op, n, *c).status());
    p_.ops.push_back(std::move(op));
    return true;
  }

  Expected<bool> lowerAdd(Node* n) {
    std::optional<int32_t> a = q8Alias(n->operand(0)), b = q8Alias(n->operand(1));
    if (!a || !b) return false;
    NPU_ASSIGN_OR_RETURN(std::vector<int64_t> da, dimsOf(n->operand(0)));
    NPU_ASSIGN_OR_RETURN(std::vector<int64_t> db, dimsOf(n->operand(1)));
    NPU_ASSIGN_OR_RETURN(std::vector<int64_t> dout, dimsOf(n->result()));
    if (da != dout || db != dout) return false;  // no broadcasting in the integer Add
    std::optional<OutChain> c = outChain(n, true);
    if (!c) return false;
    // TFLite's quantized Add: both inputs on a common scale 2 * max(s_a, s_b), shifted left by
    // 20 bits for headroom, summed, then rescaled to the output.
    const double sa = quantOf(*a).scales[0], sb = quantOf(*b).scales[0], so = c->params.scales[0];
    const double twiceMax = 2 * std::max(sa, sb);
    device::Op op;
    op.code = OpCode::Add;
    op.type = std::string(device::opCodeName(op.code));
    op.inputs = {*a, *b};
    op.attrs.push_back(intAttr("left_shift", 20));
    op.attrs.push_back(multipliersAttr("multiplier", {device::quantizeMultiplier(sa / twiceMax),
                                                      device::quantizeMultiplier(sb / twiceMax),
                                                      device::quantizeMultiplier(twiceMax / ((1 << 20) * so))},
                                       false));
    op.attrs.push_back(multipliersAttr("shift", {device::quantizeMultiplier(sa / twiceMax),
                                                 device::quantizeMultiplier(sb / twiceMax),
                                                 device::quantizeMultiplier(twiceMax / ((1 << 20) * so))},
                                       true));
    NPU_TRY(finishChain(op, n, *c).status());
    p_.ops.push_back(std::move(op));
    return true;
  }

  /// Pools, Concat and the shape ops: each input rescaled by s_in / (s_out * divisor). Without a
  /// QuantizeLinear after them, the ops that commute with DequantizeLinear (all but the average
  /// pools) keep the input's quantization.
  Expected<bool> lowerRescaled(Node* n, OpCode code) {
    std::vector<int32_t> ins;
    const size_t dataInputs = n->is("Concat") ? n->numOperands() : 1;
    for (size_t i = 0; i < dataInputs; ++i) {
      std::optional<int32_t> x = q8Alias(n->operand(i));
      if (!x) return false;
      ins.push_back(*x);
    }
    if (n->numResults() != 1 && !(n->is("MaxPool") && !n->result(1))) {
      if (!(n->is("MaxPool") && n->numResults() == 2 && !n->result(1))) return false;
    }
    const AttrMap& a = n->attrs();
    NPU_ASSIGN_OR_RETURN(std::vector<int64_t> outDims, dimsOf(n->result()));
    NPU_ASSIGN_OR_RETURN(std::vector<int64_t> inDims, dimsOf(n->operand(0)));
    int64_t divisor = 1;
    device::Op op;
    op.code = code;
    op.type = std::string(device::opCodeName(code));
    if (code == OpCode::MaxPool || code == OpCode::AveragePool) {
      if (inDims.size() != 4 || a.getString("auto_pad", "NOTSET") != "NOTSET") return false;
      std::vector<int64_t> k = a.getInts("kernel_shape");
      if (k.size() != 2) return false;
      std::vector<int64_t> pads = a.getInts("pads", {0, 0, 0, 0});
      std::vector<int64_t> dil = a.getInts("dilations", {1, 1});
      if (code == OpCode::MaxPool && a.getInt("storage_order", 0) != 0) return false;
      if (code == OpCode::AveragePool) {
        const bool padded = pads != std::vector<int64_t>{0, 0, 0, 0};
        if ((padded && a.getInt("count_include_pad", 0) == 0) || a.getInt("ceil_mode", 0) != 0 || dil != std::vector<int64_t>{1, 1})
          return false;
        divisor = k[0] * k[1];
      }
      op.attrs.push_back(intsAttr("kernel_shape", k));
      op.attrs.push_back(intsAttr("strides", a.getInts("strides", {1, 1})));
      op.attrs.push_back(intsAttr("pads", pads));
      op.attrs.push_back(intsAttr("dilations", dil));
    } else if (code == OpCode::GlobalAveragePool) {
      if (inDims.size() != 4) return false;
      for (size_t i = 2; i < inDims.size(); ++i) divisor *= inDims[i];
    } else if (code == OpCode::Concat) {
      int64_t axis = a.getInt("axis", 0);
      if (axis < 0) axis += static_cast<int64_t>(outDims.size());
      op.attrs.push_back(intAttr("axis", axis));
    } else if (code == OpCode::Transpose) {
      std::vector<int64_t> perm = a.getInts("perm");
      if (perm.empty())
        for (size_t i = inDims.size(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
      op.attrs.push_back(intsAttr("perm", perm));
    }
    op.inputs = ins;
    const bool average = code == OpCode::AveragePool || code == OpCode::GlobalAveragePool;
    std::optional<OutChain> c = outChain(n, false);
    std::vector<FixedMultiplier> mult;
    if (c) {
      for (int32_t x : ins)
        mult.push_back(device::quantizeMultiplier(double(quantOf(x).scales[0]) / (double(c->params.scales[0]) * double(divisor))));
      NPU_TRY(finishChain(op, n, *c).status());
    } else {
      if (average) return false;
      for (int32_t x : ins)
        if (!(quantOf(x) == quantOf(ins[0])) || p_.tensors[static_cast<size_t>(x)].dtype != p_.tensors[static_cast<size_t>(ins[0])].dtype)
          return false;
      const DType t = p_.tensors[static_cast<size_t>(ins[0])].dtype;
      NPU_ASSIGN_OR_RETURN(int32_t out, newActivation(n->result(), t, p_.tensors[static_cast<size_t>(ins[0])].quant));
      for (size_t i = 0; i < ins.size(); ++i) mult.push_back(device::quantizeMultiplier(1.0));
      op.actMin = qmin(t);
      op.actMax = qmax(t);
      op.outputs = {out};
      setNames(op, {n});
      qAlias_[n->result()] = out;
    }
    op.attrs.push_back(multipliersAttr("multiplier", mult, false));
    op.attrs.push_back(multipliersAttr("shift", mult, true));
    p_.ops.push_back(std::move(op));
    return true;
  }

  Expected<bool> lowerInteger(Node* n) {
    if (!n->domain().empty()) return false;
    const std::string& t = n->opType();
    if (t == "Conv" || t == "Gemm" || t == "MatMul") return lowerMac(n);
    if (t == "Add") return lowerAdd(n);
    if (t == "MaxPool") return lowerRescaled(n, OpCode::MaxPool);
    if (t == "AveragePool") return lowerRescaled(n, OpCode::AveragePool);
    if (t == "GlobalAveragePool") return lowerRescaled(n, OpCode::GlobalAveragePool);
    if (t == "Concat") return lowerRescaled(n, OpCode::Concat);
    if (t == "Reshape" || t == "Flatten" || t == "Squeeze" || t == "Unsqueeze") return lowerRescaled(n, OpCode::Reshape);
    if (t == "Transpose") return lowerRescaled(n, OpCode::Transpose);
    return false;
  }

  const Model& m_;
  const Graph& g_;
  device::Program p_;
  std::unordered_map<const Value*, int32_t> dev_;     // values that are device tensors
  std::unordered_map<const Value*, int32_t> qAlias_;  // float value = dequantized q tensor
  std::unordered_map<int32_t, int32_t> floatOf_;      // q tensor -> its Dequantize result
  std::unordered_set<const Node*> consumed_;          // Relu/Clip/Q folded into an integer op
  const std::map<std::string, double>* widenInputScale_;  // lowerToDevice's (nullptr: none)
};

}  // namespace

Expected<device::Program> lowerToDevice(Model& m, std::vector<device::KeyValue> provenance,
                                        const std::map<std::string, double>* widenInputScale) {
  bool typed = true;
  for (Node* n : m.graph->nodes()) {
    if (!n->subgraphs().empty())
      return Status::unsupported("node \"{}\" ({}): the device blob holds no subgraphs", n->name(), n->opType());
    for (Value* r : n->results())
      if (r && (!r->type().hasStaticShape() || r->dtype() == DType::Undefined)) typed = false;
  }
  if (!typed && !shapes::firstDynamicInput(*m.graph)) NPU_TRY(shapes::inferShapesByEvaluation(m, {}).status());
  NPU_ASSIGN_OR_RETURN(device::Program p, Lowerer(m, widenInputScale).run());
  p.provenance = std::move(provenance);
  return p;
}

}  // namespace npuconv
