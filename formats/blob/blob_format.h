// blob_format.h - the constants of the device blob `model.npub`, derived from the normative
// spec docs/blob-format.md (read it first; this header changes only with it). Everything is
// little-endian; offsets are absolute file offsets unless a field says otherwise.
#pragma once

#include <array>
#include <cstdint>

namespace npuconv::blob {

// --- header (64 bytes at offset 0) ---------------------------------------------------------
inline constexpr std::array<uint8_t, 8> kMagic = {0x4E, 0x50, 0x55, 0x42, 0x0D, 0x0A, 0x1A, 0x0A};  // "NPUB\r\n\x1a\n"
inline constexpr uint16_t kVersionMajor = 1;
inline constexpr uint16_t kVersionMinor = 1;  // 1.1: PROV source_model_sha256 (docs/blob-format.md, change log)
// 1.2: the VARS section (several frozen shapes). A writer writes minor 2 only into a file that
// has VARS, so a single-shape blob keeps the bytes of 1.1.
inline constexpr uint16_t kVersionMinorVariants = 2;
// 1.3: the header flag requant_single_rounding (requantization rounds once, §8.4). A writer sets
// it, and minor 3, for a program that rounds once (all it writes now); readers of 1.0-1.2 reject
// the unknown flag instead of running the program with the other rounding.
inline constexpr uint16_t kVersionMinorSingleRounding = 3;
inline constexpr uint32_t kHeaderSize = 64;
inline constexpr uint32_t kByteOrderMark = 0x01020304;
inline constexpr uint32_t kByteOrderMarkSwapped = 0x04030201;
inline constexpr uint32_t kHeaderFlagHasDebugNames = 1u << 0;
inline constexpr uint32_t kHeaderFlagRequantSingleRounding = 1u << 1;
inline constexpr uint32_t kHeaderKnownFlags = kHeaderFlagHasDebugNames | kHeaderFlagRequantSingleRounding;

// Header field offsets.
inline constexpr size_t kOffMagic = 0, kOffMajor = 8, kOffMinor = 10, kOffHeaderSize = 12, kOffBom = 16,
                        kOffSectionCount = 20, kOffSectionTable = 24, kOffFileSize = 32, kOffFlags = 40,
                        kOffHeaderCrc = 44, kOffReserved = 48;

// --- section table (section_count entries of 32 bytes) --------------------------------------
inline constexpr uint32_t kSectionEntrySize = 32;
inline constexpr uint32_t kSectionFlagCritical = 1u << 0;
inline constexpr uint32_t kSectionKnownFlags = kSectionFlagCritical;
inline constexpr uint64_t kAlignment = 64;  // every section and weight starts at a multiple

constexpr uint32_t fourcc(char a, char b, char c, char d) {
  return uint32_t(uint8_t(a)) | uint32_t(uint8_t(b)) << 8 | uint32_t(uint8_t(c)) << 16 | uint32_t(uint8_t(d)) << 24;
}
inline constexpr uint32_t kStrings = fourcc('S', 'T', 'R', 'T');
inline constexpr uint32_t kQuantParams = fourcc('Q', 'P', 'R', 'M');
inline constexpr uint32_t kTensors = fourcc('T', 'E', 'N', 'S');
inline constexpr uint32_t kOps = fourcc('O', 'P', 'S', ' ');
inline constexpr uint32_t kIoSignature = fourcc('I', 'O', 'S', 'G');
inline constexpr uint32_t kWeights = fourcc('W', 'G', 'H', 'T');
inline constexpr uint32_t kMetadata = fourcc('M', 'E', 'T', 'A');
inline constexpr uint32_t kProvenance = fourcc('P', 'R', 'O', 'V');
inline constexpr uint32_t kDebugNames = fourcc('D', 'B', 'U', 'G');
inline constexpr uint32_t kVariants = fourcc('V', 'A', 'R', 'S');  // 1.2, optional

// --- records ---------------------------------------------------------------------------------
inline constexpr uint32_t kTensorRecordSize = 104;
inline constexpr uint32_t kMaxRank = 8;
inline constexpr uint32_t kOpRecordHeaderSize = 48;
inline constexpr uint32_t kIoRecordSize = 16;
inline constexpr uint32_t kIoHeaderSize = 24;
inline constexpr uint32_t kIoFlagNormalizationBakedIn = 1u << 0;
inline constexpr uint32_t kKeyValueRecordSize = 16;
inline constexpr uint32_t kValueString = 1, kValueInt = 2;
inline constexpr uint32_t kNoQuant = 0xFFFFFFFFu;  // TENS quant field: not quantized
// VARS (1.2): u32 count, u32 reserved, then count records of kVariantRecordSize; record 0 is the
// top-level sections (all its fields zero); the others point at TENS/OPS/IOSG/DBUG payloads inside
// VARS (offsets relative to the section's start, multiples of 8).
inline constexpr uint32_t kVariantRecordSize = 88;
inline constexpr uint32_t kVariantAlignment = 8;
inline constexpr uint32_t kMaxVariants = 256;

// --- limits ------------------------------------------------------------------------------------
inline constexpr uint32_t kMaxSections = 256;
inline constexpr uint32_t kMaxStringLength = 1u << 16;
inline constexpr uint32_t kMaxCount = 1u << 24;        // strings, tensors, ops, parameters, entries
inline constexpr uint32_t kMaxOperands = 1u << 12;     // inputs/outputs/attributes of one op
inline constexpr int64_t kMaxDim = int64_t{1} << 32;
inline constexpr uint64_t kMaxFileSize = uint64_t{1} << 40;

inline constexpr uint64_t alignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace npuconv::blob
