// blob_writer.cc - see blob_writer.h. Sections in a fixed order (STRT QPRM TENS OPS IOSG WGHT META
// PROV DBUG), each 64-aligned and zero-padded, then the table and header with their CRCs.
#include "formats/blob/blob_writer.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <optional>

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

/// TENS of one variant: weight offsets (within WGHT) and QPRM indices as laid out for the file.
Expected<std::string> encodeTensors(const device::Program& p, StringTable& st, const std::vector<uint64_t>& weightOffset,
                                    const std::vector<uint32_t>& quantIndex) {
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
    tens.u32(t.quant < 0 ? kNoQuant : quantIndex[static_cast<size_t>(t.quant)]);
    tens.u32(static_cast<uint32_t>(t.storage));
    tens.u64(t.storage == device::Storage::Weight ? weightOffset[i] : t.arenaOffset);
    tens.u64(t.byteSize());
  }
  return std::move(tens.str());
}

std::string encodeOps(const device::Program& p, StringTable& st) {
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
  return std::move(ops.str());
}

std::string encodeIo(const device::Program& p, StringTable& st) {
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
  return std::move(iosg.str());
}

std::string encodeDebugNames(const device::Program& p, StringTable& st) {
  Sink dbug;
  dbug.u32(static_cast<uint32_t>(p.ops.size()));
  dbug.u32(0);
  for (const device::Op& op : p.ops) {
    dbug.u32(static_cast<uint32_t>(op.provenance.size()));
    for (const std::string& s : op.provenance) dbug.u32(st.id(s));
  }
  return std::move(dbug.str());
}

void encodeQuant(Sink& qprm, const device::QuantParams& q) {
  qprm.u32(static_cast<uint32_t>(16 + 8 * q.scales.size()));
  qprm.i32(q.axis);
  qprm.u32(static_cast<uint32_t>(q.scales.size()));
  qprm.u32(0);
  for (float s : q.scales) qprm.f32(s);
  for (int32_t z : q.zeroPoints) qprm.i32(z);
}

/// WGHT as pieces: variant 0's weights in tensor order (the 1.1 layout), then each weight of a
/// later variant either shares a piece with the same bytes (the point of variants: one copy of
/// the weights) or is appended. A variant never maps two of its tensors onto one piece, so its
/// weights do not overlap each other (the 1.1 rule, kept per variant).
class WeightLayout {
 public:
  explicit WeightLayout(Layout& l) : l_(l) {}
  /// Offsets of p's weights; `share` looks for identical bytes already laid out, `keyed` makes
  /// p's pieces findable (a single-shape blob skips that pass over the weights).
  std::vector<uint64_t> place(const device::Program& p, bool share, bool keyed) {
    std::vector<uint64_t> offset(p.tensors.size(), 0);
    std::vector<uint64_t> used;
    for (size_t i = 0; i < p.tensors.size(); ++i) {
      const device::Tensor& t = p.tensors[i];
      if (t.storage != device::Storage::Weight) continue;
      const TensorData& d = *t.weight;
      const uint32_t key = keyed ? crc32c(d.rawBytes(), d.byteSize()) : 0;
      std::optional<uint64_t> found;
      if (share)
        for (const Piece& c : byKey_[{d.byteSize(), key}])
          if (std::find(used.begin(), used.end(), c.offset) == used.end() &&
              std::memcmp(c.data->rawBytes(), d.rawBytes(), d.byteSize()) == 0) {
            found = c.offset;
            break;
          }
      if (!found) {
        uint64_t aligned = alignUp(l_.weightBytes, kAlignment);
        crc_ = crc32c(kZeros, static_cast<size_t>(aligned - l_.weightBytes), crc_);
        crc_ = crc32c(d.rawBytes(), d.byteSize(), crc_);
        l_.weights.push_back({aligned, &d});
        l_.weightBytes = aligned + d.byteSize();
        if (keyed) byKey_[{d.byteSize(), key}].push_back({aligned, &d});
        found = aligned;
      }
      used.push_back(*found);
      offset[i] = *found;
    }
    return offset;
  }
  uint32_t crc() const { return crc_; }

 private:
  struct Piece {
    uint64_t offset;
    const TensorData* data;
  };
  Layout& l_;
  uint32_t crc_ = 0;
  std::map<std::pair<uint64_t, uint32_t>, std::vector<Piece>> byKey_;
};

