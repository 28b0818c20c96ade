// convert_layout_nhwc.cc - convert-layout-nhwc: run conv regions in NHWC.
//
// Before: %y = Conv(%x, W[M,C/g,kH,kW], b)  %r = Relu(%y)  %z = MaxPool(%r)   (NCHW)
// After:  %xh = Transpose(%x, [0,2,3,1])
//         %yh = ai.npuconv.nhwc.Conv(%xh, W'[M,kH,kW,C/g], b)  %rh = Relu(%yh)
//         %zh = ai.npuconv.nhwc.MaxPool(%rh)  %z = Transpose(%zh, [0,3,1,2])
// Algebra: every op with an NHWC twin (passes/layout/nhwc.h) is wrapped as
// Transpose(to NHWC) -> twin -> Transpose(to NCHW); then each to-NCHW Transpose is pushed down
// through layout-agnostic ops, which then run on the NHWC tensor:
//   unary elementwise (other operands scalar constants);
//   broadcasting elementwise ops whose other operands are NHWC tensors of the region
//   (produced by a to-NCHW Transpose), rank-4 tensors that have a to-NHWC Transpose already
//   (it is shared, so no Transpose is added), rank-0 values or constants of rank <= 4
//   (permuted the same way, leading 1s dropped: a per-channel [C,1,1] becomes [C]);
//   Concat (axis remapped; constant operands permuted), Split, Softmax/LogSoftmax/Hardmax
//   (opset >= 13), Reduce* with keepdims=1 (axes remapped);
//   Flatten (axis 0 or 1) and Reshape (no 0 entry past the first) of a tensor whose H and W
//   are 1 (after a global pool, or known from the static shape): both layouts have the same
//   bytes then, so they read the NHWC tensor directly and no Transpose is left.
// Then fold-transpose-chains cancels every to-NHWC/to-NCHW pair, so Transposes remain only
// at region boundaries. Nothing is reordered or recomputed differently: the NHWC kernels run
// the NCHW arithmetic (converter/exec/kernels/nn_nhwc.cc), so results are identical.
// With option io-layout=nhwc, rank-4 graph inputs that enter a region and graph outputs that
// leave one become NHWC (their declared shapes change, their names stay), so a pure CNN has
// no Transpose at its edges.
// Options: "layout" (nhwc | nchw; nchw turns the pass off), else "target.layout" (set by
// target profiles), else nhwc; "io-layout" (nchw default | nhwc).
// Preconditions: the main graph only (subgraphs keep NCHW); rank-4 data (Conv with a rank-4
// weight, 2-D pools); MaxPool without a used Indices output; BatchNormalization with only its
// first output used; no region is formed when no op converts (the model is left untouched).
// Provenance: twins and re-created elementwise nodes keep the node's name and provenance, so
// fusion groups stay valid; inserted Transposes carry the provenance of the op they serve.
#include <algorithm>
#include <array>
#include <unordered_map>
#include <unordered_set>

#include "passes/layout/nhwc.h"
#include "passes/match.h"
#include "passes/passes.h"

namespace npuconv {
namespace {

using nhwc::kToNchw;
using nhwc::kToNhwc;

constexpr std::string_view kPass = "convert-layout-nhwc";

bool inList(std::string_view op, std::initializer_list<std::string_view> ops) {
  return std::find(ops.begin(), ops.end(), op) != ops.end();
}

bool isUnary(std::string_view op) {
  return inList(op, {"Abs", "Acos", "Asin", "Atan", "Cast", "Ceil", "Celu", "Clip", "Cos", "Cosh", "Elu", "Erf", "Exp",
                     "Floor", "Gelu", "HardSigmoid", "HardSwish", "Identity", "IsInf", "IsNaN", "LeakyRelu", "Log",
                     "Mish", "Neg", "Not", "Reciprocal", "Relu", "Round", "Selu", "Sigmoid", "Sign", "Sin", "Sinh",
                     "Softplus", "Softsign", "Sqrt", "Tan", "Tanh", "ThresholdedRelu"});
}

bool isBroadcast(std::string_view op) {
  return inList(op, {"Add", "And", "BitShift", "Div", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual",
                     "Max", "Mean", "Min", "Mod", "Mul", "Or", "Pow", "PRelu", "Sub", "Sum", "Where", "Xor"});
}

bool isReduce(std::string_view op) {
  return inList(op, {"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
                     "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare"});
}

/// NCHW axis -> the same axis's position in NHWC.
int64_t nhwcAxis(int64_t a) {
  if (a < 0) a += 4;
  static constexpr std::array<int64_t, 4> kPos = {0, 3, 1, 2};
  return (a >= 0 && a < 4) ? kPos[static_cast<size_t>(a)] : -1;
}

class ConvertLayoutNhwcPass final : public Pass {
 public:
  std::string_view name() const override { return kPass; }

