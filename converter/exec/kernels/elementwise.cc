// elementwise.cc - kernels of the elementwise family (see kernels.h): broadcasting binary and
// variadic ops, comparisons and logic, unary math and activations, Clip, Cast, Where,
// Identity, Dropout.
//
// float16/bfloat16 are computed in float32 and rounded once on store. Integer division or
// modulo by zero gives 0 (ONNX leaves it undefined; we must not trap).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "converter/exec/kernel.h"
#include "converter/exec/kernels/activation_simd.h"
#include "converter/exec/kernels/broadcast.h"
#include "converter/exec/kernels/ew_util.h"
#include "converter/exec/kernels/kernels.h"
#include "converter/exec/kernels/scaled_softmax.h"
#include "converter/exec/kernels/vector_math_avx512.h"

namespace npuconv {
namespace {

using namespace ew;
using bcast::kGrain;

template <typename T>
constexpr bool kIsFloat = std::is_floating_point_v<T>;

Status badType(const KernelContext& ctx, DType t) { return ctx.unsupported("element type {} is not supported", dtypeName(t)); }

Status needInputs(const KernelContext& ctx, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!ctx.hasInput(i)) return ctx.fail("input {} is missing", i);
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Unary maps

/// y = op(x) elementwise, y of the same dtype; op is generic over the element type
/// (float16/bfloat16 go through float).
template <unsigned Allowed, typename Op>
Status unaryMap(KernelContext& ctx, const Op& op) {
  constexpr unsigned allowed = Allowed;
  NPU_TRY(needInputs(ctx, 1));
  const Tensor& x = *ctx.input(0);
  DType t = x.dtype();
  if (!accepts(t, allowed)) return badType(ctx, t);
  int64_t n = x.numElements();
  Tensor& y = ctx.allocateUninitialized(0, t, x.dims());
  if (isHalf(t)) {
    const uint16_t* in = x.data<uint16_t>();
    uint16_t* out = y.mutableData<uint16_t>();
    ctx.pool().parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
      float buf[512];
      for (int64_t i = b; i < e; i += 512) {
        int64_t m = std::min<int64_t>(512, e - i);
        halfToFloats(t, in + i, buf, m);
        for (int64_t j = 0; j < m; ++j) buf[j] = op(buf[j]);
        floatsToHalf(t, buf, out + i, m);
      }
    });
    return Status::ok();
  }
  visitType<allowed>(t, [&]<typename T>() {
    const T* in = x.data<T>();
    T* out = y.mutableData<T>();
    ctx.pool().parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) out[i] = static_cast<T>(op(in[i]));
    });
  });
  return Status::ok();
}

/// A unary op over float types only, given as a generic lambda.
#define NPU_FLOAT_UNARY(NAME, EXPR)                                                   \
  Status NAME(KernelContext& ctx) {                                                   \
    return unaryMap<kFloats>(ctx, [](auto x) -> decltype(x) { return EXPR; });       \
  }

using std::abs;
NPU_FLOAT_UNARY(kReciprocal, decltype(x)(1) / x)
NPU_FLOAT_UNARY(kSqrt, std::sqrt(x))
NPU_FLOAT_UNARY(kLog, std::log(x))
NPU_FLOAT_UNARY(kFloor, std::floor(x))
NPU_FLOAT_UNARY(kCeil, std::ceil(x))
NPU_FLOAT_UNARY(kRound, std::nearbyint(x))
NPU_FLOAT_UNARY(kSin, std::sin(x))
NPU_FLOAT_UNARY(kCos, std::cos(x))
NPU_FLOAT_UNARY(kTan, std::tan(x))
NPU_FLOAT_UNARY(kAsin, std::asin(x))
NPU_FLOAT_UNARY(kAcos, std::acos(x))
NPU_FLOAT_UNARY(kAtan, std::atan(x))
NPU_FLOAT_UNARY(kSinh, std::sinh(x))
NPU_FLOAT_UNARY(kCosh, std::cosh(x))
NPU_FLOAT_UNARY(kAsinh, std::asinh(x))
NPU_FLOAT_UNARY(kAcosh, std::acosh(x))
NPU_FLOAT_UNARY(kAtanh, std::atanh(x))
NPU_FLOAT_UNARY(kTanh, std::tanh(x))
NPU_FLOAT_UNARY(kSoftsign, x / (decltype(x)(1) + std::fabs(x)))
#undef NPU_FLOAT_UNARY

Status kErf(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 1));
  const Tensor& x = *ctx.input(0);
  if (x.dtype() == DType::F32) {  // vectorized (std::erf is a libm call per element)
    Tensor& y = ctx.allocateUninitialized(0, DType::F32, x.dims());
    const float* in = x.data<float>();
    float* out = y.mutableData<float>();
    static const bool avx512 = vectorMathAvx512();  // same bits either way
    ctx.pool().parallelFor(x.numElements(), kGrain, [&](int64_t b, int64_t e) {
      if (avx512) erfAvx512(in + b, out + b, e - b);
      else erfF32(in + b, out + b, e - b);
    });
    return Status::ok();
  }
  return unaryMap<kFloats>(ctx, []<typename T>(T x) -> T { return std::erf(x); });
}

template <typename T>
T expT(T x) {
  if constexpr (std::is_same_v<T, float>) return fastExp(x);
  else return std::exp(x);
}

