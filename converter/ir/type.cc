#include "converter/ir/type.h"

#include "converter/support/status.h"

namespace npuconv {

std::string Dim::toString() const {
  if (value_) return std::to_string(*value_);
  if (!symbol_.empty()) return symbol_;
  return "?";
}

bool isStaticShape(const Shape& s) {
  for (const Dim& d : s)
    if (!d.isStatic()) return false;
  return true;
}

std::vector<int64_t> staticDims(const Shape& s) {
  std::vector<int64_t> out;
  out.reserve(s.size());
  for (const Dim& d : s) {
    NPU_CHECK(d.isStatic(), "staticDims on a dynamic shape {}", shapeToString(s));
    out.push_back(d.value());
  }
  return out;
}

Shape shapeOf(const std::vector<int64_t>& dims) { return Shape(dims.begin(), dims.end()); }

std::string shapeToString(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += s[i].toString();
  }
  return out + "]";
}

std::string TensorType::toString() const {
  if (!opaque.empty()) return "opaque";
  std::string out(dtypeShortName(dtype));
  return out + (shape ? shapeToString(*shape) : "[*]");
}

}  // namespace npuconv
