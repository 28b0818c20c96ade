// hdf5_reader.h - reads HDF5 datasets a slab at a time (rows along axis 0, through hyperslab
// selections), so a reader of a large file holds one sample, not the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "converter/ir/dtype.h"
#include "converter/support/status.h"

namespace npuconv {

struct Hdf5DatasetInfo {
  DType dtype = DType::Undefined;
  std::vector<int64_t> dims;  // empty for a scalar
};

class Hdf5Reader {
 public:
  static Expected<std::unique_ptr<Hdf5Reader>> open(const std::filesystem::path& path);
  ~Hdf5Reader();
  Hdf5Reader(const Hdf5Reader&) = delete;
  Hdf5Reader& operator=(const Hdf5Reader&) = delete;

  const std::string& fileName() const;
  /// Every dataset, full names without the leading '/', sorted.
  const std::vector<std::string>& datasetNames() const;
  bool has(const std::string& name) const;
  Expected<Hdf5DatasetInfo> info(const std::string& name);
  /// Reads rows [first, first + count) along axis 0 of `name` into `out` (C order, our
  /// dtype's layout). A scalar dataset has one row.
  Status readRows(const std::string& name, int64_t first, int64_t count, void* out);

 private:
  struct Impl;
  explicit Hdf5Reader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace npuconv