template <typename T>
T sigmoidT(T x) {
  // Stable on both sides: exp of a non-positive number only.
  T e = expT<T>(-std::fabs(x));
  return x >= 0 ? T(1) / (T(1) + e) : e / (T(1) + e);
}

template <typename T>
T softplusT(T x) {
  return std::fmax(x, T(0)) + std::log1p(std::exp(-std::fabs(x)));
}

Status kExp(KernelContext& ctx) {
  return unaryMap<kFloats>(ctx, []<typename T>(T x) -> T { return std::exp(x); });
}
Status kSigmoid(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 1));
  const Tensor& x = *ctx.input(0);
  if (x.dtype() == DType::F32) {
    // 8 at a time with the fused epilogue's act8 (the tail through an 8-float buffer, so every
    // element takes the same path whatever the split across threads): PP-OCR det's final
    // Sigmoid over 480x640 took 2.4 ms per element-wise scalar call, about 10x this.
    Tensor& y = ctx.allocateUninitialized(0, DType::F32, x.dims());
    const float* in = x.data<float>();
    float* out = y.mutableData<float>();
    const gemm::Epilogue ep;
    ctx.pool().parallelFor(x.numElements(), kGrain, [&](int64_t b, int64_t e) {
      int64_t i = b;
      for (; i + 8 <= e; i += 8) _mm256_storeu_ps(out + i, gemm::act8<gemm::Act::Sigmoid>(_mm256_loadu_ps(in + i), ep));
      if (i < e) {
        alignas(32) float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int64_t j = 0; j < e - i; ++j) buf[j] = in[i + j];
        _mm256_store_ps(buf, gemm::act8<gemm::Act::Sigmoid>(_mm256_load_ps(buf), ep));
        for (int64_t j = 0; j < e - i; ++j) out[i + j] = buf[j];
      }
    });
    return Status::ok();
  }
  return unaryMap<kFloats>(ctx, []<typename T>(T x) -> T { return sigmoidT<T>(x); });
}
Status kSoftplus(KernelContext& ctx) {
  return unaryMap<kFloats>(ctx, []<typename T>(T x) -> T { return softplusT<T>(x); });
}
Status kMish(KernelContext& ctx) {
  return unaryMap<kFloats>(ctx, []<typename T>(T x) -> T { return x * std::tanh(softplusT<T>(x)); });
}

Status kAbs(KernelContext& ctx) {
  return unaryMap<kNumeric>(ctx, []<typename T>(T x) -> T {
    if constexpr (std::is_unsigned_v<T>) return x;
    else if constexpr (kIsFloat<T>) return std::fabs(x);
    else return static_cast<T>(x < 0 ? -x : x);
  });
}
Status kNeg(KernelContext& ctx) {
  return unaryMap<kFloats | kSigned>(ctx, []<typename T>(T x) -> T { return static_cast<T>(-x); });
}
Status kSign(KernelContext& ctx) {
  return unaryMap<kNumeric>(ctx, []<typename T>(T x) -> T {
    if constexpr (kIsFloat<T>)
      if (x != x) return x;
    return static_cast<T>((T(0) < x) - (x < T(0)));
  });
}
Status kRelu(KernelContext& ctx) {
  return unaryMap<kFloats | kSigned>(ctx, []<typename T>(T x) -> T { return x > T(0) ? x : T(0); });
}
Status kNot(KernelContext& ctx) {
  return unaryMap<kBool>(ctx, [](bool x) { return !x; });
}

Status kLeakyRelu(KernelContext& ctx) {
  float alpha = ctx.attrs().getFloat("alpha", 0.01f);
  return unaryMap<kFloats>(ctx, [alpha]<typename T>(T x) -> T { return x < T(0) ? T(alpha) * x : x; });
}
Status kThresholdedRelu(KernelContext& ctx) {
  float alpha = ctx.attrs().getFloat("alpha", 1.0f);
  return unaryMap<kFloats>(ctx, [alpha]<typename T>(T x) -> T { return x > T(alpha) ? x : T(0); });
}
Status kElu(KernelContext& ctx) {
  float alpha = ctx.attrs().getFloat("alpha", 1.0f);
  return unaryMap<kFloats>(ctx, [alpha]<typename T>(T x) -> T { return x < T(0) ? T(alpha) * std::expm1(x) : x; });
}
Status kCelu(KernelContext& ctx) {
  float alpha = ctx.attrs().getFloat("alpha", 1.0f);
  if (alpha == 0) return ctx.fail("alpha must not be 0");
  return unaryMap<kFloats>(ctx, [alpha]<typename T>(T x) -> T {
    T a = T(alpha);
    return std::fmax(T(0), x) + std::fmin(T(0), a * std::expm1(x / a));
  });
}
Status kSelu(KernelContext& ctx) {
  float alpha = ctx.attrs().getFloat("alpha", 1.67326319217681884765625f);
  float gamma = ctx.attrs().getFloat("gamma", 1.05070102214813232421875f);
  return unaryMap<kFloats>(ctx, [alpha, gamma]<typename T>(T x) -> T {
    return x > T(0) ? T(gamma) * x : T(gamma) * (T(alpha) * std::exp(x) - T(alpha));
  });
}
Status kHardSigmoid(KernelContext& ctx) {
  float alpha = ctx.attrs().getFloat("alpha", 0.2f), beta = ctx.attrs().getFloat("beta", 0.5f);
  return unaryMap<kFloats>(ctx, [alpha, beta]<typename T>(T x) -> T {
    // max(0, min(1, v)) with comparisons (vectorizes; std::fmax/fmin are libm calls here). NaN
    // gives 1 as with fmax/fmin: v < 1 is false.
    T v = T(alpha) * x + T(beta);
    v = v < T(1) ? v : T(1);
    return v > T(0) ? v : T(0);
  });
}
Status kHardSwish(KernelContext& ctx) {
  return unaryMap<kFloats>(ctx, []<typename T>(T x) -> T {
    T v = x / T(6) + T(0.5);
    v = v < T(1) ? v : T(1);
    return x * (v > T(0) ? v : T(0));
  });
}
Status kGelu(KernelContext& ctx) {
  std::string approx = ctx.attrs().getString("approximate", "none");
  if (approx == "tanh")
    return unaryMap<kFloats>(ctx, []<typename T>(T x) -> T {
      const T k = T(0.7978845608028654);  // sqrt(2 / pi)
      return T(0.5) * x * (T(1) + std::tanh(k * (x + T(0.044715) * x * x * x)));
    });
  if (approx != "none") return ctx.fail("approximate must be \"none\" or \"tanh\", not \"{}\"", approx);
  return unaryMap<kFloats>(ctx, []<typename T>(T x) -> T {
    return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
  });
}
Status kShrink(KernelContext& ctx) {
  float lambd = ctx.attrs().getFloat("lambd", 0.5f), bias = ctx.attrs().getFloat("bias", 0.0f);
  return unaryMap<kNumeric>(ctx, [lambd, bias]<typename T>(T x) -> T {
    double v = static_cast<double>(x);
    if (v < -lambd) return static_cast<T>(v + bias);
    if (v > lambd) return static_cast<T>(v - bias);
    return T(0);
  });
}

