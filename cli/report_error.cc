#include <cstdio>

#include "cli/commands.h"

namespace npuconv {

int reportError(const Status& s) {
  std::string msg = s.message();
  for (char& c : msg)
    if (c == '\n') c = ' ';
  std::fprintf(stderr, "npuconv: error: %s\n", msg.c_str());
  return exitCodeFor(s.code());
}

}  // namespace npuconv
