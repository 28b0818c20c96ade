// fold_constants.cc - fold-constants: evaluate nodes whose operands are all constant.
//
// Before: %s = Constant<value=[2,3]>()   %t = Mul(%s, %two)   %y = Reshape(%x, %t)
// After:  initializer %t = [4,6]                              %y = Reshape(%x, %t)
// Every node whose present operands are all constants runs in the reference executor on a
// one-node graph; its results become initializers (a result that is a graph output keeps its
// name). Constant nodes themselves become initializers, and Shape/Size of a value with a
// static shape become constants without running anything.
// Preconditions: deterministic ops only (no Random*, no training-mode Dropout), no subgraphs,
// a kernel for the op, and results of at most the cap (PassContext option
// "fold-constants.max-bytes", default 64 MiB); ops whose output size comes from their
// operands' values (ConstantOfShape, Expand, Tile, Range) are checked before running, with
// checked arithmetic (a shape of [2^62] is over the cap, not a wrapped small size).
// Quantized weights stay quantized: DequantizeLinear of an integer constant is how the IR holds
// an int8 weight (docs/quantization.md), and folding it would give back the float weight the
// quantizer replaced. QuantizeLinear of a float constant does fold (into the integer constant).
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "converter/exec/executor.h"
#include "passes/match.h"
#include "passes/passes.h"

namespace npuconv {
namespace {

constexpr int64_t kDefaultMaxBytes = 64ll << 20;

class FoldConstantsPass final : public Pass {
 public:
  std::string_view name() const override { return "fold-constants"; }

  Status run(Model& model, PassContext& ctx) override {
    int64_t maxBytes = kDefaultMaxBytes;
    if (std::string o = ctx.option("fold-constants.max-bytes"); !o.empty()) {
      char* end = nullptr;
      maxBytes = std::strtoll(o.c_str(), &end, 10);
      if (!end || *end || maxBytes < 0)
        return Status::invalidArgument("fold-constants.max-bytes: \"{}\" is not a byte count", o);
    }
    int64_t opset = model.opsetVersion("");
    for (Graph* g : m::allGraphs(model))
      for (Node* n : g->nodeList()) NPU_TRY(fold(*g, n, opset, maxBytes, ctx));
    return Status::ok();
  }

 private:
  /// Bytes of `count` elements of `t` (at least one byte each: strings, unknown dtypes), nullopt
  /// past int64: the size cap must see a shape of [2^62] as huge, not as a wrapped small number.
  static std::optional<int64_t> bytesOf(std::optional<int64_t> count, DType t) {
    return count ? checkedByteSize(*count, std::max<size_t>(dtypeSize(t), 1)) : std::nullopt;
  }

  /// Bytes of the largest result we can predict from constant operands (0 when there is nothing
  /// to predict), or nullopt when unknown or too large to count.
  static std::optional<int64_t> predictedBytes(const Node& n) {
    auto ints = [&](size_t i) { return m::constInts(n.operand(i)); };
    if (n.is("ConstantOfShape")) {
      auto s = ints(0);
      return s ? bytesOf(checkedElementCount(*s), DType::F64) : std::nullopt;
    }
    if (n.is("Expand") || n.is("Tile")) {
      auto s = ints(1);
      auto d = m::staticDims(n.operand(0));
      if (!s || !d) return std::nullopt;
      // An upper bound for both: every input dim times every repeat / target dim.
      std::vector<int64_t> factors = *d;
      for (int64_t v : *s) factors.push_back(std::max<int64_t>(v, 1));
      return bytesOf(checkedElementCount(factors), n.operand(0)->dtype());
    }
    if (n.is("Range")) {
      auto s = m::constScalar(n.operand(0)), l = m::constScalar(n.operand(1)), d = m::constScalar(n.operand(2));
      if (!s || !l || !d || *d == 0) return std::nullopt;
      double count = std::max(0.0, std::ceil((*l - *s) / *d));
      if (!(count < 0x1p62)) return std::nullopt;  // also NaN; converting a larger double is UB
      return bytesOf(static_cast<int64_t>(count), DType::F64);
    }
    return 0;
  }

  void replaceWithConstant(Graph& g, Node* n, size_t i, TensorRef data) {
    Value* r = n->result(i);
    if (!r) return;
    std::string name = r->name();
    Value* c = g.addInitializer(g.uniqueName(name + "_const"), std::move(data));
    m::replaceValue(g, r, c);
    if (c->name() != name) {  // the constant keeps the folded value's name
      g.renameValue(r, g.uniqueName(name + "_folded"));
      g.renameValue(c, name);
    }
  }