/// y = pred(x) as bool.
template <typename Pred>
Status floatPredicate(KernelContext& ctx, const Pred& pred) {
  NPU_TRY(needInputs(ctx, 1));
  Tensor x = toF32(ctx.pool(), *ctx.input(0));
  Tensor& y = ctx.allocate(0, DType::Bool, x.dims());
  bool* out = y.mutableData<bool>();
  bool ok = visitType<kF32 | kF64>(x.dtype(), [&]<typename T>() {
    const T* in = x.data<T>();
    ctx.pool().parallelFor(x.numElements(), kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) out[i] = pred(in[i]);
    });
  });
  return ok ? Status::ok() : badType(ctx, ctx.input(0)->dtype());
}
Status kIsNaN(KernelContext& ctx) {
  return floatPredicate(ctx, [](auto x) { return x != x; });
}
Status kIsInf(KernelContext& ctx) {
  bool neg = ctx.attrs().getInt("detect_negative", 1) != 0;
  bool pos = ctx.attrs().getInt("detect_positive", 1) != 0;
  return floatPredicate(ctx, [neg, pos](auto x) { return std::isinf(x) && (x > 0 ? pos : neg); });
}

// ---------------------------------------------------------------------------------------------
// Binary broadcasting ops

/// out = op(a, b) with broadcasting, out of C++ type TO and dtype `outType`.
template <typename TA, typename TB, typename TO, typename Op>
Tensor binaryApply(ThreadPool& pool, const Tensor& a, const Tensor& b, DType outType,
                   const std::vector<int64_t>& dims, const Op& op) {
  Tensor out = Tensor::uninitialized(outType, dims);
  bcast::Plan plan(dims, {&a.dims(), &b.dims()});
  const TA* pa = a.data<TA>();
  const TB* pb = b.data<TB>();
  TO* po = out.mutableData<TO>();
  int64_t sa = plan.innerStride(0), sb = plan.innerStride(1);
  bcast::parallelRows(pool, plan, [&](int64_t o, const int64_t* in, int64_t n) {
    bcast::binaryRow(pa + in[0], sa, pb + in[1], sb, po + o, n, op);
  });
  return out;
}

Status broadcastOf(const KernelContext& ctx, const Tensor& a, const Tensor& b, std::vector<int64_t>& dims) {
  if (!bcast::broadcastDims({&a.dims(), &b.dims()}, dims))
    return ctx.fail("shapes {} and {} do not broadcast", a.describe(), b.describe());
  return Status::ok();
}

/// Same-dtype binary op T x T -> T (Op::template apply<T>); half types through float.
/// `a` and `b` must already be float32 when the logical type is half.
template <typename Op, unsigned Allowed>
Expected<Tensor> sameTypeBinary(const KernelContext& ctx, const Tensor& a, const Tensor& b) {
  std::vector<int64_t> dims;
  NPU_TRY(broadcastOf(ctx, a, b, dims));
  Tensor out;
  if (!visitType<Allowed>(a.dtype(), [&]<typename T>() {
        out = binaryApply<T, T, T>(ctx.pool(), a, b, a.dtype(), dims,
                                   [](T x, T y) -> T { return Op::template apply<T>(x, y); });
      }))
    return badType(ctx, a.dtype());
  return out;
}

