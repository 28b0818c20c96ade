// fold_conv_bn.cc - fold-conv-bn: fold inference BatchNormalization into the linear op before it.
//
// Before: %y = Conv(%x, %W, %b?)    %z = BatchNormalization(%y, %s, %beta, %m, %v)
// After:  %z = Conv(%x, %W', %b')
//   k  = s / sqrt(v + eps)              per channel c (axis 1 of %y), in double
//   W' = W * k along the output-channel axis:  Conv [O, I/g, ...]: axis 0;
//        ConvTranspose [I, O/g, ...]: W'[i, j] *= k[(i / (I/g)) * (O/g) + j];
//        Gemm B [K, N] (transB: [N, K]): the N axis;   MatMul B [K, N]: axis 1
//   b' = b * k + (beta - m * k)         b = 0 when absent; Gemm: C' = beta_gemm * C * k + ...
// MatMul becomes Gemm(A, B', b') (rank 2 only: BatchNormalization's channel axis is 1).
// Preconditions: BatchNormalization in inference mode (training_mode 0, spatial 1) with its
// extra outputs unused; s, beta, m, v, the weight (and bias) constant; %y private (one use,
// not a graph output); f32 weight; channel counts agree. New weights are new initializers:
// a weight shared with another node is not changed.
#include <cmath>

#include "passes/match.h"
#include "passes/passes.h"

namespace npuconv {
namespace {

struct BnView {
  std::vector<double> k, shift;  // z = y * k + shift, per channel
  static std::optional<BnView> from(const Node& bn, std::string_view& why) {
    if (bn.attrs().getInt("training_mode", 0) != 0 || bn.attrs().getInt("spatial", 1) != 1) {
      why = "training mode or non-spatial BatchNormalization";
      return std::nullopt;
    }
    for (size_t i = 1; i < bn.numResults(); ++i)
      if (Value* r = bn.result(i); r && (r->hasUses() || r->isGraphOutput())) {
        why = "running statistics outputs are used";
        return std::nullopt;
      }
    auto s = m::constDoubles(bn.operand(1)), beta = m::constDoubles(bn.operand(2)),
         mean = m::constDoubles(bn.operand(3)), var = m::constDoubles(bn.operand(4));
    if (!s || !beta || !mean || !var) {
      why = "statistics not constant";
      return std::nullopt;
    }
    size_t c = s->size();
    if (beta->size() != c || mean->size() != c || var->size() != c) {
      why = "statistics lengths differ";
      return std::nullopt;
    }
    double eps = bn.attrs().getFloat("epsilon", 1e-5f);
    BnView v;
    for (size_t i = 0; i < c; ++i) {
      double k = (*s)[i] / std::sqrt((*var)[i] + eps);
      v.k.push_back(k);
      v.shift.push_back((*beta)[i] - (*mean)[i] * k);
    }
    return v;
  }
};

class FoldConvBnPass final : public Pass {
 public:
  std::string_view name() const override { return "fold-conv-bn"; }

  Status run(Model& model, PassContext& ctx) override {
    for (Graph* g : m::allGraphs(model))
      for (Node* bn : g->nodeList())
        if (bn->is("BatchNormalization")) tryFold(*g, bn, ctx);
    return Status::ok();
  }

