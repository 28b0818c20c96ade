// tensor.h - immutable constant tensors shared between the IR, the executor and the writers.
//
// A TensorData never changes after construction: passes that fold constants build new ones.
// Its bytes live in a Buffer, which may own heap memory, adopt a std::string moved out of a
// parsed protobuf, or view a memory-mapped external-data file; so a large initializer is
// copied at most once between the file and the IR.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "converter/ir/dtype.h"

namespace npuconv {

/// Where a buffer's bytes also lie in an open file (a view of a memory-mapped file): writers
/// can then copy file to file in the kernel (copy_file_range) instead of through the mapping.
struct FileRange {
  int fd = -1;
  uint64_t offset = 0;
};

/// A read-only run of bytes with a keep-alive for whatever owns them.
class Buffer {
 public:
  virtual ~Buffer() = default;
  /// The bytes, aligned for any element type (typed reads: kernels, passes).
  virtual const std::byte* data() const = 0;
  virtual size_t size() const = 0;
  /// The same bytes at whatever address they sit, for code that only moves or hashes bytes
  /// (writers, content keys): a view of a mapped file at an odd offset is not copied for them.
  virtual const std::byte* rawData() const { return data(); }
  virtual std::optional<FileRange> fileRange() const { return std::nullopt; }
  /// A reader done with the bytes (a quantizer that has converted a weight): a view of a
  /// read-only file mapping drops its resident pages, which would otherwise count in the
  /// process's RSS until the mapping goes (a 2 GiB model converted in place). Touching them again
  /// reads them back from the file, so the bytes never change. Other buffers: nothing.
  virtual void releasePages() const {}

  static std::shared_ptr<const Buffer> fromVector(std::vector<std::byte> bytes);
  static std::shared_ptr<const Buffer> fromString(std::string bytes);  // adopts, no copy
  static std::shared_ptr<const Buffer> copyOf(const void* data, size_t size);
  /// A view of `size` bytes at `data`, kept valid by `owner` (e.g. an mmap). `fileMapping`:
  /// the bytes lie in a read-only private file mapping, so releasePages() may drop them.
  static std::shared_ptr<const Buffer> view(std::shared_ptr<const void> owner, const void* data,
                                            size_t size, std::optional<FileRange> file = std::nullopt,
                                            bool fileMapping = false);
  /// Like view(), for bytes that may be misaligned (a payload inside a mapped protobuf): data()
  /// makes a 64-byte aligned copy on first use (thread-safe), rawData() never copies.
  static std::shared_ptr<const Buffer> viewAlignedOnUse(std::shared_ptr<const void> owner, const void* data,
                                                        size_t size, std::optional<FileRange> file = std::nullopt,
                                                        bool fileMapping = false);
};

/// A 64-byte aligned, zero-initialised, writable byte array (executor tensors, fold results).
class AlignedBuffer final : public Buffer {
 public:
  explicit AlignedBuffer(size_t size);
  ~AlignedBuffer() override;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  const std::byte* data() const override { return data_; }
  std::byte* mutableData() { return data_; }
  size_t size() const override { return size_; }

 private:
  std::byte* data_ = nullptr;
  size_t size_ = 0;
};

// Element counts and byte sizes. Dims come from files (a ConstantOfShape of [2^62], a
// TensorProto's dims, an HDF5 dataspace): a product that wraps around allocates a small buffer
// that a loop over the real count then overruns. So every count or size computed from dims
// that were not already checked goes through the checked forms, which refuse instead of wrap.

/// Product of `dims` (0 when a dim is 0), or nullopt when a dim is negative or the product
/// exceeds int64.
std::optional<int64_t> checkedElementCount(std::span<const int64_t> dims);
/// `count * elementSize`, or nullopt when `count` is negative or the product exceeds int64.
std::optional<int64_t> checkedByteSize(int64_t count, size_t elementSize);
/// Bytes of a `dtype` tensor of `dims` (both checks above); nullopt for String/Undefined too.
std::optional<int64_t> checkedByteSize(std::span<const int64_t> dims, DType dtype);
/// Product of dims already known to be valid (those of an existing tensor). Throws
/// TensorSizeError if they were not and the product overflows: the executor reports that as an
/// error of the node whose kernel computed the dims, anything else as an internal error.
int64_t elementCount(std::span<const int64_t> dims);

/// A tensor size that cannot be represented or allocated (see elementCount and exec's Tensor).
class TensorSizeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class TensorData {
 public:
  TensorData() = default;
  /// Numeric tensor over `buffer`, which must hold exactly checkedByteSize(dims, dtype) bytes
  /// (an invariant: the importer validates sizes before building one).
  TensorData(DType dtype, std::vector<int64_t> dims, std::shared_ptr<const Buffer> buffer);
  /// String tensor.
  TensorData(std::vector<int64_t> dims, std::vector<std::string> strings);

  /// Builds a numeric tensor by copying typed host values (tests, folding, small constants).
  template <typename T>
  static TensorData fromValues(DType dtype, std::vector<int64_t> dims, std::span<const T> values) {
    return TensorData(dtype, std::move(dims), Buffer::copyOf(values.data(), values.size_bytes()));
  }
  static TensorData scalarF32(float v);
  static TensorData vectorI64(std::span<const int64_t> v);

  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& dims() const { return dims_; }
  int64_t rank() const { return static_cast<int64_t>(dims_.size()); }
  int64_t numElements() const { return elementCount(dims_); }
  size_t byteSize() const { return buffer_ ? buffer_->size() : 0; }
  const std::byte* bytes() const { return buffer_ ? buffer_->data() : nullptr; }
  /// bytes() for byte-wise readers (writers, hashes): no alignment, so no copy (Buffer::rawData).
  const std::byte* rawBytes() const { return buffer_ ? buffer_->rawData() : nullptr; }
  std::optional<FileRange> fileRange() const { return buffer_ ? buffer_->fileRange() : std::nullopt; }
  /// Buffer::releasePages: a reader done with a tensor that views a mapped file.
  void releasePages() const {
    if (buffer_) buffer_->releasePages();
  }
  const std::shared_ptr<const Buffer>& buffer() const { return buffer_; }
  const std::vector<std::string>& strings() const { return strings_; }

  template <typename T>
  std::span<const T> as() const {
    return {reinterpret_cast<const T*>(bytes()), static_cast<size_t>(numElements())};
  }
  /// Element i converted to double (any numeric dtype, f16/bf16 included).
  double elementAsDouble(int64_t i) const;
  /// All elements converted to float / int64 (small tensors: shapes, scalars, folding).
  std::vector<float> toFloats() const;
  std::vector<int64_t> toInt64s() const;

  /// 64-bit FNV-1a over dtype, dims and content: a cheap identity for printers and CSE.
  uint64_t contentHash() const;
  bool sameContent(const TensorData& other) const;

 private:
  DType dtype_ = DType::Undefined;
  std::vector<int64_t> dims_;
  std::shared_ptr<const Buffer> buffer_;
  std::vector<std::string> strings_;
};

using TensorRef = std::shared_ptr<const TensorData>;

}  // namespace npuconv