struct AddOp { template <typename T> static T apply(T a, T b) { return static_cast<T>(a + b); } };
struct SubOp { template <typename T> static T apply(T a, T b) { return static_cast<T>(a - b); } };
struct MulOp { template <typename T> static T apply(T a, T b) { return static_cast<T>(a * b); } };
struct DivOp {
  template <typename T>
  static T apply(T a, T b) {
    if constexpr (kIsFloat<T>) {
      return a / b;
    } else {
      if (b == 0) return 0;
      if constexpr (std::is_signed_v<T>)
        if (b == T(-1))  // no trap on INT_MIN / -1: negate with wrap-around, in unsigned
          return static_cast<T>(0u - static_cast<std::make_unsigned_t<T>>(a));
      return static_cast<T>(a / b);
    }
  }
};
struct MaxOp {
  template <typename T>
  static T apply(T a, T b) {
    if constexpr (kIsFloat<T>) return (a != a || a > b) ? a : b;  // NaN propagates
    else return a > b ? a : b;
  }
};
struct MinOp {
  template <typename T>
  static T apply(T a, T b) {
    if constexpr (kIsFloat<T>) return (a != a || a < b) ? a : b;
    else return a < b ? a : b;
  }
};
struct PReluOp { template <typename T> static T apply(T x, T s) { return x < T(0) ? static_cast<T>(x * s) : x; } };
struct ModOp {  // integer, sign of the divisor (Python)
  template <typename T>
  static T apply(T a, T b) {
    if constexpr (kIsFloat<T>) {
      T r = std::fmod(a, b);
      return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
    } else {
      if (b == 0) return 0;
      if constexpr (std::is_signed_v<T>) {
        if (b == T(-1)) return 0;
        T r = static_cast<T>(a % b);
        return (r != 0 && ((r < 0) != (b < 0))) ? static_cast<T>(r + b) : r;
      } else {
        return static_cast<T>(a % b);
      }
    }
  }
};
struct FModOp {  // sign of the dividend (C)
  template <typename T>
  static T apply(T a, T b) {
    if constexpr (kIsFloat<T>) {
      return std::fmod(a, b);
    } else {
      if (b == 0) return 0;
      if constexpr (std::is_signed_v<T>)
        if (b == T(-1)) return 0;
      return static_cast<T>(a % b);
    }
  }
};

/// A same-dtype binary kernel: checks, float16 via float32, sets output 0.
template <typename Op, unsigned Allowed>
Status binaryKernel(KernelContext& ctx) {
  constexpr unsigned allowed = Allowed;
  NPU_TRY(needInputs(ctx, 2));
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  if (a.dtype() != b.dtype())
    return ctx.fail("input element types differ: {} and {}", dtypeName(a.dtype()), dtypeName(b.dtype()));
  if (!accepts(a.dtype(), allowed)) return badType(ctx, a.dtype());
  if (isHalf(a.dtype())) {
    NPU_ASSIGN_OR_RETURN(Tensor r, (sameTypeBinary<Op, kF32>(ctx, toF32(ctx.pool(), a), toF32(ctx.pool(), b))));
    ctx.setOutput(0, fromF32(ctx.pool(), r, a.dtype()));
    return Status::ok();
  }
  NPU_ASSIGN_OR_RETURN(Tensor r, (sameTypeBinary<Op, Allowed>(ctx, a, b)));
  ctx.setOutput(0, std::move(r));
  return Status::ok();
}

Status kAdd(KernelContext& ctx) { return binaryKernel<AddOp, kNumeric>(ctx); }
Status kSub(KernelContext& ctx) { return binaryKernel<SubOp, kNumeric>(ctx); }
/// Div or Mul offered a fused scaled Softmax (the executor checked that input 1 is a float32
/// constant of one element): computes it, or declines and leaves the plain op to the caller.
bool fusedScaledSoftmax(KernelContext& ctx) {
  if (!ctx.hasInput(0) || !ctx.hasInput(1)) return false;
  const gemm::Epilogue* ep = takeFusedEpilogue(ctx.input(0)->dtype(), ctx.input(0)->dims());
  if (!ep) return false;
  const Tensor* mask = nullptr;
  const FusedSoftmax* f = takenSoftmax(&mask);
  Tensor y;
  if (!f || !nn::scaledSoftmaxF32(ctx.pool(), *ctx.input(0), *f, mask, y)) {
    declineFusedEpilogue();
    return false;
  }
  ctx.setOutput(0, std::move(y));
  return true;
}

Status kMul(KernelContext& ctx) {
  if (fusedScaledSoftmax(ctx)) return Status::ok();
  return binaryKernel<MulOp, kNumeric>(ctx);
}
Status kDiv(KernelContext& ctx) {
  if (fusedScaledSoftmax(ctx)) return Status::ok();
  return binaryKernel<DivOp, kNumeric>(ctx);
}
Status kPRelu(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 2));
  const Tensor& x = *ctx.input(0);
  const Tensor& slope = *ctx.input(1);
  if (!bcast::broadcastsTo(slope.dims(), x.dims())) {
    // PRelu-1..6 semantics (PyTorch exports): a 1-D slope of C values is per channel (axis 1).
    if (slope.rank() == 1 && x.rank() >= 2 && slope.dim(0) == x.dim(1)) {
      std::vector<int64_t> d(size_t(x.rank() - 1), 1);
      d[0] = slope.dim(0);
      Tensor s = Tensor::alias(slope, d);
      if (x.dtype() != s.dtype()) return ctx.fail("input element types differ");
      if (!accepts(x.dtype(), kFloats | kSigned)) return badType(ctx, x.dtype());
      if (isHalf(x.dtype())) {
        NPU_ASSIGN_OR_RETURN(Tensor r, (sameTypeBinary<PReluOp, kF32>(ctx, toF32(ctx.pool(), x), toF32(ctx.pool(), s))));
        ctx.setOutput(0, fromF32(ctx.pool(), r, x.dtype()));
      } else {
        NPU_ASSIGN_OR_RETURN(Tensor r, (sameTypeBinary<PReluOp, kFloats | kSigned>(ctx, x, s)));
        ctx.setOutput(0, std::move(r));
      }
      return Status::ok();
    }
    return ctx.fail("slope {} does not broadcast to X {}", slope.describe(), x.describe());
  }
  return binaryKernel<PReluOp, kFloats | kSigned>(ctx);
}
Status kMod(KernelContext& ctx) {
  bool fmod = ctx.attrs().getInt("fmod", 0) != 0;
  if (ctx.hasInput(0) && isFloat(ctx.input(0)->dtype()) && !fmod)
    return ctx.fail("Mod of floating-point inputs requires fmod=1");
  return fmod ? binaryKernel<FModOp, kNumeric>(ctx) : binaryKernel<ModOp, kNumeric>(ctx);
}

