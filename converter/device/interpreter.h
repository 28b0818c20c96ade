// interpreter.h - runs a device program on the CPU exactly as docs/blob-format.md says: integer
// ops with the integer kernels (int_kernels.h: same bits for any machine and thread count), float
// ops (CPU fallback) with the reference executor's kernels, every activation at its planned arena
// offset; runs of Dequantize -> elementwise float ops -> Quantize (and nearest Resizes) run fused,
// with the same bits (float_chain.h). The program must outlive the interpreter (weights are views). The integer Conv/Gemm
// kernels are chosen at creation (InterpreterOptions::isa, NPUCONV_INT8_ISA, the CPU): the choice
// and the thread count change the speed, never a bit.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "converter/device/device_program.h"
#include "converter/device/int_gemm.h"
#include "converter/exec/tensor.h"
#include "converter/support/status.h"

namespace npuconv::device {

struct InterpreterOptions {
  int threads = 1;              // threads of the integer kernels; 0: all cores
  std::optional<Int8Isa> isa;   // unset: NPUCONV_INT8_ISA if set, else the best the CPU has
  /// Run Dequantize -> elementwise FloatOps -> Quantize as one pass (float_chain.h; a table for
  /// 8-bit inputs). Same bits either way; false runs every op on its own (the tests' reference).
  bool fuseFloatChains = true;
  /// A Conv whose output only another Conv reads writes it straight into that Conv's input planes
  /// (the kernel's quad layout) instead of the tensor, so the second skips its re-layout (AVX-512
  /// Lanes producers, MacKernel::writesPlanes). The same bytes in the planes either way; false:
  /// every Conv re-lays its input (the tests' reference).
  bool fuseConvPlanes = true;
  /// Sees every op's outputs right after the op ran (op index, tensor index, the bytes in the
  /// arena, valid only during the call; a debugging tool may overwrite them, e.g. with the QDQ
  /// model's values to see each op's own error): per-layer debugging. Set, float
  /// chains are not fused, so every op's output exists (the bits are the same either way).
  std::function<void(size_t op, int32_t tensor, void* data)> observer;
  /// Profiling (`npuconv run --profile`): called after every op with its index, its kind
  /// (opProfileKind) and its wall time in milliseconds; a fused float chain reports once, for its
  /// first op, as "FloatChain"; a Conv/Gemm's re-layout of its input into the kernel's quad planes
  /// reports apart, before the op, as "QConv re-layout" / "QGemm re-layout". Unset, no clock is read.
  std::function<void(size_t op, std::string_view kind, double ms)> stepTimer;
};

/// The profile's name for an op's kind: opCodeName ("QConv", "QAdd", "Quantize", ...), and
/// "Float <ONNX type>" for a CPU fallback op.
std::string opProfileKind(const Op& op);

class Interpreter {
 public:
  /// Checks every op against the spec (operand counts, dtypes, quantization, dims, attributes)
  /// and prepares (packs) the weights; errors name the op. An ISA the CPU lacks is an error.
  static Expected<std::unique_ptr<Interpreter>> create(const Program& program, InterpreterOptions options = {});
  ~Interpreter();

  Int8Isa isa() const;
  int threads() const;

  /// Inputs in the program's input order, with the declared dtype and dims; outputs likewise.
  Expected<std::vector<npuconv::Tensor>> run(const std::vector<npuconv::Tensor>& inputs);

 private:
  struct Impl;
  explicit Interpreter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace npuconv::device
