// int_kernels.h - the device program's integer kernels: plain scalar C++ that the compiler may
// auto-vectorize. Integer arithmetic is exact and associative, so the result bits do not depend
// on the vector width, the machine or the thread count. These are the reference ("scalar") Conv
// and Gemm; the fast ones (int_gemm.h, chosen at run time) give the same bits.
// Semantics: docs/blob-format.md, "Op table".
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "converter/device/device_program.h"
#include "converter/device/fixed_point.h"
#include "converter/device/int_gemm.h"
#include "converter/support/status.h"

namespace npuconv {
class ThreadPool;
}

namespace npuconv::device {

/// Where an op's tensors live at run time: data pointers resolved against arena and weights.
struct TensorView {
  const Tensor* desc = nullptr;
  std::byte* data = nullptr;
  const QuantParams* quant = nullptr;  // null: not quantized
};

/// Weights of a Conv/Gemm widened once to int16 with their zero point removed, and the checks
/// that keep the int32 accumulation free of overflow.
struct PreparedMac {
  std::vector<int16_t> weights;  // Conv: [O][C/g][KH][KW]; Gemm: [N][K]
  std::vector<int32_t> bias;
  std::vector<FixedMultiplier> requant;
  int64_t kernelH = 1, kernelW = 1;  // Conv
};

/// `rounding`: the program's requantization rounding (every op of a program rounds alike).
Expected<PreparedMac> prepareMac(const Op& op, const std::vector<TensorView>& in, const Tensor& out, Rounding rounding);

/// The Conv/Gemm as int_gemm.h's MacKernel wants it (raw weights per output channel, geometry).
/// The op must have passed the interpreter's checks and prepareMac.
MacSpec macSpec(const Op& op, const std::vector<TensorView>& in, const TensorView& out, Rounding rounding);

Status runQuantize(const TensorView& in, const TensorView& out);
Status runDequantize(const TensorView& in, const TensorView& out);
/// The same bits, eight lanes at a time (the CPU must have AVX2), threaded over pool.
Status runQuantizeFast(const TensorView& in, const TensorView& out, ThreadPool* pool);
/// One run of n floats quantized with one (scale, zp) to 8-bit codes clamped to [lo, hi] (int8
/// as its bytes), NaN -> zp: runQuantize's formula; avx2 (the CPU must have it) gives the same bits.
void quantizeRun(const float* x, int64_t n, float scale, int32_t zp, int32_t lo, int32_t hi, uint8_t* out, bool avx2);
Status runDequantizeFast(const TensorView& in, const TensorView& out, ThreadPool* pool);
void runConv(const Op& op, const PreparedMac& p, const TensorView& x, const TensorView& y);
void runGemm(const Op& op, const PreparedMac& p, const TensorView& x, const TensorView& y);
/// fast / isa other than scalar: the vector and per-plane versions (same bits; the CPU must have
/// the ISA), threaded over pool.
void runAdd(const Op& op, const TensorView& a, const TensorView& b, const TensorView& y, Rounding rounding,
            Int8Isa isa = Int8Isa::Scalar, ThreadPool* pool = nullptr);
void runPool(const Op& op, const TensorView& x, const TensorView& y, Rounding rounding, bool fast = false,
             ThreadPool* pool = nullptr);  // MaxPool, AveragePool, GlobalAveragePool
void runConcat(const Op& op, const std::vector<TensorView>& in, const TensorView& y, Rounding rounding);
void runReshape(const Op& op, const TensorView& x, const TensorView& y, Rounding rounding);
void runTranspose(const Op& op, const TensorView& x, const TensorView& y, Rounding rounding);

}  // namespace npuconv::device
