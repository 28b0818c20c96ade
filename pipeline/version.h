// version.h - the npuconv version (CMake's PROJECT_VERSION): --version, reports, cache keys.
#pragma once

namespace npuconv {

inline constexpr const char* kNpuconvVersion = NPUCONV_VERSION;

}  // namespace npuconv
