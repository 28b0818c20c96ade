// gemm_f32.h - npuconv's own packed float32 GEMM (BLIS-style blocking: packed A and B panels,
// register-tile microkernels) with a fused epilogue (bias + activation applied to each C tile
// while it is still in cache). Two microkernels: AVX2+FMA (6x16, the x86-64-v3 baseline) and
// AVX-512 (12x32, compiled per function with a target attribute and chosen once at run time
// with __builtin_cpu_supports; NPUCONV_NO_AVX512=1 forces AVX2).
// Internal to converter/exec/kernels; not a public API.
#pragma once

#include <cstdint>
#include <memory>

namespace npuconv {
class ThreadPool;
namespace gemm {

/// ClipHardSwish: x * Clip(x + 3, 0, 6) / 6, HardSwish as Paddle2ONNX exports it (Add, Clip, Mul,
/// Div), computed step by step as those four nodes would.
enum class Act : uint8_t { None, Relu, Clip, LeakyRelu, HardSigmoid, HardSwish, Sigmoid, ClipHardSwish };

/// What to do with each C value after alpha * op(A) * op(B) + beta * C: add a bias (per row or per
/// column), add a residual (a same-shaped tensor: a fused Add), then apply an activation, each
/// step rounded to float as the unfused kernels would.
struct Epilogue {
  const float* bias = nullptr;
  bool biasPerRow = true;  // bias[i] for row i (Conv: output channel); else bias[j] for column j
  Act act = Act::None;
  float p0 = 0, p1 = 0;  // Clip: min, max; LeakyRelu: alpha; HardSigmoid: alpha, beta;
                         // HardSwish: 0, 0 (x / 6 + 0.5) or alpha, beta of Mul(x, HardSigmoid(x))
  int64_t biasLen = 0;   // number of bias values (checked by kernels taking a fused bias)
  const float* residual = nullptr;  // C[i][j] += residual[i * ldr + j] (i, j as in C)
  int64_t ldr = 0;
  bool trivial() const { return bias == nullptr && act == Act::None && residual == nullptr; }
  /// This epilogue with the residual advanced to C's element (row, col) of a sub-problem.
  Epilogue shifted(int64_t row, int64_t col) const {
    Epilogue e = *this;
    if (e.residual) e.residual += row * ldr + col;
    return e;
  }
};

/// x[i] = act(x[i] + bias + residual[i]) for i < n (no residual when `residual` is null; e's own
/// residual and bias pointers are ignored). Vectorized; NaN behaves as the corresponding ONNX
/// kernels of this executor (Relu(NaN) = 0, HardSigmoid(NaN) = 1, ...).
void applyEpilogue(float* x, int64_t n, float bias, const Epilogue& e, const float* residual = nullptr);

/// act(x) for one double (the F64 path of a fused activation).
double applyActivation(double x, const Epilogue& e);

/// C[M,N] (row stride ldc) = epilogue(alpha * op(A) * op(B) + beta * C), all row-major, op an
/// optional transpose (lda/ldb are the row strides of A and B as stored). beta == 0 never reads
/// C. Runs on `pool` (may be null: one thread) with equal chunks of M or N per thread.
void sgemm(ThreadPool* pool, bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
           const Epilogue& ep = {});

/// Which microkernel sgemm uses. Auto: AVX-512 when the CPU has it and NPUCONV_NO_AVX512 is not
/// set. Tests force either one; forcing Avx512 on a CPU without it falls back to Avx2.
enum class Isa { Auto, Avx2, Avx512 };

/// A B operand that is not stored as a matrix (a convolution's im2col matrix): pack(self, p0,
/// kc, j0, nc, NR, dst) writes B[p0:p0+kc, j0:j0+nc] into dst as NR-wide panels (panel q holds
/// columns j0 + q*NR .. +NR, k-major: dst[q*NR*kc + k*NR + j]), zero-padded to a multiple of NR
/// columns. Called concurrently from several threads with disjoint dst.
struct BPacker {
  void (*pack)(const void* self, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int NR, float* dst);
  const void* self;
};

/// C[M,N] (row stride ldc) = epilogue(A * B): A row-major [M, K] (row stride lda), B [K, N] given
/// by a packer. Same blocking, threading and epilogue as sgemm.
void sgemmPackedB(ThreadPool* pool, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const BPacker& b,
                  float* C, int64_t ldc, const Epilogue& ep = {});

/// 64-byte aligned float storage of the packed matrices.
struct FreeAligned {
  void operator()(float* p) const;
};
using AlignedFloats = std::unique_ptr<float[], FreeAligned>;
/// At least n (>= 1) floats; throws std::bad_alloc.
AlignedFloats allocateFloats(size_t n);

/// A row-major [M, K] float32 matrix packed once, in the layout the microkernel of the ISA in use
/// at packing time reads (MR-row panels, k-major, per K cache block): constant weights packed
/// at their first use instead of at every call, and streamed from memory in one sequential pass.
class PackedA {
 public:
  static PackedA pack(const float* A, int64_t M, int64_t K, int64_t lda);
  int64_t rows() const { return m_; }
  int64_t depth() const { return k_; }
  Isa isa() const { return isa_; }
  /// The panel holding rows [row, row + MR) (row a multiple of MR) of the K block starting at pc.
  const float* panel(int64_t row, int64_t pc) const;

