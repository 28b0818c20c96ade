// crc32c.h - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, init and final xor
// 0xFFFFFFFF), as iSCSI, ext4 and the device blob use; check value: "123456789" -> 0xE3069283.
// A byte-wise table: portable and fast enough to check a blob faster than it is read from disk.
#pragma once

#include <cstddef>
#include <cstdint>

namespace npuconv {

/// Continues a CRC: crc32c(b, crc32c(a)) == crc32c(a + b). Start with 0.
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);

}  // namespace npuconv