  Status run(Model& model, PassContext& ctx) override {
    std::string layout = ctx.option("layout", ctx.option("target.layout", "nhwc"));
    if (layout == "nchw") return Status::ok();
    if (layout != "nhwc") return Status::invalidArgument("{}: option layout \"{}\" (expected nchw or nhwc)", kPass, layout);
    std::string io = ctx.option("io-layout", "nchw");
    if (io != "nchw" && io != "nhwc")
      return Status::invalidArgument("{}: option io-layout \"{}\" (expected nchw or nhwc)", kPass, io);
    model_ = &model;
    weightOf_.clear();
    moved_ = false;
    ctx_ = &ctx;
    g_ = model.graph.get();
    inferRanks();
    int64_t converted = 0;
    for (Node* n : g_->nodeList())
      if (n->domain().empty() && nhwc::hasNhwcTwin(n->opType()) && convertible(*n)) {
        convert(n);
        ++converted;
      }
    if (converted == 0) return Status::ok();
    ctx.stat("convert-layout-nhwc.converted") += converted;
    for (int round = 0; round < 4; ++round) {
      bool pushed = false;
      for (Node* n : g_->nodeList())
        if (n->domain().empty() && !n->is("Transpose") && push(n)) pushed = true;
      NPU_TRY(foldTransposes());
      if (!pushed) break;
    }
    if (moved_ && !g_->topologicalSort()) return Status::internal("{}: the rewrite left a cycle", kPass);
    if (io == "nhwc") {
      convertInterface();
      NPU_TRY(foldTransposes());
    }
    nhwc::syncOpsetImport(model);
    int64_t left = 0;
    for (const Node* n : g_->nodes()) left += n->is("Transpose");
    ctx.stat("convert-layout-nhwc.transposes-left") = left;
    return Status::ok();
  }

 private:
  // --- ranks ---------------------------------------------------------------------------------
  /// Ranks of values whose declared type has none, inferred forward through the ops we touch.
  void inferRanks() {
    rank_.clear();
    for (Node* n : g_->nodes()) {
      std::optional<int64_t> r;
      auto in0 = [&] { return rank(n->operand(0)); };
      const std::string& op = n->opType();
      if (!n->domain().empty()) continue;
      if (op == "Conv") {
        r = rank(n->operand(1));
      } else if (op == "MaxPool" || op == "AveragePool" || op == "LpPool") {
        auto k = n->attrs().getInts("kernel_shape");
        if (!k.empty()) r = static_cast<int64_t>(k.size()) + 2;
      } else if (op == "Transpose") {
        auto p = n->attrs().getInts("perm");
        r = p.empty() ? in0() : std::optional<int64_t>(static_cast<int64_t>(p.size()));
      } else if (op == "Flatten") {
        r = 2;
      } else if (op == "Reshape") {
        if (auto s = m::staticDims(n->operand(1)); s && s->size() == 1) r = (*s)[0];
      } else if (isUnary(op) || nhwc::hasNhwcTwin(op) || op == "Softmax" || op == "LogSoftmax" || op == "Concat" ||
                 op == "Dropout" || op == "Split" || (isReduce(op) && n->attrs().getInt("keepdims", 1) == 1)) {
        r = in0();
      } else if (isBroadcast(op)) {
        int64_t best = 0;
        for (Value* v : n->operands()) {
          auto rv = rank(v);
          if (!v || !rv) {
            best = -1;
            break;
          }
          best = std::max(best, *rv);
        }
        if (best >= 0) r = best;
      }
      if (!r) continue;
      for (Value* v : n->results())
        if (v && !v->shape()) rank_[v] = *r;
      if (op == "MaxPool" || op == "BatchNormalization")  // only result 0 has the input's rank
        for (size_t i = 1; i < n->numResults(); ++i)
          if (n->result(i)) rank_.erase(n->result(i));
    }
  }
  std::optional<int64_t> rank(const Value* v) const {
    if (!v) return std::nullopt;
    if (auto r = m::rankOf(v)) return r;
    auto it = rank_.find(v);
    if (it != rank_.end()) return it->second;
    return std::nullopt;
  }

