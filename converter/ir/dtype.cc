#include "converter/ir/dtype.h"

#include <array>
#include <cmath>

namespace npuconv {
namespace {

struct DTypeInfo {
  DType type;
  size_t size;
  std::string_view name;
  std::string_view shortName;
};

constexpr std::array<DTypeInfo, 17> kInfo = {{
    {DType::Undefined, 0, "undefined", "undef"},
    {DType::F32, 4, "float32", "f32"},
    {DType::U8, 1, "uint8", "u8"},
    {DType::I8, 1, "int8", "i8"},
    {DType::U16, 2, "uint16", "u16"},
    {DType::I16, 2, "int16", "i16"},
    {DType::I32, 4, "int32", "i32"},
    {DType::I64, 8, "int64", "i64"},
    {DType::String, 0, "string", "str"},
    {DType::Bool, 1, "bool", "bool"},
    {DType::F16, 2, "float16", "f16"},
    {DType::F64, 8, "float64", "f64"},
    {DType::U32, 4, "uint32", "u32"},
    {DType::U64, 8, "uint64", "u64"},
    {DType::C64, 8, "complex64", "c64"},
    {DType::C128, 16, "complex128", "c128"},
    {DType::BF16, 2, "bfloat16", "bf16"},
}};

const DTypeInfo& info(DType t) {
  auto i = static_cast<size_t>(t);
  return i < kInfo.size() ? kInfo[i] : kInfo[0];
}

}  // namespace

size_t dtypeSize(DType t) { return info(t).size; }
std::string_view dtypeName(DType t) { return info(t).name; }
std::string_view dtypeShortName(DType t) { return info(t).shortName; }

std::optional<DType> dtypeFromCode(int32_t code) {
  if (code <= 0 || code >= static_cast<int32_t>(kInfo.size())) return std::nullopt;
  return static_cast<DType>(code);
}

std::optional<DType> dtypeFromName(std::string_view name) {
  for (const auto& i : kInfo)
    if (i.type != DType::Undefined && (i.name == name || i.shortName == name)) return i.type;
  if (name == "float") return DType::F32;
  if (name == "double") return DType::F64;
  return std::nullopt;
}

bool isFloat(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F64;
}

bool isInteger(DType t) {
  switch (t) {
    case DType::U8: case DType::I8: case DType::U16: case DType::I16: case DType::I32:
    case DType::I64: case DType::U32: case DType::U64:
      return true;
    default:
      return false;
  }
}

float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | (uint32_t(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) {  // Inf or NaN (keep NaN quiet)
    return uint16_t(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u | ((absx >> 13) & 0x3ffu) : 0));
  }
  if (absx >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to >= 65520 -> Inf
  if (absx < 0x38800000u) {                                   // result is subnormal or zero
    if (absx < 0x33000000u) return uint16_t(sign);            // < 2^-25 rounds to 0
    uint32_t e = absx >> 23;
    uint32_t mant = (absx & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;  // 14 + (113 - e) + ... gives the subnormal position
    uint32_t q = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return uint16_t(sign | q);
  }
  uint32_t q = ((absx - 0x38000000u) >> 13);
  uint32_t rem = absx & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) ++q;
  return uint16_t(sign | q);
}

uint16_t floatToBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);  // quiet NaN
  uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
  return uint16_t((x + rounding) >> 16);
}

}  // namespace npuconv
