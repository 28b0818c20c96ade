// blob_reader.cc - see blob_reader.h. Order: header, section table, then each section parsed
// with a bounded cursor, then cross-references (indices, weight ranges, arena ranges).
#include "formats/blob/blob_reader.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "converter/support/crc32c.h"
#include "formats/blob/blob_format.h"
#include "formats/support/mapped_file.h"

namespace npuconv {
namespace {

using namespace blob;

std::string fourccText(uint32_t f) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    const char c = static_cast<char>((f >> (8 * i)) & 0xFF);
    s += (c >= 0x20 && c < 0x7F) ? c : '?';
  }
  return s;
}

uint64_t le(const std::byte* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t(std::to_integer<uint8_t>(p[i])) << (8 * i);
  return v;
}

/// Reads little-endian fields from one section; running past its end is an error naming the
/// section and the offset inside it.
class Cursor {
 public:
  Cursor(const std::byte* p, uint64_t size, std::string section) : p_(p), size_(size), section_(std::move(section)) {}
  Expected<uint64_t> take(int n, const char* what) {
    if (size_ - pos_ < static_cast<uint64_t>(n))
      return Status::invalidModel("section {}: {} at byte {} runs past the section's end ({} bytes)", section_, what, pos_, size_);
    const uint64_t v = le(p_ + pos_, n);
    pos_ += static_cast<uint64_t>(n);
    return v;
  }
  Expected<uint32_t> u32(const char* what) {
    NPU_ASSIGN_OR_RETURN(uint64_t v, take(4, what));
    return static_cast<uint32_t>(v);
  }
  Expected<int32_t> i32(const char* what) {
    NPU_ASSIGN_OR_RETURN(uint64_t v, take(4, what));
    return static_cast<int32_t>(static_cast<uint32_t>(v));
  }
  Expected<uint64_t> u64(const char* what) { return take(8, what); }
  Expected<int64_t> i64(const char* what) {
    NPU_ASSIGN_OR_RETURN(uint64_t v, take(8, what));
    return static_cast<int64_t>(v);
  }
  Expected<float> f32(const char* what) {
    NPU_ASSIGN_OR_RETURN(uint32_t b, u32(what));
    float f;
    std::memcpy(&f, &b, 4);
    return f;
  }
  /// A count of records of at least `minBytes` each: bounded by the bytes left, so a huge count
  /// fails here instead of reserving memory.
  Expected<uint32_t> count(const char* what, uint64_t minBytes, uint32_t limit = kMaxCount) {
    NPU_ASSIGN_OR_RETURN(uint32_t n, u32(what));
    if (n > limit) return Status::invalidModel("section {}: {} {} exceeds the limit {}", section_, what, n, limit);
    if (minBytes && n > (size_ - pos_) / minBytes)
      return Status::invalidModel("section {}: {} {} needs at least {} bytes, {} are left", section_, what, n, n * minBytes, size_ - pos_);
    return n;
  }
  Status zero(uint32_t v, const char* what) const {
    if (v != 0) return Status::invalidModel("section {}: reserved field {} is {}, must be 0", section_, what, v);
    return Status::ok();
  }
  uint64_t pos() const { return pos_; }
  uint64_t left() const { return size_ - pos_; }
  void skip(uint64_t n) { pos_ += std::min(n, left()); }
  const std::byte* here() const { return p_ + pos_; }
  Status fail(const std::string& msg) const { return Status::invalidModel("section {}: {}", section_, msg); }
  Status atEnd() const {
    if (pos_ != size_) return Status::invalidModel("section {}: {} trailing bytes after the last record", section_, size_ - pos_);
    return Status::ok();
  }

 private:
  const std::byte* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
  std::string section_;
};

struct Raw {
  uint32_t fourcc, flags;
  uint64_t offset, size;  // absolute
  uint32_t crc;
  std::string label = {};  // errors' section name when not the fourcc (a VARS part: "VARS[1].TENS")
};

class Parser {
 public:
  Parser(const std::byte* b, size_t n, std::shared_ptr<const void> owner) : b_(b), n_(n), owner_(std::move(owner)) {}

  Expected<LoadedBlob> run() {
    NPU_TRY(header());
    const Raw* strt = find(kStrings);
    if (!strt) return Status::invalidModel("critical section STRT (strings) is missing");
    NPU_TRY(strings(*strt));
    for (uint32_t need : {kQuantParams, kTensors, kOps, kIoSignature, kWeights})
      if (!find(need)) return Status::invalidModel("critical section {} is missing", fourccText(need));
    NPU_TRY(quant(*find(kQuantParams)));
    NPU_TRY(io(*find(kIoSignature)));  // before TENS: the arena size bounds activation ranges
    NPU_TRY(tensors(*find(kTensors), *find(kWeights)));
    NPU_TRY(ops(*find(kOps)));
    NPU_TRY(ioIndices());
    if (const Raw* r = find(kMetadata)) NPU_TRY(keyValues(*r, out_.program.metadata, true));
    if (const Raw* r = find(kProvenance)) NPU_TRY(keyValues(*r, out_.program.provenance, false));
    if (const Raw* r = find(kDebugNames)) NPU_TRY(debugNames(*r));
    if (((headerFlags_ & kHeaderFlagHasDebugNames) != 0) != (find(kDebugNames) != nullptr))
      return Status::invalidModel("header flag has_debug_names disagrees with the presence of section DBUG");
    if (const Raw* r = find(kVariants)) NPU_TRY(variants(*r));
    return std::move(out_);
  }

