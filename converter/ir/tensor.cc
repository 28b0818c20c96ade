#include "converter/ir/tensor.h"

#include <sys/mman.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

#include <fmt/ranges.h>

#include "converter/support/status.h"

namespace npuconv {
namespace {

class VectorBuffer final : public Buffer {
 public:
  explicit VectorBuffer(std::vector<std::byte> b) : bytes_(std::move(b)) {}
  const std::byte* data() const override { return bytes_.data(); }
  size_t size() const override { return bytes_.size(); }

 private:
  std::vector<std::byte> bytes_;
};

class StringBuffer final : public Buffer {
 public:
  explicit StringBuffer(std::string s) : bytes_(std::move(s)) {}
  const std::byte* data() const override { return reinterpret_cast<const std::byte*>(bytes_.data()); }
  size_t size() const override { return bytes_.size(); }

 private:
  std::string bytes_;
};

class ViewBuffer final : public Buffer {
 public:
  ViewBuffer(std::shared_ptr<const void> owner, const void* data, size_t size, std::optional<FileRange> file,
             bool fileMapping)
      : owner_(std::move(owner)), data_(static_cast<const std::byte*>(data)), size_(size), file_(file),
        fileMapping_(fileMapping) {}
  const std::byte* data() const override { return data_; }
  size_t size() const override { return size_; }
  std::optional<FileRange> fileRange() const override { return file_; }
  // Only the pages wholly inside the view: a page shared with a neighbour may still be in use.
  // MADV_DONTNEED on a private mapping never written to drops clean file pages, which a later
  // access reads back from the file (MappedFile::releasePages does the same for readers).
  void releasePages() const override {
    if (!fileMapping_) return;
    static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    uintptr_t begin = (reinterpret_cast<uintptr_t>(data_) + page - 1) / page * page;
    uintptr_t end = (reinterpret_cast<uintptr_t>(data_) + size_) / page * page;
    if (begin < end) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }

 private:
  std::shared_ptr<const void> owner_;
  const std::byte* data_;
  size_t size_;
  std::optional<FileRange> file_;
  bool fileMapping_;
};

// A view whose bytes may sit at any address: typed readers get an aligned copy, made once.
class AlignedOnUseBuffer final : public Buffer {
 public:
  explicit AlignedOnUseBuffer(ViewBuffer view) : view_(std::move(view)) {}
  const std::byte* data() const override {
    std::call_once(once_, [this] {
      copy_ = std::make_unique<AlignedBuffer>(view_.size());
      if (view_.size()) std::memcpy(copy_->mutableData(), view_.data(), view_.size());
    });
    return copy_->data();
  }
  size_t size() const override { return view_.size(); }
  const std::byte* rawData() const override { return view_.data(); }
  std::optional<FileRange> fileRange() const override { return view_.fileRange(); }
  void releasePages() const override { view_.releasePages(); }

