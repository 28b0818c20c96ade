#include "converter/exec/executor.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>
#include <set>

#include "converter/exec/fused_epilogue.h"
#include "converter/exec/kernels/gemm_f32.h"
#include "converter/ir/verifier.h"

namespace npuconv {

struct Executor::Step {
  const Node* node;
  KernelFn kernel;
  std::vector<ValueRef> inputs;
  std::vector<int64_t> outputSlots;  // -1: unnamed optional output
  std::vector<size_t> releaseAfter;  // slots whose last use is this step
  // Plan-time fusion (used only when no observer is set): a Conv whose only consumer is an
  // activation applies it in its epilogue and writes straight into the activation's slot; the
  // activation's step is skipped. A residual Add (+ activation) reads its other operand from
  // `residualRef` at run time; if the kernel declines it, the skipped steps run after all.
  bool fusesActivation = false;
  FusedEpilogue fused;
  ValueRef residualRef;  // slot -1: no residual
  int64_t fusedOutSlot = -1;
  std::vector<size_t> fusedSteps;  // the steps this one computes
  std::vector<const Value*> fusedAway;  // values the fusion never materializes
  bool skippedWhenFused = false;
  mutable std::shared_ptr<void> cache;  // the kernel's data derived from constant inputs
};

/// The slots of one running graph, chained to the graph that encloses it.
struct Executor::Frame {
  std::vector<Tensor>* slots;
  const Frame* parent;
};

Executor::Executor(const Graph& g, int64_t opset, std::shared_ptr<ThreadPool> pool,
                   std::shared_ptr<BufferPool> buffers, const KernelRegistry& registry, const Executor* parent)
    : graph_(g), opset_(opset), pool_(std::move(pool)), buffers_(std::move(buffers)), registry_(registry),
      parent_(parent) {}
Executor::~Executor() = default;

Expected<std::unique_ptr<Executor>> Executor::create(const Graph& g, int64_t opset, ExecOptions opt) {
  auto pool = opt.pool ? opt.pool : std::make_shared<ThreadPool>(opt.threads);
  const KernelRegistry& reg = opt.registry ? *opt.registry : KernelRegistry::global();
  std::unique_ptr<Executor> e(new Executor(g, opset, std::move(pool), BufferPool::create(), reg, nullptr));
  NPU_TRY(e->prepare());
  return e;
}

Expected<std::unique_ptr<Executor>> Executor::create(const Model& m, ExecOptions opt) {
  return create(*m.graph, m.opsetVersion(""), opt);
}

Expected<Executor::ValueRef> Executor::refOf(const Value* v, const Node* user) {
  if (!v) return ValueRef{};
  if (v->graph() == &graph_) {
    auto [it, inserted] = slot_.emplace(v, numSlots_);
    if (inserted) ++numSlots_;
    return ValueRef{0, static_cast<int64_t>(it->second)};
  }
  int depth = 1;
  const Executor* e = parent_;
  while (e && &e->graph_ != v->graph()) {
    e = e->parent_;
    ++depth;
  }
  std::string where = user ? user->describe() + ": input" : "graph \"" + graph_.name() + "\": output";
  if (!e) return Status::invalidModel("{} \"{}\" is defined neither in this graph nor in an enclosing one", where, v->name());
  auto it = e->slot_.find(v);
  if (it == e->slot_.end())
    return Status::invalidModel("{} \"{}\" is never produced in its graph \"{}\"", where, v->name(), e->graph_.name());
  return ValueRef{depth, static_cast<int64_t>(it->second)};
}

Status Executor::prepare() {
  for (const Value* v : graph_.inputs()) {
    NPU_ASSIGN_OR_RETURN(ValueRef r, refOf(v, nullptr));
    inputSlots_.push_back(static_cast<size_t>(r.slot));
  }
  for (const Value* v : graph_.initializers()) {
    if (v->isGraphInput()) continue;
    NPU_ASSIGN_OR_RETURN(ValueRef r, refOf(v, nullptr));
    constants_.emplace_back(static_cast<size_t>(r.slot), v->initializer());
  }
  std::map<const Value*, size_t> lastUse;
  for (const Node* n : graph_.nodes()) {
    KernelFn fn = registry_.find(n->domain(), n->opType());
    if (!fn)
      return Status::unsupported("{}: operator {}{} is not supported by the executor", n->describe(),
                                 n->domain().empty() ? "" : n->domain() + ".", n->opType());
    Step s{n, fn, {}, {}, {}, false, {}, {}, -1, {}, {}, false, {}};
    for (const Value* v : n->operands()) {
      NPU_ASSIGN_OR_RETURN(ValueRef r, refOf(v, n));
      s.inputs.push_back(r);
      if (v && r.depth == 0) lastUse[v] = steps_.size();
    }
    for (const Value* r : n->results()) {
      if (!r) {
        s.outputSlots.push_back(-1);
        continue;
      }
      NPU_ASSIGN_OR_RETURN(ValueRef ref, refOf(r, n));
      s.outputSlots.push_back(ref.slot);
    }
    steps_.push_back(std::move(s));
  }
  // Values used by nested subgraphs stay alive until the node holding the subgraph has run.
  for (size_t i = 0; i < steps_.size(); ++i) {
    std::function<void(const Graph&)> visit = [&](const Graph& sub) {
      for (const Node* inner : sub.nodes()) {
        for (const Value* v : inner->operands())
          if (v && v->graph() == &graph_) lastUse[v] = std::max(lastUse[v], i);
        for (const Graph* g2 : inner->subgraphs()) visit(*g2);
      }
      for (const Value* o : sub.outputs())
        if (o && o->graph() == &graph_) lastUse[o] = std::max(lastUse[o], i);
    };
    for (const Graph* sub : steps_[i].node->subgraphs()) visit(*sub);
  }
  for (const Value* o : graph_.outputs()) {
    NPU_ASSIGN_OR_RETURN(ValueRef r, refOf(o, nullptr));
    outputRefs_.push_back(r);
    lastUse.erase(o);
  }
  // Results nobody reads are released right after they are produced (and observed).
  for (size_t i = 0; i < steps_.size(); ++i)
    for (const Value* r : steps_[i].node->results())
      if (r && !r->isGraphOutput() && !lastUse.count(r)) lastUse[r] = i;
  // Constants are views of the IR's data: releasing them frees nothing.
  for (const auto& [v, step] : lastUse)
    if (!v->isInitializer() || v->isGraphInput()) steps_[step].releaseAfter.push_back(slot_.at(v));
  for (auto& s : steps_) std::sort(s.releaseAfter.begin(), s.releaseAfter.end());

  planFusions();
  // Executors for the bodies of If/Loop/Scan, prepared now so that an unsupported op anywhere
  // is reported before the first run.
  for (const Node* n : graph_.nodes())
    for (const Graph* sub : n->subgraphs()) {
      if (subExecutors_.count(sub)) continue;
      std::unique_ptr<Executor> e(new Executor(*sub, opset_, pool_, buffers_, registry_, this));
      Status st = e->prepare();
      if (!st) return std::move(st).in(fmt::format("{}: subgraph \"{}\"", n->describe(), sub->name()));
      subExecutors_.emplace(sub, std::move(e));
    }
  return Status::ok();
}

namespace {

/// The activation `n` computes on its operand 0 as an epilogue, if it is one the GEMM/depthwise
/// epilogues implement with constant parameters.
std::optional<gemm::Epilogue> activationOf(const Node& n, int64_t opset) {
  if (!n.domain().empty() || n.numOperands() < 1 || !n.operand(0)) return std::nullopt;
  gemm::Epilogue e;
  const AttrMap& a = n.attrs();
  const std::string& op = n.opType();
  if (op == "Relu") {
    e.act = gemm::Act::Relu;
  } else if (op == "LeakyRelu") {
    e.act = gemm::Act::LeakyRelu;
    e.p0 = a.getFloat("alpha", 0.01f);
  } else if (op == "HardSigmoid") {
    e.act = gemm::Act::HardSigmoid;
    e.p0 = a.getFloat("alpha", 0.2f);
    e.p1 = a.getFloat("beta", 0.5f);
  } else if (op == "HardSwish") {
    e.act = gemm::Act::HardSwish;
  } else if (op == "Clip") {
    e.act = gemm::Act::Clip;
    e.p0 = -std::numeric_limits<float>::infinity();
    e.p1 = std::numeric_limits<float>::infinity();
    if (opset < 11) {
      e.p0 = a.getFloat("min", e.p0);
      e.p1 = a.getFloat("max", e.p1);
    } else {
      for (size_t i : {size_t(1), size_t(2)}) {
        if (i >= n.numOperands() || !n.operand(i)) continue;
        const Value* v = n.operand(i);
        if (!v->isInitializer() || v->isGraphInput() || v->dtype() != DType::F32) return std::nullopt;
        Tensor t = Tensor::fromData(v->initializer());
        if (t.numElements() != 1) return std::nullopt;
        (i == 1 ? e.p0 : e.p1) = t.data<float>()[0];
      }
    }
  } else {
    return std::nullopt;
  }
  return e;
}

/// Runs one kernel; an output too large to allocate (dims computed from the model's data, e.g. a
/// ConstantOfShape of [2^62]) becomes an error naming the node instead of escaping as an exception.
Status runKernel(KernelFn kernel, KernelContext& ctx) {
  try {
    return kernel(ctx);
  } catch (const TensorSizeError& e) {
    return ctx.fail("{}", e.what());
  }
}

}  // namespace

namespace {
/// The value of a float32 initializer (not overridable by a graph input) of one element.
std::optional<float> scalarConstant(const Value* v) {
  if (!v || !v->isInitializer() || v->isGraphInput() || v->dtype() != DType::F32) return std::nullopt;
  Tensor t = Tensor::fromData(v->initializer());
  if (t.numElements() != 1) return std::nullopt;
  return t.data<float>()[0];
}
}  // namespace

/// What the fusions of an elementwise tail share: two questions about the nodes after a step,
/// and for those that start with Div/Mul(X, c), the step's own checks and the constant.
struct Executor::TailFusionMatch {
  Executor& e;
  const std::map<const Node*, size_t>& stepOf;
  const std::set<const Value*>& captured;

