// blob_writer.h - a device program as the bytes of `model.npub` (docs/blob-format.md). The bytes
// are a pure function of the program: identical inputs give identical files.
#pragma once

#include <filesystem>
#include <string>

#include "converter/device/device_program.h"
#include "converter/support/status.h"

namespace npuconv {

/// Fails (invalid argument) only when the program exceeds a limit of the format.
Expected<std::string> serializeBlob(const device::Program& p);

/// serializeBlob, written atomically; returns the byte count.
Expected<uint64_t> writeBlob(const device::Program& p, const std::filesystem::path& path);

}  // namespace npuconv
