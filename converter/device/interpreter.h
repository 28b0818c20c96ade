// interpreter.h - runs a device program on the CPU exactly as docs/blob-format.md says: integer
// ops with the integer kernels (int_kernels.h: same bits for any machine and thread count), float
// ops (CPU fallback) with the reference executor's kernels, every activation at its planned arena
// offset. The program must outlive the interpreter (weights are views).
#pragma once

#include <memory>
#include <vector>

#include "converter/device/device_program.h"
#include "converter/exec/tensor.h"
#include "converter/support/status.h"

namespace npuconv::device {

class Interpreter {
 public:
  /// Checks every op against the spec (operand counts, dtypes, quantization, dims, attributes)
  /// and prepares the weights; errors name the op.
  static Expected<std::unique_ptr<Interpreter>> create(const Program& program);
  ~Interpreter();

  /// Inputs in the program's input order, with the declared dtype and dims; outputs likewise.
  Expected<std::vector<npuconv::Tensor>> run(const std::vector<npuconv::Tensor>& inputs);

 private:
  struct Impl;
  explicit Interpreter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace npuconv::device