  /// `t`, with rank 4 (dims unknown) when its rank is unknown: what every value we touch has.
  static TensorType rank4(TensorType t) {
    if (!t.shape) t.shape = Shape(4);
    return t;
  }

  // --- conversion ----------------------------------------------------------------------------
  bool extraResultsUnused(const Node& n) const {
    for (size_t i = 1; i < n.numResults(); ++i)
      if (Value* r = n.result(i); r && (r->hasUses() || r->isGraphOutput())) return false;
    return true;
  }

  bool convertible(const Node& n) {
    Value* x = n.operand(0);
    if (!x || !n.result(0)) return m::notMatched(*ctx_, kPass, n, "no data input or output");
    std::optional<int64_t> r = rank(x);
    if (n.is("Conv")) r = rank(n.operand(1));  // the weight's rank is the data's
    if ((n.is("MaxPool") || n.is("AveragePool")) && n.attrs().has("kernel_shape"))
      r = static_cast<int64_t>(n.attrs().getInts("kernel_shape").size()) + 2;
    if (r != 4) return m::notMatched(*ctx_, kPass, n, "data rank not known to be 4");
    if (x->dtype() == DType::String) return m::notMatched(*ctx_, kPass, n, "string data");
    if (!extraResultsUnused(n)) return m::notMatched(*ctx_, kPass, n, "a second output is used");
    return true;
  }

  /// An existing to-NHWC Transpose of `v` in the main graph, or null.
  Value* existingNhwc(const Value* v) const {
    for (const Use& u : v->uses())
      if (u.user->graph() == g_ && nhwc::isTransposeWith(u.user, kToNhwc)) return u.user->result(0);
    return nullptr;
  }
  /// The NHWC twin of `v` for the consumer `user`: one Transpose per value.
  Value* toNhwc(Value* v, Node* user) {
    if (Value* t = existingNhwc(v)) return t;
    return nhwc::addTranspose(*g_, v, kToNhwc, user, user, "_to_nhwc");
  }

  void convert(Node* n) {
    std::vector<Value*> operands = n->operands();
    operands[0] = toNhwc(n->operand(0), n);
    Value* oldWeight = nullptr;
    if (n->is("Conv")) {
      Value* w = n->operand(1);
      if (auto it = weightOf_.find(w); it != weightOf_.end()) {
        operands[1] = it->second;
      } else if (TensorRef c = m::constTensor(w); c && c->dtype() != DType::String) {
        operands[1] = weightOf_[w] = m::addConstant(*g_, w->name() + "_ohwi", nhwc::permute(*c, kToNhwc));
        oldWeight = w;
      } else {
        operands[1] = nhwc::addTranspose(*g_, w, kToNhwc, n, n, "_weight_ohwi");
      }
    }
    Node* t = g_->createNode(n->opType(), operands, 1, n, n->name(), std::string(nhwc::kDomain));
    t->mutableAttrs() = n->attrs();
    t->setProvenance(n->provenance());
    t->setDocString(n->docString());
    t->result(0)->setType(nhwc::permuteType(n->result(0)->type(), kToNhwc));
    Value* back = nhwc::addTranspose(*g_, t->result(0), kToNchw, n, n, "_to_nchw");
    back->setType(rank4(n->result(0)->type()));
    m::replaceValue(*g_, n->result(0), back);
    g_->eraseNode(n);
    if (oldWeight && oldWeight->isInitializer() && !oldWeight->hasUses() && !oldWeight->isGraphOutput())
      g_->eraseInitializer(oldWeight);
  }

  // --- pushing to-NCHW Transposes down -------------------------------------------------------
  /// The NHWC tensor behind `v` when `v` is a to-NCHW Transpose's result.
  static Value* behind(const Value* v) {
    Node* p = v ? v->producer() : nullptr;
    return nhwc::isTransposeWith(p, kToNchw) ? p->operand(0) : nullptr;
  }

