#include "formats/onnx/tensor_proto.h"

#include <cstring>

namespace npuconv {
namespace {

// Where ONNX keeps the elements of each dtype when raw_data is not used.
enum class Field { Float, Int32, Int64, Double, Uint64, String };

Field fieldFor(DType t) {
  switch (t) {
    case DType::F32: case DType::C64: return Field::Float;
    case DType::F64: case DType::C128: return Field::Double;
    case DType::I64: return Field::Int64;
    case DType::U32: case DType::U64: return Field::Uint64;
    case DType::String: return Field::String;
    default: return Field::Int32;  // i32, i16, i8, u16, u8, bool, f16, bf16
  }
}

template <typename Src, typename Dst>
std::shared_ptr<const Buffer> narrow(const google::protobuf::RepeatedField<Src>& src, size_t count) {
  auto b = std::make_shared<AlignedBuffer>(count * sizeof(Dst));
  Dst* out = reinterpret_cast<Dst*>(b->mutableData());
  for (size_t i = 0; i < count; ++i) out[i] = static_cast<Dst>(src.Get(static_cast<int>(i)));
  return b;
}

bool escapesFolder(const std::filesystem::path& rel) {
  if (rel.is_absolute() || rel.has_root_name() || rel.has_root_directory()) return true;
  int depth = 0;
  for (const auto& part : rel.lexically_normal()) {
    if (part == "..") {
      if (--depth < 0) return true;
    } else if (part != "." && !part.empty()) {
      ++depth;
    }
  }
  return false;
}

}  // namespace

Expected<std::shared_ptr<const Buffer>> ExternalDataResolver::slice(const std::string& tensor,
                                                                     const std::string& location,
                                                                     int64_t offset, int64_t length) {
  if (location.empty()) return Status::invalidModel("tensor \"{}\": external data without a location", tensor);
  std::filesystem::path rel(location);
  if (escapesFolder(rel))
    return Status::invalidModel("tensor \"{}\": external data location \"{}\" escapes the model's folder",
                                tensor, location);
  std::filesystem::path full = baseDir_ / rel;
  // A symlink may still point outside; compare canonical paths.
  std::error_code ec;
  auto canonBase = std::filesystem::weakly_canonical(baseDir_, ec);
  auto canonFull = std::filesystem::weakly_canonical(full, ec);
  if (!ec) {
    auto r = canonFull.lexically_relative(canonBase);
    if (r.empty() || escapesFolder(r))
      return Status::invalidModel("tensor \"{}\": external data location \"{}\" resolves outside the model's folder",
                                  tensor, location);
  }
  auto& file = files_[full.string()];
  if (!file) {
    // Descriptors stay open for the writer's kernel copies, but only for the first files: a
    // model saved with one file per tensor must not run out of them.
    auto m = MappedFile::open(full, /*keepOpen=*/files_.size() <= kMaxOpenExternalFiles);
    if (!m)
      return Status::io("tensor \"{}\": external data file \"{}\" cannot be read: {}", tensor, location,
                        m.status().message());
    file = *m;
  }
  if (offset < 0 || static_cast<uint64_t>(offset) > file->size())
    return Status::invalidModel("tensor \"{}\": external data offset {} is past the end of \"{}\" ({} bytes)",
                                tensor, offset, location, file->size());
  uint64_t len = length < 0 ? file->size() - static_cast<uint64_t>(offset) : static_cast<uint64_t>(length);
  if (static_cast<uint64_t>(offset) + len > file->size())
    return Status::invalidModel("tensor \"{}\": external data file \"{}\" is too short ({} bytes, needs {})",
                                tensor, location, file->size(), static_cast<uint64_t>(offset) + len);
  const std::byte* p = file->data() + offset;
  if (opt_.mmapExternalData)
    return Buffer::view(file, p, len, file->fileRange(static_cast<uint64_t>(offset)), /*fileMapping=*/true);
  return Buffer::copyOf(p, len);
}

std::shared_ptr<const Buffer> ExternalDataResolver::cutPayload(const onnx::TensorProto& tp) const {
  auto it = cut_.find(&tp);
  if (it == cut_.end()) return nullptr;
  const std::byte* p = model_->data() + it->second.offset;
  // Typed readers assume what malloc gives (16 bytes); a payload elsewhere is copied to
  // aligned memory when one first reads it, never for writers and hashes (Buffer::rawData).
  std::optional<FileRange> range = model_->fileRange(it->second.offset);
  if (reinterpret_cast<uintptr_t>(p) % 16 == 0) return Buffer::view(model_, p, it->second.size, range, /*fileMapping=*/true);
  return Buffer::viewAlignedOnUse(model_, p, it->second.size, range, /*fileMapping=*/true);
}

Expected<TensorType> typeFromProto(const onnx::TypeProto& tp, const std::string& valueName) {
  TensorType t;
  t.denotation = tp.denotation();
  if (tp.value_case() == onnx::TypeProto::VALUE_NOT_SET) return t;
  if (tp.value_case() != onnx::TypeProto::kTensorType) {
    t.opaque = tp.SerializeAsString();
    return t;
  }
  const auto& tt = tp.tensor_type();
  if (tt.elem_type() != 0) {
    auto dt = dtypeFromCode(tt.elem_type());
    if (!dt) return Status::invalidModel("value \"{}\": unknown element type {}", valueName, tt.elem_type());
    t.dtype = *dt;
  }
  if (tt.has_shape()) {
    Shape s;
    for (const auto& d : tt.shape().dim()) {
      Dim dim;
      if (d.has_dim_value() && d.dim_value() < 0)
        return Status::invalidModel("value \"{}\": negative dim {} in its declared shape", valueName, d.dim_value());
      if (d.has_dim_value()) dim = Dim(d.dim_value());
      else if (d.has_dim_param()) dim = Dim::symbol(d.dim_param());
      dim.setDenotation(d.denotation());
      s.push_back(std::move(dim));
    }
    t.shape = std::move(s);
  }
  return t;
}

void typeToProto(const TensorType& t, onnx::TypeProto* out) {
  if (!t.opaque.empty()) {
    out->ParseFromString(t.opaque);
    return;
  }
  if (!t.denotation.empty()) out->set_denotation(t.denotation);
  if (t.dtype == DType::Undefined && !t.shape) return;
  auto* tt = out->mutable_tensor_type();
  if (t.dtype != DType::Undefined) tt->set_elem_type(static_cast<int32_t>(t.dtype));
  if (t.shape) {
    auto* s = tt->mutable_shape();
    for (const Dim& d : *t.shape) {
      auto* pd = s->add_dim();
      if (d.isStatic()) pd->set_dim_value(d.value());
      else if (d.isSymbolic()) pd->set_dim_param(d.symbolName());
      if (!d.denotation().empty()) pd->set_denotation(d.denotation());
    }
  }
}

Expected<TensorRef> tensorFromProto(onnx::TensorProto& tp, ExternalDataResolver& ext) {
  const std::string& name = tp.name();
  auto dt = dtypeFromCode(tp.data_type());
  if (!dt) return Status::invalidModel("tensor \"{}\": unknown data type {}", name, tp.data_type());
  if (tp.has_segment()) return Status::unsupported("tensor \"{}\": segmented tensors", name);
  std::vector<int64_t> dims(tp.dims().begin(), tp.dims().end());
  for (int64_t d : dims)
    if (d < 0) return Status::invalidModel("tensor \"{}\": negative dimension {}", name, d);
  // Dims are the file's claim: the data read below must match them exactly, and neither the
  // count nor the byte size may wrap around (dims [2^62] of float32 would otherwise need "0 bytes").
  std::optional<int64_t> checkedCount = checkedElementCount(dims);
  if (!checkedCount)
    return Status::invalidModel("tensor \"{}\": shape {} has more than 2^63 elements", name,
                                shapeToString(shapeOf(dims)));
  uint64_t count = static_cast<uint64_t>(*checkedCount);
  DType t = *dt;
  if (t == DType::String) {
    if (tp.data_location() == onnx::TensorProto::EXTERNAL)
      return Status::unsupported("tensor \"{}\": external string data", name);
    if (static_cast<uint64_t>(tp.string_data_size()) != count)
      return Status::invalidModel("tensor \"{}\": {} strings for {} elements", name, tp.string_data_size(), count);
    return std::make_shared<const TensorData>(dims, std::vector<std::string>(tp.string_data().begin(), tp.string_data().end()));
  }
  size_t esize = dtypeSize(t);
  std::optional<int64_t> checkedWant = checkedByteSize(*checkedCount, esize);
  if (!checkedWant)
    return Status::invalidModel("tensor \"{}\": {} {} has more than 2^63 bytes", name, dtypeName(t),
                                shapeToString(shapeOf(dims)));
  uint64_t want = static_cast<uint64_t>(*checkedWant);
  std::shared_ptr<const Buffer> buf;
  if (tp.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string location;
    int64_t offset = 0, length = -1;
    for (const auto& kv : tp.external_data()) {
      try {
        if (kv.key() == "location") location = kv.value();
        else if (kv.key() == "offset") offset = std::stoll(kv.value());
        else if (kv.key() == "length") length = std::stoll(kv.value());
      } catch (const std::exception&) {
        return Status::invalidModel("tensor \"{}\": external data {} \"{}\" is not a number", name, kv.key(), kv.value());
      }
    }
    if (length < 0) length = static_cast<int64_t>(want);
    NPU_ASSIGN_OR_RETURN(buf, ext.slice(name, location, offset, length));
  } else if (auto cut = ext.cutPayload(tp)) {
    buf = std::move(cut);
  } else if (tp.has_raw_data()) {
    buf = Buffer::fromString(std::move(*tp.mutable_raw_data()));
    tp.clear_raw_data();
  } else {
    switch (fieldFor(t)) {
      case Field::Float: {
        uint64_t n = t == DType::C64 ? count * 2 : count;
        if (static_cast<uint64_t>(tp.float_data_size()) != n) break;
        buf = Buffer::copyOf(tp.float_data().data(), n * 4);
        break;
      }
      case Field::Double: {
        uint64_t n = t == DType::C128 ? count * 2 : count;
        if (static_cast<uint64_t>(tp.double_data_size()) != n) break;
        buf = Buffer::copyOf(tp.double_data().data(), n * 8);
        break;
      }
      case Field::Int64:
        if (static_cast<uint64_t>(tp.int64_data_size()) != count) break;
        buf = Buffer::copyOf(tp.int64_data().data(), count * 8);
        break;
      case Field::Uint64:
        if (static_cast<uint64_t>(tp.uint64_data_size()) != count) break;
        buf = t == DType::U64 ? Buffer::copyOf(tp.uint64_data().data(), count * 8)
                              : narrow<uint64_t, uint32_t>(tp.uint64_data(), count);
        break;
      case Field::Int32:
        if (static_cast<uint64_t>(tp.int32_data_size()) != count) break;
        if (esize == 4) buf = Buffer::copyOf(tp.int32_data().data(), count * 4);
        else if (esize == 2) buf = narrow<int32_t, uint16_t>(tp.int32_data(), count);
        else buf = narrow<int32_t, uint8_t>(tp.int32_data(), count);
        break;
      case Field::String: break;
    }
    if (!buf)
      return Status::invalidModel("tensor \"{}\": holds the wrong number of elements for {} {}", name,
                                  dtypeName(t), shapeToString(shapeOf(dims)));
  }
  if (buf->size() != want)
    return Status::invalidModel("tensor \"{}\": {} bytes of data for {} {} (needs {})", name, buf->size(),
                                dtypeName(t), shapeToString(shapeOf(dims)), want);
  return std::make_shared<const TensorData>(t, std::move(dims), std::move(buf));
}

void tensorToProto(const TensorData& t, const std::string& name, onnx::TensorProto* out) {
  for (int64_t d : t.dims()) out->add_dims(d);
  out->set_data_type(static_cast<int32_t>(t.dtype()));
  if (!name.empty()) out->set_name(name);
  if (t.dtype() == DType::String) {
    for (const auto& s : t.strings()) out->add_string_data(s);
    return;
  }
  out->set_raw_data(reinterpret_cast<const char*>(t.rawBytes()), t.byteSize());
}

}  // namespace npuconv
