// blob_writer.h - a device program as the bytes of `model.npub` (docs/blob-format.md). The bytes
// are a pure function of the program: identical inputs give identical files.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "converter/device/device_program.h"
#include "converter/support/status.h"

namespace npuconv {

/// Fails (invalid argument) only when the program exceeds a limit of the format.
Expected<std::string> serializeBlob(const device::Program& p);

/// serializeBlob, written atomically; returns the byte count.
Expected<uint64_t> writeBlob(const device::Program& p, const std::filesystem::path& path);

/// Several frozen shapes of one model in one blob (format 1.2, section VARS): variants[0] in the
/// top-level sections, the others in VARS, weights with identical bytes stored once. One
/// program gives exactly the bytes of the overloads above.
Expected<std::string> serializeBlob(const std::vector<const device::Program*>& variants);
Expected<uint64_t> writeBlob(const std::vector<const device::Program*>& variants, const std::filesystem::path& path);

}  // namespace npuconv