  /// A constant broadcast against an NCHW rank-4 tensor, rewritten for the NHWC one: padded to
  /// rank 4 with leading 1s, permuted, leading 1s dropped again. Null when not possible.
  Value* permutedConstant(Value* v) {
    TensorRef c = m::constTensor(v);
    if (!c || c->dtype() == DType::String || c->rank() > 4) return nullptr;
    if (c->numElements() == 1) return v;  // a scalar broadcasts the same in any layout
    std::vector<int64_t> dims(4 - static_cast<size_t>(c->rank()), 1);
    dims.insert(dims.end(), c->dims().begin(), c->dims().end());
    TensorData padded(c->dtype(), dims, c->buffer());
    TensorData p = nhwc::permute(padded, kToNhwc);
    std::vector<int64_t> pd = p.dims();
    while (pd.size() > 1 && pd.front() == 1) pd.erase(pd.begin());
    return m::addConstant(*g_, v->name() + "_nhwc", TensorData(p.dtype(), pd, p.buffer()));
  }

  /// Whether `x` (NHWC) has H = W = 1.
  static bool spatialOne(const Value* x) {
    const Node* p = x->producer();
    if (p && nhwc::isNhwcNode(*p) && (p->opType() == "GlobalAveragePool" || p->opType() == "GlobalMaxPool")) return true;
    auto d = m::staticDims(x);
    return d && d->size() == 4 && (*d)[1] == 1 && (*d)[2] == 1;
  }

  /// Replaces `n` by the same op on NHWC operands and a to-NCHW Transpose after each result.
  void recreate(Node* n, const std::vector<Value*>& operands, const AttrMap& attrs) {
    Node* t = g_->createNode(n->opType(), operands, n->numResults(), n, n->name(), n->domain());
    t->mutableAttrs() = attrs;
    t->setProvenance(n->provenance());
    t->setDocString(n->docString());
    for (size_t i = 0; i < n->numResults(); ++i) {
      Value* old = n->result(i);
      t->result(i)->setType(nhwc::permuteType(old->type(), kToNhwc));
      Value* back = nhwc::addTranspose(*g_, t->result(i), kToNchw, n, n, "_to_nchw");
      back->setType(rank4(old->type()));
      m::replaceValue(*g_, old, back);
    }
    // An operand may appear twice (Add(x, x)); erasing its Transpose once frees it.
    std::vector<Value*> before = n->operands();
    std::sort(before.begin(), before.end());
    before.erase(std::unique(before.begin(), before.end()), before.end());
    g_->eraseNode(n);
    for (Value* v : before) eraseIfDeadTranspose(v);
    ++ctx_->stat("convert-layout-nhwc.pushed");
  }

  void eraseIfDeadTranspose(Value* v) {
    if (!v || v->hasUses() || v->isGraphOutput() || !v->producer() || !v->producer()->is("Transpose")) return;
    if (v->producer()->graph() == g_) g_->eraseNode(v->producer());
  }

