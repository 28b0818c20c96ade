// fuzz_target_json.cc - target profiles (formats/target/target_json.h): strict parsing, and a
// profile that parses must survive its own JSON form (parse(toJson(p)) == p).
#include <cstdint>

#include "formats/target/target_json.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace npuconv;
  using namespace npuconv::fuzz;
  auto p = parseTargetProfile(asText(data, size), "fuzz.json");
  if (!p) {
    checkError(p.status());
    return 0;
  }
  std::string text = targetProfileToJson(*p).dump();
  auto again = parseTargetProfile(text, "roundtrip.json");
  if (!again) fail("a profile's own JSON does not parse", again.status());
  if (!(*again == *p)) fail("parse(toJson(p)) != p");
  return 0;
}
