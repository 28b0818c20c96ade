#include "formats/npy/npy.h"

#include <cctype>
#include <cstring>
#include <limits>
#include <optional>

#include "converter/ir/type.h"
#include "formats/support/mapped_file.h"

namespace npuconv {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

struct Header {
  DType dtype = DType::Undefined;
  std::vector<int64_t> dims;
  size_t dataOffset = 0;
};

/// A tiny reader for the Python dict literal in the header.
class DictParser {
 public:
  explicit DictParser(std::string_view s) : s_(s) {}
  void skipSpace() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool consume(char c) {
    skipSpace();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    skipSpace();
    return pos_ < s_.size() && s_[pos_] == c;
  }
  std::optional<std::string> string() {
    skipSpace();
    if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"')) return std::nullopt;
    char q = s_[pos_++];
    size_t end = s_.find(q, pos_);
    if (end == std::string_view::npos) return std::nullopt;
    std::string out(s_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return out;
  }
  std::string word() {
    skipSpace();
    size_t b = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
    return std::string(s_.substr(b, pos_ - b));
  }
  std::optional<int64_t> integer() {
    skipSpace();
    size_t b = pos_;
    int64_t v = 0;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) return std::nullopt;
      v = v * 10 + (s_[pos_++] - '0');
    }
    if (pos_ == b) return std::nullopt;
    if (pos_ < s_.size() && (s_[pos_] == 'L' || s_[pos_] == 'l')) ++pos_;  // Python 2 longs
    return v;
  }
  bool atEnd() {
    skipSpace();
    return pos_ == s_.size();
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

Expected<DType> dtypeFromDescr(const std::string& descr, const std::string& name) {
  auto bad = [&](std::string why) {
    return Status::unsupported("{}: numpy dtype '{}' is not supported: {}", name, descr, why);
  };
  if (descr.empty()) return bad("empty type string");
  size_t p = 0;
  char order = '=';
  if (descr[0] == '<' || descr[0] == '>' || descr[0] == '|' || descr[0] == '=') order = descr[p++];
  if (p >= descr.size()) return bad("no type kind");
  char kind = descr[p++];
  int size = 0;
  for (; p < descr.size(); ++p) {
    if (!std::isdigit(static_cast<unsigned char>(descr[p])) || size > 1000) return bad("malformed type string");
    size = size * 10 + (descr[p] - '0');
  }
  if (kind == 'O') return bad("object arrays hold Python objects, not numbers");
  if (kind == 'U' || kind == 'S' || kind == 'a') return bad("string arrays are not supported");
  if (kind == 'V') return bad("raw/void data (bfloat16 from ml_dtypes is saved this way; save as float32)");
  if (kind == 'M' || kind == 'm') return bad("datetime arrays are not supported");
  DType t = DType::Undefined;
  switch (kind) {
    case 'f': t = size == 2 ? DType::F16 : size == 4 ? DType::F32 : size == 8 ? DType::F64 : DType::Undefined; break;
    case 'i':
      t = size == 1 ? DType::I8 : size == 2 ? DType::I16 : size == 4 ? DType::I32 : size == 8 ? DType::I64 : DType::Undefined;
      break;
    case 'u':
      t = size == 1 ? DType::U8 : size == 2 ? DType::U16 : size == 4 ? DType::U32 : size == 8 ? DType::U64 : DType::Undefined;
      break;
    case 'b': t = size == 1 ? DType::Bool : DType::Undefined; break;
    case 'c': t = size == 8 ? DType::C64 : size == 16 ? DType::C128 : DType::Undefined; break;
    default: return bad("unknown type kind");
  }
  if (t == DType::Undefined) return bad("no such element size for this kind");
  if (order == '>' && size > 1)
    return Status::unsupported("{}: big-endian data ('{}') is not supported; convert it with "
                               "arr.astype(arr.dtype.newbyteorder('<'))", name, descr);
  return t;
}

Expected<Header> parseHeader(std::string_view bytes, const std::string& name) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, kMagicLen) != 0)
    return Status::invalidArgument("{}: not a .npy file (no \\x93NUMPY magic)", name);
  auto major = static_cast<uint8_t>(bytes[6]);
  size_t headerLen = 0, start = 0;
  if (major == 1) {
    headerLen = static_cast<uint8_t>(bytes[8]) | (size_t(static_cast<uint8_t>(bytes[9])) << 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return Status::invalidArgument("{}: truncated .npy header", name);
    for (int i = 3; i >= 0; --i) headerLen = (headerLen << 8) | static_cast<uint8_t>(bytes[8 + i]);
    start = 12;
  } else {
    return Status::unsupported("{}: .npy format version {}.{} is not supported", name, major,
                               static_cast<uint8_t>(bytes[7]));
  }
  if (bytes.size() < start + headerLen)
    return Status::invalidArgument("{}: truncated .npy header ({} bytes, the header needs {})", name, bytes.size(),
                                   start + headerLen);
  std::string_view dict = bytes.substr(start, headerLen);
  auto malformed = [&](std::string_view what) {
    return Status::invalidArgument("{}: malformed .npy header ({}): {}", name, what, dict);
  };
  DictParser p(dict);
  if (!p.consume('{')) return malformed("expected '{'");
  std::optional<std::string> descr;
  std::optional<bool> fortran;
  std::optional<std::vector<int64_t>> shape;
  while (!p.consume('}')) {
    auto key = p.string();
    if (!key) return malformed("expected a quoted key");
    if (!p.consume(':')) return malformed("expected ':'");
    if (*key == "descr") {
      if (p.peek('[')) return Status::unsupported("{}: structured numpy dtypes are not supported", name);
      descr = p.string();
      if (!descr) return malformed("descr is not a string");
    } else if (*key == "fortran_order") {
      std::string w = p.word();
      if (w != "True" && w != "False") return malformed("fortran_order is not True or False");
      fortran = w == "True";
    } else if (*key == "shape") {
      if (!p.consume('(')) return malformed("shape is not a tuple");
      std::vector<int64_t> dims;
      while (!p.consume(')')) {
        auto d = p.integer();
        if (!d) return malformed("shape holds a non-integer");
        dims.push_back(*d);
        if (!p.consume(',') && !p.peek(')')) return malformed("expected ',' in shape");
      }
      shape = std::move(dims);
    } else {
      return malformed("unexpected key '" + *key + "'");
    }
    if (!p.consume(',') && !p.peek('}')) return malformed("expected ','");
  }
  if (!descr || !fortran || !shape) return malformed("descr, fortran_order and shape are required");
  Header h;
  NPU_ASSIGN_OR_RETURN(h.dtype, dtypeFromDescr(*descr, name));
  if (*fortran && shape->size() > 1)
    return Status::unsupported("{}: Fortran-order arrays are not supported; save np.ascontiguousarray(arr)", name);
  h.dims = std::move(*shape);
  h.dataOffset = start + headerLen;
  return h;
}

