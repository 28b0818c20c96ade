#include <cstdio>

#include "cli/commands.h"
#include "converter/support/utf8.h"

namespace npuconv {

int reportError(const Status& s) {
  std::string msg = oneLineMessage(s.message());
  std::fprintf(stderr, "npuconv: error: %s\n", msg.c_str());
  return exitCodeFor(s.code());
}

}  // namespace npuconv
