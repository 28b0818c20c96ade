// npy.h - NumPy .npy files (format versions 1.0, 2.0 and 3.0) for tensors in and out.
//
// Every numeric dtype numpy and the IR share: float16/32/64, int8..int64, uint8..uint64, bool
// ('|b1') and complex64/128, little-endian, C order. Anything else is a clear error naming the
// file: Fortran-order arrays, object arrays, strings and structured dtypes, big-endian byte
// order ('>f4'), a bad header, a truncated file. bfloat16 has no npy type and is refused.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "converter/ir/tensor.h"
#include "converter/support/status.h"

namespace npuconv {

/// The numpy type string of a dtype ("<f4", "|b1"), or empty when npy has none.
std::string npyDescr(DType t);

/// Reads a .npy file; the data is mapped, not copied, when it is 64-byte aligned in the file.
Expected<TensorRef> readNpy(const std::filesystem::path& path);
/// Parses the bytes of a .npy file (copies the data); `name` is used in errors.
Expected<TensorRef> parseNpy(std::string_view bytes, const std::string& name = "<memory>");

/// What a .npy header says: element type, C-order dims, where the data starts.
struct NpyHeader {
  DType dtype = DType::Undefined;
  std::vector<int64_t> dims;
  size_t dataOffset = 0;
  size_t dataBytes = 0;  // count(dims) * dtypeSize(dtype)
};
/// Parses the header at the start of `bytes` (which may stop anywhere after the header: the
/// data is not needed); `name` is used in errors. Readers that stream or slice the data use it.
Expected<NpyHeader> parseNpyHeader(std::string_view bytes, const std::string& name);

/// The header (magic, version, length, dict, padding) for a C-order array; data follows it.
Expected<std::string> npyHeader(DType dtype, std::span<const int64_t> dims);
/// Writes a .npy file atomically (temporary file, then rename).
Status writeNpy(const std::filesystem::path& path, DType dtype, std::span<const int64_t> dims, const void* data);
Status writeNpy(const std::filesystem::path& path, const TensorData& t);

}  // namespace npuconv
