// shape_typed.h - dtype dispatch for the few shape kernels that look at element values
// (TopK, NonZero, Scatter reductions, Range, fills). Everything else moves raw bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "converter/ir/dtype.h"

namespace npuconv::shapeops {

/// Storage types of the 16-bit floats; arithmetic goes through float.
struct Half {
  uint16_t bits;
};
struct BHalf {
  uint16_t bits;
};

template <typename T>
struct Arith {
  using C = T;
  static C load(T v) { return v; }
  static T store(C c) { return c; }
};
template <>
struct Arith<Half> {
  using C = float;
  static C load(Half v) { return halfToFloat(v.bits); }
  static Half store(C c) { return Half{floatToHalf(c)}; }
};
template <>
struct Arith<BHalf> {
  using C = float;
  static C load(BHalf v) { return bf16ToFloat(v.bits); }
  static BHalf store(C c) { return BHalf{floatToBf16(c)}; }
};

/// Calls f(T{}) with the storage type of `t` (bool as uint8_t); false for other dtypes.
template <typename F>
bool dispatchNumeric(DType t, F&& f) {
  switch (t) {
    case DType::F32: f(float{}); return true;
    case DType::F64: f(double{}); return true;
    case DType::F16: f(Half{}); return true;
    case DType::BF16: f(BHalf{}); return true;
    case DType::I8: f(int8_t{}); return true;
    case DType::I16: f(int16_t{}); return true;
    case DType::I32: f(int32_t{}); return true;
    case DType::I64: f(int64_t{}); return true;
    case DType::U8: case DType::Bool: f(uint8_t{}); return true;
    case DType::U16: f(uint16_t{}); return true;
    case DType::U32: f(uint32_t{}); return true;
    case DType::U64: f(uint64_t{}); return true;
    default: return false;
  }
}

/// Writes `v` converted to dtype `t` into `out` (dtypeSize(t) bytes); false for other dtypes.
inline bool encodeScalar(DType t, double v, void* out) {
  return dispatchNumeric(t, [&](auto tag) {
    using T = decltype(tag);
    T x;
    if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BHalf>) {
      x = Arith<T>::store(static_cast<float>(v));
    } else if constexpr (std::is_same_v<T, uint8_t>) {
      x = t == DType::Bool ? uint8_t(v != 0) : static_cast<uint8_t>(v);
    } else {
      x = static_cast<T>(v);
    }
    std::memcpy(out, &x, sizeof(T));
  });
}

}  // namespace npuconv::shapeops