 private:
  bool tryFold(Graph& g, Node* bn, PassContext& ctx) {
    Value* y = bn->operand(0);
    Node* p = y ? y->producer() : nullptr;
    if (!p || !p->domain().empty() ||
        !(p->opType() == "Conv" || p->opType() == "ConvTranspose" || p->opType() == "Gemm" || p->opType() == "MatMul"))
      return m::notMatched(ctx, name(), *bn, "input is not produced by Conv, ConvTranspose, Gemm or MatMul");
    if (!m::isPrivate(y)) return m::notMatched(ctx, name(), *bn, "input has other uses");
    std::string_view why;
    auto st = BnView::from(*bn, why);
    if (!st) return m::notMatched(ctx, name(), *bn, why);
    bool isGemm = p->is("Gemm") || p->is("MatMul");
    Value* wv = p->operand(1);
    TensorRef w = m::constTensor(wv);
    if (!w || w->dtype() != DType::F32) return m::notMatched(ctx, name(), *bn, "weight not a constant f32");
    const std::vector<int64_t>& wd = w->dims();
    size_t channels = st->k.size();
    std::vector<double> wf = *m::constDoubles(wv);
    std::vector<double> bias(channels, 0.0);

    if (!isGemm) {
      if (wd.size() < 3) return m::notMatched(ctx, name(), *bn, "weight rank below 3");
      int64_t group = p->attrs().getInt("group", 1);
      int64_t inner = elementCount(std::vector<int64_t>(wd.begin() + 2, wd.end()));
      bool transposed = p->is("ConvTranspose");
      int64_t outCh = transposed ? wd[1] * group : wd[0];
      if (outCh != static_cast<int64_t>(channels)) return m::notMatched(ctx, name(), *bn, "channel count mismatch");
      if (Value* b = p->operand(2)) {
        auto bd = m::constDoubles(b);
        if (!bd || bd->size() != channels) return m::notMatched(ctx, name(), *bn, "bias not constant");
        bias = *bd;
      }
      int64_t inPerGroup = transposed ? wd[0] / group : 0, outPerGroup = transposed ? wd[1] : 0;
      for (int64_t a = 0; a < wd[0]; ++a)
        for (int64_t j = 0; j < wd[1]; ++j) {
          size_t c = static_cast<size_t>(transposed ? (a / inPerGroup) * outPerGroup + j : a);
          for (int64_t e = 0; e < inner; ++e) wf[static_cast<size_t>((a * wd[1] + j) * inner + e)] *= st->k[c];
        }
      for (size_t c = 0; c < channels; ++c) bias[c] = bias[c] * st->k[c] + st->shift[c];
      Value* nw = m::addConstant(g, wv->name() + "_bn", m::f32Tensor(wd, wf));
      Value* nb = m::addConstant(g, wv->name() + "_bn_bias", m::f32Tensor({static_cast<int64_t>(channels)}, bias));
      p->setOperand(1, nw);
      if (p->numOperands() > 2) p->setOperand(2, nb);
      else p->addOperand(nb);
    } else {
      if (wd.size() != 2) return m::notMatched(ctx, name(), *bn, "B is not 2-D");
      bool transB = p->is("Gemm") && p->attrs().getInt("transB", 0) != 0;
      int64_t n = transB ? wd[0] : wd[1], kdim = transB ? wd[1] : wd[0];
      if (n != static_cast<int64_t>(channels)) return m::notMatched(ctx, name(), *bn, "channel count mismatch");
      if (p->is("MatMul")) {
        auto ra = m::rankOf(p->operand(0));
        auto ry = m::rankOf(y);
        if (!(ra == 2 || ry == 2)) return m::notMatched(ctx, name(), *bn, "MatMul rank not known to be 2");
      }
      // C' as [rows, N]: rows 1 unless C has a leading dim of its own.
      std::vector<int64_t> cd = {1, n};
      std::vector<double> cf(static_cast<size_t>(n), 0.0);
      if (Value* c = p->is("Gemm") ? p->operand(2) : nullptr) {
        auto cv = m::constDoubles(c);
        auto dims = m::staticDims(c);
        if (!cv || !dims || dims->size() > 2) return m::notMatched(ctx, name(), *bn, "C not a constant of rank <= 2");
        int64_t rows = dims->size() == 2 ? (*dims)[0] : 1;
        int64_t cols = dims->empty() ? 1 : dims->back();
        if (cols != 1 && cols != n) return m::notMatched(ctx, name(), *bn, "C does not broadcast along N");
        double beta = p->attrs().getFloat("beta", 1.0f);
        cd = {rows, n};
        cf.assign(static_cast<size_t>(rows * n), 0.0);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < n; ++j) cf[static_cast<size_t>(r * n + j)] = beta * (*cv)[static_cast<size_t>(r * cols + (cols == 1 ? 0 : j))];
      }
      for (int64_t r = 0; r < cd[0]; ++r)
        for (int64_t j = 0; j < n; ++j) {
          double& v = cf[static_cast<size_t>(r * n + j)];
          v = v * st->k[static_cast<size_t>(j)] + st->shift[static_cast<size_t>(j)];
        }
      if (cd[0] == 1) cd = {n};
      for (int64_t a = 0; a < kdim; ++a)
        for (int64_t j = 0; j < n; ++j) wf[static_cast<size_t>(transB ? j * kdim + a : a * n + j)] *= st->k[static_cast<size_t>(j)];
      Value* nw = m::addConstant(g, wv->name() + "_bn", m::f32Tensor(wd, wf));
      Value* nc = m::addConstant(g, wv->name() + "_bn_bias", m::f32Tensor(cd, cf));
      if (p->is("MatMul")) {
        Node* gemm = g.createNode("Gemm", {p->operand(0), nw, nc}, 1, p);
        gemm->setProvenance(p->provenance());
        m::replaceValue(g, y, gemm->result(0));
        g.eraseNode(p);
        p = gemm;
        y = gemm->result(0);
      } else {
        p->setOperand(1, nw);
        if (p->numOperands() > 2) p->setOperand(2, nc);
        else p->addOperand(nc);
        p->mutableAttrs().set<float>("beta", 1.0f);
      }
    }
    p->addProvenance(*bn);
    m::replaceValue(g, bn->result(0), y);
    g.eraseNode(bn);
    ++ctx.stat("fold-conv-bn.folded");
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> createFoldConvBnPass() { return std::make_unique<FoldConvBnPass>(); }

}  // namespace npuconv