template <typename TA, typename TB>
TA powOne(TA x, TB y) {
  if constexpr (std::is_same_v<TA, float> && std::is_same_v<TB, float>) {
    return std::pow(x, y);
  } else if constexpr (kIsFloat<TA>) {
    return static_cast<TA>(std::pow(static_cast<double>(x), static_cast<double>(y)));
  } else {
    double r = std::pow(static_cast<double>(x), static_cast<double>(y));
    if (!(r == r)) return 0;
    if (r >= static_cast<double>(std::numeric_limits<TA>::max())) return std::numeric_limits<TA>::max();
    if (r <= static_cast<double>(std::numeric_limits<TA>::lowest())) return std::numeric_limits<TA>::lowest();
    return static_cast<TA>(r);
  }
}

Status kPow(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 2));
  DType bt = ctx.input(0)->dtype(), et = ctx.input(1)->dtype();
  if (!accepts(bt, kFloats | kI32I64)) return badType(ctx, bt);
  if (!accepts(et, kNumeric)) return badType(ctx, et);
  Tensor a = toF32(ctx.pool(), *ctx.input(0)), b = toF32(ctx.pool(), *ctx.input(1));
  std::vector<int64_t> dims;
  NPU_TRY(broadcastOf(ctx, a, b, dims));
  if (a.dtype() == DType::F32 && b.numElements() == 1 && dims == a.dims() && b.toDoubles()[0] == 2.0) {
    // x^2 (LayerNorm's variance): x * x is the correctly rounded square, as pow(x, 2).
    Tensor sq(DType::F32, dims);
    const float* in = a.data<float>();
    float* o = sq.mutableData<float>();
    ctx.pool().parallelFor(a.numElements(), kGrain, [&](int64_t b0, int64_t e0) {
      for (int64_t i = b0; i < e0; ++i) o[i] = in[i] * in[i];
    });
    ctx.setOutput(0, isHalf(bt) ? fromF32(ctx.pool(), sq, bt) : std::move(sq));
    return Status::ok();
  }
  Tensor out;
  visitType<kF32 | kF64 | kI32I64>(a.dtype(), [&]<typename TA>() {
    visitType<kF32 | kF64 | kInts>(b.dtype(), [&]<typename TB>() {
      out = binaryApply<TA, TB, TA>(ctx.pool(), a, b, a.dtype(), dims, [](TA x, TB y) { return powOne<TA, TB>(x, y); });
    });
  });
  ctx.setOutput(0, isHalf(bt) ? fromF32(ctx.pool(), out, bt) : std::move(out));
  return Status::ok();
}

Status kBitShift(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 2));
  std::string dir = ctx.attrs().getString("direction", "");
  if (dir != "LEFT" && dir != "RIGHT") return ctx.fail("direction must be LEFT or RIGHT, not \"{}\"", dir);
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  if (a.dtype() != b.dtype()) return ctx.fail("input element types differ");
  std::vector<int64_t> dims;
  NPU_TRY(broadcastOf(ctx, a, b, dims));
  bool left = dir == "LEFT";
  Tensor out;
  if (!visitType<kUnsigned>(a.dtype(), [&]<typename T>() {
        out = binaryApply<T, T, T>(ctx.pool(), a, b, a.dtype(), dims, [left](T x, T s) -> T {
          if (s >= sizeof(T) * 8) return 0;
          return static_cast<T>(left ? x << s : x >> s);
        });
      }))
    return badType(ctx, a.dtype());
  ctx.setOutput(0, std::move(out));
  return Status::ok();
}

