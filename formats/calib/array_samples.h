// array_samples.h - a SampleStream over arrays (one per model input) that hold the samples
// stacked along axis 0: .npy, .npz and HDF5 share it and differ only in how rows are read.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "formats/calib/sample_binding.h"

namespace npuconv {

/// Reads rows along axis 0 of one array.
class ArrayReader {
 public:
  virtual ~ArrayReader() = default;
  /// Rows [first, first + count) into `out`, each `rowBytes` long (a rank-0 array: one row).
  virtual Status readRows(int64_t first, int64_t count, size_t rowBytes, void* out) = 0;
};

/// One model input fed from one array.
struct ArrayInput {
  ModelInputSpec input;
  DType dtype = DType::Undefined;  // the array's
  std::vector<int64_t> dims;       // the array's
  std::unique_ptr<ArrayReader> reader;
  std::string where;  // "calib.npz: x.npy", for errors
};

/// Binds the arrays to their inputs with the stacking rules; every input must have the same
/// sample count. `file` names the data in errors and describe().
Expected<std::unique_ptr<SampleStream>> openArraySamples(std::string file, std::vector<ArrayInput> arrays,
                                                         const CalibDataOptions& opt);

}  // namespace npuconv
