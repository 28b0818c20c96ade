// attr.h - typed node attributes. No integer type tags, no sentinel defaults: an attribute is
// either present with a typed value or absent, and readers pass their own default.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "converter/ir/tensor.h"

namespace npuconv {

class Graph;
using GraphPtr = std::shared_ptr<Graph>;

/// An attribute value the core does not interpret (sparse tensors, type protos), kept as the
/// serialized ONNX AttributeProto so it survives a round trip.
struct OpaqueAttr {
  std::string encoded;
  bool operator==(const OpaqueAttr&) const = default;
};

using AttrValue = std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>,
                               std::vector<std::string>, TensorRef, std::vector<TensorRef>, GraphPtr,
                               std::vector<GraphPtr>, OpaqueAttr>;

struct Attribute {
  std::string name;
  AttrValue value;
  std::string docString;
  /// Inside a model-local function: the attribute takes the caller's attribute of this name.
  std::string refAttrName;
};

/// Attributes of one node, kept sorted by name so printing and writing are deterministic.
class AttrMap {
 public:
  const Attribute* find(std::string_view name) const;
  bool has(std::string_view name) const { return find(name) != nullptr; }
  void set(Attribute attr);
  template <typename T>
  void set(std::string name, T value) {
    set(Attribute{std::move(name), AttrValue(std::move(value)), {}, {}});
  }
  bool erase(std::string_view name);

  /// The value when present with type T; nullopt when absent. A present value of another type
  /// is also nullopt: the verifier reports type mismatches, kernels use their defaults.
  template <typename T>
  std::optional<T> get(std::string_view name) const {
    const Attribute* a = find(name);
    if (!a || !a->refAttrName.empty()) return std::nullopt;
    if (const T* v = std::get_if<T>(&a->value)) return *v;
    return std::nullopt;
  }
  int64_t getInt(std::string_view name, int64_t def) const { return get<int64_t>(name).value_or(def); }
  float getFloat(std::string_view name, float def) const { return get<float>(name).value_or(def); }
  std::string getString(std::string_view name, std::string def = {}) const {
    return get<std::string>(name).value_or(std::move(def));
  }
  std::vector<int64_t> getInts(std::string_view name, std::vector<int64_t> def = {}) const {
    return get<std::vector<int64_t>>(name).value_or(std::move(def));
  }
  std::vector<float> getFloats(std::string_view name, std::vector<float> def = {}) const {
    return get<std::vector<float>>(name).value_or(std::move(def));
  }

  const std::vector<Attribute>& all() const { return attrs_; }
  std::vector<Attribute>& mutableAll() { return attrs_; }
  size_t size() const { return attrs_.size(); }
  bool empty() const { return attrs_.empty(); }

 private:
  std::vector<Attribute> attrs_;
};

}  // namespace npuconv
