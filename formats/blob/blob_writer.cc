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

void keyValues(Sink& s, StringTable& st, const std::vector<std::pair<std::string, std::pair<uint32_t, uint64_t>>>& kv) {
  s.u32(static_cast<uint32_t>(kv.size()));
  s.u32(0);
  for (const auto& [k, v] : kv) {
    s.u32(st.id(k));
    s.u32(v.first);
    s.u64(v.second);
  }
}

}  // namespace

Expected<std::string> serializeBlob(const device::Program& p) {
  if (p.tensors.size() > kMaxCount || p.ops.size() > kMaxCount || p.quant.size() > kMaxCount)
    return Status::invalidArgument("device program too large for the blob format ({} tensors, {} ops)", p.tensors.size(), p.ops.size());
  StringTable st;
  // Weights first, to know their offsets (relative to WGHT).
  Sink wght;
  std::vector<uint64_t> weightOffset(p.tensors.size(), 0);
  for (size_t i = 0; i < p.tensors.size(); ++i) {
    const device::Tensor& t = p.tensors[i];
    if (t.storage != device::Storage::Weight) continue;
    wght.padTo(kAlignment);
    weightOffset[i] = wght.size();
    wght.bytes(t.weight->bytes(), t.weight->byteSize());
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

  std::vector<Section> sections = {{kStrings, kSectionFlagCritical, std::move(strt.str())},
                                   {kQuantParams, kSectionFlagCritical, std::move(qprm.str())},
                                   {kTensors, kSectionFlagCritical, std::move(tens.str())},
                                   {kOps, kSectionFlagCritical, std::move(ops.str())},
                                   {kIoSignature, kSectionFlagCritical, std::move(iosg.str())},
                                   {kWeights, kSectionFlagCritical, std::move(wght.str())},
                                   {kMetadata, 0, std::move(meta.str())},
                                   {kProvenance, 0, std::move(prov.str())},
                                   {kDebugNames, 0, std::move(dbug.str())}};
  const uint64_t tableOffset = kHeaderSize;
  uint64_t offset = alignUp(tableOffset + kSectionEntrySize * sections.size(), kAlignment);
  Sink table;
  std::vector<uint64_t> offsets;
  for (const Section& s : sections) {
    offsets.push_back(offset);
    table.u32(s.fourcc);
    table.u32(s.flags);
    table.u64(offset);
    table.u64(s.payload.size());
    table.u32(crc32c(s.payload.data(), s.payload.size()));
    table.u32(0);
    offset = alignUp(offset + s.payload.size(), kAlignment);
  }
  const uint64_t fileSize = offsets.back() + sections.back().payload.size();
  Sink out;
  out.bytes(kMagic.data(), kMagic.size());
  out.u16(kVersionMajor);
  out.u16(kVersionMinor);
  out.u32(kHeaderSize);
  out.u32(kByteOrderMark);
  out.u32(static_cast<uint32_t>(sections.size()));
  out.u64(tableOffset);
  out.u64(fileSize);
  out.u32(kHeaderFlagHasDebugNames);
  out.u32(0);  // header CRC, filled below
  for (int i = 0; i < 16; ++i) out.u8(0);
  out.bytes(table.str().data(), table.size());
  const uint32_t headerCrc = crc32c(out.str().data(), out.size());  // header (CRC zeroed) + table
  for (int i = 0; i < 4; ++i) out.str()[kOffHeaderCrc + static_cast<size_t>(i)] = static_cast<char>((headerCrc >> (8 * i)) & 0xFF);
  for (size_t i = 0; i < sections.size(); ++i) {
    out.padTo(kAlignment);
    out.bytes(sections[i].payload.data(), sections[i].payload.size());
  }
  NPU_CHECK(out.size() == fileSize, "blob size bookkeeping");
  return std::move(out.str());
}

Expected<uint64_t> writeBlob(const device::Program& p, const std::filesystem::path& path) {
  NPU_ASSIGN_OR_RETURN(std::string bytes, serializeBlob(p));
  NPU_ASSIGN_OR_RETURN(auto f, AtomicFile::create(path));
  NPU_TRY(f->write(bytes.data(), bytes.size()));
  NPU_TRY(f->commit());
  return static_cast<uint64_t>(bytes.size());
}

}  // namespace npuconv