 private:
  ViewBuffer view_;
  mutable std::once_flag once_;
  mutable std::unique_ptr<AlignedBuffer> copy_;
};

}  // namespace

std::shared_ptr<const Buffer> Buffer::fromVector(std::vector<std::byte> bytes) {
  return std::make_shared<VectorBuffer>(std::move(bytes));
}
std::shared_ptr<const Buffer> Buffer::fromString(std::string bytes) {
  return std::make_shared<StringBuffer>(std::move(bytes));
}
std::shared_ptr<const Buffer> Buffer::copyOf(const void* data, size_t size) {
  auto b = std::make_shared<AlignedBuffer>(size);
  if (size) std::memcpy(b->mutableData(), data, size);
  return b;
}
std::shared_ptr<const Buffer> Buffer::view(std::shared_ptr<const void> owner, const void* data,
                                           size_t size, std::optional<FileRange> file, bool fileMapping) {
  return std::make_shared<ViewBuffer>(std::move(owner), data, size, file, fileMapping);
}
std::shared_ptr<const Buffer> Buffer::viewAlignedOnUse(std::shared_ptr<const void> owner, const void* data,
                                                       size_t size, std::optional<FileRange> file, bool fileMapping) {
  return std::make_shared<AlignedOnUseBuffer>(ViewBuffer(std::move(owner), data, size, file, fileMapping));
}

AlignedBuffer::AlignedBuffer(size_t size) : size_(size) {
  size_t rounded = (size + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  data_ = static_cast<std::byte*>(std::aligned_alloc(64, rounded));
  if (!data_) throw std::bad_alloc();
  std::memset(data_, 0, rounded);
}
AlignedBuffer::~AlignedBuffer() { std::free(data_); }

std::optional<int64_t> checkedElementCount(std::span<const int64_t> dims) {
  int64_t n = 1;
  bool empty = false;  // [2^62, 4, 0] holds 0 elements although its prefix overflows
  for (int64_t d : dims) {
    if (d < 0) return std::nullopt;
    empty |= d == 0;
  }
  if (empty) return 0;
  for (int64_t d : dims)
    if (__builtin_mul_overflow(n, d, &n)) return std::nullopt;
  return n;
}

std::optional<int64_t> checkedByteSize(int64_t count, size_t elementSize) {
  int64_t bytes = 0;
  if (count < 0 || elementSize > static_cast<size_t>(INT64_MAX) ||
      __builtin_mul_overflow(count, static_cast<int64_t>(elementSize), &bytes))
    return std::nullopt;
  return bytes;
}

std::optional<int64_t> checkedByteSize(std::span<const int64_t> dims, DType dtype) {
  size_t esize = dtypeSize(dtype);
  std::optional<int64_t> count = checkedElementCount(dims);
  if (esize == 0 || !count) return std::nullopt;
  return checkedByteSize(*count, esize);
}

int64_t elementCount(std::span<const int64_t> dims) {
  // Negative dims pass through (callers test placeholders such as -1); a wrapped product does not.
  for (int64_t d : dims)
    if (d == 0) return 0;
  int64_t n = 1;
  for (int64_t d : dims)
    if (__builtin_mul_overflow(n, d, &n))
      throw TensorSizeError(fmt::format("dims [{}] have more than 2^63 elements", fmt::join(dims, ",")));
  return n;
}

TensorData::TensorData(DType dtype, std::vector<int64_t> dims, std::shared_ptr<const Buffer> buffer)
    : dtype_(dtype), dims_(std::move(dims)), buffer_(std::move(buffer)) {
  NPU_CHECK(dtype_ != DType::String && dtype_ != DType::Undefined, "numeric tensor needs a numeric dtype");
  std::optional<int64_t> want = checkedByteSize(dims_, dtype_);
  size_t have = buffer_ ? buffer_->size() : 0;
  NPU_CHECK(want && static_cast<size_t>(*want) == have, "{} tensor of rank {} needs {} bytes, buffer has {}",
            dtypeName(dtype_), dims_.size(), want ? fmt::format("{}", *want) : "over 2^63", have);
}

TensorData::TensorData(std::vector<int64_t> dims, std::vector<std::string> strings)
    : dtype_(DType::String), dims_(std::move(dims)), strings_(std::move(strings)) {
  std::optional<int64_t> count = checkedElementCount(dims_);
  NPU_CHECK(count && static_cast<int64_t>(strings_.size()) == *count, "string tensor size mismatch");
}

TensorData TensorData::scalarF32(float v) {
  return fromValues<float>(DType::F32, {}, std::span<const float>(&v, 1));
}
TensorData TensorData::vectorI64(std::span<const int64_t> v) {
  return fromValues<int64_t>(DType::I64, {static_cast<int64_t>(v.size())}, v);
}

double TensorData::elementAsDouble(int64_t i) const {
  const std::byte* p = bytes() + static_cast<size_t>(i) * dtypeSize(dtype_);
  auto load = [p](auto tag) {
    decltype(tag) v;
    std::memcpy(&v, p, sizeof v);
    return v;
  };
  switch (dtype_) {
    case DType::F32: return load(float{});
    case DType::F64: return load(double{});
    case DType::F16: return halfToFloat(load(uint16_t{}));
    case DType::BF16: return bf16ToFloat(load(uint16_t{}));
    case DType::I8: return load(int8_t{});
    case DType::U8: return load(uint8_t{});
    case DType::I16: return load(int16_t{});
    case DType::U16: return load(uint16_t{});
    case DType::I32: return load(int32_t{});
    case DType::U32: return load(uint32_t{});
    case DType::I64: return static_cast<double>(load(int64_t{}));
    case DType::U64: return static_cast<double>(load(uint64_t{}));
    case DType::Bool: return load(uint8_t{}) ? 1.0 : 0.0;
    default: NPU_CHECK(false, "elementAsDouble on {}", dtypeName(dtype_));
  }
  return 0;
}

std::vector<float> TensorData::toFloats() const {
  std::vector<float> out(static_cast<size_t>(numElements()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(elementAsDouble(int64_t(i)));
  return out;
}

std::vector<int64_t> TensorData::toInt64s() const {
  std::vector<int64_t> out(static_cast<size_t>(numElements()));
  if (dtype_ == DType::I64) {
    std::memcpy(out.data(), bytes(), out.size() * 8);
    return out;
  }
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int64_t>(elementAsDouble(int64_t(i)));
  return out;
}

uint64_t TensorData::contentHash() const {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const void* p, size_t n) {
    auto* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  };
  int32_t code = static_cast<int32_t>(dtype_);
  mix(&code, sizeof code);
  for (int64_t d : dims_) mix(&d, sizeof d);
  if (dtype_ == DType::String) {
    for (const auto& s : strings_) {
      uint64_t n = s.size();
      mix(&n, sizeof n);
      mix(s.data(), s.size());
    }
  } else if (rawBytes()) {
    mix(rawBytes(), byteSize());
  }
  return h;
}

bool TensorData::sameContent(const TensorData& o) const {
  if (dtype_ != o.dtype_ || dims_ != o.dims_) return false;
  if (dtype_ == DType::String) return strings_ == o.strings_;
  return byteSize() == o.byteSize() && (byteSize() == 0 || std::memcmp(rawBytes(), o.rawBytes(), byteSize()) == 0);
}

}  // namespace npuconv