Expected<Layout> layoutBlob(const std::vector<const device::Program*>& variants) {
  NPU_CHECK(!variants.empty(), "a blob holds at least one program");
  if (variants.size() > kMaxVariants)
    return Status::invalidArgument("{} shape variants exceed the blob's limit of {}", variants.size(), kMaxVariants);
  const device::Program& p = *variants[0];
  for (const device::Program* v : variants)
    if (v->requantRounding != p.requantRounding)
      return Status::invalidArgument("shape variants disagree on the requantization rounding (one header flag holds it)");
  for (const device::Program* v : variants)
    if (v->tensors.size() > kMaxCount || v->ops.size() > kMaxCount || v->quant.size() > kMaxCount)
      return Status::invalidArgument("device program too large for the blob format ({} tensors, {} ops)", v->tensors.size(), v->ops.size());
  Layout l;
  StringTable st;
  // Weights first, to know their offsets (relative to WGHT): each 64-aligned, the gaps zero.
  WeightLayout weights(l);
  std::vector<std::vector<uint64_t>> weightOffset;
  for (size_t v = 0; v < variants.size(); ++v) weightOffset.push_back(weights.place(*variants[v], v > 0, variants.size() > 1));
  // QPRM: variant 0's records as they are, then the records only later variants use.
  std::vector<device::QuantParams> quant = p.quant;
  std::vector<std::vector<uint32_t>> quantIndex(variants.size());
  for (size_t v = 0; v < variants.size(); ++v)
    for (const device::QuantParams& q : variants[v]->quant) {
      size_t k = v == 0 ? quantIndex[v].size() : static_cast<size_t>(std::find(quant.begin(), quant.end(), q) - quant.begin());
      if (k == quant.size()) quant.push_back(q);
      quantIndex[v].push_back(static_cast<uint32_t>(k));
    }
  if (quant.size() > kMaxCount) return Status::invalidArgument("{} quantization records exceed the blob's limit", quant.size());
  Sink qprm;
  qprm.u32(static_cast<uint32_t>(quant.size()));
  qprm.u32(0);
  for (const device::QuantParams& q : quant) encodeQuant(qprm, q);
  NPU_ASSIGN_OR_RETURN(std::string tens, encodeTensors(p, st, weightOffset[0], quantIndex[0]));
  std::string ops = encodeOps(p, st);
  std::string iosg = encodeIo(p, st);
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
  std::string dbug = encodeDebugNames(p, st);
  // VARS (1.2): every later variant's TENS, OPS, IOSG and DBUG payloads after the record table.
  Sink vars;
  if (variants.size() > 1) {
    std::vector<std::array<std::string, 4>> parts;
    for (size_t v = 1; v < variants.size(); ++v) {
      NPU_ASSIGN_OR_RETURN(std::string t, encodeTensors(*variants[v], st, weightOffset[v], quantIndex[v]));
      parts.push_back({std::move(t), encodeOps(*variants[v], st), encodeIo(*variants[v], st), encodeDebugNames(*variants[v], st)});
    }
    vars.u32(static_cast<uint32_t>(variants.size()));
    vars.u32(0);
    for (int i = 0; i < static_cast<int>(kVariantRecordSize / 8); ++i) vars.u64(0);  // variant 0: the top-level sections
    uint64_t at = 8 + uint64_t{kVariantRecordSize} * variants.size();
    for (size_t v = 1; v < variants.size(); ++v) {
      vars.u32(kVariantRecordSize);
      vars.u32(0);
      for (const std::string& part : parts[v - 1]) {
        at = alignUp(at, kVariantAlignment);
        vars.u64(at);
        vars.u64(part.size());
        at += part.size();
      }
      vars.u64(variants[v]->memory.activationBytes);
      vars.u64(variants[v]->memory.maxLiveBytes);
    }
    for (const auto& four : parts)
      for (const std::string& part : four) {
        vars.padTo(kVariantAlignment);
        vars.bytes(part.data(), part.size());
      }
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
                {kTensors, kSectionFlagCritical, std::move(tens)},
                {kOps, kSectionFlagCritical, std::move(ops)},
                {kIoSignature, kSectionFlagCritical, std::move(iosg)},
                {kWeights, kSectionFlagCritical, {}},
                {kMetadata, 0, std::move(meta.str())},
                {kProvenance, 0, std::move(prov.str())},
                {kDebugNames, 0, std::move(dbug)}};
  // Optional (not critical): variant 0 is a whole 1.1 program, so a 1.1 reader that skips VARS
  // runs it correctly and refuses the other shapes by its I/O contract (docs/blob-format.md 6.10).
  if (variants.size() > 1) l.sections.push_back({kVariants, 0, std::move(vars.str())});
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
    table.u32(w ? weights.crc() : crc32c(s.payload.data(), s.payload.size()));
    table.u32(0);
    offset = alignUp(offset + size, kAlignment);
  }
  l.fileSize = l.offsets.back() + l.sections.back().payload.size();
  Sink out;
  out.bytes(kMagic.data(), kMagic.size());
  out.u16(kVersionMajor);
  const bool single = variants[0]->requantRounding == device::Rounding::Single;
  out.u16(single ? kVersionMinorSingleRounding : variants.size() > 1 ? kVersionMinorVariants : kVersionMinor);
  out.u32(kHeaderSize);
  out.u32(kByteOrderMark);
  out.u32(static_cast<uint32_t>(l.sections.size()));
  out.u64(tableOffset);
  out.u64(l.fileSize);
  out.u32(kHeaderFlagHasDebugNames | (single ? kHeaderFlagRequantSingleRounding : 0));
  out.u32(0);  // header CRC, filled below
  for (int i = 0; i < 16; ++i) out.u8(0);
  out.bytes(table.str().data(), table.size());
  const uint32_t headerCrc = crc32c(out.str().data(), out.size());  // header (CRC zeroed) + table
  for (int i = 0; i < 4; ++i) out.str()[kOffHeaderCrc + static_cast<size_t>(i)] = static_cast<char>((headerCrc >> (8 * i)) & 0xFF);
  l.head = std::move(out.str());
  return l;
}

}  // namespace

Expected<std::string> serializeBlob(const device::Program& p) { return serializeBlob(std::vector<const device::Program*>{&p}); }

Expected<uint64_t> writeBlob(const device::Program& p, const std::filesystem::path& path) {
  return writeBlob(std::vector<const device::Program*>{&p}, path);
}

Expected<std::string> serializeBlob(const std::vector<const device::Program*>& variants) {
  NPU_ASSIGN_OR_RETURN(Layout l, layoutBlob(variants));
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

Expected<uint64_t> writeBlob(const std::vector<const device::Program*>& variants, const std::filesystem::path& path) {
  NPU_ASSIGN_OR_RETURN(Layout l, layoutBlob(variants));
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
