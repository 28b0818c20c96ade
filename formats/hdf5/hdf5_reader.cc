#include "formats/hdf5/hdf5_reader.h"

#include <algorithm>
#include <map>

#include "converter/ir/tensor.h"
#include "formats/hdf5/hdf5_superblock.h"
#include "formats/hdf5/hdf5_types.h"

namespace npuconv {

namespace {

struct OpenDataset {
  Handle ds, fileType, memType;
  Hdf5DatasetInfo info;
};

}  // namespace

struct Hdf5Reader::Impl {
  std::string file;
  Handle f;
  std::vector<std::string> names;
  std::map<std::string, OpenDataset> open;

  Expected<OpenDataset*> dataset(const std::string& name) {
    auto it = open.find(name);
    if (it != open.end()) return &it->second;
    std::string where = file + ": dataset \"" + name + "\"";
    if (!std::binary_search(names.begin(), names.end(), name)) return Status::invalidArgument("{}: no such dataset", where);
    OpenDataset d;
    d.ds = Handle(H5Dopen2(f.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!d.ds.valid()) return Status::invalidArgument("{}: cannot open: {}", where, hdf5Error());
    d.fileType = Handle(H5Dget_type(d.ds.get()), H5Tclose);
    NPU_ASSIGN_OR_RETURN(d.info.dtype, dtypeOfHdf5Type(d.fileType.get(), where));
    NPU_ASSIGN_OR_RETURN(d.info.dims, hdf5DatasetDims(d.ds.get(), d.info.dtype, where));
    NPU_ASSIGN_OR_RETURN(d.memType, hdf5MemoryType(d.info.dtype, d.fileType.get()));
    return &open.emplace(name, std::move(d)).first->second;
  }
};

Hdf5Reader::Hdf5Reader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Hdf5Reader::~Hdf5Reader() = default;

Expected<std::unique_ptr<Hdf5Reader>> Hdf5Reader::open(const std::filesystem::path& path) {
  silenceHdf5();
  auto impl = std::make_unique<Impl>();
  impl->file = path.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return Status::io("{}: no such file", impl->file);
  // libhdf5 trusts the superblock (a claimed size is allocated before it is read): check it first.
  NPU_TRY(checkHdf5Superblock(path).status());
  impl->f = Handle(H5Fopen(impl->file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!impl->f.valid()) return Status::io("{}: cannot open: {}", impl->file, hdf5Error());
  NPU_ASSIGN_OR_RETURN(impl->names, hdf5DatasetNames(impl->f.get(), impl->file));
  std::sort(impl->names.begin(), impl->names.end());
  return std::unique_ptr<Hdf5Reader>(new Hdf5Reader(std::move(impl)));
}

const std::string& Hdf5Reader::fileName() const { return impl_->file; }
const std::vector<std::string>& Hdf5Reader::datasetNames() const { return impl_->names; }
bool Hdf5Reader::has(const std::string& name) const {
  return std::binary_search(impl_->names.begin(), impl_->names.end(), name);
}

Expected<Hdf5DatasetInfo> Hdf5Reader::info(const std::string& name) {
  NPU_ASSIGN_OR_RETURN(OpenDataset * d, impl_->dataset(name));
  return d->info;
}

Status Hdf5Reader::readRows(const std::string& name, int64_t first, int64_t count, void* out) {
  NPU_ASSIGN_OR_RETURN(OpenDataset * d, impl_->dataset(name));
  std::string where = impl_->file + ": dataset \"" + name + "\"";
  const auto& dims = d->info.dims;
  if (dims.empty()) {
    if (first != 0 || count != 1) return Status::internal("{}: a scalar has one row", where);
    if (H5Dread(d->ds.get(), d->memType.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
      return Status::io("{}: cannot read: {}", where, hdf5Error());
    return Status::ok();
  }
  if (first < 0 || count < 0 || first + count > dims[0])
    return Status::internal("{}: rows [{}, {}) outside its {} rows", where, first, first + count, dims[0]);
  if (count == 0 || elementCount(dims) == 0) return Status::ok();
  std::vector<hsize_t> start(dims.size(), 0), extent(dims.begin(), dims.end());
  start[0] = static_cast<hsize_t>(first);
  extent[0] = static_cast<hsize_t>(count);
  Handle fileSpace(H5Dget_space(d->ds.get()), H5Sclose);
  if (H5Sselect_hyperslab(fileSpace.get(), H5S_SELECT_SET, start.data(), nullptr, extent.data(), nullptr) < 0)
    return Status::io("{}: cannot select rows: {}", where, hdf5Error());
  Handle memSpace(H5Screate_simple(static_cast<int>(extent.size()), extent.data(), nullptr), H5Sclose);
  if (H5Dread(d->ds.get(), d->memType.get(), memSpace.get(), fileSpace.get(), H5P_DEFAULT, out) < 0)
    return Status::io("{}: cannot read rows [{}, {}): {}", where, first, first + count, hdf5Error());
  return Status::ok();
}

}  // namespace npuconv
