// int_gemm.h - the fast core of the device interpreter's integer MAC ops (QConv, QGemm): u8/s8
// activations x s8/u8 weights -> int32, with the CPU's int8 dot-product instructions chosen at
// run time (AVX-512 VNNI vpdpbusd, AVX-VNNI, or AVX2 vpmaddwd on zero-extended 16-bit values: no
// saturating vpmaddubsw), weights prepacked once, several threads over output pixels/channels.
//
// Exactness: every output is the full K reduction of one kernel call, in int32 modulo 2^32, of
// sum (x - zx) * (w - zw) rewritten as sum x' * w' plus per-channel and per-pixel corrections
// (x' = x or x + 128, w' = w or w - 128). The true sum fits int32 (|x - zx|, |w - zw| <= 255 and
// K <= 16513, checked by prepareMac), so the modular result equals it; the bias is then added with
// saturation and the requantization is the fixed_point.h arithmetic, vectorized lane for lane.
// So the bits are the same for every ISA, thread count and work partition
// (docs/blob-format.md, "Interpreter"); tests/device/int_gemm_test.cc checks it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "converter/device/fixed_point.h"
#include "converter/support/status.h"

namespace npuconv {
class ThreadPool;
}

namespace npuconv::device {

enum class Int8Isa : int { Scalar = 0, Avx2 = 1, AvxVnni = 2, Avx512Vnni = 3 };

std::string_view int8IsaName(Int8Isa isa);
std::optional<Int8Isa> parseInt8Isa(std::string_view name);
/// Whether this CPU (and OS) runs the ISA's kernels.
bool int8IsaAvailable(Int8Isa isa);
/// The fastest available ISA.
Int8Isa bestInt8Isa();
/// NPUCONV_INT8_ISA=scalar|avx2|avxvnni|avx512vnni when set (an unknown or unavailable name is an
/// error), else bestInt8Isa().
Expected<Int8Isa> int8IsaFromEnv();

/// One integer MAC op, as the interpreter knows it at creation. A Gemm is a 1x1 Conv over
/// "pixels" = rows M with C = K, whose output is stored transposed ([M][N]).
struct MacSpec {
  bool gemm = false;
  // Activations (per tensor): 8-bit, unsigned or signed, zero point zx.
  bool xUnsigned = true;
  int32_t zx = 0;
  // Weights: raw 8-bit values as [O][Cg][kH][kW] (Conv) or [N][K] (Gemm, already transposed so
  // each output channel's K values are contiguous), zero point per output channel.
  std::vector<int16_t> w;
  bool wUnsigned = false;
  std::vector<int32_t> zw;  // O entries
  std::vector<int32_t> bias;                // O entries
  std::vector<FixedMultiplier> requant;     // O entries; empty: int32 accumulator output
  bool yUnsigned = true;
  int32_t zy = 0, actMin = 0, actMax = 255;
  // Geometry. Conv: x [batch][C][H][W] -> y [batch][O][OH][OW]. Gemm: x [M][C] -> y [M][O].
  int64_t batch = 1, C = 0, H = 1, W = 1, O = 0, OH = 1, OW = 1;
  int64_t kH = 1, kW = 1, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0, pb = 0, pr = 0, group = 1;
  // Which AVX-512 Conv kernel (the bits are the same): Auto picks the one with fewer wasted MACs;
  // the others are for the tests (Lanes falls back to Tiles where it does not apply).
  enum class Path { Auto, Tiles, Lanes } path = Path::Auto;
};

/// A Conv's input planes (the kernel's quad layout, docs in int_gemm.cc) that the Conv producing
/// that input writes in its epilogue instead of the tensor (MacKernel::planesTarget): base is the
/// cell of pixel (0, 0) of channel quad 0, each pixel's 4 channels' bytes ^ flip.
struct PlanesTarget {
  uint8_t* base = nullptr;
  int64_t planeBytes = 0, PW = 0, W = 0;  // bytes per channel quad's plane, padded width in cells, the image's width
  uint8_t flip = 0;
};

/// What a MacKernel::run does besides y = op(x).
struct MacRunExtras {
  /// Profiling: receives the wall time of the activations' re-layout into the kernel's planes (0
  /// for the kernels without one); null, no clock is read.
  double* relayoutMs = nullptr;
  /// Only where writesPlanes(): y is not written; the output goes into the consumer's planes.
  const PlanesTarget* planesOut = nullptr;
  /// Only after planesTarget(): x is not read; the input is in the kernel's own planes already.
  bool prelaid = false;
};

class MacKernel {
 public:
  /// Packs the weights for `isa` (which must be available) and precomputes the corrections.
  static Expected<std::unique_ptr<MacKernel>> create(MacSpec spec, Int8Isa isa);
  ~MacKernel();
  Int8Isa isa() const;
  /// Bytes of scratch run() needs (the activations rearranged), 0 for some ops.
  size_t scratchBytes() const;
  /// y = op(x); pool may be null (one thread). x and y are the op's whole tensors. scratch: at
  /// least scratchBytes() bytes that may be shared with other kernels (not run at the same time);
  /// null: the kernel keeps its own.
  void run(ThreadPool* pool, const std::byte* x, std::byte* y, uint8_t* scratch = nullptr, const MacRunExtras* extras = nullptr) const;
  /// Whether run() can write its output into another Conv's planes (PlanesTarget): a Conv on
  /// the AVX-512 Lanes kernel, 8-bit output, one image, output channels a multiple of 16.
  bool writesPlanes() const;
  /// Whether planesTarget() applies: a one-group Conv on the quad planes (not row quads), one image.
  bool takesPlanes() const;
  /// This kernel's own input planes, kept from now on (allocated once, the padding filled once):
  /// the producer of x writes their interior, and run() with extras->prelaid reads them.
  PlanesTarget planesTarget();

 private:
  struct Impl;
  explicit MacKernel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Calls fn(b, e) for runs [b, e) covering [0, items) once, the runs (one item each, or up to
/// items / (8 x threads) of many small ones) handed out to the pool's threads as they come free
/// (on a shared machine a descheduled thread does not hold back half the work). The kernels'
/// bits do not depend on which thread runs which item.
void forEachItem(ThreadPool* pool, int64_t items, const std::function<void(int64_t, int64_t)>& fn);

/// In place over n accumulators of one output channel: saturating + bias, then
/// clamp(zy + multiplyByQuantizedMultiplier(v, f), lo, hi) - the scalar fixed_point.h semantics,
/// eight lanes at a time (exposed for the tests).
void requantizeRow(int32_t* v, int64_t n, int32_t bias, FixedMultiplier f, int32_t zy, int32_t lo, int32_t hi);

}  // namespace npuconv::device
