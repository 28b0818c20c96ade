// json_file.cc - see json_file.h.
#include "formats/support/json_file.h"

namespace npuconv {

std::string jsonParseErrorText(const nlohmann::json::exception& e) {
  std::string what = e.what();
  if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
  return what;
}

}  // namespace npuconv