Expected<size_t> expectedBytes(const Header& h, const std::string& name) {
  std::optional<int64_t> n = checkedByteSize(h.dims, h.dtype);
  if (!n) return Status::invalidArgument("{}: shape {} is too large", name, shapeToString(shapeOf(h.dims)));
  return static_cast<size_t>(*n);
}

Status checkSize(const Header& h, size_t fileSize, size_t need, const std::string& name) {
  size_t have = fileSize - h.dataOffset;
  if (have < need)
    return Status::invalidArgument("{}: truncated .npy file: {}{} needs {} data bytes, the file has {}", name,
                                   dtypeShortName(h.dtype), shapeToString(shapeOf(h.dims)), need, have);
  if (have > need)
    return Status::invalidArgument("{}: {} unexpected bytes after the data of {}{}", name, have - need,
                                   dtypeShortName(h.dtype), shapeToString(shapeOf(h.dims)));
  return Status::ok();
}

}  // namespace

Expected<NpyHeader> parseNpyHeader(std::string_view bytes, const std::string& name) {
  NPU_ASSIGN_OR_RETURN(Header h, parseHeader(bytes, name));
  NPU_ASSIGN_OR_RETURN(size_t need, expectedBytes(h, name));
  return NpyHeader{h.dtype, std::move(h.dims), h.dataOffset, need};
}

