// hdf5_superblock.h - checks an HDF5 file's superblock before libhdf5 sees the file.
//
// libhdf5 trusts the superblock: a 49-byte file whose driver-information block claims 4 GiB
// makes H5Fopen allocate 4 GiB (tests/fuzz/corpus/fuzz_hdf5/crash-oom-superblock.h5, docs/hardening.md). Everything
// H5Fopen reads from the superblock before it walks any object is checked here against the
// file's real size, so a hostile --calib file ends in one error naming it instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "converter/support/status.h"

namespace npuconv {

/// Where the superblock was found and what it says (addresses absolute in the file).
struct Hdf5Superblock {
  uint64_t offset = 0;  // 0, 512, 1024, 2048, ... (a user block may precede it)
  int version = 0;      // 0..3
  int sizeOfOffsets = 0, sizeOfLengths = 0;
  uint64_t end = 0;         // first byte after the superblock
  uint64_t eof = 0;         // end of the HDF5 data (at most the file size)
  uint64_t rootHeader = 0;  // the root group's object header
};

/// Checks the superblock of `bytes` (a whole file, as mapped) and returns what it says, or
/// InvalidArgument naming `file`: "not an HDF5 file" without the signature, else
/// "malformed HDF5 superblock at offset N: <what>".
Expected<Hdf5Superblock> parseHdf5Superblock(std::span<const std::byte> bytes, const std::string& file);

/// The same for a file on disk (mapped, so only the pages read are touched); Io when it
/// cannot be opened.
Expected<Hdf5Superblock> checkHdf5Superblock(const std::filesystem::path& path);

/// Jenkins' lookup3 hash as HDF5 checksums its metadata (H5_checksum_lookup3, initval 0).
uint32_t hdf5Lookup3(std::span<const std::byte> bytes, uint32_t initval = 0);

}  // namespace npuconv
