// fixed_point.cc - see fixed_point.h.
#include "converter/device/fixed_point.h"

#include <cmath>

namespace npuconv::device {

FixedMultiplier quantizeMultiplier(double m) {
  if (!(m > 0) || !std::isfinite(m)) return {};
  int exponent = 0;
  const double q = std::frexp(m, &exponent);  // m = q * 2^exponent, q in [0.5, 1)
  auto q31 = static_cast<int64_t>(std::llround(q * double(int64_t{1} << 31)));
  if (q31 == (int64_t{1} << 31)) {
    q31 /= 2;
    ++exponent;
  }
  if (exponent < -31) return {};  // below 2^-32: rounds every int32 input to zero
  if (exponent > 30) exponent = 30, q31 = (int64_t{1} << 31) - 1;  // saturate huge multipliers
  return {static_cast<int32_t>(q31), exponent};
}

}  // namespace npuconv::device
