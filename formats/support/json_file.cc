// json_file.cc - see json_file.h.
#include "formats/support/json_file.h"

namespace npuconv {

std::string jsonParseErrorText(const nlohmann::json::parse_error& e) {
  std::string what = e.what();
  if (auto pos = what.find("parse error"); pos != std::string::npos) what = what.substr(pos);
  return what;
}

}  // namespace npuconv