  Status fold(Graph& g, Node* n, int64_t opset, int64_t maxBytes, PassContext& ctx) {
    if (n->is("Constant")) {
      TensorRef t = m::constTensor(n->result(0));
      if (!t) return Status::ok();  // sparse_value: kept as written
      replaceWithConstant(g, n, 0, t);
      g.eraseNode(n);
      ++ctx.stat("fold-constants.constant-nodes");
      return Status::ok();
    }
    if ((n->is("Shape") || n->is("Size")) && n->operand(0) && !m::isConstant(n->operand(0))) {
      auto dims = m::staticDims(n->operand(0));
      if (!dims) return Status::ok();
      if (n->is("Size")) {
        std::optional<int64_t> count = checkedElementCount(*dims);
        if (!count) return m::notMatched(ctx, name(), *n, "element count over int64"), Status::ok();
        replaceWithConstant(g, n, 0, std::make_shared<TensorData>(TensorData::fromValues<int64_t>(DType::I64, {}, std::span<const int64_t>(&*count, 1))));
      } else {
        int64_t r = static_cast<int64_t>(dims->size());
        int64_t start = n->attrs().getInt("start", 0), end = n->attrs().getInt("end", r);
        if (start < 0) start += r;
        if (end < 0) end += r;
        start = std::clamp<int64_t>(start, 0, r);
        end = std::clamp<int64_t>(end, start, r);
        std::vector<int64_t> part(dims->begin() + start, dims->begin() + end);
        replaceWithConstant(g, n, 0, std::make_shared<TensorData>(m::i64Tensor(part)));
      }
      g.eraseNode(n);
      ++ctx.stat("fold-constants.shapes");
      return Status::ok();
    }
    if (n->numOperands() == 0 && !n->is("ConstantOfShape")) return Status::ok();  // generators
    std::vector<TensorRef> operands;
    for (Value* v : n->operands()) {
      TensorRef t = v ? m::constTensor(v) : nullptr;
      if (v && !t) return Status::ok();  // not foldable: the common case, not worth a reason
      operands.push_back(t);
    }
    if (n->is("DequantizeLinear") && operands[0] && isInteger(operands[0]->dtype()))
      return m::notMatched(ctx, name(), *n, "quantized weight (DequantizeLinear of an integer constant)"), Status::ok();
    if (m::isNondeterministic(*n)) return m::notMatched(ctx, name(), *n, "nondeterministic op"), Status::ok();
    if (!n->subgraphs().empty()) return m::notMatched(ctx, name(), *n, "has subgraphs"), Status::ok();
    if (!KernelRegistry::global().supports(n->domain(), n->opType()))
      return m::notMatched(ctx, name(), *n, "no kernel"), Status::ok();
    for (const TensorRef& t : operands)
      if (t && static_cast<int64_t>(t->byteSize()) > maxBytes)
        return m::notMatched(ctx, name(), *n, "operand over the size cap"), Status::ok();
    for (Value* r : n->results())
      if (r && r->type().hasStaticShape()) {
        auto declared = bytesOf(checkedElementCount(npuconv::staticDims(*r->type().shape)), r->dtype());
        if (!declared || *declared > maxBytes)
          return m::notMatched(ctx, name(), *n, "declared result over the size cap"), Status::ok();
      }
    std::optional<int64_t> predicted = predictedBytes(*n);
    if (!predicted || *predicted > maxBytes)
      return m::notMatched(ctx, name(), *n, "result size unknown or over the cap"), Status::ok();

    // One-node graph: constants as initializers, the node, its results as outputs.
    Graph one("fold");
    std::vector<Value*> ins;
    for (size_t i = 0; i < operands.size(); ++i)
      ins.push_back(operands[i] ? one.addInitializer("in" + std::to_string(i), operands[i]) : nullptr);
    std::vector<std::optional<std::string>> resultNames;
    for (size_t i = 0; i < n->numResults(); ++i)
      resultNames.push_back(n->result(i) ? std::optional<std::string>("out" + std::to_string(i)) : std::nullopt);
    Node* copy = one.createNodeWithResults(n->opType(), n->domain(), n->name(), ins, resultNames);
    copy->mutableAttrs() = n->attrs();
    for (Value* r : copy->results())
      if (r) one.addOutput(r);
    auto exec = Executor::create(one, opset, ExecOptions{1, nullptr});
    if (!exec) return m::notMatched(ctx, name(), *n, exec.status().message()), Status::ok();
    auto outs = (*exec)->runOrdered({});
    if (!outs) return m::notMatched(ctx, name(), *n, outs.status().message()), Status::ok();
    for (const Tensor& t : *outs)
      if (static_cast<int64_t>(t.byteSize()) > maxBytes)
        return m::notMatched(ctx, name(), *n, "result over the size cap"), Status::ok();
    size_t k = 0;
    for (size_t i = 0; i < n->numResults(); ++i)
      if (n->result(i)) {
        replaceWithConstant(g, n, i, (*outs)[k++].toData());
      }
    g.eraseNode(n);
    ++ctx.stat("fold-constants.folded");
    return Status::ok();
  }
};

}  // namespace

std::unique_ptr<Pass> createFoldConstantsPass() { return std::make_unique<FoldConstantsPass>(); }

}  // namespace npuconv