  /// The single consumer of n's only result, if that result is an intermediate a fusion may skip.
  const Node* onlyUser(const Node* n) const {
    const Value* o = n ? n->result(0) : nullptr;
    if (n->numResults() != 1 || !o || o->isGraphOutput() || captured.count(o) || o->uses().size() != 1) return nullptr;
    return o->uses()[0].user;
  }
  /// n's step, if it comes after step `after` and is a plain run of n's built-in kernel.
  Step* laterStep(const Node* n, size_t after) const {
    auto it = n ? stepOf.find(n) : stepOf.end();
    if (it == stepOf.end() || it->second <= after) return nullptr;
    Step& st = e.steps_[it->second];
    if (st.skippedWhenFused || st.fusesActivation || st.outputSlots.size() != 1 || st.outputSlots[0] < 0 ||
        !n->domain().empty() || st.kernel != e.registry_.find("", n->opType()))
      return nullptr;
    return &st;
  }
  size_t indexOf(const Node* n) const { return stepOf.at(n); }
  /// c of step i's Div/Mul(X, c), if the step may be fused.
  std::optional<float> scaleOf(size_t i) const {
    const Step& s = e.steps_[i];
    const Node* n = s.node;
    if (!n->domain().empty() || n->numOperands() != 2 || n->operand(0) == n->operand(1) || !n->operand(0) ||
        s.kernel != e.registry_.find("", n->opType()) || s.outputSlots.size() != 1 || s.outputSlots[0] < 0 ||
        s.fusesActivation || s.skippedWhenFused)
      return std::nullopt;
    return scalarConstant(n->operand(1));
  }
};

void Executor::planFusions() {
  static const char* env = std::getenv("NPUCONV_NO_FUSION");
  if (env && *env && std::string(env) != "0") return;
  // Only the built-in Conv kernel knows how to take a fused activation.
  KernelFn builtinConv = KernelRegistry::global().find("", "Conv");
  if (!builtinConv) return;
  std::map<const Node*, size_t> stepOf;
  for (size_t i = 0; i < steps_.size(); ++i) stepOf[steps_[i].node] = i;
  // Values read by nested subgraphs are not fused away.
  std::set<const Value*> captured;
  std::function<void(const Graph&)> visit = [&](const Graph& sub) {
    for (const Node* inner : sub.nodes()) {
      for (const Value* v : inner->operands())
        if (v && v->graph() == &graph_) captured.insert(v);
      for (const Graph* g2 : inner->subgraphs()) visit(*g2);
    }
    for (const Value* o : sub.outputs())
      if (o && o->graph() == &graph_) captured.insert(o);
  };
  for (const Node* n : graph_.nodes())
    for (const Graph* sub : n->subgraphs()) visit(*sub);
  KernelFn builtinMatMul = KernelRegistry::global().find("", "MatMul");
  KernelFn builtinAdd = KernelRegistry::global().find("", "Add");
  for (size_t i = 0; i < steps_.size(); ++i) {
    Step& s = steps_[i];
    if (s.node->is("Div") || s.node->is("Mul")) {
      const TailFusionMatch m{*this, stepOf, captured};
      if (!fuseScaledSoftmax(i, m)) fuseErfGelu(i, m);
      continue;
    }
    if (s.node->is("ReduceMean")) {
      fuseLayerNorm(i, TailFusionMatch{*this, stepOf, captured});
      continue;
    }
    if (builtinMatMul && s.kernel == builtinMatMul && s.node->is("MatMul") && s.outputSlots.size() == 1 &&
        s.outputSlots[0] >= 0) {
      // MatMul(A, W) + b with W a float32 [K, N] initializer and b a float32 [N] initializer: the
      // bias is added in the GEMM epilogue, the Add step is skipped.
      const Value* r = s.node->result(0);
      const Value* w = s.node->operand(1);
      if (!r || r->isGraphOutput() || captured.count(r) || r->uses().size() != 1 || !w || !w->isInitializer() ||
          w->isGraphInput() || w->dtype() != DType::F32)
        continue;
      const Node* add = r->uses()[0].user;
      if (!add->is("Add") || add->numOperands() != 2 || add->operand(0) == add->operand(1)) continue;
      const Value* bias = add->operand(r->uses()[0].operand == 0 ? 1 : 0);
      if (!bias || !bias->isInitializer() || bias->isGraphInput() || bias->dtype() != DType::F32) continue;
      Tensor wt = Tensor::fromData(w->initializer()), bt = Tensor::fromData(bias->initializer());
      if (wt.rank() != 2 || bt.rank() != 1 || bt.dim(0) != wt.dim(1)) continue;
      auto it = stepOf.find(add);
      if (it == stepOf.end() || it->second <= i) continue;
      Step& a = steps_[it->second];
      if (a.kernel != builtinAdd || a.skippedWhenFused || a.outputSlots.size() != 1 || a.outputSlots[0] < 0) continue;
      gemm::Epilogue ep;
      ep.bias = bt.data<float>();  // initializer data lives as long as the graph
      ep.biasPerRow = false;
      ep.biasLen = bt.dim(0);
      fuseInto(s, ep, {it->second});
      continue;
    }
    if (s.kernel != builtinConv || !s.node->is("Conv") || s.outputSlots.empty() || s.outputSlots[0] < 0) continue;
    const Value* r = s.node->result(0);
    if (!r || r->isGraphOutput() || captured.count(r)) continue;
    if (r->uses().size() == 2 && fuseClipHardSwish(i, TailFusionMatch{*this, stepOf, captured})) continue;
    if (r->uses().size() == 2) {
      // HardSwish as exported by PyTorch: Mul(C, HardSigmoid<alpha = 1/6, beta = 1/2>(C)).
      const Node* hs = nullptr;
      const Node* mul = nullptr;
      for (const Use& u : r->uses()) {
        if (u.user->is("HardSigmoid") && u.operand == 0) hs = u.user;
        else if (u.user->is("Mul")) mul = u.user;
      }
      if (!hs || !mul || mul->numOperands() != 2 || !hs->result(0) || hs->result(0)->isGraphOutput() ||
          captured.count(hs->result(0)) || hs->result(0)->uses().size() != 1 || hs->result(0)->uses()[0].user != mul)
        continue;
      if (!((mul->operand(0) == r && mul->operand(1) == hs->result(0)) ||
            (mul->operand(1) == r && mul->operand(0) == hs->result(0))))
        continue;
      if (hs->attrs().getFloat("alpha", 0.2f) != 1.0f / 6.0f || hs->attrs().getFloat("beta", 0.5f) != 0.5f) continue;
      auto ih = stepOf.find(hs), im = stepOf.find(mul);
      if (ih == stepOf.end() || im == stepOf.end() || ih->second <= i || im->second <= ih->second) continue;
      Step& h = steps_[ih->second];
      Step& m = steps_[im->second];
      if (h.skippedWhenFused || m.skippedWhenFused || h.fusesActivation || m.fusesActivation ||
          m.outputSlots.size() != 1 || m.outputSlots[0] < 0 || h.kernel != registry_.find("", "HardSigmoid") ||
          m.kernel != registry_.find("", "Mul"))
        continue;
      gemm::Epilogue ep;
      ep.act = gemm::Act::HardSwish;
      ep.p0 = 1.0f / 6.0f;  // computed as the HardSigmoid node would: bit-identical
      ep.p1 = 0.5f;
      fuseInto(s, ep, {ih->second, im->second});
      continue;
    }
    if (r->uses().size() != 1) continue;
    const Use& u = r->uses()[0];
    auto it = stepOf.find(u.user);
    if (it == stepOf.end() || it->second <= i) continue;
    if (builtinAdd && u.user->is("Add")) {
      // Residual Add(Conv, other) [-> activation]: `other` must be computed before the Conv runs
      // (of two Conv operands, the later Conv takes the Add). float32 only, checked at run time.
      Step& a = steps_[it->second];
      const Node* add = u.user;
      if (a.kernel != builtinAdd || a.skippedWhenFused || a.fusesActivation || add->numOperands() != 2 ||
          add->operand(0) == add->operand(1) || a.outputSlots.size() != 1 || a.outputSlots[0] < 0)
        continue;
      size_t otherIdx = u.operand == 0 ? 1 : 0;
      const Value* other = add->operand(otherIdx);
      if (!other || a.inputs[otherIdx].slot < 0) continue;
      if (const Node* p = other->producer(); p && other->graph() == &graph_) {
        auto ip = stepOf.find(p);
        if (ip == stepOf.end() || ip->second >= i) continue;
      }
      std::vector<size_t> skipped = {it->second};
      gemm::Epilogue ep;
      const Value* sum = add->result(0);
      if (sum && !sum->isGraphOutput() && !captured.count(sum) && sum->uses().size() == 1 &&
          sum->uses()[0].operand == 0) {
        auto ia = stepOf.find(sum->uses()[0].user);
        if (ia != stepOf.end() && ia->second > it->second) {
          Step& act = steps_[ia->second];
          std::optional<gemm::Epilogue> e = activationOf(*act.node, opset_);
          if (e && !act.skippedWhenFused && !act.fusesActivation && act.outputSlots.size() == 1 &&
              act.outputSlots[0] >= 0 && act.kernel == registry_.find(act.node->domain(), act.node->opType())) {
            ep = *e;
            skipped.push_back(ia->second);
          }
        }
      }
      fuseInto(s, ep, skipped);
      s.residualRef = a.inputs[otherIdx];
      continue;
    }
    if (u.operand != 0) continue;
    Step& a = steps_[it->second];
    if (a.skippedWhenFused || a.fusesActivation || a.outputSlots.size() != 1 || a.outputSlots[0] < 0) continue;
    if (a.kernel != registry_.find(a.node->domain(), a.node->opType())) continue;
    std::optional<gemm::Epilogue> act = activationOf(*a.node, opset_);
    if (!act) continue;
    fuseInto(s, *act, {it->second});
  }
  // Conv [-> activation] -> MaxPool: the Conv kernel computes the pool too (a few images at a
  // time while their Conv output is in cache; see nn_conv.cc's convPooledF32), so a batch's
  // unpooled map is never stored and read back. Not with a residual.
  auto fuseMaxPool = [&](size_t i) -> bool {
    Step& s = steps_[i];
    if (s.residualRef.slot >= 0 || s.outputSlots.empty() || s.outputSlots[0] < 0) return false;
    const Value* conv = s.node->result(0);
    const Value* tail = s.fusesActivation ? steps_[s.fusedSteps.back()].node->result(0) : conv;
    if (!conv || !tail || tail->isGraphOutput() || captured.count(tail) || tail->uses().size() != 1 ||
        tail->uses()[0].operand != 0)
      return false;
    // Float32 only (the kernel declines other types at run time, and the executor then runs the
    // activation and the pool unfused, so a type known to differ is not planned); the type may be
    // unknown in the IR. The kernel pools a few images at a time while their Conv output is in
    // cache; with one image the whole map is computed first, which gains nothing (and costs
    // nothing: the same work in the same order), so where the IR records a batch of 1 the Conv
    // keeps its unfused steps. Models read from a file usually record no intermediate shapes.
    const auto f32OrUnknown = [](const Value* v) { return v->dtype() == DType::F32 || v->dtype() == DType::Undefined; };
    if (!f32OrUnknown(conv) || !f32OrUnknown(tail)) return false;
    const std::optional<Shape>& shape = tail->shape();
    if (shape && !shape->empty() && (*shape)[0].isStatic() && (*shape)[0].value() < 2) return false;
    const Node* mp = tail->uses()[0].user;
    if (!mp->is("MaxPool") || mp->numOperands() != 1) return false;
    auto it = stepOf.find(mp);
    if (it == stepOf.end() || it->second <= i) return false;
    Step& p = steps_[it->second];
    if (p.skippedWhenFused || p.fusesActivation || p.outputSlots.empty() || p.outputSlots[0] < 0 ||
        p.kernel != registry_.find("", "MaxPool"))
      return false;
    for (size_t k = 1; k < p.outputSlots.size(); ++k)
      if (p.outputSlots[k] >= 0) return false;  // Indices wanted
    // What the Conv kernel's pooling (maxPoolPlaneF32) computes exactly: 2-D, explicit pads inside
    // the window, no dilation, floor mode, horizontal stride 1 or 2.
    const AttrMap& a = mp->attrs();
    const std::string autoPad = a.getString("auto_pad", "NOTSET");
    const std::vector<int64_t> k = a.getInts("kernel_shape");
    const std::vector<int64_t> st = a.getInts("strides", {1, 1});
    const std::vector<int64_t> pads = a.getInts("pads", {0, 0, 0, 0});
    const std::vector<int64_t> dil = a.getInts("dilations", {1, 1});
    if ((autoPad != "NOTSET" && !autoPad.empty()) || a.getInt("ceil_mode", 0) != 0 || k.size() != 2 ||
        st.size() != 2 || pads.size() != 4 || dil != std::vector<int64_t>{1, 1} || (st[1] != 1 && st[1] != 2))
      return false;
    FusedMaxPool fm;
    for (size_t ax = 0; ax < 2; ++ax) {
      if (k[ax] < 1 || st[ax] < 1 || pads[ax] < 0 || pads[ax + 2] < 0 || pads[ax] >= k[ax] || pads[ax + 2] >= k[ax])
        return false;
      fm.kernel[ax] = k[ax];
      fm.stride[ax] = st[ax];
      fm.padBegin[ax] = pads[ax];
      fm.padEnd[ax] = pads[ax + 2];
    }
    fuseTailStep(s, it->second, tail);
    s.fused.hasMaxPool = true;
    s.fused.maxPool = fm;
    return true;
  };
  for (size_t i = 0; i < steps_.size(); ++i)
    if (steps_[i].kernel == builtinConv && steps_[i].node->is("Conv") && !steps_[i].skippedWhenFused) fuseMaxPool(i);
  // Pointwise Conv [-> activation] -> depthwise Conv [-> activation] (a mobile net's expand and
  // depthwise pair): the 1x1 Conv's kernel computes its map a band of rows at a time and runs the
  // depthwise Conv on each band while it is in cache (nn_conv.cc, convExpandDepthwiseF32). The
  // depthwise step keeps its own activation fusion: if the kernel declines at run time, the
  // depthwise step runs as planned.
  auto fuseDepthwise = [&](size_t i) -> bool {
    Step& s = steps_[i];
    if (s.residualRef.slot >= 0 || s.fused.hasMaxPool || s.outputSlots.empty() || s.outputSlots[0] < 0) return false;
    const Node* pw = s.node;
    const Value* conv = pw->result(0);
    const Value* tail = s.fusesActivation ? steps_[s.fusedSteps.back()].node->result(0) : conv;
    if (!conv || !tail || tail->isGraphOutput() || captured.count(tail) || tail->uses().size() != 1 ||
        tail->uses()[0].operand != 0)
      return false;
    const auto f32OrUnknown = [](const Value* v) { return v->dtype() == DType::F32 || v->dtype() == DType::Undefined; };
    if (!f32OrUnknown(conv) || !f32OrUnknown(tail)) return false;
    const auto constF32 = [](const Value* v) {
      return v && v->isInitializer() && !v->isGraphInput() && v->dtype() == DType::F32;
    };
    const auto plainWindow = [](const AttrMap& a) {
      const std::string autoPad = a.getString("auto_pad", "NOTSET");
      return (autoPad == "NOTSET" || autoPad.empty()) && a.getInts("dilations", {1, 1}) == std::vector<int64_t>{1, 1};
    };
    // The 1x1 Conv: one group, stride 1, no padding, a constant [M, C, 1, 1] weight.
    if (pw->numOperands() < 2 || !constF32(pw->operand(1)) || pw->attrs().getInt("group", 1) != 1 ||
        !plainWindow(pw->attrs()) || pw->attrs().getInts("strides", {1, 1}) != std::vector<int64_t>{1, 1} ||
        pw->attrs().getInts("pads", {0, 0, 0, 0}) != std::vector<int64_t>{0, 0, 0, 0})
      return false;
    const Tensor pwW = Tensor::fromData(pw->operand(1)->initializer());
    if (pwW.rank() != 4 || pwW.dim(2) != 1 || pwW.dim(3) != 1) return false;
    const int64_t M = pwW.dim(0);
    const Node* dw = tail->uses()[0].user;
    auto it = stepOf.find(dw);
    if (!dw->is("Conv") || it == stepOf.end() || it->second <= i) return false;
    Step& d = steps_[it->second];
    if (d.kernel != builtinConv || d.skippedWhenFused || d.residualRef.slot >= 0 || d.fused.hasMaxPool ||
        d.fused.hasDepthwise || d.outputSlots.size() != 1 || d.outputSlots[0] < 0)
      return false;
    // The depthwise Conv: M groups of one channel, constant [M, 1, KH, KW] weight and [M] bias.
    const AttrMap& a = dw->attrs();
    if (dw->numOperands() < 2 || !constF32(dw->operand(1)) || a.getInt("group", 1) != M || !plainWindow(a)) return false;
    const Tensor dwW = Tensor::fromData(dw->operand(1)->initializer());
    if (dwW.rank() != 4 || dwW.dim(0) != M || dwW.dim(1) != 1) return false;
    const float* dwB = nullptr;
    if (dw->numOperands() > 2 && dw->operand(2)) {
      if (!constF32(dw->operand(2))) return false;
      const Tensor b = Tensor::fromData(dw->operand(2)->initializer());
      if (b.rank() != 1 || b.dim(0) != M) return false;
      dwB = b.data<float>();  // initializer data lives as long as the graph
    }
    const std::vector<int64_t> k = a.getInts("kernel_shape", {dwW.dim(2), dwW.dim(3)});
    const std::vector<int64_t> st = a.getInts("strides", {1, 1});
    const std::vector<int64_t> pads = a.getInts("pads", {0, 0, 0, 0});
    if (k != std::vector<int64_t>{dwW.dim(2), dwW.dim(3)} || st.size() != 2 || pads.size() != 4) return false;
    FusedDepthwise fd;
    fd.weights = dwW.data<float>();
    fd.bias = dwB;
    fd.channels = M;
    for (size_t ax = 0; ax < 2; ++ax) {
      if (k[ax] < 1 || st[ax] < 1 || pads[ax] < 0 || pads[ax + 2] < 0) return false;
      fd.kernel[ax] = k[ax];
      fd.stride[ax] = st[ax];
      fd.padBegin[ax] = pads[ax];
      fd.padEnd[ax] = pads[ax + 2];
    }
    if (d.fusesActivation) fd.act = d.fused.ep;
    fuseTailStep(s, it->second, tail);
    s.fused.hasDepthwise = true;
    s.fused.depthwise = fd;
    return true;
  };
  for (size_t i = 0; i < steps_.size(); ++i)
    if (steps_[i].kernel == builtinConv && steps_[i].node->is("Conv") && !steps_[i].skippedWhenFused) fuseDepthwise(i);
  // [pointwise Conv [-> activation] ->] depthwise Conv [-> activation] -> pointwise Conv
  // [+ residual Add] [-> activation] (the block's project Conv): the first Conv's kernel runs it
  // on each band of depthwise output while that is in cache. The project step keeps its own
  // residual / activation fusion: if the kernel declines, every fused step runs as planned. Its
  // residual operand must exist before the expand step runs.
  auto fuseProject = [&](size_t i) -> bool {
    Step& s = steps_[i];
    if (s.fused.hasProject || s.fused.hasMaxPool || s.residualRef.slot >= 0 || s.outputSlots.size() != 1 ||
        s.outputSlots[0] < 0)
      return false;
    // The depthwise Conv: fused behind this expand Conv, or this step itself (a block without an
    // expand: MobileNetV2's first), one constant [M, 1, KH, KW] filter per channel.
    const Step& d = s.fused.hasDepthwise ? steps_[s.fusedSteps.back()] : s;
    int64_t channels = s.fused.depthwise.channels;
    if (!s.fused.hasDepthwise) {
      const Node* n = s.node;
      const Value* w = n->numOperands() >= 2 ? n->operand(1) : nullptr;
      if (!w || !w->isInitializer() || w->isGraphInput() || w->dtype() != DType::F32) return false;
      const Tensor wt = Tensor::fromData(w->initializer());
      if (wt.rank() != 4 || wt.dim(1) != 1 || n->attrs().getInt("group", 1) != wt.dim(0)) return false;
      channels = wt.dim(0);
    }
    const Value* dwOut = d.fusesActivation ? steps_[d.fusedSteps.back()].node->result(0) : d.node->result(0);
    if (!dwOut || dwOut->isGraphOutput() || captured.count(dwOut) || dwOut->uses().size() != 1 ||
        dwOut->uses()[0].operand != 0)
      return false;
    const Node* pj = dwOut->uses()[0].user;
    auto it = stepOf.find(pj);
    if (!pj->is("Conv") || it == stepOf.end() || it->second <= i) return false;
    const size_t qi = it->second;
    Step& q = steps_[qi];
    if (q.kernel != builtinConv || q.skippedWhenFused || q.fused.hasMaxPool || q.fused.hasDepthwise ||
        q.outputSlots.size() != 1 || q.outputSlots[0] < 0)
      return false;
    const auto constF32 = [](const Value* v) {
      return v && v->isInitializer() && !v->isGraphInput() && v->dtype() == DType::F32;
    };
    const AttrMap& a = pj->attrs();
    const std::string autoPad = a.getString("auto_pad", "NOTSET");
    if (pj->numOperands() < 2 || !constF32(pj->operand(1)) || a.getInt("group", 1) != 1 ||
        (autoPad != "NOTSET" && !autoPad.empty()) || a.getInts("dilations", {1, 1}) != std::vector<int64_t>{1, 1} ||
        a.getInts("strides", {1, 1}) != std::vector<int64_t>{1, 1} ||
        a.getInts("pads", {0, 0, 0, 0}) != std::vector<int64_t>{0, 0, 0, 0})
      return false;
    FusedProject fp;
    fp.weights = Tensor::fromData(pj->operand(1)->initializer());
    if (fp.weights.rank() != 4 || fp.weights.dim(1) != channels || fp.weights.dim(2) != 1 ||
        fp.weights.dim(3) != 1)
      return false;
    if (pj->numOperands() > 2 && pj->operand(2)) {
      if (!constF32(pj->operand(2))) return false;
      fp.bias = Tensor::fromData(pj->operand(2)->initializer());
      if (fp.bias.rank() != 1 || fp.bias.dim(0) != fp.weights.dim(0)) return false;
    }
    if (q.residualRef.slot >= 0) {
      // The Add's other operand: produced before the expand step (or a graph input / constant).
      const Node* add = steps_[q.fusedSteps[0]].node;
      const Value* other = add->operand(add->operand(0) == pj->result(0) ? 1 : 0);
      if (!other) return false;
      if (const Node* p = other->producer(); p && other->graph() == &graph_) {
        auto ip = stepOf.find(p);
        if (ip == stepOf.end() || ip->second >= i) return false;
      }
      fp.act = q.fused.ep;
      fp.act.residual = nullptr;
    } else if (q.fusesActivation) {
      fp.act = q.fused.ep;
    }
    fp.cache = &q.cache;
    fuseTailStep(s, qi, dwOut);
    s.residualRef = q.residualRef;
    s.fused.hasProject = true;
    s.fused.project = std::move(fp);
    return true;
  };
  for (size_t i = 0; i < steps_.size(); ++i)
    if (steps_[i].kernel == builtinConv && steps_[i].node->is("Conv") && !steps_[i].skippedWhenFused) fuseProject(i);
}


bool Executor::fuseClipHardSwish(size_t i, const TailFusionMatch& m) {
  // HardSwish as exported by Paddle2ONNX: Div(Mul(C, Clip(Add(C, 3), 0, 6)), 6), each
  // intermediate read by the next node only.
  const Value* r = steps_[i].node->result(0);
  const Node* add = nullptr;
  const Node* mul = nullptr;
  for (const Use& u : r->uses()) {
    if (u.user->is("Add")) add = u.user;
    else if (u.user->is("Mul")) mul = u.user;
  }
  if (!add || !mul || add->numOperands() != 2 || mul->numOperands() != 2) return false;
  if (scalarConstant(add->operand(add->operand(0) == r ? 1 : 0)) != 3.0f) return false;
  const Node* clip = m.onlyUser(add);
  if (!clip || !clip->is("Clip") || clip->operand(0) != add->result(0) || m.onlyUser(clip) != mul) return false;
  std::optional<gemm::Epilogue> c = activationOf(*clip, opset_);
  if (!c || c->act != gemm::Act::Clip || c->p0 != 0.0f || c->p1 != 6.0f) return false;
  if (!((mul->operand(0) == r && mul->operand(1) == clip->result(0)) ||
        (mul->operand(1) == r && mul->operand(0) == clip->result(0))))
    return false;
  const Node* div = m.onlyUser(mul);
  if (!div || !div->is("Div") || div->numOperands() != 2 || div->operand(0) != mul->result(0) ||
      scalarConstant(div->operand(1)) != 6.0f)
    return false;
  std::vector<size_t> skipped;
  for (const Node* n : {add, clip, mul, div}) {
    if (!m.laterStep(n, skipped.empty() ? i : skipped.back())) return false;
    skipped.push_back(m.indexOf(n));
  }
  gemm::Epilogue ep;
  ep.act = gemm::Act::ClipHardSwish;
  fuseInto(steps_[i], ep, skipped);
  return true;
}

bool Executor::fuseScaledSoftmax(size_t i, const TailFusionMatch& m) {
  // Attention scores: Div(S, c) or Mul(S, c) [-> Add(., mask)] -> Softmax, each intermediate read
  // by the next node only; c a one-element float32 constant. The mask, like a residual, must be
  // computed before the Div runs.
  Step& s = steps_[i];
  const Node* scale = s.node;
  const std::optional<float> c = m.scaleOf(i);
  if (!c) return false;
  std::vector<size_t> skipped;
  ValueRef maskRef;
  const Node* next = m.onlyUser(scale);
  if (next && next->is("Add")) {
    const Step* add = m.laterStep(next, i);
    if (!add || next->numOperands() != 2 || next->operand(0) == next->operand(1)) return false;
    const size_t other = next->operand(0) == scale->result(0) ? 1 : 0;
    const Value* mask = next->operand(other);
    if (!mask || add->inputs[other].slot < 0) return false;
    if (const Node* p = mask->producer(); p && mask->graph() == &graph_) {
      auto ip = m.stepOf.find(p);
      if (ip == m.stepOf.end() || ip->second >= i) return false;
    }
    maskRef = add->inputs[other];
    skipped.push_back(m.indexOf(next));
    next = m.onlyUser(next);
  }
  if (!next || !next->is("Softmax") || next->operand(0) != (skipped.empty() ? scale : steps_[skipped.back()].node)->result(0))
    return false;
  if (!m.laterStep(next, skipped.empty() ? i : skipped.back())) return false;
  skipped.push_back(m.indexOf(next));
  fuseInto(s, gemm::Epilogue{}, skipped);
  s.fused.hasSoftmax = true;
  s.fused.softmax.multiply = scale->is("Mul");
  s.fused.softmax.c = *c;
  s.fused.softmax.opset = opset_;
  s.fused.softmax.axis = next->attrs().getInt("axis", opset_ < 13 ? 1 : -1);
  s.residualRef = maskRef;
  return true;
}

bool Executor::fuseErfGelu(size_t i, const TailFusionMatch& m) {
  // Div(X, c) or Mul(X, c) -> Erf -> Add(., one) -> the last two Muls in one of FusedErfGelu's
  // orders, every intermediate read by the next node only.
  Step& s = steps_[i];
  const std::optional<float> c = m.scaleOf(i);
  if (!c) return false;
  const Value* x = s.node->operand(0);
  const Node* erf = m.onlyUser(s.node);
  if (!erf || !erf->is("Erf") || !m.laterStep(erf, i)) return false;
  const Node* add = m.onlyUser(erf);
  if (!add || !add->is("Add") || add->numOperands() != 2 || !m.laterStep(add, m.indexOf(erf))) return false;
  const std::optional<float> one = scalarConstant(add->operand(add->operand(0) == erf->result(0) ? 1 : 0));
  if (!one) return false;
  const Value* a = add->result(0);
  const Node* m1 = m.onlyUser(add);
  if (!m1 || !m1->is("Mul") || m1->numOperands() != 2 || !m.laterStep(m1, m.indexOf(add))) return false;
  const Value* other1 = m1->operand(m1->operand(0) == a ? 1 : 0);
  if (m1->operand(0) == m1->operand(1)) return false;
  FusedErfGelu g;
  g.multiply = s.node->is("Mul");
  g.c = *c;
  g.one = *one;
  std::vector<size_t> skipped = {m.indexOf(erf), m.indexOf(add), m.indexOf(m1)};
  const Node* last = m1;
  if (std::optional<float> half = scalarConstant(other1)) {  // Mul(Mul(a, half), X)
    const Node* m2 = m.onlyUser(m1);
    if (!m2 || !m2->is("Mul") || m2->numOperands() != 2 || !m.laterStep(m2, m.indexOf(m1)) ||
        m2->operand(m2->operand(0) == m1->result(0) ? 1 : 0) != x || m2->operand(0) == m2->operand(1))
      return false;
    g.order = FusedErfGelu::Order::AHalfThenX;
    g.half = *half;
    last = m2;
  } else if (other1 == x) {  // Mul(Mul(X, a), half)
    const Node* m2 = m.onlyUser(m1);
    if (!m2 || !m2->is("Mul") || m2->numOperands() != 2 || !m.laterStep(m2, m.indexOf(m1))) return false;
    const std::optional<float> half2 = scalarConstant(m2->operand(m2->operand(0) == m1->result(0) ? 1 : 0));
    if (!half2) return false;
    g.order = FusedErfGelu::Order::XAThenHalf;
    g.half = *half2;
    last = m2;
  } else {  // Mul(Mul(X, half), a): the first Mul is its own branch from X, computed after step i
    const Node* h = other1 ? other1->producer() : nullptr;
    if (!h || !h->is("Mul") || h->numOperands() != 2 || m.onlyUser(h) != m1 || !m.laterStep(h, i)) return false;
    const size_t xi = h->operand(0) == x ? 0 : h->operand(1) == x ? 1 : 2;
    if (xi == 2 || h->operand(0) == h->operand(1)) return false;
    const std::optional<float> half = scalarConstant(h->operand(1 - xi));
    if (!half) return false;
    g.order = FusedErfGelu::Order::XHalfThenA;
    g.half = *half;
    skipped.push_back(m.indexOf(h));
  }
  if (last != m1) skipped.push_back(m.indexOf(last));
  std::sort(skipped.begin(), skipped.end());  // the final Mul, which reads all the others, is last
  fuseInto(s, gemm::Epilogue{}, skipped);
  s.fused.hasErfGelu = true;
  s.fused.erfGelu = g;
  return true;
}

namespace {
/// The axes of n if it is a ReduceMean of the default domain with keepdims 1 and constant axes
/// (the attribute, or from opset 18 a constant input).
std::optional<std::vector<int64_t>> meanAxes(const Node* n) {
  if (!n || !n->is("ReduceMean") || !n->domain().empty() || n->numOperands() < 1 || !n->operand(0) ||
      n->attrs().getInt("keepdims", 1) == 0 || n->attrs().getInt("noop_with_empty_axes", 0) != 0)
    return std::nullopt;
  if (n->numOperands() >= 2 && n->operand(1)) {
    const Value* a = n->operand(1);
    if (!a->isInitializer() || a->isGraphInput()) return std::nullopt;
    return Tensor::fromData(a->initializer()).toInt64s();
  }
  return n->attrs().getInts("axes");
}

/// Whether n is such a ReduceMean over the last axis alone: axes [-1], or [rank - 1] when its
/// input's rank is known.
bool isLastAxisMean(const Node* n) {
  const std::optional<std::vector<int64_t>> axes = meanAxes(n);
  if (!axes || axes->size() != 1) return false;
  if ((*axes)[0] == -1) return true;
  const auto& shape = n->operand(0)->type().shape;
  return shape && (*axes)[0] == int64_t(shape->size()) - 1;
}
}  // namespace

bool Executor::fuseLayerNorm(size_t i, const TailFusionMatch& m) {
  // ReduceMean(X) -> Sub(X, m) = D -> Mul(D, D) -> ReduceMean -> Add(., eps) -> Sqrt -> Div(D, .)
  // [-> Mul(., gamma)] [-> Add(., beta)], over the last axis; D is read by the Mul and the Div,
  // every other intermediate by the next node only.
  Step& s = steps_[i];
  const Node* rm1 = s.node;
  if (!isLastAxisMean(rm1) || s.kernel != registry_.find("", "ReduceMean") || s.outputSlots.size() != 1 ||
      s.outputSlots[0] < 0 || s.fusesActivation || s.skippedWhenFused)
    return false;
  const Value* x = rm1->operand(0);
  const Node* sub = m.onlyUser(rm1);
  if (!sub || !sub->is("Sub") || sub->numOperands() != 2 || sub->operand(0) != x || sub->operand(1) != rm1->result(0) ||
      !m.laterStep(sub, i))
    return false;
  const Value* d = sub->result(0);
  if (!d || d->isGraphOutput() || m.captured.count(d)) return false;
  const Node* sq = nullptr;  // Mul(D, D): two uses of D
  const Node* div = nullptr;
  for (const Use& u : d->uses()) {
    if (u.user->is("Mul") && u.user->numOperands() == 2 && u.user->operand(0) == d && u.user->operand(1) == d &&
        (!sq || sq == u.user))
      sq = u.user;
    else if (u.user->is("Div") && u.operand == 0 && !div)
      div = u.user;
    else
      return false;
  }
  if (!sq || !div || !m.laterStep(sq, m.indexOf(sub))) return false;
  const Node* rm2 = m.onlyUser(sq);  // over the same axes: D has X's rank (M kept its dims)
  if (!rm2 || meanAxes(rm2) != meanAxes(rm1) || rm2->operand(0) != sq->result(0) || !m.laterStep(rm2, m.indexOf(sq)))
    return false;
  const Node* add = m.onlyUser(rm2);
  if (!add || !add->is("Add") || add->numOperands() != 2 || !m.laterStep(add, m.indexOf(rm2))) return false;
  const std::optional<float> eps = scalarConstant(add->operand(add->operand(0) == rm2->result(0) ? 1 : 0));
  const Node* sqrt = m.onlyUser(add);
  if (!eps || !sqrt || !sqrt->is("Sqrt") || !m.laterStep(sqrt, m.indexOf(add)) || m.onlyUser(sqrt) != div ||
      div->numOperands() != 2 || div->operand(1) != sqrt->result(0) || !m.laterStep(div, m.indexOf(sqrt)))
    return false;
  FusedLayerNorm ln;
  ln.eps = *eps;
  std::vector<size_t> skipped = {m.indexOf(sub), m.indexOf(sq), m.indexOf(rm2), m.indexOf(add), m.indexOf(sqrt),
                                 m.indexOf(div)};
  // An affine tail: Mul by gamma, then Add of beta (either may be missing), float32 constants.
  auto constantOf = [&](const Node* n, const Value* in) -> Tensor {
    if (!n || n->numOperands() != 2 || n->operand(0) == n->operand(1)) return Tensor();
    const Value* c = n->operand(n->operand(0) == in ? 1 : 0);
    if (!c || !c->isInitializer() || c->isGraphInput() || c->dtype() != DType::F32) return Tensor();
    return Tensor::fromData(c->initializer());
  };
  const Node* last = div;
  for (const char* op : {"Mul", "Add"}) {
    const Node* next = m.onlyUser(last);
    if (!next || !next->is(op) || !m.laterStep(next, skipped.back())) continue;
    Tensor c = constantOf(next, last->result(0));
    if (!c.defined()) continue;
    (op[0] == 'M' ? ln.gamma : ln.beta) = std::move(c);
    skipped.push_back(m.indexOf(next));
    last = next;
  }
  fuseInto(s, gemm::Epilogue{}, skipped);
  s.fused.hasLayerNorm = true;
  s.fused.layerNorm = std::move(ln);
  return true;
}

void Executor::fuseInto(Step& s, const gemm::Epilogue& ep, std::vector<size_t> skipped) {
  s.fusesActivation = true;
  s.fused.ep = ep;
  s.fusedOutSlot = steps_[skipped.back()].outputSlots[0];  // the last fused step's result
  for (size_t k : skipped) steps_[k].skippedWhenFused = true;
  s.fusedAway = {s.node->result(0)};
  for (size_t j = 0; j + 1 < skipped.size(); ++j) s.fusedAway.push_back(steps_[skipped[j]].node->result(0));
  s.fusedSteps = std::move(skipped);
}

void Executor::fuseTailStep(Step& s, size_t t, const Value* tail) {
  Step& f = steps_[t];
  if (!s.fusesActivation) {  // nothing fused into s yet: an identity epilogue, then step t
    s.fusesActivation = true;
    s.fused.ep = gemm::Epilogue{};
    s.fusedSteps.clear();
    s.fusedAway.clear();
  }
  s.fusedSteps.push_back(t);
  s.fusedAway.push_back(tail);
  if (f.fusesActivation) s.fusedAway.insert(s.fusedAway.end(), f.fusedAway.begin(), f.fusedAway.end());
  s.fusedOutSlot = f.fusesActivation ? f.fusedOutSlot : f.outputSlots[0];
  f.skippedWhenFused = true;
}

Expected<Executor*> Executor::subExecutor(const Graph& body) const {
  std::lock_guard<std::mutex> lock(subMu_);
  auto& sub = subExecutors_[&body];
  if (!sub) {
    // A body the kernel built or found outside node->subgraphs(): prepare it on first use.
    std::unique_ptr<Executor> e(new Executor(body, opset_, pool_, buffers_, registry_, this));
    Status st = e->prepare();
    if (!st) {
      subExecutors_.erase(&body);
      return std::move(st).in(fmt::format("subgraph \"{}\"", body.name()));
    }
    sub = std::move(e);
  }
  return sub.get();
}

void Executor::setObserver(TensorObserver obs) {
  observer_ = std::move(obs);
  observed_.reset();
}

void Executor::setObserver(TensorObserver obs, const std::vector<const Value*>& observed) {
  observer_ = std::move(obs);
  observed_ = std::make_unique<std::unordered_set<const Value*>>(observed.begin(), observed.end());
  observed_->erase(nullptr);
}

const TensorObserver& Executor::observer() const {
  const Executor* e = this;
  while (e->parent_) e = e->parent_;
  return e->observer_;
}

const std::unordered_set<const Value*>* Executor::observedValues() const {
  const Executor* e = this;
  while (e->parent_) e = e->parent_;
  return e->observed_.get();
}

Status checkInputAgainstType(const Value& input, const Tensor& t) {
  const TensorType& type = input.type();
  if (type.dtype != DType::Undefined && type.dtype != t.dtype())
    return Status::invalidArgument("input \"{}\": given {}, the model expects {} (element type {}, expected {})",
                                   input.name(), t.describe(), type.toString(), dtypeName(t.dtype()),
                                   dtypeName(type.dtype));
  if (type.shape) {
    const Shape& s = *type.shape;
    if (static_cast<int64_t>(s.size()) != t.rank())
      return Status::invalidArgument("input \"{}\": given {}, the model expects {} (rank {}, expected {})",
                                     input.name(), t.describe(), type.toString(), t.rank(), s.size());
    for (size_t i = 0; i < s.size(); ++i)
      if (s[i].isStatic() && s[i].value() != t.dims()[i])
        return Status::invalidArgument("input \"{}\": given {}, the model expects {} (dim {} is {}, expected {})",
                                       input.name(), t.describe(), type.toString(), i, t.dims()[i], s[i].value());
  }
  return Status::ok();
}

Expected<NamedTensors> Executor::run(const NamedTensors& inputs) {
  for (const auto& [name, t] : inputs) {
    bool known = false;
    for (const Value* v : graph_.inputs()) known |= v->name() == name;
    if (!known) {
      std::string names;
      for (const Value* v : graph_.inputs())
        if (!v->isInitializer()) names += (names.empty() ? "\"" : ", \"") + v->name() + "\"";
      return Status::invalidArgument("\"{}\" is not an input of the model (its inputs: {})", name,
                                     names.empty() ? "none" : names);
    }
  }
  std::vector<Tensor> ordered;
  ordered.reserve(graph_.inputs().size());
  for (const Value* v : graph_.inputs()) {
    auto it = inputs.find(v->name());
    if (it != inputs.end()) {
      ordered.push_back(it->second);
    } else if (v->isInitializer()) {
      ordered.push_back(Tensor());  // filled from the default
    } else {
      return Status::invalidArgument("missing input \"{}\": the model expects {}", v->name(), v->type().toString());
    }
  }
  NPU_ASSIGN_OR_RETURN(std::vector<Tensor> outs, runOrdered(ordered));
  NamedTensors result;
  for (size_t i = 0; i < outs.size(); ++i) result[graph_.outputs()[i]->name()] = std::move(outs[i]);
  return result;
}

Expected<std::vector<Tensor>> Executor::runOrdered(const std::vector<Tensor>& inputs) {
  if (inputs.size() != graph_.inputs().size())
    return Status::invalidArgument("the model has {} inputs, {} given", graph_.inputs().size(), inputs.size());
  symbols_.clear();
  std::map<std::string, std::string> symbolSource;  // symbol -> the input that sized it
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value* v = graph_.inputs()[i];
    if (!inputs[i].defined()) {
      if (v->isInitializer()) continue;
      return Status::invalidArgument("missing input \"{}\": the model expects {}", v->name(), v->type().toString());
    }
    NPU_TRY(checkInputAgainstType(*v, inputs[i]));
    if (!v->shape()) continue;
    for (size_t d = 0; d < v->shape()->size(); ++d) {
      const Dim& dim = (*v->shape())[d];
      if (!dim.isSymbolic()) continue;
      int64_t size = inputs[i].dims()[d];
      auto [it, inserted] = symbols_.emplace(dim.symbolName(), size);
      if (inserted) {
        symbolSource[dim.symbolName()] = v->name();
      } else if (it->second != size) {
        return Status::invalidArgument(
            "input \"{}\": given {}, the model expects {}, but dim \"{}\" is {} here and {} in input \"{}\"",
            v->name(), inputs[i].describe(), v->type().toString(), dim.symbolName(), size, it->second,
            symbolSource[dim.symbolName()]);
      }
    }
  }
  return execute(inputs, nullptr);
}