// Comparisons and logic: bool outputs.
template <typename Cmp>
Status compareKernel(KernelContext& ctx, unsigned allowed, const Cmp& cmp) {
  NPU_TRY(needInputs(ctx, 2));
  if (ctx.input(0)->dtype() != ctx.input(1)->dtype())
    return ctx.fail("input element types differ: {} and {}", dtypeName(ctx.input(0)->dtype()),
                    dtypeName(ctx.input(1)->dtype()));
  if (!accepts(ctx.input(0)->dtype(), allowed)) return badType(ctx, ctx.input(0)->dtype());
  Tensor a = toF32(ctx.pool(), *ctx.input(0)), b = toF32(ctx.pool(), *ctx.input(1));
  std::vector<int64_t> dims;
  NPU_TRY(broadcastOf(ctx, a, b, dims));
  Tensor out;
  visitType<kF32 | kF64 | kInts | kBool>(a.dtype(), [&]<typename T>() {
    out = binaryApply<T, T, bool>(ctx.pool(), a, b, DType::Bool, dims, [&cmp](T x, T y) -> bool { return cmp(x, y); });
  });
  ctx.setOutput(0, std::move(out));
  return Status::ok();
}
Status kEqual(KernelContext& ctx) { return compareKernel(ctx, kNumeric | kBool, [](auto x, auto y) { return x == y; }); }
Status kGreater(KernelContext& ctx) { return compareKernel(ctx, kNumeric, [](auto x, auto y) { return x > y; }); }
Status kGreaterOrEqual(KernelContext& ctx) { return compareKernel(ctx, kNumeric, [](auto x, auto y) { return x >= y; }); }
Status kLess(KernelContext& ctx) { return compareKernel(ctx, kNumeric, [](auto x, auto y) { return x < y; }); }
Status kLessOrEqual(KernelContext& ctx) { return compareKernel(ctx, kNumeric, [](auto x, auto y) { return x <= y; }); }
Status kAnd(KernelContext& ctx) { return compareKernel(ctx, kBool, [](auto x, auto y) { return x && y; }); }
Status kOr(KernelContext& ctx) { return compareKernel(ctx, kBool, [](auto x, auto y) { return x || y; }); }
Status kXor(KernelContext& ctx) { return compareKernel(ctx, kBool, [](auto x, auto y) { return x != y; }); }

// Variadic: Sum, Mean, Max, Min (pairwise folds with broadcasting; float16 through float32).
template <typename Op, unsigned Allowed>
Status variadicKernel(KernelContext& ctx, bool mean) {
  constexpr unsigned allowed = Allowed;
  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < ctx.numInputs(); ++i)
    if (ctx.hasInput(i)) ins.push_back(ctx.input(i));
  if (ins.empty()) return ctx.fail("needs at least one input");
  DType t = ins[0]->dtype();
  for (const Tensor* x : ins)
    if (x->dtype() != t) return ctx.fail("input element types differ: {} and {}", dtypeName(t), dtypeName(x->dtype()));
  if (!accepts(t, allowed)) return badType(ctx, t);
  if (ins.size() == 1) {
    ctx.setOutput(0, *ins[0]);
    return Status::ok();
  }
  Tensor acc = toF32(ctx.pool(), *ins[0]);
  for (size_t i = 1; i < ins.size(); ++i) {
    NPU_ASSIGN_OR_RETURN(acc, (sameTypeBinary<Op, Allowed | kF32>(ctx, acc, toF32(ctx.pool(), *ins[i]))));
  }
  if (mean) {
    visitType<kF32 | kF64>(acc.dtype(), [&]<typename T>() {
      T* p = acc.mutableData<T>();
      T inv = T(1) / static_cast<T>(ins.size());
      for (int64_t i = 0; i < acc.numElements(); ++i) p[i] *= inv;
    });
  }
  ctx.setOutput(0, isHalf(t) ? fromF32(ctx.pool(), acc, t) : std::move(acc));
  return Status::ok();
}
Status kSum(KernelContext& ctx) { return variadicKernel<AddOp, kFloats>(ctx, false); }
Status kMean(KernelContext& ctx) { return variadicKernel<AddOp, kFloats>(ctx, true); }
Status kMax(KernelContext& ctx) { return variadicKernel<MaxOp, kNumeric>(ctx, false); }
Status kMin(KernelContext& ctx) { return variadicKernel<MinOp, kNumeric>(ctx, false); }

