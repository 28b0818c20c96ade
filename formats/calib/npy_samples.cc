// npy_samples.cc - samples from .npy files: one file for a single-input model, or one file per
// input name (a folder of NAME.npy, `NAME=FILE.npy` arguments). Each file is mapped and each
// sample copied out of the map, so memory does not grow with the sample count.
#include <algorithm>
#include <cstring>

#include "formats/calib/array_samples.h"
#include "formats/calib/calib_sources.h"
#include "formats/npy/npy.h"
#include "formats/support/mapped_file.h"

namespace npuconv {

namespace {

class MappedRows final : public ArrayReader {
 public:
  MappedRows(std::shared_ptr<const MappedFile> file, size_t offset) : file_(std::move(file)), offset_(offset) {}
  Status readRows(int64_t first, int64_t count, size_t rowBytes, void* out) override {
    size_t n = static_cast<size_t>(count) * rowBytes, at = offset_ + static_cast<size_t>(first) * rowBytes;
    if (n) std::memcpy(out, file_->data() + at, n);
    // Samples are read in order: drop the pages behind, a few MB at a time.
    if (at + n >= released_ + (size_t{4} << 20) || at + n < released_) {
      file_->releasePages(0, at + n);
      released_ = at + n;
    }
    return Status::ok();
  }

 private:
  std::shared_ptr<const MappedFile> file_;
  size_t offset_;
  size_t released_ = 0;
};

}  // namespace

Expected<std::unique_ptr<SampleStream>> openNpySamples(const std::filesystem::path& path, const CalibDataOptions& opt,
                                                       const std::vector<ModelInputSpec>& inputs) {
  std::string file = path.string();
  if (inputs.size() != 1)
    return Status::invalidArgument("{}: a .npy file feeds a single-input model; this model has {} inputs (use an .npz or "
                                   "HDF5 file with one array per input name, or a dataset list)",
                                   file, inputs.size());
  NPU_ASSIGN_OR_RETURN(auto map, MappedFile::open(path));
  std::string_view bytes(reinterpret_cast<const char*>(map->data()), map->size());
  NPU_ASSIGN_OR_RETURN(NpyHeader h, parseNpyHeader(bytes, file));
  if (bytes.size() != h.dataOffset + h.dataBytes)
    return Status::invalidArgument("{}: {} needs {} data bytes, the file has {}", file, describeArray(h.dtype, h.dims),
                                   h.dataBytes, bytes.size() > h.dataOffset ? bytes.size() - h.dataOffset : 0);
  std::vector<ArrayInput> arrays(1);
  arrays[0].input = inputs[0];
  arrays[0].dtype = h.dtype;
  arrays[0].dims = h.dims;
  arrays[0].reader = std::make_unique<MappedRows>(std::move(map), h.dataOffset);
  arrays[0].where = file;
  return openArraySamples(file, std::move(arrays), opt);
}

}  // namespace npuconv

namespace npuconv {

Expected<std::unique_ptr<SampleStream>> openNamedNpySamples(const NamedNpyFiles& files, const CalibDataOptions& opt,
                                                            const std::vector<ModelInputSpec>& inputs,
                                                            const std::string& what) {
  std::vector<ArrayInput> arrays;
  for (const ModelInputSpec& in : inputs) {
    auto it = std::find_if(files.begin(), files.end(), [&](const auto& f) { return f.first == in.name; });
    if (it == files.end()) {
      std::string have;
      for (const auto& f : files) have += (have.empty() ? "\"" : ", \"") + f.first + "\"";
      return Status::invalidArgument("{}: no array for \"{}\" (expected {}.npy; it has {})", what, in.name, in.name,
                                     have.empty() ? "none" : have);
    }
    std::string file = it->second.string();
    NPU_ASSIGN_OR_RETURN(auto map, MappedFile::open(it->second));
    std::string_view bytes(reinterpret_cast<const char*>(map->data()), map->size());
    NPU_ASSIGN_OR_RETURN(NpyHeader h, parseNpyHeader(bytes, file));
    if (bytes.size() != h.dataOffset + h.dataBytes)
      return Status::invalidArgument("{}: {} needs {} data bytes, the file has {}", file, describeArray(h.dtype, h.dims),
                                     h.dataBytes, bytes.size() > h.dataOffset ? bytes.size() - h.dataOffset : 0);
    ArrayInput a;
    a.input = in;
    a.dtype = h.dtype;
    a.dims = h.dims;
    a.reader = std::make_unique<MappedRows>(std::move(map), h.dataOffset);
    a.where = file;
    arrays.push_back(std::move(a));
  }
  return openArraySamples(what, std::move(arrays), opt);
}

Expected<NamedNpyFiles> npyFilesIn(const std::filesystem::path& dir) {
  NamedNpyFiles files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".npy") files.emplace_back(e.path().stem().string(), e.path());
  if (ec) return Status::io("{}: cannot list the folder: {}", dir.string(), ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace npuconv
