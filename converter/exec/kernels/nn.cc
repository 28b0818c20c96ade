// nn.cc - kernels of the nn family (see kernels.h): MatMul and Gemm here, plus the helpers of
// nn_common.h; Conv/ConvTranspose in nn_conv.cc, pools in nn_pool.cc, Resize/Upsample/GridSample
// in nn_resize.cc, Einsum in nn_einsum.cc.
//
// float32 GEMMs run on npuconv's packed GEMM (gemm_f32.h: AVX2 or AVX-512 microkernels); the
// other types on Eigen, split across the executor's pool by rows or columns of the output
// (Eigen's own threading is not used).
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "converter/exec/fused_epilogue.h"
#include "converter/exec/kernel.h"
#include "converter/exec/kernels/gemm_f32.h"
#include "converter/exec/kernels/kernels.h"
#include "converter/exec/kernels/nn_common.h"

namespace npuconv {
namespace nn {

// ---------------------------------------------------------------------------------------------
// dtype staging

Tensor widenToF32(const Tensor& t) {
  if (!isHalfLike(t.dtype())) return t;
  Tensor out(DType::F32, t.dims());
  const uint16_t* src = t.data<uint16_t>();
  float* dst = out.mutableData<float>();
  int64_t n = t.numElements();
  if (t.dtype() == DType::F16)
    for (int64_t i = 0; i < n; ++i) dst[i] = halfToFloat(src[i]);
  else
    for (int64_t i = 0; i < n; ++i) dst[i] = bf16ToFloat(src[i]);
  return out;
}

Tensor narrowFromF32(const Tensor& t, DType dtype) {
  if (!isHalfLike(dtype) || t.dtype() != DType::F32) return t;
  Tensor out(dtype, t.dims());
  const float* src = t.data<float>();
  uint16_t* dst = out.mutableData<uint16_t>();
  int64_t n = t.numElements();
  if (dtype == DType::F16)
    for (int64_t i = 0; i < n; ++i) dst[i] = floatToHalf(src[i]);
  else
    for (int64_t i = 0; i < n; ++i) dst[i] = floatToBf16(src[i]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// window geometry

Expected<Window> computeWindow(const KernelContext& ctx, const std::vector<int64_t>& inSpatial,
                               const std::vector<int64_t>* kernelFromWeights, bool ceilMode,
                               bool allowDilations) {
  const AttrMap& a = ctx.attrs();
  size_t r = inSpatial.size();
  Window w;
  w.in = inSpatial;
  if (auto ks = a.get<std::vector<int64_t>>("kernel_shape"))
    w.kernel = *ks;
  else if (kernelFromWeights)
    w.kernel = *kernelFromWeights;
  else
    return ctx.fail("missing kernel_shape");
  if (w.kernel.size() != r)
    return ctx.fail("kernel_shape has {} dims, the input has {} spatial dims", w.kernel.size(), r);
  w.stride = a.getInts("strides", std::vector<int64_t>(r, 1));
  w.dilation = a.getInts("dilations", std::vector<int64_t>(r, 1));
  std::vector<int64_t> pads = a.getInts("pads", std::vector<int64_t>(2 * r, 0));
  if (w.stride.size() != r) return ctx.fail("strides has {} values, expected {}", w.stride.size(), r);
  if (w.dilation.size() != r) return ctx.fail("dilations has {} values, expected {}", w.dilation.size(), r);
  if (pads.size() != 2 * r) return ctx.fail("pads has {} values, expected {}", pads.size(), 2 * r);
  if (!allowDilations)
    for (int64_t d : w.dilation)
      if (d != 1) return ctx.unsupported("dilations other than 1");
  std::string autoPad = a.getString("auto_pad", "NOTSET");
  w.padBegin.assign(r, 0);
  w.padEnd.assign(r, 0);
  w.out.assign(r, 0);
  for (size_t i = 0; i < r; ++i) {
    int64_t k = w.kernel[i], s = w.stride[i], d = w.dilation[i], in = w.in[i];
    if (k < 1 || s < 1 || d < 1) return ctx.fail("kernel, strides and dilations must be positive");
    int64_t ek = (k - 1) * d + 1;
    if (autoPad == "NOTSET" || autoPad.empty()) {
      int64_t pb = pads[i], pe = pads[i + r];
      if (pb < 0 || pe < 0) return ctx.fail("negative pads");
      int64_t num = in + pb + pe - ek;
      if (num < 0) return ctx.fail("the window ({}) is larger than the padded input ({})", ek, in + pb + pe);
      int64_t out = ceilMode ? (num + s - 1) / s + 1 : num / s + 1;
      // The last window must start inside the input or its leading padding.
      if (ceilMode && (out - 1) * s >= in + pb) --out;
      w.padBegin[i] = pb;
      w.padEnd[i] = pe;
      w.out[i] = out;
    } else if (autoPad == "VALID") {
      if (in < ek) return ctx.fail("the window ({}) is larger than the input ({})", ek, in);
      w.out[i] = ceilMode ? (in - ek + s - 1) / s + 1 : (in - ek) / s + 1;
    } else if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
      int64_t out = (in + s - 1) / s;
      int64_t total = std::max<int64_t>(0, (out - 1) * s + ek - in);
      int64_t pb = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
      w.padBegin[i] = pb;
      w.padEnd[i] = total - pb;
      w.out[i] = out;
    } else {
      return ctx.fail("unknown auto_pad \"{}\"", autoPad);
    }
  }
  return w;
}

// ---------------------------------------------------------------------------------------------
// GEMM

template <typename T>
void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    gemm::sgemm(nullptr, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using CMap = Eigen::Map<const RowMat, 0, Eigen::OuterStride<>>;
  using MMap = Eigen::Map<RowMat, 0, Eigen::OuterStride<>>;
  if (M <= 0 || N <= 0) return;
  MMap c(C, M, N, Eigen::OuterStride<>(ldc));
  if (K <= 0) {
    if (beta == T(0))
      c.setZero();
    else
      c *= beta;
    return;
  }
  CMap a(A, transA ? K : M, transA ? M : K, Eigen::OuterStride<>(lda));
  CMap b(B, transB ? N : K, transB ? K : N, Eigen::OuterStride<>(ldb));
  auto run = [&](const auto& opA, const auto& opB) {
    if (beta == T(0)) {
      if (alpha == T(1))
        c.noalias() = opA * opB;
      else
        c.noalias() = alpha * (opA * opB);
    } else {
      if (beta != T(1)) c *= beta;
      if (alpha == T(1))
        c.noalias() += opA * opB;
      else
        c.noalias() += alpha * (opA * opB);
    }
  };
  if (!transA && !transB)
    run(a, b);
  else if (transA && !transB)
    run(a.transpose(), b);
  else if (!transA && transB)
    run(a, b.transpose());
  else
    run(a.transpose(), b.transpose());
}

template <typename T>
void parallelGemm(ThreadPool& pool, bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha,
                  const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    gemm::sgemm(&pool, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  double flops = double(M) * double(N) * double(std::max<int64_t>(K, 1));
  if (pool.size() < 2 || flops < 65536.0) {
    gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (M >= N) {
    int64_t grain = std::max<int64_t>(8, M / (4 * pool.size()));
    pool.parallelFor(M, grain, [&](int64_t m0, int64_t m1) {
      const T* a = transA ? A + m0 : A + m0 * lda;
      gemm(transA, transB, m1 - m0, N, K, alpha, a, lda, B, ldb, beta, C + m0 * ldc, ldc);
    });
  } else {
    int64_t grain = std::max<int64_t>(16, N / (4 * pool.size()));
    pool.parallelFor(N, grain, [&](int64_t n0, int64_t n1) {
      const T* b = transB ? B + n0 * ldb : B + n0;
      gemm(transA, transB, M, n1 - n0, K, alpha, A, lda, b, ldb, beta, C + n0, ldc);
    });
  }
}

#define NPU_NN_GEMM_INSTANTIATE(T)                                                                  \
  template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, \
                        T, T*, int64_t);                                                            \
  template void parallelGemm<T>(ThreadPool&, bool, bool, int64_t, int64_t, int64_t, T, const T*,      \
                                int64_t, const T*, int64_t, T, T*, int64_t);
NPU_NN_GEMM_INSTANTIATE(float)
NPU_NN_GEMM_INSTANTIATE(double)
NPU_NN_GEMM_INSTANTIATE(int32_t)
NPU_NN_GEMM_INSTANTIATE(int64_t)
NPU_NN_GEMM_INSTANTIATE(uint32_t)
NPU_NN_GEMM_INSTANTIATE(uint64_t)
#undef NPU_NN_GEMM_INSTANTIATE

namespace {

// ---------------------------------------------------------------------------------------------
// MatMul: numpy semantics (1-D operands promoted and the added dim removed; batch dims broadcast)

template <typename T>
void matmulTyped(ThreadPool& pool, const Tensor& a, const Tensor& b, Tensor& y, int64_t M, int64_t K, int64_t N,
                 const std::vector<int64_t>& aBatchOff, const std::vector<int64_t>& bBatchOff,
                 bool aCollapsible) {
  const T* A = a.data<T>();
  const T* B = b.data<T>();
  T* Y = y.mutableData<T>();
  int64_t batches = static_cast<int64_t>(aBatchOff.size());
  if (batches == 0 || M == 0 || N == 0) return;
  if (aCollapsible) {
    // B is shared by every batch and A's batches are contiguous: one tall GEMM.
    parallelGemm<T>(pool, false, false, batches * M, N, K, T(1), A, K, B + bBatchOff[0], N, T(0), Y, N);
    return;
  }
  double perBatch = double(M) * double(N) * double(std::max<int64_t>(K, 1));
  if (batches >= pool.size() && perBatch * double(batches) >= 65536.0) {
    pool.parallelFor(batches, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i)
        gemm<T>(false, false, M, N, K, T(1), A + aBatchOff[size_t(i)], K, B + bBatchOff[size_t(i)], N, T(0),
                Y + i * M * N, N);
    });
  } else {
    for (int64_t i = 0; i < batches; ++i)
      parallelGemm<T>(pool, false, false, M, N, K, T(1), A + aBatchOff[size_t(i)], K, B + bBatchOff[size_t(i)],
                      N, T(0), Y + i * M * N, N);
  }
}

Status matmulKernel(KernelContext& ctx) {
  const Tensor* pa = ctx.input(0);
  const Tensor* pb = ctx.input(1);
  if (!pa || !pb) return ctx.fail("MatMul needs two inputs");
  if (pa->dtype() != pb->dtype())
    return ctx.fail("input dtypes differ: {} and {}", dtypeName(pa->dtype()), dtypeName(pb->dtype()));
  if (pa->rank() == 0 || pb->rank() == 0) return ctx.fail("MatMul operands must not be scalars");
  DType dt = pa->dtype();
  Tensor a = widenToF32(*pa), b = widenToF32(*pb);
  std::vector<int64_t> ad = a.dims(), bd = b.dims();
  bool dropM = false, dropN = false;
  if (ad.size() == 1) {
    ad = {1, ad[0]};
    dropM = true;
  }
  if (bd.size() == 1) {
    bd = {bd[0], 1};
    dropN = true;
  }
  int64_t M = ad[ad.size() - 2], K = ad.back(), N = bd.back();
  if (bd[bd.size() - 2] != K)
    return ctx.fail("inner dims differ: {} x {}", pa->describe(), pb->describe());
  std::vector<int64_t> aBatch(ad.begin(), ad.end() - 2), bBatch(bd.begin(), bd.end() - 2);
  size_t br = std::max(aBatch.size(), bBatch.size());
  aBatch.insert(aBatch.begin(), br - aBatch.size(), 1);
  bBatch.insert(bBatch.begin(), br - bBatch.size(), 1);
  std::vector<int64_t> outBatch(br);
  for (size_t i = 0; i < br; ++i) {
    if (aBatch[i] != bBatch[i] && aBatch[i] != 1 && bBatch[i] != 1)
      return ctx.fail("batch dims do not broadcast: {} x {}", pa->describe(), pb->describe());
    outBatch[i] = aBatch[i] == 1 ? bBatch[i] : aBatch[i];
  }
  // Offsets of every output batch into A and B.
  int64_t batches = elementCount(outBatch);
  std::vector<int64_t> aOff(size_t(batches), 0), bOff(size_t(batches), 0);
  {
    std::vector<int64_t> aStride(br, 0), bStride(br, 0);
    int64_t sa = M * K, sb = K * N;
    for (size_t i = br; i-- > 0;) {
      aStride[i] = aBatch[i] == 1 ? 0 : sa;
      bStride[i] = bBatch[i] == 1 ? 0 : sb;
      sa *= aBatch[i];
      sb *= bBatch[i];
    }
    std::vector<int64_t> idx(br, 0);
    for (int64_t n = 0; n < batches; ++n) {
      int64_t oa = 0, ob = 0;
      for (size_t i = 0; i < br; ++i) {
        oa += idx[i] * aStride[i];
        ob += idx[i] * bStride[i];
      }
      aOff[size_t(n)] = oa;
      bOff[size_t(n)] = ob;
      for (size_t i = br; i-- > 0;) {
        if (++idx[i] < outBatch[i]) break;
        idx[i] = 0;
      }
    }
  }
  bool bShared = elementCount(bBatch) == 1;
  bool aFull = aBatch == outBatch;
  std::vector<int64_t> outDims = outBatch;
  if (!dropM) outDims.push_back(M);
  if (!dropN) outDims.push_back(N);
  Tensor y = Tensor::uninitialized(a.dtype(), outDims);  // every GEMM below runs with beta 0
  bool collapse = bShared && aFull;
  // A constant float32 [K, N] B shared by every batch (a layer's weights): packed once per node.
  const gemm::PackedB* packedB = nullptr;
  if (collapse && dt == DType::F32 && pb->rank() == 2 && ctx.inputIsConstant(1) && ctx.nodeCache() &&
      int64_t(aOff.size()) * M >= 4 && N >= 8 && K > 0) {
    struct Packed {
      const void* source;
      gemm::PackedB b;
    };
    std::shared_ptr<void>& slot = *ctx.nodeCache();
    auto* cur = static_cast<Packed*>(slot.get());
    if (!cur || cur->source != b.raw() || cur->b.isa() != gemm::activeIsa()) {
      auto p = std::make_shared<Packed>(Packed{b.raw(), gemm::PackedB::pack(b.data<float>(), K, N, N)});
      cur = p.get();
      slot = std::move(p);
    }
    packedB = &cur->b;
  }
  // A bias Add the executor fused into this MatMul (per column, length N checked at plan time).
  if (const gemm::Epilogue* fused = takeFusedEpilogue(dt, outDims)) {
    if (a.dtype() != DType::F32 || b.dtype() != DType::F32 || !fused->bias || fused->biasPerRow || fused->biasLen != N)
      return ctx.fail("internal: fused bias does not fit {} x {}", pa->describe(), pb->describe());
    gemm::Epilogue ep = *fused;
    const float* A = a.data<float>();
    const float* B = b.data<float>();
    float* Y = y.mutableData<float>();
    int64_t batches = static_cast<int64_t>(aOff.size());
    if (packedB) {
      gemm::sgemmPrepackedB(&ctx.pool(), batches * M, A, K, *packedB, Y, N, ep);
    } else if (collapse) {
      gemm::sgemm(&ctx.pool(), false, false, batches * M, N, K, 1.0f, A, K, B + bOff[0], N, 0.0f, Y, N, ep);
    } else {
      for (int64_t i = 0; i < batches; ++i)
        gemm::sgemm(&ctx.pool(), false, false, M, N, K, 1.0f, A + aOff[size_t(i)], K, B + bOff[size_t(i)], N, 0.0f,
                    Y + i * M * N, N, ep);
    }
    ctx.setOutput(0, narrowFromF32(y, dt));
    return Status::ok();
  }
  if (packedB) {
    gemm::sgemmPrepackedB(&ctx.pool(), int64_t(aOff.size()) * M, a.data<float>(), K, *packedB, y.mutableData<float>(), N);
    ctx.setOutput(0, std::move(y));
    return Status::ok();
  }
  switch (a.dtype()) {
    case DType::F32: matmulTyped<float>(ctx.pool(), a, b, y, M, K, N, aOff, bOff, collapse); break;
    case DType::F64: matmulTyped<double>(ctx.pool(), a, b, y, M, K, N, aOff, bOff, collapse); break;
    case DType::I32: matmulTyped<int32_t>(ctx.pool(), a, b, y, M, K, N, aOff, bOff, collapse); break;
    case DType::I64: matmulTyped<int64_t>(ctx.pool(), a, b, y, M, K, N, aOff, bOff, collapse); break;
    case DType::U32: matmulTyped<uint32_t>(ctx.pool(), a, b, y, M, K, N, aOff, bOff, collapse); break;
    case DType::U64: matmulTyped<uint64_t>(ctx.pool(), a, b, y, M, K, N, aOff, bOff, collapse); break;
    default: return ctx.unsupported("MatMul on {}", dtypeName(dt));
  }
  ctx.setOutput(0, narrowFromF32(y, dt));
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Gemm: Y = alpha * op(A) * op(B) + beta * C, C unidirectionally broadcast to [M, N]

template <typename T>
Status gemmTyped(KernelContext& ctx, const Tensor& a, const Tensor& b, const Tensor* c, Tensor& y, bool tA,
                 bool tB, int64_t M, int64_t N, int64_t K) {
  T alpha = static_cast<T>(ctx.attrs().getFloat("alpha", 1.0f));
  T beta = static_cast<T>(ctx.attrs().getFloat("beta", 1.0f));
  T* Y = y.mutableData<T>();
  T gemmBeta = T(0);
  if (c && beta != T(0) && M > 0 && N > 0) {
    const std::vector<int64_t>& cd = c->dims();
    int64_t cm = 1, cn = 1;
    if (cd.size() == 1) {
      cn = cd[0];
    } else if (cd.size() == 2) {
      cm = cd[0];
      cn = cd[1];
    } else if (cd.size() > 2) {
      return ctx.fail("C has rank {}", cd.size());
    }
    if ((cm != 1 && cm != M) || (cn != 1 && cn != N))
      return ctx.fail("C {} does not broadcast to [{}, {}]", c->describe(), M, N);
    const T* C = c->data<T>();
    for (int64_t i = 0; i < M; ++i) {
      const T* crow = C + (cm == 1 ? 0 : i) * cn;
      T* yrow = Y + i * N;
      if (cn == 1)
        std::fill(yrow, yrow + N, crow[0] * beta);
      else
        for (int64_t j = 0; j < N; ++j) yrow[j] = crow[j] * beta;
    }
    gemmBeta = T(1);
  }
  parallelGemm<T>(ctx.pool(), tA, tB, M, N, K, alpha, a.data<T>(), tA ? M : K, b.data<T>(), tB ? K : N, gemmBeta, Y,
                  N);
  return Status::ok();
}

Status gemmKernel(KernelContext& ctx) {
  const Tensor* pa = ctx.input(0);
  const Tensor* pb = ctx.input(1);
  if (!pa || !pb) return ctx.fail("Gemm needs A and B");
  if (pa->rank() != 2 || pb->rank() != 2) return ctx.fail("A and B must be 2-D, got {} and {}", pa->describe(), pb->describe());
  DType dt = pa->dtype();
  if (pb->dtype() != dt || (ctx.input(2) && ctx.input(2)->dtype() != dt)) return ctx.fail("input dtypes differ");
  bool tA = ctx.attrs().getInt("transA", 0) != 0, tB = ctx.attrs().getInt("transB", 0) != 0;
  Tensor a = widenToF32(*pa), b = widenToF32(*pb);
  Tensor c;
  if (ctx.input(2)) c = widenToF32(*ctx.input(2));
  int64_t M = tA ? a.dim(1) : a.dim(0), K = tA ? a.dim(0) : a.dim(1);
  int64_t Kb = tB ? b.dim(1) : b.dim(0), N = tB ? b.dim(0) : b.dim(1);
  if (K != Kb) return ctx.fail("inner dims differ: {} x {} (transA={}, transB={})", pa->describe(), pb->describe(), tA, tB);
  Tensor y = Tensor::uninitialized(a.dtype(), {M, N});  // C * beta or beta 0: written in full
  const Tensor* cp = c.defined() ? &c : nullptr;
  switch (a.dtype()) {
    case DType::F32: NPU_TRY(gemmTyped<float>(ctx, a, b, cp, y, tA, tB, M, N, K)); break;
    case DType::F64: NPU_TRY(gemmTyped<double>(ctx, a, b, cp, y, tA, tB, M, N, K)); break;
    case DType::I32: NPU_TRY(gemmTyped<int32_t>(ctx, a, b, cp, y, tA, tB, M, N, K)); break;
    case DType::I64: NPU_TRY(gemmTyped<int64_t>(ctx, a, b, cp, y, tA, tB, M, N, K)); break;
    case DType::U32: NPU_TRY(gemmTyped<uint32_t>(ctx, a, b, cp, y, tA, tB, M, N, K)); break;
    case DType::U64: NPU_TRY(gemmTyped<uint64_t>(ctx, a, b, cp, y, tA, tB, M, N, K)); break;
    default: return ctx.unsupported("Gemm on {}", dtypeName(dt));
  }
  ctx.setOutput(0, narrowFromF32(y, dt));
  return Status::ok();
}

}  // namespace
}  // namespace nn

void registerNnKernels(KernelRegistry& r) {
  r.add("", "MatMul", nn::matmulKernel);
  r.add("", "Gemm", nn::gemmKernel);
  nn::registerConvKernels(r);
  nn::registerPoolKernels(r);
  nn::registerResizeKernels(r);
  nn::registerEinsumKernels(r);
}

}  // namespace npuconv
