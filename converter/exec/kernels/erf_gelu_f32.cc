// erf_gelu_f32.cc - see erf_gelu_f32.h. Blocks of 512 elements stay in L1 through the five
// steps; the Erf of a block is the Erf kernel's own loop (erfF32, or its AVX-512 twin, which
// gives the same bits), the other steps single IEEE operations in the model's order.
#include "converter/exec/kernels/erf_gelu_f32.h"

#include <algorithm>

#include "converter/exec/kernels/ew_util.h"
#include "converter/exec/kernels/vector_math_avx512.h"
#include "converter/exec/thread_pool.h"

namespace npuconv::nn {

bool erfGeluF32(ThreadPool& pool, const Tensor& x, const FusedErfGelu& f, Tensor& y) {
  if (x.dtype() != DType::F32) return false;
  y = Tensor::uninitialized(DType::F32, x.dims());
  const float* in = x.data<float>();
  float* out = y.mutableData<float>();
  static const bool avx512 = ew::vectorMathAvx512();
  constexpr int64_t kBlock = 512;
  pool.parallelFor(x.numElements(), 16384, [&](int64_t b, int64_t e) {
    alignas(64) float t[kBlock];
    for (int64_t i0 = b; i0 < e; i0 += kBlock) {
      const int64_t n = std::min(kBlock, e - i0);
      const float* xs = in + i0;
      float* ys = out + i0;
      if (f.multiply)
        for (int64_t j = 0; j < n; ++j) t[j] = xs[j] * f.c;
      else
        for (int64_t j = 0; j < n; ++j) t[j] = xs[j] / f.c;
      if (avx512) ew::erfAvx512(t, t, n);
      else ew::erfF32(t, t, n);
      for (int64_t j = 0; j < n; ++j) t[j] = t[j] + f.one;
      switch (f.order) {
        case FusedErfGelu::Order::XHalfThenA:
          for (int64_t j = 0; j < n; ++j) ys[j] = (xs[j] * f.half) * t[j];
          break;
        case FusedErfGelu::Order::XAThenHalf:
          for (int64_t j = 0; j < n; ++j) ys[j] = (xs[j] * t[j]) * f.half;
          break;
        case FusedErfGelu::Order::AHalfThenX:
          for (int64_t j = 0; j < n; ++j) ys[j] = (t[j] * f.half) * xs[j];
          break;
      }
    }
  });
  return true;
}

}  // namespace npuconv::nn
