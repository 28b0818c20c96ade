#include "formats/npz/zip_archive.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace npuconv {

namespace {

constexpr uint32_t kEndSig = 0x06054b50, kEnd64Sig = 0x06064b50, kEnd64LocatorSig = 0x07064b50;
constexpr uint32_t kCentralSig = 0x02014b50, kLocalSig = 0x04034b50;

/// Little-endian field reads at checked offsets.
class Bytes {
 public:
  Bytes(const std::byte* data, size_t size) : data_(data), size_(size) {}
  bool has(uint64_t off, uint64_t n) const { return off <= size_ && n <= size_ - off; }
  uint64_t le(uint64_t off, int n) const {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(data_[off + static_cast<uint64_t>(i)]);
    return v;
  }
  uint16_t u16(uint64_t off) const { return static_cast<uint16_t>(le(off, 2)); }
  uint32_t u32(uint64_t off) const { return static_cast<uint32_t>(le(off, 4)); }
  uint64_t u64(uint64_t off) const { return le(off, 8); }
  const std::byte* at(uint64_t off) const { return data_ + off; }
  size_t size() const { return size_; }

 private:
  const std::byte* data_;
  size_t size_;
};

}  // namespace

Expected<std::unique_ptr<ZipArchive>> ZipArchive::open(const std::filesystem::path& path) {
  std::string name = path.string();
  NPU_ASSIGN_OR_RETURN(auto file, MappedFile::open(path));
  Bytes b(file->data(), file->size());
  auto corrupt = [&](std::string_view what) { return Status::invalidArgument("{}: not a valid zip archive: {}", name, what); };
  // The end record is in the last 22 + 65535 (comment) bytes.
  if (b.size() < 22) return corrupt("too short");
  uint64_t end = std::numeric_limits<uint64_t>::max();
  uint64_t lowest = b.size() > 22 + 65535 ? b.size() - 22 - 65535 : 0;
  for (uint64_t off = b.size() - 22;; --off) {
    if (b.u32(off) == kEndSig) {
      end = off;
      break;
    }
    if (off == lowest) break;
  }
  if (end == std::numeric_limits<uint64_t>::max()) return corrupt("no end of central directory record");
  uint64_t count = b.u16(end + 10), cdSize = b.u32(end + 12), cdOffset = b.u32(end + 16);
  if ((count == 0xffff || cdSize == 0xffffffff || cdOffset == 0xffffffff) && end >= 20 &&
      b.u32(end - 20) == kEnd64LocatorSig) {
    uint64_t e64 = b.u64(end - 20 + 8);
    if (!b.has(e64, 56) || b.u32(e64) != kEnd64Sig) return corrupt("bad zip64 end record");
    count = b.u64(e64 + 32);
    cdSize = b.u64(e64 + 40);
    cdOffset = b.u64(e64 + 48);
  }
  if (!b.has(cdOffset, cdSize)) return corrupt("the central directory is outside the file");

  auto archive = std::unique_ptr<ZipArchive>(new ZipArchive());
  archive->name_ = name;
  uint64_t off = cdOffset;
  for (uint64_t i = 0; i < count; ++i) {
    if (!b.has(off, 46) || b.u32(off) != kCentralSig) return corrupt("bad central directory entry");
    ZipMember m;
    uint16_t flags = b.u16(off + 8);
    m.method = b.u16(off + 10);
    m.compressedSize = b.u32(off + 20);
    m.size = b.u32(off + 24);
    uint64_t nameLen = b.u16(off + 28), extraLen = b.u16(off + 30), commentLen = b.u16(off + 32);
    uint64_t local = b.u32(off + 42);
    if (!b.has(off + 46, nameLen + extraLen + commentLen)) return corrupt("truncated central directory");
    m.name.assign(reinterpret_cast<const char*>(b.at(off + 46)), nameLen);
    // zip64 extra field: the 64-bit values of the fields saturated above, in this order.
    for (uint64_t x = off + 46 + nameLen, xEnd = x + extraLen; x + 4 <= xEnd;) {
      uint16_t id = b.u16(x), len = b.u16(x + 2);
      if (x + 4 + len > xEnd) break;
      if (id == 0x0001) {
        uint64_t p = x + 4, pEnd = p + len;
        if (m.size == 0xffffffff && p + 8 <= pEnd) m.size = b.u64(p), p += 8;
        if (m.compressedSize == 0xffffffff && p + 8 <= pEnd) m.compressedSize = b.u64(p), p += 8;
        if (local == 0xffffffff && p + 8 <= pEnd) local = b.u64(p), p += 8;
      }
      x += 4 + len;
    }
    off += 46 + nameLen + extraLen + commentLen;
    if (flags & 1) return Status::unsupported("{}: member \"{}\" is encrypted", name, m.name);
    if (m.method != 0 && m.method != 8)
      return Status::unsupported("{}: member \"{}\" uses zip compression method {} (only stored and deflated are supported)",
                                 name, m.name, m.method);
    if (!b.has(local, 30) || b.u32(local) != kLocalSig) return corrupt("bad local header of \"" + m.name + "\"");
    m.dataOffset = local + 30 + b.u16(local + 26) + b.u16(local + 28);
    if (!b.has(m.dataOffset, m.compressedSize)) return corrupt("member \"" + m.name + "\" extends past the end of the file");
    if (m.method == 0 && m.compressedSize != m.size) return corrupt("stored member \"" + m.name + "\" has two sizes");
    archive->members_.push_back(std::move(m));
  }
  archive->file_ = std::move(file);
  return archive;
}

