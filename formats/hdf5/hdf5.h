// hdf5.h - tensors in HDF5 files, one dataset per tensor name (a '/' in a name makes groups,
// as h5py does). Types: IEEE float 16/32/64 (float16 as a 16-bit IEEE type, bfloat16 as a
// 16-bit float with bfloat16's fields, both as h5py defines them), signed and unsigned 8..64
// bit integers, bool as h5py's int8 enum {FALSE, TRUE}. Rank-0 tensors are scalar datasets.
// The writer builds the file in memory and writes it atomically (temporary file + rename).
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "converter/ir/tensor.h"
#include "converter/support/status.h"

namespace npuconv {

using NamedTensorList = std::vector<std::pair<std::string, TensorRef>>;

/// Every dataset of the file, sorted by full name without the leading '/' ("a/b/c").
Expected<NamedTensorList> readHdf5(const std::filesystem::path& path);
/// Writes one dataset per tensor; names must be unique and non-empty.
Status writeHdf5(const std::filesystem::path& path, const NamedTensorList& tensors);

}  // namespace npuconv
