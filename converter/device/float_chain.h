// float_chain.h - Dequantize -> elementwise float ops (CPU fallback) -> Quantize, run as one pass.
// PP-OCR det's decomposed HardSwish (Add 3, Clip 0..6, Mul, Div 6, then a Mul/Add affine) is six
// FloatOps between a QConv's int32 accumulator and the next Quantize; run one by one on the
// reference executor each allocates its output and copies it into the arena. Here the interpreter
// recognizes such a run of ops at creation and evaluates it element by element in blocks that stay
// in L1, with the same IEEE float operations in the same order (Add/Sub/Mul/Div are correctly
// rounded, Clip/Relu are comparisons), so every output byte equals the unfused ops' byte. When the
// input is 8-bit and per tensor, the whole chain is a function of 256 codes: it is evaluated once on
// all of them at creation (by the same block code) and runs as a table lookup.
// No blob format change: the ops stay in the blob as they are; this is an interpreter schedule.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "converter/device/device_program.h"
#include "converter/device/int_kernels.h"

namespace npuconv {
class ThreadPool;
}

namespace npuconv::device {

/// One elementwise float op of a chain. Operands are slots (0: the dequantized input, k: the
/// result of step k - 1) or scalar constants.
struct ChainStep {
  enum class Kind : uint8_t { Add, Sub, Mul, Div, Clip, Relu };
  Kind kind = Kind::Add;
  int a = 0, b = -1;          // slots; -1: the constant ca / cb
  float ca = 0.f, cb = 0.f;   // constants of a binary op
  float lo = 0.f, hi = 0.f;   // Clip bounds (as the executor casts them: double -> float)
};

struct FloatChain {
  size_t firstOp = 0, lastOp = 0;  // the ops [firstOp, lastOp] this chain replaces
  int32_t input = -1, output = -1; // program tensors: the Dequantize's input, the Quantize's output
  std::vector<ChainStep> steps;
  int resultSlot = 0;               // the slot the Quantize reads
  bool useLut = false;              // 8-bit per-tensor input: lut[code] is the output byte
  std::array<uint8_t, 256> lut{};
  /// Dequantize -> Resize (mode nearest) -> Quantize: the Resize only moves values, so output i is
  /// lut[x[gather[i]]]. The map is the executor's own Resize run once on the element indices
  /// (setGatherMap); resizeOp is that op's index, -1 for an elementwise chain.
  int64_t resizeOp = -1;
  std::vector<int32_t> gather;
  /// The usual case, a map separable by output rows: gather[r * W + x] == rowBase[r] + colMap[x]
  /// (W: the output's last dim); then gather is empty and a row that repeats the previous row's
  /// source is a copy of it.
  std::vector<int32_t> rowBase, colMap;
  /// Dequantize(x) * Dequantize(scale) -> Quantize with x [1,C,H,W] and scale [1,C,1,1], both 8-bit
  /// per tensor (PP-OCR det's squeeze-excitation Mul): per channel a function of x's byte, so each
  /// run builds C tables (the same float product and quantization as the unfused ops) and maps x
  /// through them. -1: not such a chain.
  int32_t scaleInput = -1;
};

/// readers[t]: the index of the last op reading tensor t (-1: none); graphOutput[t]: t is a program
/// output. Returns the chain starting at op `first` (a Dequantize) if the ops from there form one:
/// FloatOps of the default domain among Add, Sub, Mul, Div (same-dims chain tensors or one-element
/// f32 constants), Clip (constant bounds) and Relu, ending at a Quantize of a chain tensor, with no
/// chain tensor read after it or returned. The ops must have passed the interpreter's checks.
std::optional<FloatChain> matchFloatChain(const Program& p, size_t first, const std::vector<int64_t>& lastReader,
                                          const std::vector<bool>& graphOutput);

/// Dequantize (8-bit, per tensor) -> one unary elementwise FloatOp that matchFloatChain does not
/// evaluate itself (Sigmoid, Tanh, HardSigmoid, HardSwish, Exp, Erf, ...; other inputs constant) ->
/// Quantize (per tensor), with neither float tensor read elsewhere: a candidate for a table taken
/// from the op's own kernel (tableProbe, setUnaryTable). opIndex of the chain: firstOp + 1.
std::optional<FloatChain> matchUnaryTable(const Program& p, size_t first, const std::vector<int64_t>& lastReader,
                                          const std::vector<bool>& graphOutput);
/// The probe input for the op of such a chain, n elements: element i holds the dequantized byte
/// i % 256.
void tableProbe(const FloatChain& c, const Program& p, float* x, int64_t n);
/// y: the op's output on the probe. Fills the table (the op's value quantized as runQuantize does);
/// false unless every position holding the same byte got the same bits (a kernel whose result
/// depends on where an element sits cannot be a table).
bool setUnaryTable(FloatChain& c, const Program& p, const float* y, int64_t n);

/// The channel-scale chain (FloatChain::scaleInput) starting at op `first`: two Dequantizes, a
/// default-domain Mul of their outputs (either order) and a Quantize, no float tensor read after it
/// or returned.
std::optional<FloatChain> matchChannelScale(const Program& p, size_t first, const std::vector<int64_t>& lastReader,
                                            const std::vector<bool>& graphOutput);

/// resized: the chain's Resize run on f32 indices 0..n-1 of its input (n < 2^24, exact in f32);
/// outW: the output's last dim.
/// False unless every output is an index in range, i.e. the op moved values and computed none.
bool setGatherMap(FloatChain& c, const float* resized, int64_t outCount, int64_t n, int64_t outW);

/// Evaluates the chain: x is the Dequantize's input, y the Quantize's output (may overlap x: the
/// result then goes through scratch, resized as needed). Elementwise, so the thread split changes
/// no bit; simd (the CPU must have AVX2) quantizes eight lanes at a time, with the same bits.
/// scale: the channel-scale chain's scale tensor (null for other chains).
void runFloatChain(const FloatChain& c, const TensorView& x, const TensorView& y, ThreadPool* pool,
                   std::vector<uint8_t>& scratch, bool simd, const TensorView* scale = nullptr);

}  // namespace npuconv::device
