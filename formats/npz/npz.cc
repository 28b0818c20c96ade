#include "formats/npz/npz.h"

#include <algorithm>

#include "converter/ir/type.h"

namespace npuconv {

namespace {
constexpr uint64_t kMaxNpyHeaderBytes = 1 << 20;
}  // namespace

Expected<std::unique_ptr<NpzArchive>> NpzArchive::open(const std::filesystem::path& path) {
  auto npz = std::unique_ptr<NpzArchive>(new NpzArchive());
  NPU_ASSIGN_OR_RETURN(npz->zip_, ZipArchive::open(path));
  for (const ZipMember& m : npz->zip_->members()) {
    if (m.name.empty() || m.name.back() == '/') continue;  // folders
    std::string where = npz->zip_->fileName() + ": " + m.name;
    if (m.name.size() < 4 || m.name.compare(m.name.size() - 4, 4, ".npy") != 0)
      return Status::invalidArgument("{}: not a .npy member (an .npz holds only .npy files)", where);
    // The header: the 10 or 12 byte prefix gives its length.
    auto r = npz->zip_->openMember(m);
    std::string head(std::min<uint64_t>(m.size, 12), '\0');
    NPU_TRY(r->read(head.data(), head.size()));
    if (head.size() == 12) {
      uint64_t len = static_cast<uint8_t>(head[6]) == 1
                         ? static_cast<uint64_t>(static_cast<uint8_t>(head[8]) | (static_cast<uint8_t>(head[9]) << 8)) + 10
                         : (static_cast<uint64_t>(static_cast<uint8_t>(head[8])) |
                            (static_cast<uint64_t>(static_cast<uint8_t>(head[9])) << 8) |
                            (static_cast<uint64_t>(static_cast<uint8_t>(head[10])) << 16) |
                            (static_cast<uint64_t>(static_cast<uint8_t>(head[11])) << 24)) + 12;
      len = std::min(len, m.size);
      // The header is read whole: a length claimed by a deflated member (up to 4 GiB) is not
      // allocated. numpy writes a few hundred bytes; 1 MiB leaves room for any rank.
      if (len > kMaxNpyHeaderBytes)
        return Status::invalidArgument("{}: .npy header of {} bytes (at most {} are read)", where, len,
                                       kMaxNpyHeaderBytes);
      if (len > head.size()) {
        size_t had = head.size();
        head.resize(len);
        NPU_TRY(r->read(head.data() + had, len - had));
      }
    }
    NPU_ASSIGN_OR_RETURN(NpyHeader h, parseNpyHeader(head, where));
    if (m.size != h.dataOffset + h.dataBytes)
      return Status::invalidArgument("{}: {}{} needs {} data bytes, the member has {}", where, dtypeShortName(h.dtype),
                                     shapeToString(shapeOf(h.dims)), h.dataBytes,
                                     m.size > h.dataOffset ? m.size - h.dataOffset : 0);
    npz->arrays_.push_back(NpzArray{m.name.substr(0, m.name.size() - 4), std::move(h), m});
  }
  return npz;
}

const NpzArray* NpzArchive::find(const std::string& name) const {
  auto it = std::find_if(arrays_.begin(), arrays_.end(), [&](const NpzArray& a) { return a.name == name; });
  return it == arrays_.end() ? nullptr : &*it;
}

std::unique_ptr<NpzArrayReader> NpzArchive::openArray(const NpzArray& a) const {
  return std::make_unique<NpzArrayReader>(zip_->openMember(a.member), a.header.dataOffset);
}

}  // namespace npuconv
