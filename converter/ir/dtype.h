// dtype.h - element types. The numeric values are ONNX's TensorProto.DataType codes, so the
// importer maps them one to one; the IR itself does not depend on ONNX.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace npuconv {

enum class DType : int32_t {
  Undefined = 0,
  F32 = 1,
  U8 = 2,
  I8 = 3,
  U16 = 4,
  I16 = 5,
  I32 = 6,
  I64 = 7,
  String = 8,
  Bool = 9,
  F16 = 10,
  F64 = 11,
  U32 = 12,
  U64 = 13,
  C64 = 14,
  C128 = 15,
  BF16 = 16,
};

/// Bytes per element; 0 for String and Undefined (not fixed-size).
size_t dtypeSize(DType t);
/// ONNX-style lower-case name: "float32", "float16", "int8", "bool", ...
std::string_view dtypeName(DType t);
/// Short name used by the IR printer: f32, f16, bf16, i8, u8, i64, bool, str...
std::string_view dtypeShortName(DType t);
std::optional<DType> dtypeFromCode(int32_t code);
std::optional<DType> dtypeFromName(std::string_view name);  // accepts both name forms
bool isFloat(DType t);    // f16, bf16, f32, f64
bool isInteger(DType t);  // signed or unsigned integers, not bool

// IEEE binary16 and bfloat16 conversions (round to nearest even).
float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);
inline float bf16ToFloat(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
uint16_t floatToBf16(float f);

}  // namespace npuconv