std::string npyDescr(DType t) {
  switch (t) {
    case DType::F16: return "<f2";
    case DType::F32: return "<f4";
    case DType::F64: return "<f8";
    case DType::I8: return "|i1";
    case DType::I16: return "<i2";
    case DType::I32: return "<i4";
    case DType::I64: return "<i8";
    case DType::U8: return "|u1";
    case DType::U16: return "<u2";
    case DType::U32: return "<u4";
    case DType::U64: return "<u8";
    case DType::Bool: return "|b1";
    case DType::C64: return "<c8";
    case DType::C128: return "<c16";
    default: return "";
  }
}

Expected<TensorRef> parseNpy(std::string_view bytes, const std::string& name) {
  NPU_ASSIGN_OR_RETURN(Header h, parseHeader(bytes, name));
  NPU_ASSIGN_OR_RETURN(size_t need, expectedBytes(h, name));
  NPU_TRY(checkSize(h, bytes.size(), need, name));
  auto buf = std::make_shared<AlignedBuffer>(need);
  if (need) std::memcpy(buf->mutableData(), bytes.data() + h.dataOffset, need);
  return std::make_shared<const TensorData>(h.dtype, std::move(h.dims), std::move(buf));
}

Expected<TensorRef> readNpy(const std::filesystem::path& path) {
  std::string name = path.string();
  NPU_ASSIGN_OR_RETURN(auto file, MappedFile::open(path));
  std::string_view bytes(reinterpret_cast<const char*>(file->data()), file->size());
  NPU_ASSIGN_OR_RETURN(Header h, parseHeader(bytes, name));
  NPU_ASSIGN_OR_RETURN(size_t need, expectedBytes(h, name));
  NPU_TRY(checkSize(h, bytes.size(), need, name));
  std::shared_ptr<const Buffer> buf;
  if (need > 0 && h.dataOffset % 64 == 0) {
    buf = Buffer::view(file, file->data() + h.dataOffset, need);
  } else {
    auto copy = std::make_shared<AlignedBuffer>(need);
    if (need) std::memcpy(copy->mutableData(), file->data() + h.dataOffset, need);
    buf = std::move(copy);
  }
  return std::make_shared<const TensorData>(h.dtype, std::move(h.dims), std::move(buf));
}

Expected<std::string> npyHeader(DType dtype, std::span<const int64_t> dims) {
  std::string descr = npyDescr(dtype);
  if (descr.empty())
    return Status::unsupported("{} tensors cannot be saved as .npy (numpy has no such type)", dtypeName(dtype));
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0) return Status::invalidArgument("negative dim {} in a tensor to save as .npy", dims[i]);
    dict += std::to_string(dims[i]);
    if (i + 1 < dims.size() || dims.size() == 1) dict += dims.size() == 1 ? "," : ", ";
  }
  dict += "), }";
  // Version 1.0 unless the header is too long for its 16-bit length; pad with spaces so the
  // data starts at a multiple of 64 bytes, and end with a newline.
  bool v2 = dict.size() + 1 + 10 > 65535;
  size_t prefix = v2 ? 12 : 10;
  size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict += '\n';
  std::string out(kMagic, kMagicLen);
  out += static_cast<char>(v2 ? 2 : 1);
  out += '\0';
  size_t len = dict.size();
  for (size_t i = 0; i < (v2 ? 4u : 2u); ++i) out += static_cast<char>((len >> (8 * i)) & 0xff);
  return out + dict;
}

Status writeNpy(const std::filesystem::path& path, DType dtype, std::span<const int64_t> dims, const void* data) {
  auto header = npyHeader(dtype, dims);
  if (!header) return header.status().in(path.string());
  std::optional<int64_t> bytes = checkedByteSize(dims, dtype);
  if (!bytes) return Status::invalidArgument("{}: shape {} is too large", path.string(),
                                                shapeToString(shapeOf({dims.begin(), dims.end()})));
  NPU_ASSIGN_OR_RETURN(auto file, AtomicFile::create(path));
  NPU_TRY(file->write(header->data(), header->size()));
  if (*bytes) NPU_TRY(file->write(data, static_cast<size_t>(*bytes)));
  return file->commit();
}

Status writeNpy(const std::filesystem::path& path, const TensorData& t) {
  if (t.dtype() == DType::String)
    return Status::unsupported("{}: string tensors cannot be saved as .npy", path.string());
  return writeNpy(path, t.dtype(), t.dims(), t.bytes());
}

}  // namespace npuconv