// Where(cond, X, Y): a byte-size copy, any element type.
Status kWhere(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 3));
  const Tensor& c = *ctx.input(0);
  const Tensor& x = *ctx.input(1);
  const Tensor& y = *ctx.input(2);
  if (c.dtype() != DType::Bool) return ctx.fail("condition must be bool, not {}", dtypeName(c.dtype()));
  if (x.dtype() != y.dtype()) return ctx.fail("X and Y element types differ");
  std::vector<int64_t> dims;
  if (!bcast::broadcastDims({&c.dims(), &x.dims(), &y.dims()}, dims))
    return ctx.fail("shapes {}, {} and {} do not broadcast", c.describe(), x.describe(), y.describe());
  Tensor& out = ctx.allocate(0, x.dtype(), dims);
  bcast::Plan plan(dims, {&c.dims(), &x.dims(), &y.dims()});
  int64_t sc = plan.innerStride(0), sx = plan.innerStride(1), sy = plan.innerStride(2);
  auto run = [&]<typename T>() {
    const bool* pc = c.data<bool>();
    const T* px = x.data<T>();
    const T* py = y.data<T>();
    T* po = out.mutableData<T>();
    bcast::parallelRows(ctx.pool(), plan, [&](int64_t o, const int64_t* in, int64_t n) {
      const bool* cc = pc + in[0];
      const T* xx = px + in[1];
      const T* yy = py + in[2];
      T* oo = po + o;
      for (int64_t i = 0; i < n; ++i) oo[i] = cc[i * sc] ? xx[i * sx] : yy[i * sy];
    });
  };
  switch (dtypeSize(x.dtype())) {
    case 1: run.template operator()<uint8_t>(); break;
    case 2: run.template operator()<uint16_t>(); break;
    case 4: run.template operator()<uint32_t>(); break;
    case 8: run.template operator()<uint64_t>(); break;
    default: return badType(ctx, x.dtype());
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Clip

Status kClip(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 1));
  DType t = ctx.input(0)->dtype();
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  if (ctx.opset() < 11) {
    lo = ctx.attrs().getFloat("min", -std::numeric_limits<float>::infinity());
    hi = ctx.attrs().getFloat("max", std::numeric_limits<float>::infinity());
  } else {
    for (size_t i : {1, 2}) {
      if (!ctx.hasInput(i)) continue;
      const Tensor& b = *ctx.input(i);
      if (b.numElements() != 1) return ctx.fail("{} must be a scalar, got {}", i == 1 ? "min" : "max", b.describe());
      if (b.dtype() != t) return ctx.fail("{} has element type {}, input has {}", i == 1 ? "min" : "max", dtypeName(b.dtype()), dtypeName(t));
      (i == 1 ? lo : hi) = b.toDoubles()[0];
    }
  }
  unsigned allowed = ctx.opset() < 12 ? kFloats : kNumeric;
  if (!accepts(t, allowed)) return badType(ctx, t);
  if (!isFloat(t)) {
    // Exact integer bounds (int64 values above 2^53 must not go through double).
    int64_t ilo = std::numeric_limits<int64_t>::lowest(), ihi = std::numeric_limits<int64_t>::max();
    if (ctx.opset() >= 11) {
      if (ctx.hasInput(1)) ilo = ctx.input(1)->toInt64s()[0];
      if (ctx.hasInput(2)) ihi = ctx.input(2)->toInt64s()[0];
    }
    if (t == DType::U64) {
      uint64_t ulo = ctx.hasInput(1) ? ctx.input(1)->data<uint64_t>()[0] : 0;
      uint64_t uhi = ctx.hasInput(2) ? ctx.input(2)->data<uint64_t>()[0] : std::numeric_limits<uint64_t>::max();
      return unaryMap<kUnsigned>(ctx, [ulo, uhi]<typename T>(T x) -> T {
        uint64_t v = std::min<uint64_t>(std::max<uint64_t>(static_cast<uint64_t>(x), ulo), uhi);
        return static_cast<T>(v);
      });
    }
    return unaryMap<kInts>(ctx, [ilo, ihi]<typename T>(T x) -> T {
      int64_t v = std::min<int64_t>(std::max<int64_t>(static_cast<int64_t>(x), ilo), ihi);
      return static_cast<T>(v);
    });
  }
  return unaryMap<kFloats>(ctx, [lo, hi]<typename T>(T x) -> T {
    if (x != x) return x;
    T l = static_cast<T>(lo), h = static_cast<T>(hi);
    return x < l ? l : (x > h ? h : x);
  });
}

// ---------------------------------------------------------------------------------------------
// Cast, CastLike

struct HalfTag {};
struct Bf16Tag {};

template <typename F>
bool visitCastType(DType t, F&& f) {
  if (t == DType::F16) { f.template operator()<HalfTag>(); return true; }
  if (t == DType::BF16) { f.template operator()<Bf16Tag>(); return true; }
  return visitType<kF32 | kF64 | kInts | kBool>(t, f);
}

template <typename T> struct Storage { using type = T; };
template <> struct Storage<HalfTag> { using type = uint16_t; };
template <> struct Storage<Bf16Tag> { using type = uint16_t; };

/// The value as float/double/integer for conversion.
template <typename S>
auto castLoad(typename Storage<S>::type v) {
  if constexpr (std::is_same_v<S, HalfTag>) return halfToFloat(v);
  else if constexpr (std::is_same_v<S, Bf16Tag>) return bf16ToFloat(v);
  else return v;
}

template <typename D, typename V>
typename Storage<D>::type castStore(V v) {
  if constexpr (std::is_same_v<D, HalfTag>) return floatToHalf(static_cast<float>(v));
  else if constexpr (std::is_same_v<D, Bf16Tag>) return floatToBf16(static_cast<float>(v));
  else if constexpr (std::is_same_v<D, bool>) return v != V(0);
  else if constexpr (std::is_floating_point_v<V> && !std::is_floating_point_v<D>) {
    // Float to integer: truncate; NaN and out-of-range values saturate instead of being UB.
    if (v != v) return D(0);
    if (v <= static_cast<V>(std::numeric_limits<D>::lowest())) return std::numeric_limits<D>::lowest();
    if (v >= static_cast<V>(std::numeric_limits<D>::max())) return std::numeric_limits<D>::max();
    return static_cast<D>(v);
  } else {
    return static_cast<D>(v);
  }
}

Status castTo(KernelContext& ctx, DType to) {
  NPU_TRY(needInputs(ctx, 1));
  const Tensor& x = *ctx.input(0);
  if (to == DType::String || x.dtype() == DType::String) return ctx.unsupported("casts to or from string are not supported");
  if (to == x.dtype()) {
    ctx.setOutput(0, x);
    return Status::ok();
  }
  Tensor out;
  visitCastType(x.dtype(), [&]<typename S>() {
    visitCastType(to, [&]<typename D>() {
      out = Tensor(to, x.dims());
      const auto* in = x.data<typename Storage<S>::type>();
      auto* o = out.mutableData<typename Storage<D>::type>();
      ctx.pool().parallelFor(x.numElements(), kGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) o[i] = castStore<D>(castLoad<S>(in[i]));
      });
    });
  });
  if (!out.defined())
    return ctx.unsupported("cast from {} to {} is not supported", dtypeName(x.dtype()), dtypeName(to));
  ctx.setOutput(0, std::move(out));
  return Status::ok();
}

