// type.h - value types: element type plus a shape whose dims are static, named-symbolic or
// unknown. Non-tensor ONNX types (sequence, map, optional) are kept as an opaque encoding so
// they survive a round trip without the core knowing the file format.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "converter/ir/dtype.h"

namespace npuconv {

class Dim {
 public:
  Dim() = default;  // unknown
  Dim(int64_t v) : value_(v) {}  // NOLINT: implicit, dims are mostly numbers
  static Dim symbol(std::string name) {
    Dim d;
    d.symbol_ = std::move(name);
    return d;
  }
  bool isStatic() const { return value_.has_value(); }
  bool isSymbolic() const { return !value_ && !symbol_.empty(); }
  bool isUnknown() const { return !value_ && symbol_.empty(); }
  int64_t value() const { return *value_; }
  const std::string& symbolName() const { return symbol_; }
  /// The ONNX `denotation` string of the dim, kept for the round trip.
  const std::string& denotation() const { return denotation_; }
  void setDenotation(std::string d) { denotation_ = std::move(d); }
  std::string toString() const;  // "3", "batch", "?"
  bool operator==(const Dim&) const = default;

 private:
  std::optional<int64_t> value_;
  std::string symbol_;
  std::string denotation_;
};

/// A shape of known rank. "Rank unknown" is an absent std::optional<Shape> in TensorType.
using Shape = std::vector<Dim>;

bool isStaticShape(const Shape& s);
std::vector<int64_t> staticDims(const Shape& s);  // precondition: isStaticShape
Shape shapeOf(const std::vector<int64_t>& dims);
std::string shapeToString(const Shape& s);  // "[1,3,batch,?]"

struct TensorType {
  DType dtype = DType::Undefined;
  std::optional<Shape> shape;  // nullopt: rank unknown
  /// Serialized ONNX TypeProto when the value is not a plain tensor (sequence, map, optional,
  /// sparse tensor); empty for tensors. The importer and writer own its meaning.
  std::string opaque;
  std::string denotation;

  bool isTensor() const { return opaque.empty(); }
  bool known() const { return dtype != DType::Undefined || !opaque.empty(); }
  bool hasStaticShape() const { return shape && isStaticShape(*shape); }
  std::string toString() const;  // "f32[1,3,224,224]", "f32[*]" for unknown rank
  bool operator==(const TensorType&) const = default;
};

}  // namespace npuconv
