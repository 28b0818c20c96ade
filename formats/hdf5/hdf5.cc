#include "formats/hdf5/hdf5.h"

#include <cstring>
#include <set>

#include "formats/hdf5/hdf5_superblock.h"
#include "formats/hdf5/hdf5_types.h"
#include "formats/support/mapped_file.h"

namespace npuconv {

Expected<NamedTensorList> readHdf5(const std::filesystem::path& path) {
  silenceHdf5();
  std::string file = path.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return Status::io("{}: no such file", file);
  // libhdf5 trusts the superblock (a claimed size is allocated before it is read): check it first.
  NPU_TRY(checkHdf5Superblock(path).status());
  Handle f(H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!f.valid()) return Status::io("{}: cannot open: {}", file, hdf5Error());

  NPU_ASSIGN_OR_RETURN(std::vector<std::string> names, hdf5DatasetNames(f.get(), file));

  NamedTensorList out;
  for (const std::string& name : names) {
    std::string where = file + ": dataset \"" + name + "\"";
    Handle ds(H5Dopen2(f.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!ds.valid()) return Status::invalidArgument("{}: cannot open: {}", where, hdf5Error());
    Handle ftype(H5Dget_type(ds.get()), H5Tclose);
    NPU_ASSIGN_OR_RETURN(DType dtype, dtypeOfHdf5Type(ftype.get(), where));
    NPU_ASSIGN_OR_RETURN(std::vector<int64_t> dims, hdf5DatasetDims(ds.get(), dtype, where));
    auto buf = std::make_shared<AlignedBuffer>(static_cast<size_t>(*checkedByteSize(dims, dtype)));  // checked by hdf5DatasetDims
    if (buf->size() > 0) {
      NPU_ASSIGN_OR_RETURN(Handle mtype, hdf5MemoryType(dtype, ftype.get()));
      if (H5Dread(ds.get(), mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf->mutableData()) < 0)
        return Status::io("{}: cannot read: {}", where, hdf5Error());
    }
    out.emplace_back(name, std::make_shared<const TensorData>(dtype, std::move(dims), std::move(buf)));
  }
  return out;
}

Status writeHdf5(const std::filesystem::path& path, const NamedTensorList& tensors) {
  silenceHdf5();
  std::string file = path.string();
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    if (name.empty() || name.find_first_not_of('/') == std::string::npos || name == "." )
      return Status::invalidArgument("{}: a tensor name \"{}\" cannot be a dataset name", file, name);
    if (!seen.insert(name).second) return Status::invalidArgument("{}: tensor \"{}\" given twice", file, name);
  }
  // Build the file in memory (core driver, no backing store), then write its image atomically.
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fapl_core(fapl.get(), 1 << 20, 0);
  Handle f(H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose);
  if (!f.valid()) return Status::io("{}: cannot create an HDF5 image: {}", file, hdf5Error());
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  for (const auto& [name, t] : tensors) {
    std::string where = file + ": tensor \"" + name + "\"";
    if (!t) return Status::internal("{}: no data", where);
    auto type = hdf5TypeFor(t->dtype());
    if (!type) return type.status().in(where);
    std::vector<hsize_t> hd(t->dims().begin(), t->dims().end());
    Handle space = hd.empty() ? Handle(H5Screate(H5S_SCALAR), H5Sclose)
                              : Handle(H5Screate_simple(static_cast<int>(hd.size()), hd.data(), nullptr), H5Sclose);
    if (!space.valid()) return Status::invalidArgument("{}: bad shape: {}", where, hdf5Error());
    Handle ds(H5Dcreate2(f.get(), name.c_str(), type->get(), space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
              H5Dclose);
    if (!ds.valid()) return Status::invalidArgument("{}: cannot create the dataset: {}", where, hdf5Error());
    if (t->numElements() > 0 &&
        H5Dwrite(ds.get(), type->get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, t->bytes()) < 0)
      return Status::io("{}: cannot write: {}", where, hdf5Error());
  }
  if (H5Fflush(f.get(), H5F_SCOPE_GLOBAL) < 0) return Status::io("{}: cannot flush: {}", file, hdf5Error());
  ssize_t size = H5Fget_file_image(f.get(), nullptr, 0);
  if (size < 0) return Status::io("{}: cannot get the file image: {}", file, hdf5Error());
  std::string image(static_cast<size_t>(size), '\0');
  if (H5Fget_file_image(f.get(), image.data(), image.size()) != size)
    return Status::io("{}: cannot get the file image: {}", file, hdf5Error());
  f.reset();
  return writeFileAtomically(path, image);
}

}  // namespace npuconv
