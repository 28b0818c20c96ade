// fuzz_calib_json.cc - the calibration statistics file (`--calib-cache`, `npuconv calibrate
// -o`; quant/calib_json.cc): statistics that parse must survive their own JSON form
// byte for byte (the format is lossless and byte-stable).
#include <cstdint>

#include <nlohmann/json.hpp>

#include "quant/calibration.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace npuconv;
  using namespace npuconv::fuzz;
  nlohmann::json j = nlohmann::json::parse(asText(data, size), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  auto stats = calibStatsFromJson(j);
  if (!stats) {
    checkError(stats.status());
    return 0;
  }
  std::string once = calibStatsToJson(*stats).dump();
  auto again = calibStatsFromJson(nlohmann::json::parse(once));
  if (!again) fail("statistics' own JSON does not parse", again.status());
  if (calibStatsToJson(*again).dump() != once) fail("calibration JSON is not byte-stable");
  return 0;
}
