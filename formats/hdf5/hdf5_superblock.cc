#include "formats/hdf5/hdf5_superblock.h"

#include <cstring>
#include <optional>

#include "formats/support/mapped_file.h"

namespace npuconv {

namespace {

constexpr unsigned char kSignature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

uint32_t rot(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

// Little-endian fields from a span whose length the caller has checked.
class SuperblockCursor {
 public:
  SuperblockCursor(std::span<const std::byte> b, size_t at) : b_(b), at_(at) {}
  uint64_t uint(int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t(std::to_integer<uint8_t>(b_[at_ + i])) << (8 * i);
    at_ += static_cast<size_t>(bytes);
    return v;
  }
  void skip(size_t n) { at_ += n; }
  size_t at() const { return at_; }

 private:
  std::span<const std::byte> b_;
  size_t at_;
};

struct Checker {
  std::span<const std::byte> bytes;
  const std::string& file;
  Hdf5Superblock sb;

  template <typename... A>
  Status bad(fmt::format_string<A...> f, A&&... a) const {
    return Status::invalidArgument("{}: malformed HDF5 superblock at offset {}: {}", file, sb.offset,
                                   fmt::format(f, std::forward<A>(a)...));
  }
  uint64_t undefined() const { return sb.sizeOfOffsets == 8 ? ~uint64_t(0) : (uint64_t(1) << (8 * sb.sizeOfOffsets)) - 1; }

  // An address relative to the base (libhdf5 takes the superblock's offset as the base, as
  // below) that must lie in [end of superblock, eof - need): absolute, or an error naming it.
  Expected<std::optional<uint64_t>> address(const char* what, uint64_t rel, bool mayBeUndefined, uint64_t need = 1) const {
    if (rel == undefined()) {
      if (mayBeUndefined) return std::optional<uint64_t>();
      return bad("the {} address is undefined", what);
    }
    uint64_t abs = sb.offset + rel;
    if (abs < rel || abs < sb.end || abs > sb.eof || sb.eof - abs < need)
      return bad("the {} address {} is outside the HDF5 data [{}, {})", what, rel, sb.end - sb.offset, sb.eof - sb.offset);
    return std::optional<uint64_t>(abs);
  }

  // Base and end-of-file addresses. The stored EOF counts from the start of the file (a file
  // with a 512-byte user block stores its whole length), the other addresses from the base.
  // libhdf5 rebases a file whose base address differs from the superblock's offset (a user
  // block added afterwards) and shifts the stored EOF by the difference (H5F__super_read);
  // the same arithmetic here, checked for wrapping.
  Status endOfFile(uint64_t base, uint64_t storedEof) {
    if (base == undefined() || base > bytes.size())
      return bad("the base address {} is past the end of the file ({} bytes)", base, bytes.size());
    if (storedEof == undefined()) return bad("the end-of-file address is undefined");
    uint64_t eof = storedEof;
    if (base > sb.offset) {
      if (eof < base - sb.offset) return bad("the end-of-file address {} is before the base address {}", storedEof, base);
      eof -= base - sb.offset;
    } else if (eof > UINT64_MAX - (sb.offset - base)) {
      return bad("the end-of-file address {} overflows", storedEof);
    } else {
      eof += sb.offset - base;
    }
    if (eof > bytes.size())
      return bad("the end-of-file address {} is past the end of the file ({} bytes)", storedEof, bytes.size());
    sb.eof = eof;
    if (sb.eof < sb.end) return bad("the end-of-file address {} is inside the superblock", storedEof);
    return Status::ok();
  }

  Status sizes(uint64_t offsets, uint64_t lengths) {
    if (offsets != 2 && offsets != 4 && offsets != 8) return bad("size of offsets {} (not 2, 4 or 8)", offsets);
    if (lengths != 2 && lengths != 4 && lengths != 8) return bad("size of lengths {} (not 2, 4 or 8)", lengths);
    sb.sizeOfOffsets = static_cast<int>(offsets);
    sb.sizeOfLengths = static_cast<int>(lengths);
    return Status::ok();
  }

  Status needs(size_t n) {
    if (bytes.size() - sb.offset < n)
      return bad("cut short: a version {} superblock takes {} bytes, the file has {} from there", sb.version, n,
                 bytes.size() - sb.offset);
    sb.end = sb.offset + n;
    return Status::ok();
  }

  // Versions 0 and 1: fixed fields, four addresses, the root group's symbol table entry.
  Status v0v1() {
    if (bytes.size() - sb.offset < 16) return needs(16);
    SuperblockCursor c(bytes, sb.offset + 9);
    uint64_t freeSpaceVersion = c.uint(1), rootEntryVersion = c.uint(1);
    c.skip(1);
    uint64_t sharedHeaderVersion = c.uint(1), offsets = c.uint(1), lengths = c.uint(1);
    c.skip(1);
    if (freeSpaceVersion != 0) return bad("free-space version {} (not 0)", freeSpaceVersion);
    if (rootEntryVersion != 0) return bad("root group symbol table entry version {} (not 0)", rootEntryVersion);
    if (sharedHeaderVersion != 0) return bad("shared header message version {} (not 0)", sharedHeaderVersion);
    NPU_TRY(sizes(offsets, lengths));
    const size_t o = static_cast<size_t>(sb.sizeOfOffsets);
    NPU_TRY(needs(24 + (sb.version == 1 ? 4 : 0) + 4 * o + (2 * o + 24)));
    uint64_t leafK = c.uint(2), internalK = c.uint(2);
    c.skip(4);  // file consistency flags
    if (leafK == 0 || internalK == 0) return bad("group B-tree K of 0");
    if (sb.version == 1) {
      if (c.uint(2) == 0) return bad("chunk B-tree K of 0");
      c.skip(2);
    }
    int ob = sb.sizeOfOffsets;
    uint64_t base = c.uint(ob), freeSpace = c.uint(ob), storedEof = c.uint(ob), driver = c.uint(ob);
    c.uint(ob);  // the root's link name offset (into a heap it does not have)
    uint64_t rootHeader = c.uint(ob), cacheType = c.uint(4);
    c.skip(4);
    uint64_t btree = c.uint(ob), heap = c.uint(ob);
    NPU_TRY(endOfFile(base, storedEof));
    NPU_TRY(address("free-space", freeSpace, true).status());
    NPU_ASSIGN_OR_RETURN(std::optional<uint64_t> root, address("root group object header", rootHeader, false));
    sb.rootHeader = *root;
    if (cacheType > 2) return bad("root symbol table entry cache type {} (not 0, 1 or 2)", cacheType);
    if (cacheType == 1) {
      NPU_TRY(address("root group B-tree", btree, false).status());
      NPU_TRY(address("root group heap", heap, false).status());
    }
    // The driver information block: libhdf5 allocates its claimed size before reading it
    // (the 4 GiB allocation of tests/fuzz/corpus/fuzz_hdf5/crash-oom-superblock.h5).
    NPU_ASSIGN_OR_RETURN(std::optional<uint64_t> drv, address("driver information block", driver, true, 16));
    if (drv) {
      SuperblockCursor d(bytes, *drv);
      uint64_t version = d.uint(1);
      d.skip(3);
      uint64_t size = d.uint(4);
      if (version != 0) return bad("driver information block version {} (not 0)", version);
      if (size > sb.eof - *drv - 16)
        return bad("the driver information block claims {} bytes, {} are left in the file", size, sb.eof - *drv - 16);
    }
    return Status::ok();
  }

  // Versions 2 and 3: four addresses and a checksum.
  Status v2v3() {
    if (bytes.size() - sb.offset < 12) return needs(12);
    SuperblockCursor c(bytes, sb.offset + 9);
    uint64_t offsets = c.uint(1), lengths = c.uint(1);
    c.skip(1);  // file consistency flags
    NPU_TRY(sizes(offsets, lengths));
    int ob = sb.sizeOfOffsets;
    NPU_TRY(needs(12 + 4 * static_cast<size_t>(ob) + 4));
    uint64_t base = c.uint(ob), extension = c.uint(ob), storedEof = c.uint(ob), rootHeader = c.uint(ob);
    uint32_t stored = static_cast<uint32_t>(c.uint(4));
    uint32_t computed = hdf5Lookup3(bytes.subspan(sb.offset, sb.end - sb.offset - 4));
    if (stored != computed) return bad("checksum {:#010x}, computed {:#010x}", stored, computed);
    NPU_TRY(endOfFile(base, storedEof));
    NPU_TRY(address("superblock extension", extension, true).status());
    NPU_ASSIGN_OR_RETURN(std::optional<uint64_t> root, address("root group object header", rootHeader, false));
    sb.rootHeader = *root;
    return Status::ok();
  }
};

}  // namespace

uint32_t hdf5Lookup3(std::span<const std::byte> bytes, uint32_t initval) {
  auto k = [&](size_t i) { return uint32_t(std::to_integer<uint8_t>(bytes[i])); };
  size_t length = bytes.size(), p = 0;
  uint32_t a, b, c;
  a = b = c = 0xdeadbeefu + static_cast<uint32_t>(length) + initval;
  while (length > 12) {
    a += k(p) | k(p + 1) << 8 | k(p + 2) << 16 | k(p + 3) << 24;
    b += k(p + 4) | k(p + 5) << 8 | k(p + 6) << 16 | k(p + 7) << 24;
    c += k(p + 8) | k(p + 9) << 8 | k(p + 10) << 16 | k(p + 11) << 24;
    a -= c; a ^= rot(c, 4);  c += b;
    b -= a; b ^= rot(a, 6);  a += c;
    c -= b; c ^= rot(b, 8);  b += a;
    a -= c; a ^= rot(c, 16); c += b;
    b -= a; b ^= rot(a, 19); a += c;
    c -= b; c ^= rot(b, 4);  b += a;
    length -= 12;
    p += 12;
  }
  if (length == 0) return c;
  // The last 1..12 bytes, each added at its place in a, b or c (lookup3's switch fall-through).
  for (size_t i = 0; i < length; ++i) {
    uint32_t v = k(p + i) << (8 * (i % 4));
    if (i < 4) a += v;
    else if (i < 8) b += v;
    else c += v;
  }
  c ^= b; c -= rot(b, 14);
  a ^= c; a -= rot(c, 11);
  b ^= a; b -= rot(a, 25);
  c ^= b; c -= rot(b, 16);
  a ^= c; a -= rot(c, 4);
  b ^= a; b -= rot(a, 14);
  c ^= b; c -= rot(b, 24);
  return c;
}

Expected<Hdf5Superblock> parseHdf5Superblock(std::span<const std::byte> bytes, const std::string& file) {
  // libhdf5 looks at offset 0, then 512, 1024, 2048, ... (H5FD_locate_signature).
  std::optional<uint64_t> at;
  for (uint64_t off = 0; off < bytes.size() && bytes.size() - off >= sizeof kSignature; off = off == 0 ? 512 : off * 2) {
    if (std::memcmp(bytes.data() + off, kSignature, sizeof kSignature) == 0) {
      at = off;
      break;
    }
  }
  if (!at) return Status::invalidArgument("{}: not an HDF5 file", file);
  Checker ck{bytes, file, {}};
  ck.sb.offset = *at;
  if (bytes.size() - *at < 9) return ck.bad("cut short after the signature");
  ck.sb.version = std::to_integer<int>(bytes[*at + 8]);
  if (ck.sb.version > 3) return ck.bad("version {} (npuconv reads 0 to 3)", ck.sb.version);
  NPU_TRY(ck.sb.version < 2 ? ck.v0v1() : ck.v2v3());
  return ck.sb;
}

Expected<Hdf5Superblock> checkHdf5Superblock(const std::filesystem::path& path) {
  NPU_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> m, MappedFile::open(path));
  return parseHdf5Superblock(std::span<const std::byte>(m->data(), m->size()), path.string());
}

}  // namespace npuconv
