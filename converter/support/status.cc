#include "converter/support/status.h"

namespace npuconv {

int exitCodeFor(StatusCode code) {
  switch (code) {
    case StatusCode::Ok: return 0;
    case StatusCode::InvalidArgument: return 2;
    case StatusCode::InvalidModel: return 3;
    case StatusCode::Unsupported: return 4;
    case StatusCode::Io: return 5;
    case StatusCode::AccuracyFailed: return 1;
    case StatusCode::Internal: return 70;
  }
  return 70;
}

const char* statusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::Ok: return "ok";
    case StatusCode::InvalidModel: return "invalid model";
    case StatusCode::Unsupported: return "unsupported";
    case StatusCode::InvalidArgument: return "invalid argument";
    case StatusCode::Io: return "i/o error";
    case StatusCode::AccuracyFailed: return "accuracy check failed";
    case StatusCode::Internal: return "internal error";
  }
  return "internal error";
}

void checkFailed(const char* file, int line, const char* cond, const std::string& msg) {
  std::fprintf(stderr, "npuconv: internal invariant failed at %s:%d: %s: %s\n", file, line, cond,
               msg.c_str());
  std::abort();
}

}  // namespace npuconv