 private:
  Status header() {
    if (n_ < kHeaderSize) return Status::invalidModel("truncated: {} bytes, the header alone needs {}", n_, kHeaderSize);
    if (std::memcmp(b_, kMagic.data(), kMagic.size()) != 0) return Status::invalidModel("not a device blob: bad magic (want \"NPUB\\r\\n\\x1a\\n\")");
    const uint32_t bom = static_cast<uint32_t>(le(b_ + kOffBom, 4));
    if (bom == kByteOrderMarkSwapped) return Status::invalidModel("byte-order mark 0x{:08x}: written big-endian, blobs are little-endian", bom);
    if (bom != kByteOrderMark) return Status::invalidModel("bad byte-order mark 0x{:08x} (want 0x{:08x})", bom, kByteOrderMark);
    out_.versionMajor = static_cast<uint16_t>(le(b_ + kOffMajor, 2));
    out_.versionMinor = static_cast<uint16_t>(le(b_ + kOffMinor, 2));
    if (out_.versionMajor != kVersionMajor)
      return Status::invalidModel("format version {}.{}: this reader reads major version {} only", out_.versionMajor, out_.versionMinor, kVersionMajor);
    const uint32_t headerSize = static_cast<uint32_t>(le(b_ + kOffHeaderSize, 4));
    if (headerSize < kHeaderSize || headerSize % 8 || headerSize > n_)
      return Status::invalidModel("header_size {}: must be >= {}, a multiple of 8 and inside the file", headerSize, kHeaderSize);
    const uint64_t fileSize = le(b_ + kOffFileSize, 8);
    if (fileSize != n_) return Status::invalidModel("file_size field says {} bytes, the file has {} (truncated or appended to)", fileSize, n_);
    if (fileSize > kMaxFileSize) return Status::invalidModel("file of {} bytes exceeds the format's limit", fileSize);
    out_.fileSize = fileSize;
    const uint32_t flags = static_cast<uint32_t>(le(b_ + kOffFlags, 4));
    if (flags & ~kHeaderKnownFlags) return Status::invalidModel("header flags 0x{:08x}: unknown bits set", flags);
    if ((flags & kHeaderFlagRequantSingleRounding) && out_.versionMinor < kVersionMinorSingleRounding)
      return Status::invalidModel("header flag requant_single_rounding needs format 1.{} or later, the file says {}.{}",
                                  kVersionMinorSingleRounding, out_.versionMajor, out_.versionMinor);
    headerFlags_ = flags;
    out_.program.requantRounding =
        (flags & kHeaderFlagRequantSingleRounding) ? device::Rounding::Single : device::Rounding::Double;
    for (size_t i = kOffReserved; i < kHeaderSize; ++i)
      if (b_[i] != std::byte{0}) return Status::invalidModel("header reserved byte {} is not zero", i);
    const uint32_t count = static_cast<uint32_t>(le(b_ + kOffSectionCount, 4));
    if (count == 0 || count > kMaxSections) return Status::invalidModel("section_count {}: must be 1 to {}", count, kMaxSections);
    const uint64_t table = le(b_ + kOffSectionTable, 8);
    if (table % kAlignment || table < headerSize || table > n_ || (n_ - table) / kSectionEntrySize < count)
      return Status::invalidModel("section table at {} ({} entries) is misaligned or outside the file", table, count);
    tableEnd_ = table + uint64_t{count} * kSectionEntrySize;
    std::vector<std::byte> head(b_, b_ + tableEnd_);
    std::memset(head.data() + kOffHeaderCrc, 0, 4);
    const uint32_t want = static_cast<uint32_t>(le(b_ + kOffHeaderCrc, 4));
    const uint32_t got = crc32c(head.data(), head.size());
    if (want != got) return Status::invalidModel("header CRC-32C mismatch: stored 0x{:08x}, computed 0x{:08x}", want, got);
    std::vector<std::pair<uint64_t, uint64_t>> ranges = {{0, tableEnd_}};
    for (uint32_t i = 0; i < count; ++i) {
      const std::byte* e = b_ + table + uint64_t{i} * kSectionEntrySize;
      Raw r{static_cast<uint32_t>(le(e, 4)), static_cast<uint32_t>(le(e + 4, 4)), le(e + 8, 8), le(e + 16, 8),
            static_cast<uint32_t>(le(e + 24, 4))};
      const std::string name = fourccText(r.fourcc);
      if (le(e + 28, 4) != 0) return Status::invalidModel("section {}: reserved field of its table entry is not zero", name);
      if (r.flags & ~kSectionKnownFlags) return Status::invalidModel("section {}: unknown flag bits 0x{:08x}", name, r.flags);
      if (r.offset % kAlignment) return Status::invalidModel("section {}: offset {} is not a multiple of {}", name, r.offset, kAlignment);
      if (r.offset < tableEnd_ || r.offset > n_ || r.size > n_ - r.offset)
        return Status::invalidModel("section {}: [{}, +{}) lies outside the file's {} bytes or over the header", name, r.offset, r.size, n_);
      for (const Raw& o : raw_)
        if (o.fourcc == r.fourcc) return Status::invalidModel("section {} appears twice", name);
      const uint32_t crc = crc32c(b_ + r.offset, r.size);
      if (crc != r.crc) return Status::invalidModel("section {}: CRC-32C mismatch: stored 0x{:08x}, computed 0x{:08x}", name, r.crc, crc);
      out_.sections.push_back({name, r.flags, r.offset, r.size, r.crc});
      ranges.emplace_back(r.offset, r.offset + r.size);
      if (!isKnown(r.fourcc)) {
        if (r.flags & kSectionFlagCritical) return Status::invalidModel("unknown critical section {}: written by a newer npuconv", name);
        out_.skippedSections.push_back(name);
        continue;
      }
      raw_.push_back(r);
    }
    std::sort(ranges.begin(), ranges.end());
    uint64_t end = 0;
    for (const auto& [b, e] : ranges) {
      if (b < end && e > b) return Status::invalidModel("sections overlap at byte {}", b);
      for (uint64_t i = end; i < b; ++i)
        if (b_[i] != std::byte{0}) return Status::invalidModel("padding byte {} is not zero", i);
      end = std::max(end, e);
    }
    if (end != n_) return Status::invalidModel("{} bytes after the last section", n_ - end);
    return Status::ok();
  }