Status kCast(KernelContext& ctx) {
  auto code = ctx.attrs().get<int64_t>("to");
  if (!code) {
    // Cast-1 spelled `to` as a type name string.
    auto name = ctx.attrs().get<std::string>("to");
    if (!name) return ctx.fail("attribute \"to\" is missing");
    std::string lower = *name;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    auto t = dtypeFromName(lower);
    if (!t) return ctx.fail("unknown element type \"{}\"", *name);
    return castTo(ctx, *t);
  }
  auto t = dtypeFromCode(static_cast<int32_t>(*code));
  if (!t) return ctx.unsupported("cast to element type code {} is not supported", *code);
  return castTo(ctx, *t);
}

Status kCastLike(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 2));
  return castTo(ctx, ctx.input(1)->dtype());
}

// ---------------------------------------------------------------------------------------------
// Identity, Dropout

Status kIdentity(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 1));
  ctx.setOutput(0, *ctx.input(0));
  return Status::ok();
}

Status kDropout(KernelContext& ctx) {
  NPU_TRY(needInputs(ctx, 1));
  const Tensor& x = *ctx.input(0);
  bool training = false;
  double ratio = ctx.attrs().getFloat("ratio", 0.5f);
  if (ctx.opset() >= 12) {
    if (ctx.hasInput(1)) ratio = ctx.input(1)->toDoubles().at(0);
    if (ctx.hasInput(2)) training = ctx.input(2)->toInt64s().at(0) != 0;
  }
  // Dropout-1..6 has an is_test attribute defaulting to training; exporters nearly always ran
  // such graphs for inference, so like other runtimes we treat them as inference.
  if (training && ratio != 0) return ctx.unsupported("training-mode Dropout (random masks) is not supported");
  ctx.setOutput(0, x);
  if (ctx.wantsOutput(1)) {
    DType maskType = ctx.opset() >= 10 ? DType::Bool : x.dtype();
    Tensor& m = ctx.allocate(1, maskType, x.dims());
    if (maskType == DType::Bool) {
      std::memset(m.mutableRaw(), 1, m.byteSize());
    } else if (isHalf(maskType)) {
      std::fill_n(m.mutableData<uint16_t>(), m.numElements(), maskType == DType::F16 ? floatToHalf(1.0f) : floatToBf16(1.0f));
    } else {
      visitType<kF32 | kF64 | kInts>(maskType, [&]<typename T>() { std::fill_n(m.mutableData<T>(), m.numElements(), T(1)); });
    }
  }
  return Status::ok();
}

}  // namespace

void registerElementwiseKernels(KernelRegistry& r) {
  struct E {
    const char* op;
    KernelFn fn;
  };
  static const E kAll[] = {
      {"Add", kAdd}, {"Sub", kSub}, {"Mul", kMul}, {"Div", kDiv}, {"Pow", kPow}, {"Mod", kMod},
      {"Max", kMax}, {"Min", kMin}, {"Sum", kSum}, {"Mean", kMean},
      {"Equal", kEqual}, {"Greater", kGreater}, {"GreaterOrEqual", kGreaterOrEqual}, {"Less", kLess},
      {"LessOrEqual", kLessOrEqual}, {"And", kAnd}, {"Or", kOr}, {"Xor", kXor}, {"BitShift", kBitShift},
      {"PRelu", kPRelu}, {"Where", kWhere},
      {"Abs", kAbs}, {"Neg", kNeg}, {"Reciprocal", kReciprocal}, {"Sqrt", kSqrt}, {"Exp", kExp},
      {"Log", kLog}, {"Floor", kFloor}, {"Ceil", kCeil}, {"Round", kRound}, {"Sign", kSign},
      {"Sin", kSin}, {"Cos", kCos}, {"Tan", kTan}, {"Asin", kAsin}, {"Acos", kAcos}, {"Atan", kAtan},
      {"Sinh", kSinh}, {"Cosh", kCosh}, {"Asinh", kAsinh}, {"Acosh", kAcosh}, {"Atanh", kAtanh},
      {"Erf", kErf}, {"Not", kNot}, {"IsNaN", kIsNaN}, {"IsInf", kIsInf},
      {"Relu", kRelu}, {"LeakyRelu", kLeakyRelu}, {"Elu", kElu}, {"Selu", kSelu}, {"Celu", kCelu},
      {"Sigmoid", kSigmoid}, {"HardSigmoid", kHardSigmoid}, {"HardSwish", kHardSwish},
      {"Softplus", kSoftplus}, {"Softsign", kSoftsign}, {"Tanh", kTanh},
      {"ThresholdedRelu", kThresholdedRelu}, {"Gelu", kGelu}, {"Mish", kMish}, {"Clip", kClip},
      {"Cast", kCast}, {"CastLike", kCastLike}, {"Identity", kIdentity}, {"Dropout", kDropout},
      {"Shrink", kShrink},
  };
  for (const E& e : kAll) r.add("", e.op, e.fn);
}

}  // namespace npuconv
