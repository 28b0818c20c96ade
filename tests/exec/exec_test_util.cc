// exec_test_util.cc - see exec_test_util.h.
#include "tests/exec/exec_test_util.h"

namespace npuconv::test {

std::string randomValuesText(std::mt19937& rng, int64_t count, float scale) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::string s;
  for (int64_t i = 0; i < count; ++i) s += (i ? ", " : "") + std::to_string(u(rng));
  return s;
}

std::string activationText(const std::string& act, const std::string& out, const std::string& in) {
  if (act == "Clip") return "  " + out + " = Clip (" + in + ", lo, hi)\n";
  if (act == "HardSwish")
    return "  " + out + "h = HardSigmoid <alpha = 0.16666667, beta = 0.5> (" + in + ")\n  " + out + " = Mul (" + in +
           ", " + out + "h)\n";
  return "  " + out + " = " + act + " (" + in + ")\n";
}

}  // namespace npuconv::test
