// interpreter.cc - see interpreter.h.
#include "converter/device/interpreter.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>

#include "converter/device/float_chain.h"
#include "converter/device/int_kernels.h"
#include "converter/exec/executor.h"
#include "converter/exec/thread_pool.h"
#include "converter/ir/graph.h"

namespace npuconv::device {
namespace {

bool isQ8(const Tensor& t) { return (t.dtype == DType::U8 || t.dtype == DType::I8) && t.quant >= 0; }

/// Bound of strides, dilations, kernel sizes and pooling window areas: keeps every window
/// computation and int32 window sum (255 x 2^16 < 2^31) free of overflow.
constexpr int64_t kMaxWindow = int64_t{1} << 16;

/// One float op as a one-node graph on the reference executor.
struct FallbackOp {
  std::unique_ptr<Graph> graph;
  std::unique_ptr<Executor> exec;
  std::vector<int32_t> activationInputs;  // program tensors fed as graph inputs, in order
  std::vector<npuconv::Tensor> args;       // views of those tensors' arena bytes (no copy per run)
};

Expected<FallbackOp> buildFallback(const Program& p, const Op& op, const std::shared_ptr<ThreadPool>& pool) {
  FallbackOp f;
  f.graph = std::make_unique<Graph>("device_fallback");
  std::vector<Value*> operands;
  for (size_t i = 0; i < op.inputs.size(); ++i) {
    const int32_t ti = op.inputs[i];
    if (ti < 0) {
      operands.push_back(nullptr);
      continue;
    }
    const Tensor& t = p.tensors[static_cast<size_t>(ti)];
    const std::string name = "in" + std::to_string(i);
    if (t.storage == Storage::Weight) {
      operands.push_back(f.graph->addInitializer(name, t.weight));
    } else {
      operands.push_back(f.graph->addInput(name, TensorType{t.dtype, shapeOf(t.dims), {}, {}}));
      f.activationInputs.push_back(ti);
    }
  }
  Node* n = f.graph->createNode(op.type, operands, op.outputs.size(), nullptr, op.name.empty() ? "op" : op.name, op.domain);
  for (const Attr& a : op.attrs) {
    switch (a.kind) {
      case AttrKind::Int: n->mutableAttrs().set(a.name, a.ints.at(0)); break;
      case AttrKind::Ints: n->mutableAttrs().set(a.name, a.ints); break;
      case AttrKind::Float: n->mutableAttrs().set(a.name, a.floats.at(0)); break;
      case AttrKind::Floats: n->mutableAttrs().set(a.name, a.floats); break;
      case AttrKind::String: n->mutableAttrs().set(a.name, a.str); break;
    }
  }
  for (size_t i = 0; i < op.outputs.size(); ++i) {
    if (op.outputs[i] < 0) continue;
    const Tensor& t = p.tensors[static_cast<size_t>(op.outputs[i])];
    n->result(i)->setType(TensorType{t.dtype, shapeOf(t.dims), {}, {}});
    f.graph->addOutput(n->result(i));
  }
  // The interpreter's workers (null: one thread): a float op between integer ops (PP-OCR det's
  // ConvTranspose, a broadcast Mul, BatchNormalization) then scales with --threads like them. The
  // executor's kernels split rows or columns, never a reduction, so its bits do not depend on the
  // thread count (tests/device/float_chain_test.cc FallbackThreadsBitIdentical).
  ExecOptions eo;
  eo.threads = 1;
  eo.pool = pool;
  NPU_ASSIGN_OR_RETURN(f.exec, Executor::create(*f.graph, p.onnxOpset, eo));
  return f;
}

/// memcpy over the workers in 256 KiB pieces: a float op's result (det's ConvTranspose and SE
/// Mul: 2.4 MB each) into the arena; one core's copy bandwidth would not scale with --threads.
void copyBytes(void* dstv, const void* srcv, size_t n, ThreadPool* pool) {
  auto* dst = static_cast<std::byte*>(dstv);
  const auto* src = static_cast<const std::byte*>(srcv);
  constexpr size_t kPiece = size_t{1} << 18;
  if (!pool || n < 2 * kPiece) {
    std::memcpy(dst, src, n);
    return;
  }
  forEachItem(pool, static_cast<int64_t>((n + kPiece - 1) / kPiece), [&](int64_t b, int64_t e) {
    const size_t lo = static_cast<size_t>(b) * kPiece, hi = std::min(n, static_cast<size_t>(e) * kPiece);
    std::memcpy(dst + lo, src + lo, hi - lo);
  });
}

}  // namespace

struct Interpreter::Impl {
  const Program& p;
  std::shared_ptr<AlignedBuffer> arena;
  std::vector<std::unique_ptr<PreparedMac>> mac;       // per op (Conv/Gemm)
  std::vector<std::unique_ptr<FallbackOp>> fallback;   // per op (FloatOp)
  std::vector<std::unique_ptr<MacKernel>> fast;        // per op (Conv/Gemm) unless the ISA is scalar
  Int8Isa isa = Int8Isa::Scalar;
  std::shared_ptr<ThreadPool> pool;                    // null: one thread; shared with the float fallback ops
  std::vector<uint8_t> scratch;                        // shared by the MacKernels (one op at a time)
  std::vector<std::unique_ptr<FloatChain>> chain;      // per op: the fused chain starting there
  std::vector<uint8_t> chainScratch;                   // a chain whose output overlaps its input
  std::function<void(size_t, int32_t, void*)> observer;  // InterpreterOptions::observer
  std::function<void(size_t, std::string_view, double)> stepTimer;  // InterpreterOptions::stepTimer
  std::vector<std::string> kinds;                      // per op: opProfileKind (set with stepTimer)
  std::vector<std::unique_ptr<PlanesTarget>> planesOut;  // per Conv op: its reader Conv's planes, written in its epilogue
  std::vector<bool> prelaid;                           // per Conv op: its input planes are written by its producer

