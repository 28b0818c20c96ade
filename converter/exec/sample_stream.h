// sample_stream.h - a stream of input samples for the executor: calibration data, held-out
// evaluation data, validation inputs.
//
// formats/ implements it (npy, npz, HDF5, dataset lists, images, tokenized text); quant/
// consumes it without knowing any file format. A stream yields samples one at a time, so memory
// does not grow with the sample count, and always in the same order (files sorted, no clock, no
// randomness), so calibration is deterministic.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "converter/exec/executor.h"
#include "converter/support/status.h"

namespace npuconv {

class SampleStream {
 public:
  virtual ~SampleStream() = default;
  /// The next sample, graph input name -> tensor; nullopt after the last one. A sample whose
  /// data is wrong (dtype, shape, a missing file) is an error naming the file and the input.
  virtual Expected<std::optional<NamedTensors>> next() = 0;
  /// How many samples the stream yields in all, when known up front (progress, held-out
  /// splits); 0 when unknown.
  virtual size_t size() const = 0;
  /// Starts again at the first sample (bias correction and sensitivity analysis read the data
  /// more than once). Yields the same samples in the same order.
  virtual Status rewind() = 0;
  /// What the stream reads, for messages and reports: "calib.npz (3 inputs, 40 samples)".
  virtual std::string describe() const = 0;
};

}  // namespace npuconv