  bool push(Node* n) {
    const std::string& op = n->opType();
    for (Value* r : n->results())
      if (!r) return false;  // absent optional outputs: keep the op as it is
    AttrMap attrs = n->attrs();
    std::vector<Value*> operands = n->operands();
    if (isUnary(op)) {
      Value* x = behind(n->operand(0));
      if (!x || n->numResults() != 1) return false;
      for (size_t i = 1; i < operands.size(); ++i)
        if (operands[i] && !m::constScalar(operands[i])) return false;
      operands[0] = x;
      recreate(n, operands, attrs);
      return true;
    }
    if (isBroadcast(op) || op == "Concat") {
      bool any = false;
      std::vector<Value*> added;
      auto undo = [&] {
        for (Value* v : added)
          if (!v->hasUses()) g_->eraseInitializer(v);
        return false;
      };
      for (Value*& v : operands) {
        if (!v) continue;
        if (Value* x = behind(v)) {
          v = x;
          any = true;
        } else if (op != "Concat" && rank(v) == 0) {
          continue;
        } else if (Value* t = rank(v) == 4 ? existingNhwc(v) : nullptr) {
          v = t;  // an NHWC copy exists already (its Transpose may move up: see run())
          moved_ = true;
        } else if (Value* c = permutedConstant(v)) {
          if (op == "Concat" && m::rankOf(v) != 4) return undo();
          if (c != v) added.push_back(c);
          v = c;
        } else {
          return undo();
        }
      }
      if (!any || n->numResults() != 1) return undo();
      if (auto r = rank(n->result(0)); r && *r != 4) return undo();
      if (op == "Concat") {
        int64_t a = nhwcAxis(attrs.getInt("axis", 1));
        if (a < 0) return undo();
        attrs.set<int64_t>("axis", a);
      }
      recreate(n, operands, attrs);
      return true;
    }
    if (op == "Split" || op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") {
      Value* x = behind(n->operand(0));
      if (!x) return false;
      if (op != "Split" && model_->opsetVersion("") < 13) return false;  // older: 2-D coercion
      int64_t a = nhwcAxis(attrs.getInt("axis", op == "Split" ? 0 : -1));
      if (a < 0) return false;
      attrs.set<int64_t>("axis", a);
      operands[0] = x;
      recreate(n, operands, attrs);
      return true;
    }
    if (isReduce(op)) {
      Value* x = behind(n->operand(0));
      if (!x || attrs.getInt("keepdims", 1) != 1 || n->numResults() != 1) return false;
      m::IntsArg axes = m::intsFromAttrOrInput(*n, "axes", 1);
      if (axes.present && !axes.values) return false;
      operands[0] = x;
      if (axes.present) {
        std::vector<int64_t> mapped;
        for (int64_t a : *axes.values) {
          int64_t b = nhwcAxis(a);
          if (b < 0) return false;
          mapped.push_back(b);
        }
        if (attrs.has("axes")) attrs.set<std::vector<int64_t>>("axes", mapped);
        else operands[1] = m::addConstant(*g_, n->operand(1)->name() + "_nhwc", m::i64Tensor(mapped));
      }
      recreate(n, operands, attrs);
      return true;
    }
    if (op == "Flatten" || op == "Reshape") {
      Value* x = behind(n->operand(0));
      if (!x || !spatialOne(x)) return false;
      if (op == "Flatten") {
        int64_t axis = attrs.getInt("axis", 1);
        if (axis != 0 && axis != 1 && axis != -4 && axis != -3) return false;
      } else {
        auto shape = m::constInts(n->operand(1));
        if (!shape) return false;
        for (size_t i = 1; i < shape->size(); ++i)
          if ((*shape)[i] == 0) return false;  // copies an input dim, which differs by layout
      }
      Value* old = n->operand(0);
      n->setOperand(0, x);
      eraseIfDeadTranspose(old);
      ++ctx_->stat("convert-layout-nhwc.pushed");
      return true;
    }
    return false;
  }

  Status foldTransposes() {
    std::unique_ptr<Pass> fold = createFoldTransposeChainsPass();
    NPU_TRY(fold->run(*model_, *ctx_));
    for (Node* n : g_->nodeList())
      if (n->is("Transpose")) eraseIfDeadTranspose(n->result(0));
    return Status::ok();
  }

  // --- graph interface -----------------------------------------------------------------------
  void convertInterface() {
    Node* first = g_->numNodes() ? *g_->nodes().begin() : nullptr;
    for (Value* x : g_->inputs()) {
      if (x->isInitializer() || x->isGraphOutput() || rank(x) != 4) continue;
      bool entersRegion = false;
      for (const Use& u : x->uses()) entersRegion |= nhwc::isTransposeWith(u.user, kToNhwc);
      if (!entersRegion) continue;
      TensorType nchw = x->type();
      std::vector<Use> uses = x->uses();
      Value* back = nhwc::addTranspose(*g_, x, kToNchw, first, nullptr, "_input_to_nchw");
      back->setType(nchw);
      for (const Use& u : uses) u.user->setOperand(u.operand, back);
      x->setType(nhwc::permuteType(nchw, kToNhwc));
      ++ctx_->stat("convert-layout-nhwc.nhwc-inputs");
    }
    for (size_t i = 0; i < g_->outputs().size(); ++i) {
      Value* y = g_->outputs()[i];
      Value* x = behind(y);
      if (!x || !m::canTakeOver(y, x)) continue;
      TensorType t = nhwc::permuteType(y->type(), kToNhwc);
      Node* tr = y->producer();
      m::replaceValue(*g_, y, x);
      x->setType(t);
      eraseIfDeadTranspose(tr->result(0));
      ++ctx_->stat("convert-layout-nhwc.nhwc-outputs");
    }
  }

  Model* model_ = nullptr;
  PassContext* ctx_ = nullptr;
  Graph* g_ = nullptr;
  std::unordered_map<const Value*, int64_t> rank_;
  std::unordered_map<Value*, Value*> weightOf_;
  bool moved_ = false;  // an operand now reads a Transpose that may come later in node order  // constant OIHW weight -> its OHWI copy
};

}  // namespace

std::unique_ptr<Pass> createConvertLayoutNhwcPass() { return std::make_unique<ConvertLayoutNhwcPass>(); }

}  // namespace npuconv