Expected<std::vector<Tensor>> Executor::execute(std::vector<Tensor> inputs, const Frame* parent) const {
  // Kernel outputs (and their temporaries on this thread) come from the buffer pool, which
  // keeps the blocks a top-level run used for the next one (subgraph runs are part of it).
  ScopedTensorAllocator scopedAllocator(buffers_.get());
  struct RunScope {
    BufferPool* pool;
    explicit RunScope(BufferPool* p) : pool(p) {
      if (pool) pool->beginRun();
    }
    ~RunScope() {
      if (pool) pool->endRun();
    }
    RunScope(const RunScope&) = delete;
    RunScope& operator=(const RunScope&) = delete;
  } runScope(parent ? nullptr : buffers_.get());
  std::vector<Tensor> slots(numSlots_);
  for (size_t i = 0; i < inputSlots_.size(); ++i) {
    const Value* v = graph_.inputs()[i];
    if (i < inputs.size() && inputs[i].defined()) {
      slots[inputSlots_[i]] = std::move(inputs[i]);
    } else if (v->isInitializer()) {
      slots[inputSlots_[i]] = Tensor::fromData(v->initializer());
    } else {
      return Status::invalidArgument("graph \"{}\": missing input \"{}\" ({})", graph_.name(), v->name(),
                                     v->type().toString());
    }
  }
  for (const auto& [slot, data] : constants_) slots[slot] = Tensor::fromData(data);

  Frame frame{&slots, parent};
  auto resolve = [&](const ValueRef& r) -> const Tensor* {
    if (r.depth == 0) return &slots[static_cast<size_t>(r.slot)];
    const Frame* f = parent;
    for (int d = 1; d < r.depth; ++d) f = f->parent;
    return &(*f->slots)[static_cast<size_t>(r.slot)];
  };
  SubgraphRunner runner = [this, &frame](const Graph& body,
                                         const std::vector<Tensor>& in) -> Expected<std::vector<Tensor>> {
    NPU_ASSIGN_OR_RETURN(Executor * sub, subExecutor(body));
    if (in.size() != body.inputs().size())
      return Status::invalidModel("subgraph \"{}\" takes {} inputs, {} given", body.name(), body.inputs().size(),
                                  in.size());
    return sub->execute(in, &frame);
  };
  const TensorObserver& obs = observer();
  const std::unordered_set<const Value*>* observed = obs ? observedValues() : nullptr;
  // An observer of every value sees each tensor the graph defines: nothing is fused away. One of
  // a few values keeps a fusion unless the fusion skips one of them (checked per step below).
  const bool fuse = !obs || observed;
  auto wanted = [&](const Value* v) { return v && (!observed || observed->count(v)); };
  std::vector<const Tensor*> in;
  std::vector<bool> unfused;  // steps a declined or observed fusion left to run after all
  auto runSkipped = [&](const Step& s) {
    if (unfused.empty()) unfused.assign(steps_.size(), false);
    for (size_t k : s.fusedSteps) unfused[k] = true;
  };
  // The step whose node produces a fused step's output 0: the last fused step's, or, for a fused
  // depthwise Conv that itself fuses its activation, that activation's.
  auto lastFused = [&](const Step& s) -> const Step& {
    const Step* l = &steps_[s.fusedSteps.back()];
    while (l->fusesActivation && !l->fusedSteps.empty()) l = &steps_[l->fusedSteps.back()];
    return *l;
  };
  using Clock = std::chrono::steady_clock;
  const bool timed = static_cast<bool>(timer_);
  std::vector<const Node*> fusedNodes;
  for (size_t si = 0; si < steps_.size(); ++si) {
    const Step& s = steps_[si];
    if (fuse && s.skippedWhenFused && (unfused.empty() || !unfused[si])) {  // computed by the producer's epilogue
      for (size_t r : s.releaseAfter) slots[r] = Tensor();
      continue;
    }
    in.clear();
    for (size_t k = 0; k < s.inputs.size(); ++k) {
      const ValueRef& r = s.inputs[k];
      if (r.slot < 0) {
        in.push_back(nullptr);
        continue;
      }
      const Tensor* t = resolve(r);
      if (!t->defined())
        return Status::internal("{}: input \"{}\" is not available (released too early?)", s.node->describe(),
                                s.node->operand(k)->name());
      in.push_back(t);
    }
    std::vector<Tensor> out(s.outputSlots.size());
    KernelContext ctx(*s.node, in, out, *pool_, opset_, &runner, &s.cache);
    const Clock::time_point t0 = timed ? Clock::now() : Clock::time_point();
    bool fused = fuse && s.fusesActivation;
    if (fused && observed)
      for (const Value* v : s.fusedAway)
        if (observed->count(v)) {
          fused = false;  // the observer needs a value the fusion would skip
          runSkipped(s);
          break;
        }
    if (fused) {
      FusedEpilogue fe = s.fused;
      if (s.residualRef.slot >= 0) fe.residual = resolve(s.residualRef);
      FusedEpilogueScope scope(&fe);
      NPU_TRY(runKernel(s.kernel, ctx));
      if (scope.declined()) {
        // The residual did not fit (not float32, other dims): run the skipped steps as usual.
        fused = false;
        runSkipped(s);
      } else if (!scope.taken()) {
        return Status::internal("{}: the kernel ignored its fused epilogue", s.node->describe());
      }
    } else {
      NPU_TRY(runKernel(s.kernel, ctx));
    }
    if (timed) {
      fusedNodes.clear();
      if (fused)
        for (size_t k : s.fusedSteps) {
          fusedNodes.push_back(steps_[k].node);
          if (steps_[k].fusesActivation)  // a fused depthwise Conv's own activation
            for (size_t j : steps_[k].fusedSteps) fusedNodes.push_back(steps_[j].node);
        }
      timer_(*s.node, fusedNodes, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    for (size_t i = 0; i < out.size(); ++i) {
      if (s.outputSlots[i] < 0) continue;
      if (!out[i].defined()) return Status::internal("{}: kernel produced no output {}", s.node->describe(), i);
      if (obs) {
        // A fused output is the last fused node's result.
        const Node& producer = fused && i == 0 ? *lastFused(s).node : *s.node;
        size_t result = fused && i == 0 ? 0 : i;
        if (wanted(producer.result(result))) obs(producer, result, out[i]);
      }
      size_t slot = static_cast<size_t>(fused && i == 0 ? s.fusedOutSlot : s.outputSlots[i]);
      slots[slot] = std::move(out[i]);
    }
    for (size_t r : s.releaseAfter) slots[r] = Tensor();
  }
  std::vector<Tensor> result;
  result.reserve(outputRefs_.size());
  for (size_t i = 0; i < outputRefs_.size(); ++i) {
    const Tensor* t = outputRefs_[i].slot >= 0 ? resolve(outputRefs_[i]) : nullptr;
    if (!t || !t->defined())
      return Status::internal("graph \"{}\": output \"{}\" is not available", graph_.name(),
                              graph_.outputs()[i] ? graph_.outputs()[i]->name() : std::string("?"));
    result.push_back(*t);
  }
  return result;
}

}  // namespace npuconv
