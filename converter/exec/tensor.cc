#include "converter/exec/tensor.h"

#include <cstring>
#include <new>

#include "converter/ir/type.h"

namespace npuconv {

namespace {
thread_local TensorAllocator* tlsAllocator = nullptr;
}  // namespace

ScopedTensorAllocator::ScopedTensorAllocator(TensorAllocator* a) : previous_(tlsAllocator) { tlsAllocator = a; }
ScopedTensorAllocator::~ScopedTensorAllocator() { tlsAllocator = previous_; }
TensorAllocator* ScopedTensorAllocator::current() { return tlsAllocator; }

Tensor::Tensor(DType dtype, std::vector<int64_t> dims) : Tensor(dtype, std::move(dims), true) {}

Tensor Tensor::uninitialized(DType dtype, std::vector<int64_t> dims) { return Tensor(dtype, std::move(dims), false); }

Tensor::Tensor(DType dtype, std::vector<int64_t> dims, bool zeroFill) : dtype_(dtype), dims_(std::move(dims)) {
  NPU_CHECK(dtypeSize(dtype_) > 0, "runtime tensors need a fixed-size dtype, not {}", dtypeName(dtype_));
  for (int64_t d : dims_) NPU_CHECK(d >= 0, "negative dim in {}", shapeToString(shapeOf(dims_)));
  std::optional<int64_t> checked = checkedByteSize(dims_, dtype_);
  if (!checked) throw TensorSizeError(fmt::format("{} has more than 2^63 bytes", describe()));
  size_t bytes = static_cast<size_t>(*checked);
  try {
    if (TensorAllocator* a = tlsAllocator; a && bytes > 0) {
      buffer_ = a->allocate(bytes, zeroFill);
      NPU_CHECK(buffer_ && buffer_->size() == bytes, "tensor allocator returned a wrong-sized buffer");
      data_ = buffer_->data();
      return;
    }
    auto b = std::make_shared<AlignedBuffer>(bytes);  // heap buffers are always zero-filled
    data_ = b->data();
    buffer_ = std::move(b);
  } catch (const std::bad_alloc&) {
    throw TensorSizeError(fmt::format("{} ({} bytes) cannot be allocated: out of memory", describe(), bytes));
  }
}

Tensor Tensor::fromData(const TensorRef& data) {
  NPU_CHECK(data && data->dtype() != DType::String, "runtime tensors do not hold strings");
  Tensor t;
  t.dtype_ = data->dtype();
  t.dims_ = data->dims();
  // Keep the TensorData alive through a view buffer that owns a reference to it.
  t.buffer_ = Buffer::view(std::shared_ptr<const void>(data, data.get()), data->bytes(), data->byteSize());
  t.data_ = t.buffer_->data();
  return t;
}

Tensor Tensor::alias(const Tensor& of, std::vector<int64_t> newDims) {
  NPU_CHECK(elementCount(newDims) == of.numElements(), "alias with another element count");
  Tensor t = of;
  t.dims_ = std::move(newDims);
  return t;
}

TensorRef Tensor::toData() const {
  return std::make_shared<const TensorData>(dtype_, dims_, Buffer::copyOf(data_, byteSize()));
}

std::vector<int64_t> Tensor::toInt64s() const {
  std::vector<int64_t> out(static_cast<size_t>(numElements()));
  if (isFloat(dtype_)) {
    std::vector<double> d = toDoubles();
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int64_t>(d[i]);
    return out;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    switch (dtype_) {
      case DType::I64: out[i] = data<int64_t>()[i]; break;
      case DType::I32: out[i] = data<int32_t>()[i]; break;
      case DType::I16: out[i] = data<int16_t>()[i]; break;
      case DType::I8: out[i] = data<int8_t>()[i]; break;
      case DType::U8: case DType::Bool: out[i] = data<uint8_t>()[i]; break;
      case DType::U16: out[i] = data<uint16_t>()[i]; break;
      case DType::U32: out[i] = data<uint32_t>()[i]; break;
      case DType::U64: out[i] = static_cast<int64_t>(data<uint64_t>()[i]); break;
      default: NPU_CHECK(false, "toInt64s on {}", dtypeName(dtype_));
    }
  }
  return out;
}

std::vector<double> Tensor::toDoubles() const {
  std::vector<double> out(static_cast<size_t>(numElements()));
  for (size_t i = 0; i < out.size(); ++i) {
    switch (dtype_) {
      case DType::F32: out[i] = data<float>()[i]; break;
      case DType::F64: out[i] = data<double>()[i]; break;
      case DType::F16: out[i] = halfToFloat(data<uint16_t>()[i]); break;
      case DType::BF16: out[i] = bf16ToFloat(data<uint16_t>()[i]); break;
      case DType::I64: out[i] = static_cast<double>(data<int64_t>()[i]); break;
      case DType::I32: out[i] = data<int32_t>()[i]; break;
      case DType::I16: out[i] = data<int16_t>()[i]; break;
      case DType::I8: out[i] = data<int8_t>()[i]; break;
      case DType::U8: case DType::Bool: out[i] = data<uint8_t>()[i]; break;
      case DType::U16: out[i] = data<uint16_t>()[i]; break;
      case DType::U32: out[i] = data<uint32_t>()[i]; break;
      case DType::U64: out[i] = static_cast<double>(data<uint64_t>()[i]); break;
      default: NPU_CHECK(false, "toDoubles on {}", dtypeName(dtype_));
    }
  }
  return out;
}

std::string Tensor::describe() const {
  return std::string(dtypeShortName(dtype_)) + shapeToString(shapeOf(dims_));
}

}  // namespace npuconv