std::unique_ptr<ZipMemberReader> ZipArchive::openMember(const ZipMember& m) const {
  return std::make_unique<ZipMemberReader>(file_, m, name_ + ": " + m.name);
}

ZipMemberReader::ZipMemberReader(std::shared_ptr<const MappedFile> file, ZipMember member, std::string where)
    : file_(std::move(file)), member_(std::move(member)), where_(std::move(where)) {}

ZipMemberReader::~ZipMemberReader() {
  if (zOpen_) inflateEnd(&z_);
}

Status ZipMemberReader::restart() {
  if (zOpen_) inflateEnd(&z_);
  zOpen_ = false;
  z_ = z_stream{};
  pos_ = consumed_ = 0;
  if (inflateInit2(&z_, -MAX_WBITS) != Z_OK) return Status::internal("{}: cannot start zlib", where_);
  zOpen_ = true;
  return Status::ok();
}

Status ZipMemberReader::inflateInto(std::byte* out, size_t n) {
  if (!zOpen_) NPU_TRY(restart());
  while (n > 0) {
    if (z_.avail_in == 0 && consumed_ < member_.compressedSize) {
      // zlib counts in 32 bits: hand it the mapped bytes in slices.
      uint64_t chunk = std::min<uint64_t>(member_.compressedSize - consumed_, uint64_t{1} << 30);
      z_.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(file_->data() + member_.dataOffset + consumed_));
      z_.avail_in = static_cast<uInt>(chunk);
      consumed_ += chunk;
    }
    size_t step = std::min<size_t>(n, size_t{1} << 30);
    z_.next_out = reinterpret_cast<Bytef*>(out);
    z_.avail_out = static_cast<uInt>(step);
    int rc = inflate(&z_, Z_NO_FLUSH);
    size_t produced = step - z_.avail_out;
    out += produced;
    n -= produced;
    pos_ += produced;
    if (rc == Z_STREAM_END && n > 0) return Status::invalidArgument("{}: compressed data ends early", where_);
    if (rc != Z_OK && rc != Z_STREAM_END && !(rc == Z_BUF_ERROR && produced > 0))
      return Status::invalidArgument("{}: corrupt compressed data ({})", where_, z_.msg ? z_.msg : "zlib error");
  }
  return Status::ok();
}

void ZipMemberReader::releaseBehind(uint64_t storedPos) {
  // Reading is sequential: the mapped pages behind are not needed again until a rewind.
  if (storedPos >= released_ + (uint64_t{4} << 20) || storedPos < released_) {
    file_->releasePages(member_.dataOffset, storedPos);
    released_ = storedPos;
  }
}

Status ZipMemberReader::read(void* out, size_t n) {
  if (n > member_.size || pos_ > member_.size - n)
    return Status::invalidArgument("{}: reading {} bytes at {} runs past the member's {} bytes", where_, n, pos_,
                                   member_.size);
  if (member_.method == 0) {
    if (n) std::memcpy(out, file_->data() + member_.dataOffset + pos_, n);
    pos_ += n;
    releaseBehind(pos_);
    return Status::ok();
  }
  NPU_TRY(inflateInto(static_cast<std::byte*>(out), n));
  releaseBehind(consumed_ - z_.avail_in);  // zlib keeps its window itself
  return Status::ok();
}

Status ZipMemberReader::seek(uint64_t pos) {
  if (pos > member_.size) return Status::invalidArgument("{}: offset {} is past the member's end", where_, pos);
  if (member_.method == 0) {
    pos_ = pos;
    return Status::ok();
  }
  if (pos < pos_ || !zOpen_) NPU_TRY(restart());
  std::vector<std::byte> scratch(std::min<uint64_t>(pos - pos_, uint64_t{1} << 20));
  while (pos_ < pos) NPU_TRY(inflateInto(scratch.data(), std::min<uint64_t>(pos - pos_, scratch.size())));
  return Status::ok();
}

}  // namespace npuconv