 private:
  AlignedFloats data_;
  int64_t m_ = 0, k_ = 0, mPad_ = 0, mr_ = 0, kcBlock_ = 0;
  Isa isa_ = Isa::Avx2;
};

/// A row-major [K, N] float32 matrix packed once in the layout the microkernel of the ISA in use
/// at packing time reads (NR-column panels, k-major, per K cache block): the constant weights of
/// a MatMul.
class PackedB {
 public:
  static PackedB pack(const float* B, int64_t K, int64_t N, int64_t ldb);
  /// B = Bt^T with Bt a row-major [N, K] matrix (row stride ldbt): a Conv's weights [M, K]
  /// packed as the operand whose columns are the output channels (sgemmPixelTiles).
  static PackedB packTransposed(const float* Bt, int64_t K, int64_t N, int64_t ldbt);
  int64_t depth() const { return k_; }
  int64_t cols() const { return n_; }
  Isa isa() const { return isa_; }
  /// The panels of the K block starting at pc, from column col (a multiple of NR) on.
  const float* block(int64_t col, int64_t pc) const;

 private:
  AlignedFloats data_;
  int64_t k_ = 0, n_ = 0, nPad_ = 0, kcBlock_ = 0;
  Isa isa_ = Isa::Avx2;
};

/// C[M,N] = epilogue(A * B) with A row-major [M, K] (row stride lda) and B prepacked (for
/// activeIsa()).
void sgemmPrepackedB(ThreadPool* pool, int64_t M, const float* A, int64_t lda, const PackedB& B, float* C, int64_t ldc,
                     const Epilogue& ep = {});

/// C[M,N] = epilogue(A * B) with A prepacked (it must be packed for activeIsa()) and B a stored
/// row-major [K, N] matrix (row stride ldb) or given by a packer (b non-null).
void sgemmPrepacked(ThreadPool* pool, const PackedA& A, int64_t N, const float* B, int64_t ldb, const BPacker* b,
                    float* C, int64_t ldc, const Epilogue& ep = {});

/// Whether sgemmPixelTiles runs a GEMM of M rows (output channels) and N columns (output
/// positions) better than the column tiles of the AVX-512 microkernel, which compute 32 (or, in
/// the last tile, 16) columns at a time: a 7x7 map's 49 positions fill 49 of the 64 lanes they
/// compute. False without AVX-512.
bool pixelTilesPay(int64_t M, int64_t N);

/// C[M, N] (row stride ldc) = epilogue(W * B) for a Conv with few output positions: W [M, K]
/// given as Wt = PackedB::packTransposed(W) (packed for AVX-512), B row-major [K, N] (row stride
/// ldb). Tiles of 14 (or 7) positions x 32 output channels, the channels along the vector lanes
/// (as ONNX Runtime's blocked-channel layout has them), transposed into C's rows at the store.
/// Bias per row only. Each value is summed exactly as sgemmPrepacked's AVX-512 kernel sums it
/// (the same K blocks, from zero, added to the previous blocks' total; then bias, residual,
/// activation): bit-identical to it. Runs on `pool` (may be null) over (channel panel, tile).
void sgemmPixelTiles(ThreadPool* pool, const PackedB& Wt, int64_t N, const float* B, int64_t ldb, float* C,
                     int64_t ldc, const Epilogue& ep = {});

void setIsa(Isa isa);
/// Whether sgemmPrepacked may read a stored B's full panels in place instead of packing them
/// (on by default; tests turn it off to compare with the packed path, which sums the same way).
void setBInPlace(bool on);
/// The microkernel in use right now (Avx2 or Avx512).
Isa activeIsa();
bool cpuHasAvx512();

}  // namespace gemm
}  // namespace npuconv