  explicit Impl(const Program& prog) : p(prog) {}

  TensorView view(int32_t t) const {
    const Tensor& d = p.tensors[static_cast<size_t>(t)];
    TensorView v;
    v.desc = &d;
    v.quant = d.quant >= 0 ? &p.quant[static_cast<size_t>(d.quant)] : nullptr;
    v.data = d.storage == Storage::Weight ? const_cast<std::byte*>(d.weight->bytes()) : arena->mutableData() + d.arenaOffset;
    return v;
  }

  Status check(const Op& op, size_t index) {
    auto fail = [&](std::string what) {
      return Status::invalidModel("op {} \"{}\" ({}): {}", index, op.name, opCodeName(op.code), what);
    };
    for (int32_t t : op.inputs)
      if (t < -1 || t >= static_cast<int32_t>(p.tensors.size())) return fail("input index out of range");
    for (int32_t t : op.outputs) {
      if (t < 0 || t >= static_cast<int32_t>(p.tensors.size())) return fail("output index out of range");
      if (p.tensors[static_cast<size_t>(t)].storage != Storage::Activation) return fail("writes a weight");
    }
    if (op.code == OpCode::FloatOp) {
      for (int32_t t : op.outputs)
        if (t < 0) return fail("an absent output");
      return Status::ok();
    }
    if (op.outputs.size() != 1) return fail("integer ops have one output");
    for (int32_t t : op.inputs)
      if (t < 0) return fail("an absent input");
    const Tensor& y = p.tensors[static_cast<size_t>(op.outputs[0])];
    const size_t wantIn = op.code == OpCode::Conv || op.code == OpCode::Gemm ? 3
                          : op.code == OpCode::Add                        ? 2
                          : op.code == OpCode::Concat                     ? op.inputs.size()
                                                                          : 1;
    if (op.inputs.size() != wantIn || wantIn == 0) return fail(fmt::format("{} inputs, expected {}", op.inputs.size(), wantIn));
    const Tensor& x = p.tensors[static_cast<size_t>(op.inputs[0])];
    if (op.code == OpCode::Quantize) {
      if (x.dtype != DType::F32 || !isQ8(y) || x.dims != y.dims) return fail("Quantize needs f32 in, 8-bit quantized out, same dims");
      return Status::ok();
    }
    if (op.code == OpCode::Dequantize) {
      if (x.quant < 0 || y.dtype != DType::F32 || x.dims != y.dims) return fail("Dequantize needs quantized in, f32 out, same dims");
      const QuantParams& q = p.quant[static_cast<size_t>(x.quant)];
      if (q.perAxis() && (q.axis >= static_cast<int32_t>(x.dims.size()) ||
                          x.dims[static_cast<size_t>(q.axis)] != static_cast<int64_t>(q.scales.size())))
        return fail("per-axis parameters do not match the tensor");
      return Status::ok();
    }
    const bool accumulatorOut = (op.code == OpCode::Conv || op.code == OpCode::Gemm) && y.dtype == DType::I32;
    if (accumulatorOut) {
      const int32_t axis = op.code == OpCode::Conv ? 1 : static_cast<int32_t>(y.dims.size()) - 1;
      if (y.quant < 0 || y.dims.empty() || p.quant[static_cast<size_t>(y.quant)].axis != axis || !op.attrInts("multiplier").empty())
        return fail("an int32 accumulator output is quantized along its channel axis and has no multipliers");
    } else if (!isQ8(y) || p.quant[static_cast<size_t>(y.quant)].perAxis()) {
      return fail("the output must be 8-bit, quantized per tensor");
    }
    for (size_t i = 0; i < (op.code == OpCode::Conv || op.code == OpCode::Gemm ? 1 : op.inputs.size()); ++i) {
      const Tensor& t = p.tensors[static_cast<size_t>(op.inputs[i])];
      if (!isQ8(t) || p.quant[static_cast<size_t>(t.quant)].perAxis()) return fail("activations must be 8-bit, quantized per tensor");
    }
    if (!accumulatorOut &&
        (op.actMin > op.actMax || op.actMin < (y.dtype == DType::U8 ? 0 : -128) || op.actMax > (y.dtype == DType::U8 ? 255 : 127)))
      return fail("the activation clamp is outside the output type");
    const size_t mults = op.code == OpCode::Add ? 3 : op.code == OpCode::Concat ? op.inputs.size() : 1;
    const size_t have = op.attrInts("multiplier").size();
    if (op.attrInts("shift").size() != have) return fail("multiplier and shift counts differ");
    for (int64_t s : op.attrInts("shift"))
      if (s < -31 || s > 30) return fail("shift out of [-31, 30]");
    for (int64_t m : op.attrInts("multiplier"))
      if (m < 0 || m > INT32_MAX) return fail("multiplier out of int32 range");
    if (op.code == OpCode::Conv || op.code == OpCode::Gemm) {
      const Tensor& w = p.tensors[static_cast<size_t>(op.inputs[1])];
      const Tensor& b = p.tensors[static_cast<size_t>(op.inputs[2])];
      if ((w.dtype != DType::I8 && w.dtype != DType::U8) || w.quant < 0 || w.storage != Storage::Weight)
        return fail("weights must be 8-bit quantized constants");
      if (b.dtype != DType::I32 || b.storage != Storage::Weight || b.dims.size() != 1) return fail("bias must be an int32 constant vector");
      const QuantParams& wq = p.quant[static_cast<size_t>(w.quant)];
      if (op.code == OpCode::Conv) {
        const int64_t group = op.attrInt("group", 1);
        if (x.dims.size() != 4 || y.dims.size() != 4 || w.dims.size() != 4 || group < 1 || group > x.dims[1])
          return fail("Conv is 2-D (rank 4) with 1 <= group <= channels");
        if (op.attrInts("strides").size() != 2 || op.attrInts("pads").size() != 4 || op.attrInts("dilations").size() != 2)
          return fail("strides/pads/dilations sizes");
        for (int64_t v : op.attrInts("strides")) if (v < 1 || v > kMaxWindow) return fail("stride out of range");
        for (int64_t v : op.attrInts("dilations")) if (v < 1 || v > kMaxWindow) return fail("dilation out of range");
        for (int64_t v : op.attrInts("pads")) if (v < 0 || v > 1024) return fail("pad out of range");
        if (x.dims[1] % group || w.dims[0] % group || w.dims[1] * group != x.dims[1] || y.dims[1] != w.dims[0] ||
            y.dims[0] != x.dims[0])
          return fail("channel counts do not match the weights and group");
        const auto st = op.attrInts("strides"), pd = op.attrInts("pads"), dl = op.attrInts("dilations");
        for (size_t d = 0; d < 2; ++d) {
          const int64_t span = (w.dims[2 + d] - 1) * dl[d] + 1;
          const int64_t want = (x.dims[2 + d] + pd[d] + pd[d + 2] - span) / st[d] + 1;
          if (want < 1 || y.dims[2 + d] != want) return fail("output spatial dims do not follow from the attributes");
        }
      } else {
        const bool tb = op.attrInt("trans_b", 0) != 0;
        if (w.dims.size() != 2 || x.dims.empty() || y.dims.empty()) return fail("Gemm weights are 2-D");
        const int64_t K = tb ? w.dims[1] : w.dims[0], N = tb ? w.dims[0] : w.dims[1];
        const uint64_t rowsY = K && N ? y.byteSize() / dtypeSize(y.dtype) / static_cast<uint64_t>(N) : 0;
        const uint64_t rowsX = K && N ? x.byteSize() / dtypeSize(x.dtype) / static_cast<uint64_t>(K) : 1;
        if (x.dims.back() != K || y.dims.back() != N || rowsX != rowsY)
          return fail("Gemm dims do not match");
      }
      const int64_t outCh = op.code == OpCode::Conv ? w.dims[0] : (op.attrInt("trans_b", 0) ? w.dims[0] : w.dims[1]);
      if (b.dims[0] != outCh || (!accumulatorOut && have != static_cast<size_t>(outCh)))
        return fail("bias or multiplier count differs from the output channels");
      if (accumulatorOut && p.quant[static_cast<size_t>(y.quant)].scales.size() != static_cast<size_t>(outCh))
        return fail("accumulator scales differ from the output channels");
      const int32_t wantAxis = op.code == OpCode::Conv ? 0 : (op.attrInt("trans_b", 0) ? 0 : 1);
      if (wq.perAxis() ? (wq.axis != wantAxis || static_cast<int64_t>(wq.scales.size()) != outCh) : wq.scales.size() != 1)
        return fail("weight quantization axis must be the output channel");
      return Status::ok();
    }
    if (have != mults) return fail(fmt::format("{} multipliers, expected {}", have, mults));
    if (op.code == OpCode::Add && (op.attrInt("left_shift", -1) < 0 || op.attrInt("left_shift", -1) > 20))
      return fail("left_shift out of [0, 20]");
    switch (op.code) {
      case OpCode::Add:
        if (p.tensors[static_cast<size_t>(op.inputs[1])].dims != y.dims || x.dims != y.dims) return fail("Add needs equal dims");
        break;
      case OpCode::MaxPool:
      case OpCode::AveragePool: {
        const auto k = op.attrInts("kernel_shape"), st = op.attrInts("strides"), pd = op.attrInts("pads"), dl = op.attrInts("dilations");
        if (x.dims.size() != 4 || y.dims.size() != 4 || k.size() != 2 || st.size() != 2 || pd.size() != 4 || dl.size() != 2)
          return fail("2-D pooling attributes");
        if (x.dims[0] != y.dims[0] || x.dims[1] != y.dims[1]) return fail("pooling keeps N and C");
        if (k[0] * k[1] > kMaxWindow) return fail("pooling window too large");
        for (size_t d = 0; d < 2; ++d) {
          if (k[d] < 1 || st[d] < 1 || dl[d] < 1 || k[d] > kMaxWindow || st[d] > kMaxWindow || dl[d] > kMaxWindow ||
              pd[d] < 0 || pd[d + 2] < 0 || pd[d] >= k[d] || pd[d + 2] >= k[d])
            return fail("pooling attribute out of range");
          const int64_t span = (k[d] - 1) * dl[d] + 1;
          const int64_t floorDim = (x.dims[2 + d] + pd[d] + pd[d + 2] - span) / st[d] + 1;
          if (y.dims[2 + d] < 1 || (y.dims[2 + d] != floorDim && y.dims[2 + d] != floorDim + 1))
            return fail("pooled dims do not follow from the attributes");
          if ((y.dims[2 + d] - 1) * st[d] - pd[d] >= x.dims[2 + d]) return fail("a window lies wholly in the padding");
        }
        break;
      }
      case OpCode::GlobalAveragePool:
        if (x.dims.size() != 4 || y.dims.size() != 4 || y.dims[2] != 1 || y.dims[3] != 1 || x.dims[0] != y.dims[0] || x.dims[1] != y.dims[1])
          return fail("GlobalAveragePool is [N,C,H,W] -> [N,C,1,1]");
        break;
      case OpCode::Concat: {
        const int64_t axis = op.attrInt("axis", -1);
        if (axis < 0 || axis >= static_cast<int64_t>(y.dims.size())) return fail("axis out of range");
        int64_t sum = 0;
        for (int32_t t : op.inputs) {
          const Tensor& in = p.tensors[static_cast<size_t>(t)];
          if (in.dims.size() != y.dims.size()) return fail("ranks differ");
          for (size_t d = 0; d < y.dims.size(); ++d)
            if (static_cast<int64_t>(d) != axis && in.dims[d] != y.dims[d]) return fail("dims differ off the axis");
          sum += in.dims[static_cast<size_t>(axis)];
        }
        if (sum != y.dims[static_cast<size_t>(axis)]) return fail("the axis does not add up");
        break;
      }
      case OpCode::Reshape:
        if (Tensor{x}.byteSize() != Tensor{y}.byteSize()) return fail("element counts differ");
        break;
      case OpCode::Transpose: {
        const auto perm = op.attrInts("perm");
        if (perm.size() != x.dims.size() || y.dims.size() != x.dims.size()) return fail("perm size");
        std::vector<bool> seen(perm.size());
        for (size_t d = 0; d < perm.size(); ++d) {
          if (perm[d] < 0 || perm[d] >= static_cast<int64_t>(perm.size()) || seen[static_cast<size_t>(perm[d])]) return fail("perm is not a permutation");
          seen[static_cast<size_t>(perm[d])] = true;
          if (y.dims[d] != x.dims[static_cast<size_t>(perm[d])]) return fail("dims do not follow perm");
        }
        break;
      }
      default:
        return fail("unknown op code");
    }
    return Status::ok();
  }
};

std::string opProfileKind(const Op& op) {
  return op.code == OpCode::FloatOp ? "Float " + op.type : std::string(opCodeName(op.code));
}

Interpreter::Interpreter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Interpreter::~Interpreter() = default;

Int8Isa Interpreter::isa() const { return impl_->isa; }
int Interpreter::threads() const { return impl_->pool ? impl_->pool->size() : 1; }

Expected<std::unique_ptr<Interpreter>> Interpreter::create(const Program& p, InterpreterOptions options) {
  auto impl = std::make_unique<Impl>(p);
  impl->observer = options.observer;
  impl->stepTimer = options.stepTimer;
  if (options.isa) {
    if (!int8IsaAvailable(*options.isa)) return Status::unsupported("int8 kernels \"{}\": this CPU lacks them", int8IsaName(*options.isa));
    impl->isa = *options.isa;
  } else {
    NPU_ASSIGN_OR_RETURN(impl->isa, int8IsaFromEnv());
  }
  if (options.threads < 0) return Status::invalidArgument("threads must be >= 0, got {}", options.threads);
  if (options.threads != 1) {
    impl->pool = std::make_shared<ThreadPool>(options.threads);
    if (impl->pool->size() <= 1) impl->pool.reset();
  }
  for (const Tensor& t : p.tensors) {
    if (t.storage == Storage::Activation && t.arenaOffset + t.byteSize() > p.memory.arenaBytes)
      return Status::invalidModel("tensor \"{}\" lies outside the arena ({} bytes)", t.name, p.memory.arenaBytes);
    if (t.storage == Storage::Weight && (!t.weight || t.weight->byteSize() != t.byteSize()))
      return Status::invalidModel("weight \"{}\": {} bytes for its dims", t.name, t.weight ? t.weight->byteSize() : 0);
    if (t.quant >= static_cast<int32_t>(p.quant.size())) return Status::invalidModel("tensor \"{}\": quantization index out of range", t.name);
  }
  try {
    impl->arena = std::make_shared<AlignedBuffer>(std::max<size_t>(p.memory.arenaBytes, 64));
  } catch (const std::exception&) {
    return Status::unsupported("an arena of {} bytes cannot be allocated", p.memory.arenaBytes);
  }
  impl->mac.resize(p.ops.size());
  impl->fallback.resize(p.ops.size());
  impl->fast.resize(p.ops.size());
  for (size_t i = 0; i < p.ops.size(); ++i) {
    const Op& op = p.ops[i];
    NPU_TRY(impl->check(op, i));
    if (op.code == OpCode::Conv || op.code == OpCode::Gemm) {
      std::vector<TensorView> in;
      for (int32_t t : op.inputs) in.push_back(impl->view(t));
      NPU_ASSIGN_OR_RETURN(PreparedMac m, prepareMac(op, in, p.tensors[static_cast<size_t>(op.outputs[0])], p.requantRounding));
      impl->mac[i] = std::make_unique<PreparedMac>(std::move(m));
      if (impl->isa != Int8Isa::Scalar) {
        try {
          auto k = MacKernel::create(macSpec(op, in, impl->view(op.outputs[0]), p.requantRounding), impl->isa);
          if (!k) return k.status().in(fmt::format("op {} \"{}\"", i, op.name));
          impl->fast[i] = std::move(*k);
          if (impl->scratch.size() < impl->fast[i]->scratchBytes()) impl->scratch.resize(impl->fast[i]->scratchBytes());
        } catch (const std::bad_alloc&) {
          return Status::unsupported("op {} \"{}\": its int8 kernel's memory cannot be allocated", i, op.name);
        }
      }
    } else if (op.code == OpCode::FloatOp) {
      NPU_ASSIGN_OR_RETURN(FallbackOp f, buildFallback(p, op, impl->pool));
      for (int32_t t : f.activationInputs) {
        const Tensor& d = p.tensors[static_cast<size_t>(t)];
        auto bytes = Buffer::view(impl->arena, impl->view(t).data, d.byteSize());
        f.args.push_back(npuconv::Tensor::fromData(std::make_shared<const TensorData>(d.dtype, d.dims, std::move(bytes))));
      }
      impl->fallback[i] = std::make_unique<FallbackOp>(std::move(f));
    }
  }
  impl->chain.resize(p.ops.size());
  if (options.fuseFloatChains && !options.observer) {
    std::vector<int64_t> lastReader(p.tensors.size(), -1);
    std::vector<bool> graphOutput(p.tensors.size(), false);
    for (size_t i = 0; i < p.ops.size(); ++i)
      for (int32_t t : p.ops[i].inputs)
        if (t >= 0) lastReader[static_cast<size_t>(t)] = static_cast<int64_t>(i);
    for (const IoBinding& b : p.outputs)
      if (b.tensor >= 0 && b.tensor < static_cast<int32_t>(p.tensors.size())) graphOutput[static_cast<size_t>(b.tensor)] = true;
    for (size_t i = 0; i < p.ops.size(); ++i) {
      auto c = matchFloatChain(p, i, lastReader, graphOutput);
      if (!c) c = matchChannelScale(p, i, lastReader, graphOutput);
      if (!c) {
        // A unary op the chain code does not evaluate: a table from the op's own kernel, probed at
        // load over the whole tensor (every byte at many positions must give the same bits).
        c = matchUnaryTable(p, i, lastReader, graphOutput);
        if (!c) continue;
        const Tensor& s = p.tensors[static_cast<size_t>(p.ops[i].outputs[0])];
        npuconv::Tensor probe(DType::F32, s.dims);
        tableProbe(*c, p, reinterpret_cast<float*>(probe.mutableRaw()), static_cast<int64_t>(s.byteSize() / 4));
        auto out = impl->fallback[i + 1]->exec->runOrdered({probe});
        if (!out || out->size() != 1 || (*out)[0].dtype() != DType::F32 || (*out)[0].dims() != s.dims ||
            !setUnaryTable(*c, p, reinterpret_cast<const float*>((*out)[0].raw()), static_cast<int64_t>(s.byteSize() / 4)))
          continue;
      }
      if (c->resizeOp >= 0) {
        // The gather map: the op's own kernel on the element indices (a nearest Resize moves
        // values, so each output is the index it came from).
        const Tensor& in = p.tensors[static_cast<size_t>(p.ops[i].outputs[0])];
        npuconv::Tensor idx(DType::F32, in.dims);
        auto* v = reinterpret_cast<float*>(idx.mutableRaw());
        for (int64_t e = 0, n = static_cast<int64_t>(in.byteSize() / 4); e < n; ++e) v[e] = static_cast<float>(e);
        FallbackOp& f = *impl->fallback[static_cast<size_t>(c->resizeOp)];
        auto out = f.exec->runOrdered({idx});
        const Tensor& y = p.tensors[static_cast<size_t>(c->output)];
        if (!out || out->size() != 1 || (*out)[0].dtype() != DType::F32 || (*out)[0].dims() != y.dims ||
            !setGatherMap(*c, reinterpret_cast<const float*>((*out)[0].raw()), static_cast<int64_t>(y.byteSize()),
                          static_cast<int64_t>(in.byteSize() / 4), y.dims.empty() ? 0 : y.dims.back()))
          continue;  // not a pure gather after all: run the ops one by one
      }
      for (size_t k = c->firstOp; k <= c->lastOp; ++k) impl->fallback[k].reset();  // never run
      i = c->lastOp;
      impl->chain[c->firstOp] = std::make_unique<FloatChain>(std::move(*c));
    }
  }
  impl->planesOut.resize(p.ops.size());
  impl->prelaid.assign(p.ops.size(), false);
  if (options.fuseConvPlanes && !options.observer) {
    std::vector<int> readers(p.tensors.size(), 0);
    std::vector<int64_t> reader(p.tensors.size(), -1);
    for (size_t j = 0; j < p.ops.size(); ++j)
      for (int32_t t : p.ops[j].inputs)
        if (t >= 0) ++readers[static_cast<size_t>(t)], reader[static_cast<size_t>(t)] = static_cast<int64_t>(j);
    for (const IoBinding& b : p.outputs)
      if (b.tensor >= 0 && b.tensor < static_cast<int32_t>(p.tensors.size())) ++readers[static_cast<size_t>(b.tensor)];
    for (size_t i = 0; i < p.ops.size(); ++i) {
      if (p.ops[i].code != OpCode::Conv || !impl->fast[i] || !impl->fast[i]->writesPlanes()) continue;
      const auto t = static_cast<size_t>(p.ops[i].outputs[0]);
      const int64_t j = reader[t];
      // The tensor is never stored: its one reader must be a Conv that reads it as its input.
      if (readers[t] != 1 || j <= static_cast<int64_t>(i)) continue;
      const auto ju = static_cast<size_t>(j);
      if (p.ops[ju].code != OpCode::Conv || p.ops[ju].inputs[0] != static_cast<int32_t>(t) || !impl->fast[ju] ||
          !impl->fast[ju]->takesPlanes() || impl->prelaid[ju])
        continue;
      impl->planesOut[i] = std::make_unique<PlanesTarget>(impl->fast[ju]->planesTarget());
      impl->prelaid[ju] = true;
    }
  }
  if (impl->stepTimer)
    for (size_t i = 0; i < p.ops.size(); ++i)
      impl->kinds.push_back(opProfileKind(p.ops[i]));
  for (const IoBinding& b : p.inputs)
    if (b.tensor < 0 || b.tensor >= static_cast<int32_t>(p.tensors.size()) ||
        p.tensors[static_cast<size_t>(b.tensor)].storage != Storage::Activation)
      return Status::invalidModel("input \"{}\": tensor index out of range", b.name);
  for (const IoBinding& b : p.outputs)
    if (b.tensor < 0 || b.tensor >= static_cast<int32_t>(p.tensors.size()))
      return Status::invalidModel("output \"{}\": tensor index out of range", b.name);
  return std::unique_ptr<Interpreter>(new Interpreter(std::move(impl)));
}

Expected<std::vector<npuconv::Tensor>> Interpreter::run(const std::vector<npuconv::Tensor>& inputs) {
  const Program& p = impl_->p;
  if (inputs.size() != p.inputs.size())
    return Status::invalidArgument("{} inputs given, the blob has {}", inputs.size(), p.inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& d = p.tensors[static_cast<size_t>(p.inputs[i].tensor)];
    if (inputs[i].dtype() != d.dtype || inputs[i].dims() != d.dims)
      return Status::invalidArgument("input \"{}\": got {}, the blob wants {}[{}]", p.inputs[i].name, inputs[i].describe(),
                                     dtypeShortName(d.dtype), fmt::join(d.dims, ","));
    copyBytes(impl_->view(p.inputs[i].tensor).data, inputs[i].raw(), d.byteSize(), impl_->pool.get());
  }
  using Clock = std::chrono::steady_clock;
  const bool timing = static_cast<bool>(impl_->stepTimer);
  auto msSince = [](Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); };
  for (size_t i = 0; i < p.ops.size(); ++i) {
    const Clock::time_point t0 = timing ? Clock::now() : Clock::time_point{};
    if (const FloatChain* c = impl_->chain[i].get()) {
      const TensorView scale = c->scaleInput >= 0 ? impl_->view(c->scaleInput) : TensorView{};
      runFloatChain(*c, impl_->view(c->input), impl_->view(c->output), impl_->pool.get(), impl_->chainScratch,
                    impl_->isa != Int8Isa::Scalar, c->scaleInput >= 0 ? &scale : nullptr);
      if (timing) impl_->stepTimer(i, "FloatChain", msSince(t0));
      i = c->lastOp;
      continue;
    }
    double relayoutMs = 0;
    const Op& op = p.ops[i];
    std::vector<TensorView> in;
    for (int32_t t : op.inputs)
      if (t >= 0) in.push_back(impl_->view(t));
    const TensorView y = impl_->view(op.outputs[0]);
    switch (op.code) {
      case OpCode::Quantize:
        NPU_TRY(impl_->isa != Int8Isa::Scalar ? runQuantizeFast(in[0], y, impl_->pool.get()) : runQuantize(in[0], y));
        break;
      case OpCode::Dequantize:
        NPU_TRY(impl_->isa != Int8Isa::Scalar ? runDequantizeFast(in[0], y, impl_->pool.get()) : runDequantize(in[0], y));
        break;
      case OpCode::Conv:
      case OpCode::Gemm:
        if (impl_->fast[i]) {
          const MacRunExtras extras{timing ? &relayoutMs : nullptr, impl_->planesOut[i].get(), impl_->prelaid[i]};
          impl_->fast[i]->run(impl_->pool.get(), in[0].data, y.data, impl_->scratch.data(), &extras);
        }
        else if (op.code == OpCode::Conv) runConv(op, *impl_->mac[i], in[0], y);
        else runGemm(op, *impl_->mac[i], in[0], y);
        break;
      case OpCode::Add: runAdd(op, in[0], in[1], y, p.requantRounding, impl_->isa, impl_->pool.get()); break;
      case OpCode::MaxPool:
      case OpCode::AveragePool:
      case OpCode::GlobalAveragePool: runPool(op, in[0], y, p.requantRounding, impl_->isa != Int8Isa::Scalar, impl_->pool.get()); break;
      case OpCode::Concat: runConcat(op, in, y, p.requantRounding); break;
      case OpCode::Reshape: runReshape(op, in[0], y, p.requantRounding); break;
      case OpCode::Transpose: runTranspose(op, in[0], y, p.requantRounding); break;
      case OpCode::FloatOp: {
        FallbackOp& f = *impl_->fallback[i];
        NPU_ASSIGN_OR_RETURN(std::vector<npuconv::Tensor> outs, f.exec->runOrdered(f.args));
        for (size_t o = 0; o < op.outputs.size(); ++o) {
          const Tensor& d = p.tensors[static_cast<size_t>(op.outputs[o])];
          if (outs[o].dtype() != d.dtype || outs[o].dims() != d.dims)
            return Status::invalidModel("op {} \"{}\" ({}): produced {}, the blob plans {}[{}]", i, op.name, op.type,
                                        outs[o].describe(), dtypeShortName(d.dtype), fmt::join(d.dims, ","));
          copyBytes(impl_->view(op.outputs[o]).data, outs[o].raw(), d.byteSize(), impl_->pool.get());
        }
        break;
      }
    }
    if (timing) {
      const double ms = msSince(t0);
      if (op.code == OpCode::Conv || op.code == OpCode::Gemm)
        impl_->stepTimer(i, op.code == OpCode::Conv ? "QConv re-layout" : "QGemm re-layout", relayoutMs);
      impl_->stepTimer(i, impl_->kinds[i], ms - relayoutMs);
    }
    if (impl_->observer)
      for (int32_t t : op.outputs) impl_->observer(i, t, impl_->view(t).data);
  }
  std::vector<npuconv::Tensor> outs;
  for (const IoBinding& b : p.outputs) {
    const Tensor& d = p.tensors[static_cast<size_t>(b.tensor)];
    npuconv::Tensor t(d.dtype, d.dims);
    copyBytes(t.mutableRaw(), impl_->view(b.tensor).data, d.byteSize(), impl_->pool.get());
    outs.push_back(std::move(t));
  }
  return outs;
}

}  // namespace npuconv::device
