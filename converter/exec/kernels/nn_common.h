// nn_common.h - helpers shared by the nn kernel family (nn*.cc): float16 staging, spatial
// geometry of convolutions and pools, and a threaded row-major GEMM (float32: gemm_f32.h; other
// types: Eigen).
// Internal to converter/exec/kernels; not a public API.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "converter/exec/kernel.h"

namespace npuconv {
class KernelRegistry;
namespace nn {

void registerConvKernels(KernelRegistry& r);
void registerPoolKernels(KernelRegistry& r);
void registerResizeKernels(KernelRegistry& r);
void registerEinsumKernels(KernelRegistry& r);

/// F16/BF16 to a fresh F32 tensor; other dtypes are returned as is (aliasing).
Tensor widenToF32(const Tensor& t);
/// An F32 tensor converted to `dtype` (F16/BF16); F32 is returned as is.
Tensor narrowFromF32(const Tensor& t, DType dtype);
inline bool isHalfLike(DType t) { return t == DType::F16 || t == DType::BF16; }

/// Spatial geometry of a sliding-window op (Conv, pools): per spatial axis.
struct Window {
  std::vector<int64_t> in, out, kernel, stride, dilation, padBegin, padEnd;
  size_t rank() const { return in.size(); }
};

/// Reads kernel_shape (or `kernelFromWeights` when given), strides, dilations, pads and
/// auto_pad, and computes the output size. `ceilMode` rounds the output size up (pools).
Expected<Window> computeWindow(const KernelContext& ctx, const std::vector<int64_t>& inSpatial,
                               const std::vector<int64_t>* kernelFromWeights, bool ceilMode,
                               bool allowDilations = true);

/// A Window normalised to three spatial axes (D, H, W): 1-D and 2-D windows get leading axes of
/// size 1 (no padding), so kernels need one loop nest for every rank.
struct Geo3 {
  int64_t in[3], out[3], k[3], s[3], d[3], pb[3], pe[3];
  int64_t inSize() const { return in[0] * in[1] * in[2]; }
  int64_t outSize() const { return out[0] * out[1] * out[2]; }
  int64_t kSize() const { return k[0] * k[1] * k[2]; }
};

inline Geo3 toGeo3(const Window& w) {
  Geo3 g;
  size_t r = w.rank(), off = 3 - r;
  for (size_t i = 0; i < 3; ++i) {
    bool real = i >= off;
    size_t j = real ? i - off : 0;
    g.in[i] = real ? w.in[j] : 1;
    g.out[i] = real ? w.out[j] : 1;
    g.k[i] = real ? w.kernel[j] : 1;
    g.s[i] = real ? w.stride[j] : 1;
    g.d[i] = real ? w.dilation[j] : 1;
    g.pb[i] = real ? w.padBegin[j] : 0;
    g.pe[i] = real ? w.padEnd[j] : 0;
  }
  return g;
}

/// Whether maxPoolPlaneF32 handles this geometry: 2-D (or 1-D), no dilation, horizontal stride 1
/// or 2 (any kernel, vertical stride and padding).
bool fastMaxPool(const Geo3& g);

/// One float32 plane of MaxPool without indices (x: g.in, y: g.out), vectorized (AVX2). Same
/// results as the general MaxPool kernel (max is exact; a NaN input is skipped as its `v > best`
/// does). The MaxPool kernel and a Conv with a fused MaxPool (nn_conv.cc) call it.
void maxPoolPlaneF32(const float* x, float* y, const Geo3& g);

/// C[M,N] (row stride ldc) = alpha * op(A) * op(B) + beta * C, all row-major; op is an optional
/// transpose. Single-threaded; callers split the work across threads.
template <typename T>
void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

/// The same, split across the pool along M or N (whichever is larger).
template <typename T>
void parallelGemm(ThreadPool& pool, bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha,
                  const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

}  // namespace nn
}  // namespace npuconv
