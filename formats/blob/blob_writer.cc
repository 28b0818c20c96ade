// blob_writer.cc - see blob_writer.h. Sections in a fixed order (STRT QPRM TENS OPS IOSG WGHT META
// PROV DBUG), each 64-aligned and zero-padded, then the table and header with their CRCs.
#include "formats/blob/blob_writer.h"

#include <cstring>
#include <map>

#include "converter/support/crc32c.h"
#include "formats/blob/blob_format.h"
#include "formats/support/mapped_file.h"

namespace npuconv {
namespace {

using namespace blob;

/// Little-endian appender.
class Sink {
 public:
  void u8(uint8_t v) { s_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) { le(v, 2); }
  void u32(uint32_t v) { le(v, 4); }
  void i32(int32_t v) { le(static_cast<uint32_t>(v), 4); }
  void u64(uint64_t v) { le(v, 8); }
  void i64(int64_t v) { le(static_cast<uint64_t>(v), 8); }
  void f32(float v) {
    uint32_t b;
    std::memcpy(&b, &v, 4);
    u32(b);
  }
  void bytes(const void* p, size_t n) { s_.append(static_cast<const char*>(p), n); }
  void padTo(uint64_t a) { s_.resize(alignUp(s_.size(), a), '\0'); }
  size_t size() const { return s_.size(); }
  std::string& str() { return s_; }

 private:
  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
  std::string s_;
};

class StringTable {
 public:
  StringTable() { id(""); }
  uint32_t id(const std::string& s) {
    auto [it, fresh] = ids_.emplace(s, static_cast<uint32_t>(order_.size()));
    if (fresh) order_.push_back(s);
    return it->second;
  }
  const std::vector<std::string>& strings() const { return order_; }

