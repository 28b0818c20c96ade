#include "converter/ir/attr.h"

#include <algorithm>

namespace npuconv {

const Attribute* AttrMap::find(std::string_view name) const {
  auto it = std::lower_bound(attrs_.begin(), attrs_.end(), name,
                             [](const Attribute& a, std::string_view n) { return a.name < n; });
  return (it != attrs_.end() && it->name == name) ? &*it : nullptr;
}

void AttrMap::set(Attribute attr) {
  auto it = std::lower_bound(attrs_.begin(), attrs_.end(), attr.name,
                             [](const Attribute& a, const std::string& n) { return a.name < n; });
  if (it != attrs_.end() && it->name == attr.name)
    *it = std::move(attr);
  else
    attrs_.insert(it, std::move(attr));
}

bool AttrMap::erase(std::string_view name) {
  auto it = std::lower_bound(attrs_.begin(), attrs_.end(), name,
                             [](const Attribute& a, std::string_view n) { return a.name < n; });
  if (it == attrs_.end() || it->name != name) return false;
  attrs_.erase(it);
  return true;
}

}  // namespace npuconv
