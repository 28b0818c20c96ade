// tensor.h - the executor's runtime tensor: an element type, static dims and a buffer.
// Tensors share buffers cheaply (a Reshape output aliases its input; a constant input views
// the IR's immutable TensorData without a copy); a kernel writes only buffers it allocated.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "converter/ir/tensor.h"
#include "converter/support/status.h"

namespace npuconv {

/// Where `Tensor(dtype, dims)` takes its memory from on the current thread. The executor
/// installs its buffer pool (a ScopedTensorAllocator) while kernels run, so buffers freed after
/// a tensor's last use are reused by later allocations; without one, tensors use the heap.
class TensorAllocator {
 public:
  virtual ~TensorAllocator() = default;
  /// A 64-byte aligned buffer of exactly `bytes` bytes whose data() is writable: zero-filled,
  /// or with unspecified contents when `zeroFill` is false (the caller writes every byte).
  virtual std::shared_ptr<const Buffer> allocate(size_t bytes, bool zeroFill) = 0;
};

/// Installs `a` as this thread's TensorAllocator for its lifetime (nullptr: the heap).
class ScopedTensorAllocator {
 public:
  explicit ScopedTensorAllocator(TensorAllocator* a);
  ~ScopedTensorAllocator();
  ScopedTensorAllocator(const ScopedTensorAllocator&) = delete;
  ScopedTensorAllocator& operator=(const ScopedTensorAllocator&) = delete;
  static TensorAllocator* current();

 private:
  TensorAllocator* previous_;
};

class Tensor {
 public:
  Tensor() = default;
  /// A fresh zero-filled tensor (from this thread's TensorAllocator when one is installed).
  /// Throws TensorSizeError when dims times the element size exceeds int64 or the memory cannot
  /// be had: kernels compute output dims from data (ConstantOfShape of [2^62]) and allocate with
  /// no Status in between, so the executor catches it around each kernel and reports the node.
  Tensor(DType dtype, std::vector<int64_t> dims);
  /// A fresh tensor with unspecified contents, for kernels that write every element: skips
  /// the zero fill of a reused pool buffer. Sanitizer builds fill it with 0xFF bytes instead
  /// (NaN, -1), so a kernel that leaves part of it unwritten fails its tests there.
  static Tensor uninitialized(DType dtype, std::vector<int64_t> dims);
  /// A view of constant data (no copy).
  static Tensor fromData(const TensorRef& data);
  /// A tensor over an existing buffer (aliasing); size must match.
  static Tensor alias(const Tensor& of, std::vector<int64_t> newDims);
  template <typename T>
  static Tensor fromValues(DType dtype, std::vector<int64_t> dims, std::span<const T> values) {
    Tensor t(dtype, std::move(dims));
    NPU_CHECK(values.size_bytes() == t.byteSize(), "fromValues size mismatch");
    if (!values.empty()) std::memcpy(t.mutableRaw(), values.data(), values.size_bytes());
    return t;
  }

  bool defined() const { return dtype_ != DType::Undefined; }
  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& dims() const { return dims_; }
  int64_t rank() const { return static_cast<int64_t>(dims_.size()); }
  int64_t dim(int64_t i) const { return dims_[static_cast<size_t>(i < 0 ? i + rank() : i)]; }
  int64_t numElements() const { return elementCount(dims_); }
  size_t byteSize() const { return static_cast<size_t>(numElements()) * dtypeSize(dtype_); }

  const void* raw() const { return data_; }
  /// Writable only when this tensor owns its buffer exclusively (kernels allocate outputs).
  void* mutableRaw() const { return const_cast<std::byte*>(data_); }
  template <typename T>
  const T* data() const { return reinterpret_cast<const T*>(data_); }
  template <typename T>
  T* mutableData() const { return reinterpret_cast<T*>(mutableRaw()); }
  template <typename T>
  std::span<const T> span() const { return {data<T>(), static_cast<size_t>(numElements())}; }

  const std::shared_ptr<const Buffer>& buffer() const { return buffer_; }
  /// Copies into an immutable TensorData (constant folding, writing outputs).
  TensorRef toData() const;
  /// All elements as int64 / double whatever the dtype (shape inputs, scalars).
  std::vector<int64_t> toInt64s() const;
  std::vector<double> toDoubles() const;
  std::string describe() const;  // "f32[1,3,224,224]"

 private:
  Tensor(DType dtype, std::vector<int64_t> dims, bool zeroFill);
  DType dtype_ = DType::Undefined;
  std::vector<int64_t> dims_;
  std::shared_ptr<const Buffer> buffer_;
  const std::byte* data_ = nullptr;
};

}  // namespace npuconv