 private:
  std::map<std::string, uint32_t> ids_;
  std::vector<std::string> order_;
};

struct Section {
  uint32_t fourcc, flags;
  std::string payload;
};

/// A weight of the WGHT section: its bytes stay where the program holds them (the IR's
/// tensors, often a million times larger than every other section together) and are written
/// straight from there, so the blob of a 2 GiB model never sits in memory (issue 13 section 4).
struct WeightPiece {
  uint64_t offset;  // within WGHT
  const TensorData* data;
};

/// The blob as written: the header and section table, the small sections, and WGHT as
/// pieces with its size and CRC computed from them.
struct Layout {
  std::string head;
  std::vector<Section> sections;
  size_t weightSection = 0;
  std::vector<WeightPiece> weights;
  uint64_t weightBytes = 0;
  std::vector<uint64_t> offsets;
  uint64_t fileSize = 0;
};

constexpr unsigned char kZeros[kAlignment] = {};

/// Writes the layout through `out` (write(const void*, size_t), writeZeros(size_t),
/// weight(const TensorData&)), tracking the position so padding lands where the table says.
template <typename Out>
Status emit(const Layout& l, Out& out) {
  uint64_t at = 0;
  auto put = [&](const void* d, size_t n) -> Status {
    at += n;
    return out.write(d, n);
  };
  auto zerosTo = [&](uint64_t target) -> Status {
    NPU_CHECK(target >= at, "blob layout goes backwards");
    uint64_t n = target - at;
    at = target;
    return out.writeZeros(static_cast<size_t>(n));
  };
  NPU_TRY(put(l.head.data(), l.head.size()));
  for (size_t i = 0; i < l.sections.size(); ++i) {
    NPU_TRY(zerosTo(l.offsets[i]));
    if (i != l.weightSection) {
      NPU_TRY(put(l.sections[i].payload.data(), l.sections[i].payload.size()));
      continue;
    }
    for (const WeightPiece& w : l.weights) {
      NPU_TRY(zerosTo(l.offsets[i] + w.offset));
      at += w.data->byteSize();
      NPU_TRY(out.weight(*w.data));
    }
  }
  NPU_CHECK(at == l.fileSize, "blob size bookkeeping");
  return Status::ok();
}

void keyValues(Sink& s, StringTable& st, const std::vector<std::pair<std::string, std::pair<uint32_t, uint64_t>>>& kv) {
  s.u32(static_cast<uint32_t>(kv.size()));
  s.u32(0);
  for (const auto& [k, v] : kv) {
    s.u32(st.id(k));
    s.u32(v.first);
    s.u64(v.second);
  }
}

Expected<Layout> layoutBlob(const device::Program& p) {
  if (p.tensors.size() > kMaxCount || p.ops.size() > kMaxCount || p.quant.size() > kMaxCount)
    return Status::invalidArgument("device program too large for the blob format ({} tensors, {} ops)", p.tensors.size(), p.ops.size());
  Layout l;
  StringTable st;
  // Weights first, to know their offsets (relative to WGHT): each 64-aligned, the gaps zero.
  uint32_t weightCrc = 0;
  std::vector<uint64_t> weightOffset(p.tensors.size(), 0);
  for (size_t i = 0; i < p.tensors.size(); ++i) {
    const device::Tensor& t = p.tensors[i];
    if (t.storage != device::Storage::Weight) continue;
    uint64_t aligned = alignUp(l.weightBytes, kAlignment);
    weightCrc = crc32c(kZeros, static_cast<size_t>(aligned - l.weightBytes), weightCrc);
    weightOffset[i] = aligned;
    weightCrc = crc32c(t.weight->rawBytes(), t.weight->byteSize(), weightCrc);
    l.weights.push_back({aligned, t.weight.get()});
    l.weightBytes = aligned + t.weight->byteSize();
  }
  Sink qprm;
  qprm.u32(static_cast<uint32_t>(p.quant.size()));
  qprm.u32(0);
  for (const device::QuantParams& q : p.quant) {
    qprm.u32(static_cast<uint32_t>(16 + 8 * q.scales.size()));
    qprm.i32(q.axis);
    qprm.u32(static_cast<uint32_t>(q.scales.size()));
    qprm.u32(0);
    for (float s : q.scales) qprm.f32(s);
    for (int32_t z : q.zeroPoints) qprm.i32(z);
  }
  Sink tens;
  tens.u32(static_cast<uint32_t>(p.tensors.size()));
  tens.u32(kTensorRecordSize);
  for (size_t i = 0; i < p.tensors.size(); ++i) {
    const device::Tensor& t = p.tensors[i];
    if (t.dims.size() > kMaxRank) return Status::invalidArgument("tensor \"{}\": rank {} exceeds the blob's {}", t.name, t.dims.size(), kMaxRank);
    tens.u32(st.id(t.name));
    tens.u32(static_cast<uint32_t>(t.dtype));
    tens.u32(static_cast<uint32_t>(t.layout));
    tens.u32(static_cast<uint32_t>(t.dims.size()));
    for (size_t d = 0; d < kMaxRank; ++d) tens.i64(d < t.dims.size() ? t.dims[d] : 0);
    tens.u32(t.quant < 0 ? kNoQuant : static_cast<uint32_t>(t.quant));
    tens.u32(static_cast<uint32_t>(t.storage));
    tens.u64(t.storage == device::Storage::Weight ? weightOffset[i] : t.arenaOffset);
    tens.u64(t.byteSize());
  }
  Sink ops;
  ops.u32(static_cast<uint32_t>(p.ops.size()));
  ops.u32(0);
  for (const device::Op& op : p.ops) {
    Sink r;
    r.u32(static_cast<uint32_t>(op.code));
    r.u32(op.flags);
    r.u32(st.id(op.type));
    r.u32(st.id(op.domain));
    r.u32(st.id(op.name));
    r.u32(static_cast<uint32_t>(op.act));
    r.i32(op.actMin);
    r.i32(op.actMax);
    r.u32(static_cast<uint32_t>(op.inputs.size()));
    r.u32(static_cast<uint32_t>(op.outputs.size()));
    r.u32(static_cast<uint32_t>(op.attrs.size()));
    for (int32_t t : op.inputs) r.i32(t);
    for (int32_t t : op.outputs) r.i32(t);
    for (const device::Attr& a : op.attrs) {
      r.u32(st.id(a.name));
      r.u32(static_cast<uint32_t>(a.kind));
      switch (a.kind) {
        case device::AttrKind::Int:
        case device::AttrKind::Ints:
          r.u32(static_cast<uint32_t>(a.ints.size()));
          for (int64_t v : a.ints) r.i64(v);
          break;
        case device::AttrKind::Float:
        case device::AttrKind::Floats:
          r.u32(static_cast<uint32_t>(a.floats.size()));
          for (float v : a.floats) r.f32(v);
          break;
        case device::AttrKind::String:
          r.u32(1);
          r.u32(st.id(a.str));
          break;
      }
    }
    ops.u32(static_cast<uint32_t>(r.size() + 4));
    ops.bytes(r.str().data(), r.size());
  }
  Sink iosg;
  iosg.u32(static_cast<uint32_t>(p.inputs.size()));
  iosg.u32(static_cast<uint32_t>(p.outputs.size()));
  iosg.u64(p.memory.arenaBytes);
  iosg.u32(static_cast<uint32_t>(p.onnxOpset));
  iosg.u32(0);
  for (const auto* list : {&p.inputs, &p.outputs})
    for (const device::IoBinding& b : *list) {
      iosg.u32(static_cast<uint32_t>(b.tensor));
      iosg.u32(st.id(b.name));
      iosg.u32(b.normalizationBakedIn ? kIoFlagNormalizationBakedIn : 0);
      iosg.u32(0);
    }
  Sink meta;
  std::vector<std::pair<std::string, std::pair<uint32_t, uint64_t>>> metaKv = {
      {"npu.memory.activation_bytes", {kValueInt, p.memory.activationBytes}},
      {"npu.memory.max_live_bytes", {kValueInt, p.memory.maxLiveBytes}},
      {"npu.ops.npu", {kValueInt, p.npuOps()}},
      {"npu.ops.cpu_fallback", {kValueInt, p.cpuOps()}}};
  for (const device::KeyValue& kv : p.metadata) metaKv.push_back({kv.key, {kValueString, st.id(kv.value)}});
  keyValues(meta, st, metaKv);
  Sink prov;
  std::vector<std::pair<std::string, std::pair<uint32_t, uint64_t>>> provKv;
  for (const device::KeyValue& kv : p.provenance) provKv.push_back({kv.key, {kValueString, st.id(kv.value)}});
  keyValues(prov, st, provKv);
  Sink dbug;
  dbug.u32(static_cast<uint32_t>(p.ops.size()));
  dbug.u32(0);
  for (const device::Op& op : p.ops) {
    dbug.u32(static_cast<uint32_t>(op.provenance.size()));
    for (const std::string& s : op.provenance) dbug.u32(st.id(s));
  }
  Sink strt;  // last: every other section has registered its strings
  strt.u32(static_cast<uint32_t>(st.strings().size()));
  for (const std::string& s : st.strings()) {
    if (s.size() > kMaxStringLength) return Status::invalidArgument("string of {} bytes exceeds the blob's limit", s.size());
    strt.u32(static_cast<uint32_t>(s.size()));
    strt.bytes(s.data(), s.size());
  }

  l.sections = {{kStrings, kSectionFlagCritical, std::move(strt.str())},
                {kQuantParams, kSectionFlagCritical, std::move(qprm.str())},
                {kTensors, kSectionFlagCritical, std::move(tens.str())},
                {kOps, kSectionFlagCritical, std::move(ops.str())},
                {kIoSignature, kSectionFlagCritical, std::move(iosg.str())},
                {kWeights, kSectionFlagCritical, {}},
                {kMetadata, 0, std::move(meta.str())},
                {kProvenance, 0, std::move(prov.str())},
                {kDebugNames, 0, std::move(dbug.str())}};
  l.weightSection = 5;
  const uint64_t tableOffset = kHeaderSize;
  uint64_t offset = alignUp(tableOffset + kSectionEntrySize * l.sections.size(), kAlignment);
  Sink table;
  for (size_t i = 0; i < l.sections.size(); ++i) {
    const Section& s = l.sections[i];
    bool w = i == l.weightSection;
    uint64_t size = w ? l.weightBytes : s.payload.size();
    l.offsets.push_back(offset);
    table.u32(s.fourcc);
    table.u32(s.flags);
    table.u64(offset);
    table.u64(size);
    table.u32(w ? weightCrc : crc32c(s.payload.data(), s.payload.size()));
    table.u32(0);
    offset = alignUp(offset + size, kAlignment);
  }
  l.fileSize = l.offsets.back() + l.sections.back().payload.size();
  Sink out;
  out.bytes(kMagic.data(), kMagic.size());
  out.u16(kVersionMajor);
  out.u16(kVersionMinor);
  out.u32(kHeaderSize);
  out.u32(kByteOrderMark);
  out.u32(static_cast<uint32_t>(l.sections.size()));
  out.u64(tableOffset);
  out.u64(l.fileSize);
  out.u32(kHeaderFlagHasDebugNames);
  out.u32(0);  // header CRC, filled below
  for (int i = 0; i < 16; ++i) out.u8(0);
  out.bytes(table.str().data(), table.size());
  const uint32_t headerCrc = crc32c(out.str().data(), out.size());  // header (CRC zeroed) + table
  for (int i = 0; i < 4; ++i) out.str()[kOffHeaderCrc + static_cast<size_t>(i)] = static_cast<char>((headerCrc >> (8 * i)) & 0xFF);
  l.head = std::move(out.str());
  return l;
}

}  // namespace

Expected<std::string> serializeBlob(const device::Program& p) {
  NPU_ASSIGN_OR_RETURN(Layout l, layoutBlob(p));
  struct StringOut {
    std::string s;
    Status write(const void* d, size_t n) {
      s.append(static_cast<const char*>(d), n);
      return Status::ok();
    }
    Status writeZeros(size_t n) {
      s.append(n, '\0');
      return Status::ok();
    }
    Status weight(const TensorData& t) { return write(t.rawBytes(), t.byteSize()); }
  } out;
  out.s.reserve(static_cast<size_t>(l.fileSize));
  NPU_TRY(emit(l, out));
  return std::move(out.s);
}

Expected<uint64_t> writeBlob(const device::Program& p, const std::filesystem::path& path) {
  NPU_ASSIGN_OR_RETURN(Layout l, layoutBlob(p));
  NPU_ASSIGN_OR_RETURN(auto f, AtomicFile::create(path));
  struct FileOut {
    AtomicFile& f;
    Status write(const void* d, size_t n) { return f.write(d, n); }
    Status writeZeros(size_t n) { return f.writeZeros(n); }
    // Weights that view a mapped file are copied file to file (no page of them faulted in).
    Status weight(const TensorData& t) { return f.write(t.rawBytes(), t.byteSize(), t.fileRange()); }
  } out{*f};
  NPU_TRY(emit(l, out));
  NPU_TRY(f->commit());
  return l.fileSize;
}

}  // namespace npuconv