  static bool isKnown(uint32_t f) {
    for (uint32_t k : {kStrings, kQuantParams, kTensors, kOps, kIoSignature, kWeights, kMetadata, kProvenance, kDebugNames, kVariants})
      if (k == f) return true;
    return false;
  }

  const Raw* find(uint32_t f) const {
    for (const Raw& r : raw_)
      if (r.fourcc == f) return &r;
    return nullptr;
  }

  Cursor cursor(const Raw& r) const { return Cursor(b_ + r.offset, r.size, r.label.empty() ? fourccText(r.fourcc) : r.label); }

  Status strings(const Raw& r) {
    Cursor c = cursor(r);
    NPU_ASSIGN_OR_RETURN(uint32_t n, c.count("string count", 4));
    if (n == 0) return c.fail("string 0 (the empty string) is missing");
    strings_.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      NPU_ASSIGN_OR_RETURN(uint32_t len, c.u32("string length"));
      if (len > kMaxStringLength) return c.fail(fmt::format("string {} of {} bytes exceeds the limit {}", i, len, kMaxStringLength));
      if (len > c.left()) return c.fail(fmt::format("string {} of {} bytes runs past the end", i, len));
      std::string s(reinterpret_cast<const char*>(c.here()), len);
      if (s.find('\0') != std::string::npos) return c.fail(fmt::format("string {} holds a NUL byte", i));
      c.skip(len);
      strings_.push_back(std::move(s));
    }
    if (!strings_[0].empty()) return c.fail("string 0 must be empty");
    return c.atEnd();
  }

  Expected<std::string> str(Cursor& c, const char* what) {
    NPU_ASSIGN_OR_RETURN(uint32_t i, c.u32(what));
    if (i >= strings_.size()) return c.fail(fmt::format("{} string index {} out of range ({} strings)", what, i, strings_.size()));
    return strings_[i];
  }

  Status quant(const Raw& r) {
    Cursor c = cursor(r);
    NPU_ASSIGN_OR_RETURN(uint32_t n, c.count("parameter count", 24));
    NPU_ASSIGN_OR_RETURN(uint32_t res, c.u32("reserved"));
    NPU_TRY(c.zero(res, "reserved"));
    for (uint32_t i = 0; i < n; ++i) {
      NPU_ASSIGN_OR_RETURN(uint32_t size, c.u32("record_size"));
      device::QuantParams q;
      NPU_ASSIGN_OR_RETURN(q.axis, c.i32("axis"));
      NPU_ASSIGN_OR_RETURN(uint32_t k, c.count("scale count", 8));
      NPU_ASSIGN_OR_RETURN(uint32_t res2, c.u32("reserved"));
      NPU_TRY(c.zero(res2, "reserved"));
      if (k == 0 || size != 16 + 8 * uint64_t{k}) return c.fail(fmt::format("parameters {}: record_size {} does not match {} scales", i, size, k));
      if (q.axis < -1 || q.axis >= static_cast<int32_t>(kMaxRank) || (q.axis == -1 && k != 1))
        return c.fail(fmt::format("parameters {}: axis {} with {} scales", i, q.axis, k));
      for (uint32_t j = 0; j < k; ++j) {
        NPU_ASSIGN_OR_RETURN(float s, c.f32("scale"));
        if (!(s > 0) || !std::isfinite(s)) return c.fail(fmt::format("parameters {}: scale {} is not positive and finite", i, s));
        q.scales.push_back(s);
      }
      for (uint32_t j = 0; j < k; ++j) {
        NPU_ASSIGN_OR_RETURN(int32_t z, c.i32("zero point"));
        q.zeroPoints.push_back(z);
      }
      out_.program.quant.push_back(std::move(q));
    }
    return c.atEnd();
  }

  Status io(const Raw& r) {
    Cursor c = cursor(r);
    NPU_ASSIGN_OR_RETURN(uint32_t ni, c.count("input count", 0, kMaxOperands));
    NPU_ASSIGN_OR_RETURN(uint32_t no, c.count("output count", 0, kMaxOperands));
    NPU_ASSIGN_OR_RETURN(prog_->memory.arenaBytes, c.u64("arena_bytes"));
    if (prog_->memory.arenaBytes > kMaxFileSize) return c.fail(fmt::format("arena_bytes {} exceeds the limit", prog_->memory.arenaBytes));
    NPU_ASSIGN_OR_RETURN(uint32_t opset, c.u32("onnx_opset"));
    prog_->onnxOpset = opset;
    NPU_ASSIGN_OR_RETURN(uint32_t res, c.u32("reserved"));
    NPU_TRY(c.zero(res, "reserved"));
    if (c.left() / kIoRecordSize < uint64_t{ni} + no) return c.fail(fmt::format("{} + {} I/O records do not fit", ni, no));
    for (uint32_t i = 0; i < ni + no; ++i) {
      device::IoBinding b;
      NPU_ASSIGN_OR_RETURN(uint32_t t, c.u32("tensor"));
      b.tensor = t > static_cast<uint32_t>(INT32_MAX) ? -1 : static_cast<int32_t>(t);
      NPU_ASSIGN_OR_RETURN(b.name, str(c, "I/O name"));
      NPU_ASSIGN_OR_RETURN(uint32_t flags, c.u32("flags"));
      if (flags & ~kIoFlagNormalizationBakedIn) return c.fail(fmt::format("I/O record {}: unknown flag bits", i));
      b.normalizationBakedIn = flags & kIoFlagNormalizationBakedIn;
      NPU_ASSIGN_OR_RETURN(uint32_t res2, c.u32("reserved"));
      NPU_TRY(c.zero(res2, "reserved"));
      (i < ni ? prog_->inputs : prog_->outputs).push_back(std::move(b));
    }
    return c.atEnd();
  }

  Status tensors(const Raw& r, const Raw& w) {
    Cursor c = cursor(r);
    NPU_ASSIGN_OR_RETURN(uint32_t n, c.count("tensor count", 0));
    NPU_ASSIGN_OR_RETURN(uint32_t recordSize, c.u32("record_size"));
    if (recordSize < kTensorRecordSize) return c.fail(fmt::format("record_size {} is below v1's {}", recordSize, kTensorRecordSize));
    if (c.left() / recordSize < n) return c.fail(fmt::format("{} tensors of {} bytes do not fit", n, recordSize));
    std::vector<std::pair<uint64_t, uint64_t>> weightRanges;
    for (uint32_t i = 0; i < n; ++i) {
      const uint64_t start = c.pos();
      device::Tensor t;
      NPU_ASSIGN_OR_RETURN(t.name, str(c, "tensor name"));
      auto fail = [&](const std::string& m) { return c.fail(fmt::format("tensor {} \"{}\": {}", i, t.name, m)); };
      NPU_ASSIGN_OR_RETURN(uint32_t dtype, c.u32("dtype"));
      const std::optional<DType> dt = dtypeFromCode(static_cast<int32_t>(dtype));
      if (!dt || dtypeSize(*dt) == 0 || dtype > 16) return fail(fmt::format("unknown dtype code {}", dtype));
      t.dtype = *dt;
      NPU_ASSIGN_OR_RETURN(uint32_t layout, c.u32("layout"));
      if (layout > static_cast<uint32_t>(device::Layout::OHWI)) return fail(fmt::format("unknown layout code {}", layout));
      t.layout = static_cast<device::Layout>(layout);
      NPU_ASSIGN_OR_RETURN(uint32_t rank, c.u32("rank"));
      if (rank > kMaxRank) return fail(fmt::format("rank {} exceeds {}", rank, kMaxRank));
      for (uint32_t d = 0; d < kMaxRank; ++d) {
        NPU_ASSIGN_OR_RETURN(int64_t v, c.i64("dim"));
        if (d < rank && (v < 0 || v > kMaxDim)) return fail(fmt::format("dim {} is {}", d, v));
        if (d >= rank && v != 0) return fail(fmt::format("unused dim slot {} is not zero", d));
        if (d < rank) t.dims.push_back(v);
      }
      NPU_ASSIGN_OR_RETURN(uint32_t q, c.u32("quant"));
      if (q != kNoQuant && q >= out_.program.quant.size()) return fail(fmt::format("quantization index {} out of range", q));
      t.quant = q == kNoQuant ? -1 : static_cast<int32_t>(q);
      if (t.quant >= 0) {
        const device::QuantParams& qp = out_.program.quant[static_cast<size_t>(t.quant)];
        if (qp.perAxis() && (qp.axis >= static_cast<int32_t>(rank) || t.dims[static_cast<size_t>(qp.axis)] != static_cast<int64_t>(qp.scales.size())))
          return fail("per-axis quantization does not match the dims");
        const int64_t lo = t.dtype == DType::U8 ? 0 : t.dtype == DType::I8 ? -128 : t.dtype == DType::U16 ? 0 : t.dtype == DType::I16 ? -32768 : 0;
        const int64_t hi = t.dtype == DType::U8 ? 255 : t.dtype == DType::I8 ? 127 : t.dtype == DType::U16 ? 65535 : t.dtype == DType::I16 ? 32767 : 0;
        for (int32_t z : qp.zeroPoints)
          if (z < lo || z > hi) return fail(fmt::format("zero point {} outside [{}, {}] of its dtype", z, lo, hi));
      }
      NPU_ASSIGN_OR_RETURN(uint32_t storage, c.u32("storage"));
      if (storage > 1) return fail(fmt::format("unknown storage code {}", storage));
      t.storage = static_cast<device::Storage>(storage);
      NPU_ASSIGN_OR_RETURN(uint64_t offset, c.u64("offset"));
      NPU_ASSIGN_OR_RETURN(uint64_t size, c.u64("byte_size"));
      const std::optional<int64_t> want = checkedByteSize(t.dims, t.dtype);
      if (!want || static_cast<uint64_t>(*want) != size) return fail(fmt::format("byte_size {} is not element count x element size", size));
      if (t.storage == device::Storage::Weight) {
        if (offset % kAlignment || offset > w.size || size > w.size - offset)
          return fail(fmt::format("weight range [{}, +{}) is misaligned or outside WGHT ({} bytes)", offset, size, w.size));
        weightRanges.emplace_back(offset, offset + size);
        t.weight = std::make_shared<const TensorData>(t.dtype, t.dims, Buffer::view(owner_, b_ + w.offset + offset, size));
      } else {
        if (offset % kAlignment || offset > prog_->memory.arenaBytes || size > prog_->memory.arenaBytes - offset)
          return fail(fmt::format("arena range [{}, +{}) is misaligned or outside the arena ({} bytes)", offset, size, prog_->memory.arenaBytes));
        t.arenaOffset = offset;
      }
      c.skip(recordSize - (c.pos() - start));  // fields appended by a later minor version
      prog_->tensors.push_back(std::move(t));
    }
    std::sort(weightRanges.begin(), weightRanges.end());
    for (size_t i = 1; i < weightRanges.size(); ++i)
      if (weightRanges[i].first < weightRanges[i - 1].second && weightRanges[i].second > weightRanges[i].first)
        return c.fail(fmt::format("weights overlap at WGHT offset {}", weightRanges[i].first));
    return c.atEnd();
  }

  Status ops(const Raw& r) {
    Cursor c = cursor(r);
    NPU_ASSIGN_OR_RETURN(uint32_t n, c.count("op count", kOpRecordHeaderSize));
    NPU_ASSIGN_OR_RETURN(uint32_t res, c.u32("reserved"));
    NPU_TRY(c.zero(res, "reserved"));
    const auto tensorCount = static_cast<int32_t>(prog_->tensors.size());
    for (uint32_t i = 0; i < n; ++i) {
      const uint64_t start = c.pos();
      NPU_ASSIGN_OR_RETURN(uint32_t size, c.u32("record_size"));
      if (size < kOpRecordHeaderSize || size - 4 > c.left()) return c.fail(fmt::format("op {}: record_size {} out of range", i, size));
      Cursor rc(c.here(), size - 4, "OPS ");
      device::Op op;
      NPU_ASSIGN_OR_RETURN(uint32_t code, rc.u32("opcode"));
      auto fail = [&](const std::string& m) { return c.fail(fmt::format("op {} \"{}\": {}", i, op.name, m)); };
      NPU_ASSIGN_OR_RETURN(op.flags, rc.u32("flags"));
      NPU_ASSIGN_OR_RETURN(op.type, str(rc, "op type"));
      NPU_ASSIGN_OR_RETURN(op.domain, str(rc, "op domain"));
      NPU_ASSIGN_OR_RETURN(op.name, str(rc, "op name"));
      if (!device::isKnownOpCode(code)) return fail(fmt::format("unknown op code {}", code));
      op.code = static_cast<device::OpCode>(code);
      if (op.flags & ~device::kOpCpuFallback) return fail(fmt::format("unknown flag bits 0x{:08x}", op.flags));
      if ((op.code == device::OpCode::FloatOp) != op.cpuFallback()) return fail("the CPU-fallback flag is set exactly on float ops");
      NPU_ASSIGN_OR_RETURN(uint32_t act, rc.u32("fused_activation"));
      if (act > static_cast<uint32_t>(device::FusedActivation::Clip)) return fail(fmt::format("unknown fused activation {}", act));
      op.act = static_cast<device::FusedActivation>(act);
      NPU_ASSIGN_OR_RETURN(op.actMin, rc.i32("act_min"));
      NPU_ASSIGN_OR_RETURN(op.actMax, rc.i32("act_max"));
      NPU_ASSIGN_OR_RETURN(uint32_t ni, rc.count("input count", 4, kMaxOperands));
      NPU_ASSIGN_OR_RETURN(uint32_t no, rc.count("output count", 4, kMaxOperands));
      NPU_ASSIGN_OR_RETURN(uint32_t na, rc.count("attribute count", 12, kMaxOperands));
      if (no == 0) return fail("no outputs");
      for (uint32_t k = 0; k < ni + no; ++k) {
        NPU_ASSIGN_OR_RETURN(int32_t t, rc.i32("tensor index"));
        if (t < -1 || t >= tensorCount || (k >= ni && t < 0)) return fail(fmt::format("tensor index {} out of range ({} tensors)", t, tensorCount));
        (k < ni ? op.inputs : op.outputs).push_back(t);
      }
      for (uint32_t k = 0; k < na; ++k) {
        device::Attr a;
        NPU_ASSIGN_OR_RETURN(a.name, str(rc, "attribute name"));
        NPU_ASSIGN_OR_RETURN(uint32_t kind, rc.u32("attribute kind"));
        if (kind < 1 || kind > 5) return fail(fmt::format("attribute \"{}\": unknown kind {}", a.name, kind));
        a.kind = static_cast<device::AttrKind>(kind);
        const bool ints = a.kind == device::AttrKind::Int || a.kind == device::AttrKind::Ints;
        const bool str1 = a.kind == device::AttrKind::String;
        NPU_ASSIGN_OR_RETURN(uint32_t cnt, rc.count("attribute value count", ints ? 8 : 4));
        if ((a.kind == device::AttrKind::Int || a.kind == device::AttrKind::Float || str1) && cnt != 1)
          return fail(fmt::format("attribute \"{}\": a single value has count {}", a.name, cnt));
        for (uint32_t v = 0; v < cnt; ++v) {
          if (str1) {
            NPU_ASSIGN_OR_RETURN(a.str, str(rc, "attribute string"));
          } else if (ints) {
            NPU_ASSIGN_OR_RETURN(int64_t x, rc.i64("attribute int"));
            a.ints.push_back(x);
          } else {
            NPU_ASSIGN_OR_RETURN(float x, rc.f32("attribute float"));
            a.floats.push_back(x);
          }
        }
        op.attrs.push_back(std::move(a));
      }
      NPU_TRY(rc.atEnd());
      c.skip(size - 4);
      (void)start;
      prog_->ops.push_back(std::move(op));
    }
    return c.atEnd();
  }

  Status ioIndices() {
    for (const auto* list : {&prog_->inputs, &prog_->outputs})
      for (const device::IoBinding& b : *list)
        if (b.tensor < 0 || b.tensor >= static_cast<int32_t>(prog_->tensors.size()))
          return Status::invalidModel("section IOSG: \"{}\" names tensor {} of {}", b.name, b.tensor, prog_->tensors.size());
    return Status::ok();
  }

  Status keyValues(const Raw& r, std::vector<device::KeyValue>& out, bool meta) {
    Cursor c = cursor(r);
    NPU_ASSIGN_OR_RETURN(uint32_t n, c.count("entry count", kKeyValueRecordSize));
    NPU_ASSIGN_OR_RETURN(uint32_t res, c.u32("reserved"));
    NPU_TRY(c.zero(res, "reserved"));
    for (uint32_t i = 0; i < n; ++i) {
      device::KeyValue kv;
      NPU_ASSIGN_OR_RETURN(kv.key, str(c, "key"));
      NPU_ASSIGN_OR_RETURN(uint32_t type, c.u32("value type"));
      NPU_ASSIGN_OR_RETURN(uint64_t v, c.u64("value"));
      if (type == kValueString) {
        if (v >= strings_.size()) return c.fail(fmt::format("entry \"{}\": string index {} out of range", kv.key, v));
        kv.value = strings_[v];
      } else if (type == kValueInt) {
        kv.value = std::to_string(v);
      } else {
        return c.fail(fmt::format("entry \"{}\": unknown value type {}", kv.key, type));
      }
      if (meta && kv.key == "npu.memory.activation_bytes") out_.program.memory.activationBytes = v;
      else if (meta && kv.key == "npu.memory.max_live_bytes") out_.program.memory.maxLiveBytes = v;
      else if (meta && kv.key.rfind("npu.ops.", 0) == 0) continue;  // derived from OPS
      else out.push_back(std::move(kv));
    }
    return c.atEnd();
  }

  Status debugNames(const Raw& r) {
    Cursor c = cursor(r);
    NPU_ASSIGN_OR_RETURN(uint32_t n, c.count("op count", 4));
    NPU_ASSIGN_OR_RETURN(uint32_t res, c.u32("reserved"));
    NPU_TRY(c.zero(res, "reserved"));
    if (n != prog_->ops.size()) return c.fail(fmt::format("{} entries for {} ops", n, prog_->ops.size()));
    for (uint32_t i = 0; i < n; ++i) {
      NPU_ASSIGN_OR_RETURN(uint32_t k, c.count("name count", 4, kMaxOperands));
      for (uint32_t j = 0; j < k; ++j) {
        NPU_ASSIGN_OR_RETURN(std::string s, str(c, "original name"));
        prog_->ops[i].provenance.push_back(std::move(s));
      }
    }
    return c.atEnd();
  }

  /// VARS (1.2): the variant table, then each later variant's parts parsed by the same code and
  /// rules as the top-level sections, plus what makes the variants one model: the same inputs
  /// and outputs by name, order and dtype, and input shapes that tell the variants apart.
  Status variants(const Raw& r) {
    Cursor c = cursor(r);
    NPU_ASSIGN_OR_RETURN(uint32_t n, c.count("variant count", kVariantRecordSize, kMaxVariants));
    NPU_ASSIGN_OR_RETURN(uint32_t res, c.u32("reserved"));
    NPU_TRY(c.zero(res, "reserved"));
    if (n < 2) return c.fail(fmt::format("variant count {}: a VARS section holds at least 2 variants", n));
    const char* partName[4] = {"TENS", "OPS", "IOSG", "DBUG"};
    struct Part {
      uint64_t offset, size;
    };
    std::vector<std::array<Part, 4>> parts;
    std::vector<std::array<uint64_t, 2>> memory;
    for (uint32_t v = 0; v < n; ++v) {
      const uint64_t start = c.pos();
      NPU_ASSIGN_OR_RETURN(uint32_t size, c.u32("record_size"));
      NPU_ASSIGN_OR_RETURN(uint32_t res2, c.u32("reserved"));
      NPU_TRY(c.zero(res2, "reserved"));
      std::array<Part, 4> p{};
      for (int k = 0; k < 4; ++k) {
        NPU_ASSIGN_OR_RETURN(p[k].offset, c.u64("part offset"));
        NPU_ASSIGN_OR_RETURN(p[k].size, c.u64("part size"));
      }
      std::array<uint64_t, 2> mem{};
      NPU_ASSIGN_OR_RETURN(mem[0], c.u64("activation_bytes"));
      NPU_ASSIGN_OR_RETURN(mem[1], c.u64("max_live_bytes"));
      if (v == 0) {
        bool zero = size == 0 && mem[0] == 0 && mem[1] == 0;
        for (const Part& x : p) zero = zero && x.offset == 0 && x.size == 0;
        if (!zero) return c.fail("variant 0 stands for the top-level sections: its record must be all zero");
        continue;
      }
      if (size < kVariantRecordSize || size - (c.pos() - start) > c.left())
        return c.fail(fmt::format("variant {}: record_size {} out of range", v, size));
      c.skip(size - (c.pos() - start));  // fields appended by a later minor version
      parts.push_back(p);
      memory.push_back(mem);
    }
    const uint64_t tableEnd = c.pos();
    const bool debug = (headerFlags_ & kHeaderFlagHasDebugNames) != 0;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (size_t v = 0; v < parts.size(); ++v)
      for (int k = 0; k < 4; ++k) {
        const Part& p = parts[v][k];
        const std::string what = fmt::format("variant {} {}", v + 1, partName[k]);
        if (k == 3 && debug != (p.size != 0))
          return c.fail(fmt::format("{}: present iff the header flag has_debug_names is set", what));
        if (p.size == 0 && k == 3) continue;
        if (p.offset % kVariantAlignment) return c.fail(fmt::format("{}: offset {} is not a multiple of {}", what, p.offset, kVariantAlignment));
        if (p.offset < tableEnd || p.offset > r.size || p.size > r.size - p.offset)
          return c.fail(fmt::format("{}: [{}, +{}) lies outside the section's parts ({} to {})", what, p.offset, p.size, tableEnd, r.size));
        ranges.emplace_back(p.offset, p.offset + p.size);
      }
    std::sort(ranges.begin(), ranges.end());
    uint64_t end = tableEnd;
    for (const auto& [b, e] : ranges) {
      if (b < end) return c.fail(fmt::format("variant parts overlap at byte {}", b));
      for (uint64_t i = end; i < b; ++i)
        if (b_[r.offset + i] != std::byte{0}) return c.fail(fmt::format("padding byte {} is not zero", i));
      end = e;
    }
    if (end != r.size) return c.fail(fmt::format("{} bytes after the last variant part", r.size - end));
    const Raw* w = find(kWeights);
    for (size_t v = 0; v < parts.size(); ++v) {
      device::Program& p = out_.moreVariants.emplace_back();
      p.quant = out_.program.quant;
      p.provenance = out_.program.provenance;
      p.metadata = out_.program.metadata;
      p.requantRounding = out_.program.requantRounding;
      p.memory.activationBytes = memory[v][0];
      p.memory.maxLiveBytes = memory[v][1];
      prog_ = &p;
      auto sub = [&](int k) {
        return Raw{r.fourcc, 0, r.offset + parts[v][k].offset, parts[v][k].size, 0, fmt::format("VARS[{}].{}", v + 1, partName[k])};
      };
      NPU_TRY(io(sub(2)));
      NPU_TRY(tensors(sub(0), *w));
      NPU_TRY(ops(sub(1)));
      NPU_TRY(ioIndices());
      if (debug) NPU_TRY(debugNames(sub(3)));
      prog_ = &out_.program;
      NPU_TRY(sameSignature(out_.program, p, v + 1));
    }
    for (size_t a = 0; a < n; ++a)
      for (size_t b = a + 1; b < n; ++b)
        if (inputDims(out_.variant(a)) == inputDims(out_.variant(b)))
          return c.fail(fmt::format("variants {} and {} take the same input shapes", a, b));
    return Status::ok();
  }

  static std::vector<std::vector<int64_t>> inputDims(const device::Program& p) {
    std::vector<std::vector<int64_t>> d;
    for (const device::IoBinding& b : p.inputs) d.push_back(p.tensors[static_cast<size_t>(b.tensor)].dims);
    return d;
  }

  static Status sameSignature(const device::Program& a, const device::Program& b, size_t v) {
    if (a.inputs.size() != b.inputs.size() || a.outputs.size() != b.outputs.size())
      return Status::invalidModel("section VARS: variant {} has {} inputs and {} outputs, variant 0 {} and {}", v, b.inputs.size(),
                                  b.outputs.size(), a.inputs.size(), a.outputs.size());
    for (const auto& [x, y] : {std::pair{&a.inputs, &b.inputs}, std::pair{&a.outputs, &b.outputs}})
      for (size_t i = 0; i < x->size(); ++i) {
        const device::IoBinding& p = (*x)[i];
        const device::IoBinding& q = (*y)[i];
        const device::Tensor& s = a.tensors[static_cast<size_t>(p.tensor)];
        const device::Tensor& t = b.tensors[static_cast<size_t>(q.tensor)];
        if (p.name != q.name || s.dtype != t.dtype || s.dims.size() != t.dims.size() || (s.quant >= 0) != (t.quant >= 0))
          return Status::invalidModel("section VARS: variant {} binds \"{}\" unlike variant 0 (\"{}\"): the variants must share "
                                      "names, order, dtypes and ranks of their inputs and outputs",
                                      v, q.name, p.name);
      }
    return Status::ok();
  }

  const std::byte* b_;
  size_t n_;
  std::shared_ptr<const void> owner_;
  uint64_t tableEnd_ = 0;
  uint32_t headerFlags_ = 0;
  std::vector<Raw> raw_;
  std::vector<std::string> strings_;
  LoadedBlob out_;
  device::Program* prog_ = &out_.program;  // the variant TENS, OPS, IOSG and DBUG parse into
};

}  // namespace

Expected<LoadedBlob> parseBlob(std::shared_ptr<const void> owner, const std::byte* bytes, size_t size, const std::string& name) {
  Expected<LoadedBlob> r = Parser(bytes, size, std::move(owner)).run();
  if (!r) return Status(r.status()).in(name);
  return r;
}

Expected<LoadedBlob> readBlob(const std::filesystem::path& path) {
  NPU_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> f, MappedFile::open(path));
  return parseBlob(f, f->data(), f->size(), path.string());
}

}  // namespace npuconv
