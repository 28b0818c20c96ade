// rnn.cc - kernels of the rnn family (see kernels.h): LSTM, GRU and RNN, every opset version.
//
// Each direction first computes the input projection of every time step in one GEMM
// (X * W^T + Wb), then walks the sequence doing one recurrent GEMM per step (H * R^T) and the
// elementwise gate math. GEMMs run on Eigen. Batches whose sequence_lens entry is shorter than
// the sequence keep their state past their end and get zeros in Y; a reverse direction starts
// at each batch's own last step.
#include <Eigen/Core>
#include <fmt/ranges.h>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "converter/exec/kernel.h"
#include "converter/exec/kernels/kernels.h"

namespace npuconv {
namespace {

enum class RnnOp { Lstm, Gru, Rnn };

// --- activation functions ---------------------------------------------------------------------

struct Activation {
  enum Kind { Sigmoid, Tanh, Relu, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu,
              Softsign, Softplus } kind = Sigmoid;
  float alpha = 0.f, beta = 0.f;

  template <typename T>
  T operator()(T x) const {
    const T a = static_cast<T>(alpha), b = static_cast<T>(beta);
    switch (kind) {
      case Sigmoid: return T(1) / (T(1) + std::exp(-x));
      case Tanh: return std::tanh(x);
      case Relu: return x > T(0) ? x : T(0);
      case Affine: return a * x + b;
      case LeakyRelu: return x < T(0) ? a * x : x;
      case ThresholdedRelu: return x > a ? x : T(0);
      case ScaledTanh: return a * std::tanh(b * x);
      case HardSigmoid: return std::clamp(a * x + b, T(0), T(1));
      case Elu: return x >= T(0) ? x : a * (std::exp(x) - T(1));
      case Softsign: return x / (T(1) + std::fabs(x));
      case Softplus: return std::log1p(std::exp(x));
    }
    return x;
  }
};

struct ActivationInfo {
  const char* name;
  Activation::Kind kind;
  int numAlpha, numBeta;
  float defAlpha, defBeta;
};

constexpr ActivationInfo kActivations[] = {
    {"sigmoid", Activation::Sigmoid, 0, 0, 0.f, 0.f},
    {"tanh", Activation::Tanh, 0, 0, 0.f, 0.f},
    {"relu", Activation::Relu, 0, 0, 0.f, 0.f},
    {"affine", Activation::Affine, 1, 1, 1.f, 0.f},
    {"leakyrelu", Activation::LeakyRelu, 1, 0, 0.01f, 0.f},
    {"thresholdedrelu", Activation::ThresholdedRelu, 1, 0, 1.f, 0.f},
    {"scaledtanh", Activation::ScaledTanh, 1, 1, 1.f, 1.f},
    {"hardsigmoid", Activation::HardSigmoid, 1, 1, 0.2f, 0.5f},
    {"elu", Activation::Elu, 1, 0, 1.f, 0.f},
    {"softsign", Activation::Softsign, 0, 0, 0.f, 0.f},
    {"softplus", Activation::Softplus, 0, 0, 0.f, 0.f},
};

/// The activations of every direction, `perDir` each. The `activations` attribute lists them
/// for all directions (or once, shared); activation_alpha / activation_beta are consumed in
/// order by the functions that take them, the rest use their defaults.
Expected<std::vector<Activation>> parseActivations(const KernelContext& ctx, int perDir, int numDir,
                                                   const std::vector<std::string>& defaults) {
  const AttrMap& at = ctx.attrs();
  std::vector<std::string> names = at.get<std::vector<std::string>>("activations").value_or(std::vector<std::string>{});
  if (names.empty())
    for (int d = 0; d < numDir; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
  if (names.size() == size_t(perDir) && numDir == 2) names.insert(names.end(), names.begin(), names.end());
  if (names.size() != size_t(perDir * numDir))
    return ctx.fail("activations lists {} functions, expected {} ({} per direction)", names.size(),
                    perDir * numDir, perDir);
  std::vector<float> alphas = at.getFloats("activation_alpha"), betas = at.getFloats("activation_beta");
  size_t ai = 0, bi = 0;
  std::vector<Activation> out;
  for (const std::string& n : names) {
    std::string lower = n;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const ActivationInfo* info = nullptr;
    for (const ActivationInfo& a : kActivations)
      if (lower == a.name) info = &a;
    if (!info) return ctx.unsupported("activation function \"{}\"", n);
    Activation a;
    a.kind = info->kind;
    a.alpha = info->defAlpha;
    a.beta = info->defBeta;
    if (info->numAlpha && ai < alphas.size()) a.alpha = alphas[ai++];
    if (info->numBeta && bi < betas.size()) a.beta = betas[bi++];
    out.push_back(a);
  }
  return out;
}

// --- shared setup -------------------------------------------------------------------------------

struct RnnSetup {
  RnnOp op;
  int64_t seq = 0, batch = 0, inSize = 0, hidden = 0, numDir = 1, gates = 1;
  int64_t layout = 0;
  bool reverseOnly = false;
  float clip = 0.f;  // 0: none
  std::vector<int64_t> seqLens;
  std::vector<Activation> acts;
  int actsPerDir = 1;
};

Expected<RnnSetup> setup(const KernelContext& ctx, RnnOp op) {
  RnnSetup s;
  s.op = op;
  s.gates = op == RnnOp::Lstm ? 4 : op == RnnOp::Gru ? 3 : 1;
  s.actsPerDir = op == RnnOp::Lstm ? 3 : op == RnnOp::Gru ? 2 : 1;
  const AttrMap& at = ctx.attrs();
  const Tensor* x = ctx.input(0);
  const Tensor* w = ctx.input(1);
  const Tensor* r = ctx.input(2);
  if (!x || !w || !r) return ctx.fail("needs inputs X, W and R");
  if (x->dtype() != DType::F32 && x->dtype() != DType::F64)
    return ctx.unsupported("dtype {}", dtypeName(x->dtype()));
  for (const Tensor* t : {w, r})
    if (t->dtype() != x->dtype()) return ctx.fail("W/R dtype differs from X dtype {}", dtypeName(x->dtype()));
  if (x->rank() != 3 || w->rank() != 3 || r->rank() != 3)
    return ctx.fail("X {}, W {} and R {} must be 3-D", x->describe(), w->describe(), r->describe());
  s.layout = at.getInt("layout", 0);
  if (s.layout != 0 && s.layout != 1) return ctx.fail("layout {} is not 0 or 1", s.layout);
  s.seq = x->dim(s.layout == 0 ? 0 : 1);
  s.batch = x->dim(s.layout == 0 ? 1 : 0);
  s.inSize = x->dim(2);
  std::string dir = at.getString("direction", "forward");
  if (dir == "forward") {
    s.numDir = 1;
  } else if (dir == "reverse") {
    s.numDir = 1;
    s.reverseOnly = true;
  } else if (dir == "bidirectional") {
    s.numDir = 2;
  } else {
    return ctx.fail("unknown direction \"{}\"", dir);
  }
  s.hidden = at.getInt("hidden_size", r->dim(2));
  int64_t gh = s.gates * s.hidden;
  if (s.hidden <= 0) return ctx.fail("hidden_size {} must be positive", s.hidden);
  if (w->dims() != std::vector<int64_t>{s.numDir, gh, s.inSize})
    return ctx.fail("W {} must be [{}, {}, {}]", w->describe(), s.numDir, gh, s.inSize);
  if (r->dims() != std::vector<int64_t>{s.numDir, gh, s.hidden})
    return ctx.fail("R {} must be [{}, {}, {}]", r->describe(), s.numDir, gh, s.hidden);
  if (const Tensor* b = ctx.input(3)) {
    if (b->dtype() != x->dtype() || b->dims() != std::vector<int64_t>{s.numDir, 2 * gh})
      return ctx.fail("B {} must be [{}, {}] of X's dtype", b->describe(), s.numDir, 2 * gh);
  }
  s.seqLens.assign(static_cast<size_t>(s.batch), s.seq);
  if (const Tensor* sl = ctx.input(4)) {
    if (sl->numElements() != s.batch || !isInteger(sl->dtype()))
      return ctx.fail("sequence_lens {} must be an integer vector of {} elements", sl->describe(), s.batch);
    s.seqLens = sl->toInt64s();
    for (int64_t v : s.seqLens)
      if (v < 0 || v > s.seq) return ctx.fail("sequence_lens value {} outside [0, {}]", v, s.seq);
  }
  std::vector<int64_t> stateDims = s.layout == 0 ? std::vector<int64_t>{s.numDir, s.batch, s.hidden}
                                                 : std::vector<int64_t>{s.batch, s.numDir, s.hidden};
  for (size_t i : {size_t(5), size_t(6)}) {
    if (i == 6 && op != RnnOp::Lstm) break;
    if (const Tensor* t = ctx.input(i))
      if (t->dtype() != x->dtype() || t->dims() != stateDims)
        return ctx.fail("initial state {} must be {} of X's dtype", t->describe(), fmt::join(stateDims, "x"));
  }
  if (op == RnnOp::Lstm)
    if (const Tensor* p = ctx.input(7))
      if (p->dtype() != x->dtype() || p->dims() != std::vector<int64_t>{s.numDir, 3 * s.hidden})
        return ctx.fail("P {} must be [{}, {}]", p->describe(), s.numDir, 3 * s.hidden);
  if (auto c = at.get<float>("clip")) {
    if (!(*c > 0.f)) return ctx.fail("clip {} must be positive", *c);
    s.clip = *c;
  }
  std::vector<std::string> defaults = op == RnnOp::Lstm ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                                      : op == RnnOp::Gru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                         : std::vector<std::string>{"Tanh"};
  NPU_ASSIGN_OR_RETURN(s.acts, parseActivations(ctx, s.actsPerDir, int(s.numDir), defaults));
  return s;
}

// --- the recurrence -----------------------------------------------------------------------------

template <typename T>
Status runRnn(KernelContext& ctx, const RnnSetup& s) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using CMap = Eigen::Map<const Mat>;
  using Row = Eigen::Matrix<T, 1, Eigen::Dynamic>;
  const int64_t H = s.hidden, B = s.batch, S = s.seq, I = s.inSize, G = s.gates, GH = G * H;
  const bool lstm = s.op == RnnOp::Lstm, gru = s.op == RnnOp::Gru;
  const Tensor& xt = *ctx.input(0);
  const T* W = ctx.input(1)->data<T>();
  const T* R = ctx.input(2)->data<T>();
  const Tensor* bias = ctx.input(3);
  const Tensor* h0 = ctx.input(5);
  const Tensor* c0 = lstm ? ctx.input(6) : nullptr;
  const Tensor* peep = lstm ? ctx.input(7) : nullptr;
  const bool inputForget = lstm && ctx.attrs().getInt("input_forget", 0) != 0;
  const bool linearBeforeReset = gru && ctx.attrs().getInt("linear_before_reset", 0) != 0;

  // X as [seq, batch, input].
  Mat X(S * B, I);
  const T* xd = xt.data<T>();
  for (int64_t t = 0; t < S; ++t)
    for (int64_t b = 0; b < B; ++b) {
      const T* src = s.layout == 0 ? xd + (t * B + b) * I : xd + (b * S + t) * I;
      std::copy(src, src + I, X.data() + (t * B + b) * I);
    }

  const bool wantY = ctx.wantsOutput(0), wantH = ctx.wantsOutput(1), wantC = lstm && ctx.wantsOutput(2);
  std::vector<int64_t> yDims = s.layout == 0 ? std::vector<int64_t>{S, s.numDir, B, H}
                                             : std::vector<int64_t>{B, S, s.numDir, H};
  std::vector<int64_t> stateDims = s.layout == 0 ? std::vector<int64_t>{s.numDir, B, H}
                                                 : std::vector<int64_t>{B, s.numDir, H};
  DType dt = xt.dtype();
  T* Y = wantY ? ctx.allocate(0, dt, yDims).template mutableData<T>() : nullptr;
  T* Yh = wantH ? ctx.allocate(1, dt, stateDims).template mutableData<T>() : nullptr;
  T* Yc = wantC ? ctx.allocate(2, dt, stateDims).template mutableData<T>() : nullptr;
  auto stateIndex = [&](int64_t d, int64_t b) {
    return s.layout == 0 ? (d * B + b) * H : (b * s.numDir + d) * H;
  };
  auto yIndex = [&](int64_t t, int64_t d, int64_t b) {
    return s.layout == 0 ? ((t * s.numDir + d) * B + b) * H : ((b * S + t) * s.numDir + d) * H;
  };
  const T clipV = static_cast<T>(s.clip);
  auto clip = [&](T v) { return s.clip > 0.f ? std::clamp(v, -clipV, clipV) : v; };

  for (int64_t d = 0; d < s.numDir; ++d) {
    const bool reverse = s.reverseOnly || d == 1;
    CMap Wd(W + d * GH * I, GH, I);
    CMap Rd(R + d * GH * H, GH, H);
    Row wb = Row::Zero(GH), rb = Row::Zero(GH);
    if (bias) {
      const T* bd = bias->data<T>() + d * 2 * GH;
      wb = Eigen::Map<const Row>(bd, GH);
      rb = Eigen::Map<const Row>(bd + GH, GH);
    }
    const Activation* act = &s.acts[size_t(d * s.actsPerDir)];
    // Input projection of every step.
    Mat XW = X * Wd.transpose();
    XW.rowwise() += wb;
    if (!gru)
      XW.rowwise() += rb;
    else  // GRU adds Rbh inside the candidate gate (under the reset gate or not).
      XW.leftCols(2 * H).rowwise() += rb.leftCols(2 * H);

    Mat Hs = Mat::Zero(B, H), Cs = Mat::Zero(B, H);
    for (int64_t b = 0; b < B; ++b) {
      if (h0) std::copy_n(h0->data<T>() + stateIndex(d, b), H, Hs.data() + b * H);
      if (c0) std::copy_n(c0->data<T>() + stateIndex(d, b), H, Cs.data() + b * H);
    }
    const T* P = peep ? peep->data<T>() + d * 3 * H : nullptr;
    Mat HR(B, GH), RH(B, H);
    for (int64_t step = 0; step < S; ++step) {
      const int64_t t = reverse ? S - 1 - step : step;
      if (gru && !linearBeforeReset)
        HR.leftCols(2 * H).noalias() = Hs * Rd.topRows(2 * H).transpose();
      else
        HR.noalias() = Hs * Rd.transpose();
      if (gru && !linearBeforeReset) {
        // Reset gate first, then (r . H) * Rh^T.
        for (int64_t b = 0; b < B; ++b) {
          const T* xw = XW.data() + (t * B + b) * GH;
          for (int64_t j = 0; j < H; ++j)
            RH(b, j) = act[0](clip(xw[H + j] + HR(b, H + j))) * Hs(b, j);
        }
        HR.rightCols(H).noalias() = RH * Rd.bottomRows(H).transpose();
      }
      for (int64_t b = 0; b < B; ++b) {
        if (t >= s.seqLens[size_t(b)]) continue;
        const T* xw = XW.data() + (t * B + b) * GH;
        const T* hr = HR.data() + b * GH;
        T* h = Hs.data() + b * H;
        T* c = Cs.data() + b * H;
        if (lstm) {
          // Gate order i, o, f, c; peepholes i, o, f.
          for (int64_t j = 0; j < H; ++j) {
            T gi = xw[j] + hr[j], go = xw[H + j] + hr[H + j];
            T gf = xw[2 * H + j] + hr[2 * H + j], gc = xw[3 * H + j] + hr[3 * H + j];
            if (P) {
              gi += P[j] * c[j];
              gf += P[2 * H + j] * c[j];
            }
            T iv = act[0](clip(gi));
            T fv = inputForget ? T(1) - iv : act[0](clip(gf));
            T cv = act[1](clip(gc));
            T cn = fv * c[j] + iv * cv;
            if (P) go += P[H + j] * cn;
            T ov = act[0](clip(go));
            c[j] = cn;
            h[j] = ov * act[2](cn);
          }
        } else if (gru) {
          // Gate order z, r, h.
          for (int64_t j = 0; j < H; ++j) {
            T z = act[0](clip(xw[j] + hr[j]));
            T hn;
            if (linearBeforeReset) {
              T r = act[0](clip(xw[H + j] + hr[H + j]));
              hn = act[1](clip(xw[2 * H + j] + r * (hr[2 * H + j] + rb[2 * H + j])));
            } else {
              hn = act[1](clip(xw[2 * H + j] + hr[2 * H + j] + rb[2 * H + j]));
            }
            h[j] = (T(1) - z) * hn + z * h[j];
          }
        } else {
          for (int64_t j = 0; j < H; ++j) h[j] = act[0](clip(xw[j] + hr[j]));
        }
        if (Y) std::copy_n(h, H, Y + yIndex(t, d, b));
      }
    }
    for (int64_t b = 0; b < B; ++b) {
      if (Yh) std::copy_n(Hs.data() + b * H, H, Yh + stateIndex(d, b));
      if (Yc) std::copy_n(Cs.data() + b * H, H, Yc + stateIndex(d, b));
    }
  }
  return Status::ok();
}

template <RnnOp kOp>
Status rnnKernel(KernelContext& ctx) {
  NPU_ASSIGN_OR_RETURN(RnnSetup s, setup(ctx, kOp));
  if (ctx.input(0)->dtype() == DType::F64) return runRnn<double>(ctx, s);
  return runRnn<float>(ctx, s);
}

}  // namespace

void registerRnnKernels(KernelRegistry& r) {
  r.add("", "LSTM", rnnKernel<RnnOp::Lstm>);
  r.add("", "GRU", rnnKernel<RnnOp::Gru>);
  r.add("", "RNN", rnnKernel<RnnOp::Rnn>);
}

}  // namespace npuconv
