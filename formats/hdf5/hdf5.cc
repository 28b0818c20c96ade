#include "formats/hdf5/hdf5.h"

#include <hdf5.h>

#include <cstring>
#include <set>

#include "formats/support/mapped_file.h"

namespace npuconv {

namespace {

/// Closes an HDF5 handle with the matching H5?close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      close_ = o.close_;
      o.id_ = -1;
    }
    return *this;
  }
  void reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = -1;
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

/// HDF5 prints its error stack to stderr by default; we report Status values instead.
void silenceHdf5() {
  static const bool once = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)once;
}

/// The innermost message of HDF5's error stack, for our error text.
std::string hdf5Error() {
  std::string msg;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* e, void* data) -> herr_t {
        if (n == 0 && e->desc) *static_cast<std::string*>(data) = e->desc;
        return 0;
      },
      &msg);
  H5Eclear2(H5E_DEFAULT);
  return msg.empty() ? "HDF5 error" : msg;
}

Handle floatType(int size, size_t expBits, size_t mantBits, size_t bias) {
  Handle t(H5Tcopy(H5T_IEEE_F32LE), H5Tclose);
  H5Tset_fields(t.get(), size * 8 - 1, mantBits, expBits, 0, mantBits);
  H5Tset_size(t.get(), static_cast<size_t>(size));
  H5Tset_ebias(t.get(), bias);
  return t;
}

Handle boolType() {
  Handle t(H5Tenum_create(H5T_NATIVE_INT8), H5Tclose);
  int8_t f = 0, tr = 1;
  H5Tenum_insert(t.get(), "FALSE", &f);
  H5Tenum_insert(t.get(), "TRUE", &tr);
  return t;
}

/// The HDF5 type for a dtype, for both the file and memory (x86 is little-endian).
Expected<Handle> typeFor(DType d) {
  auto copy = [](hid_t t) { return Handle(H5Tcopy(t), H5Tclose); };
  switch (d) {
    case DType::F16: return floatType(2, 5, 10, 15);
    case DType::BF16: return floatType(2, 8, 7, 127);
    case DType::F32: return copy(H5T_IEEE_F32LE);
    case DType::F64: return copy(H5T_IEEE_F64LE);
    case DType::I8: return copy(H5T_STD_I8LE);
    case DType::I16: return copy(H5T_STD_I16LE);
    case DType::I32: return copy(H5T_STD_I32LE);
    case DType::I64: return copy(H5T_STD_I64LE);
    case DType::U8: return copy(H5T_STD_U8LE);
    case DType::U16: return copy(H5T_STD_U16LE);
    case DType::U32: return copy(H5T_STD_U32LE);
    case DType::U64: return copy(H5T_STD_U64LE);
    case DType::Bool: return boolType();
    default: return Status::unsupported("{} tensors cannot be stored in HDF5", dtypeName(d));
  }
}

/// Our dtype for a dataset's file type.
Expected<DType> dtypeOf(hid_t t, const std::string& where) {
  H5T_class_t cls = H5Tget_class(t);
  size_t size = H5Tget_size(t);
  if (cls == H5T_FLOAT) {
    if (size == 4) return DType::F32;
    if (size == 8) return DType::F64;
    if (size == 2) {
      size_t spos, epos, esize, mpos, msize;
      H5Tget_fields(t, &spos, &epos, &esize, &mpos, &msize);
      if (esize == 5 && msize == 10) return DType::F16;
      if (esize == 8 && msize == 7) return DType::BF16;
    }
    return Status::unsupported("{}: a {}-byte float type that is not IEEE float16/32/64 or bfloat16", where, size);
  }
  if (cls == H5T_INTEGER) {
    bool isSigned = H5Tget_sign(t) == H5T_SGN_2;
    switch (size) {
      case 1: return isSigned ? DType::I8 : DType::U8;
      case 2: return isSigned ? DType::I16 : DType::U16;
      case 4: return isSigned ? DType::I32 : DType::U32;
      case 8: return isSigned ? DType::I64 : DType::U64;
      default: break;
    }
    return Status::unsupported("{}: {}-byte integers are not supported", where, size);
  }
  if (cls == H5T_ENUM && size == 1 && H5Tget_nmembers(t) == 2) return DType::Bool;
  if (cls == H5T_BITFIELD && size == 1) return DType::Bool;
  const char* name = cls == H5T_STRING ? "strings" : cls == H5T_COMPOUND ? "compound types" : cls == H5T_ENUM ? "enums" : "this type class";
  return Status::unsupported("{}: datasets of {} are not supported", where, name);
}

}  // namespace

Expected<NamedTensorList> readHdf5(const std::filesystem::path& path) {
  silenceHdf5();
  std::string file = path.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return Status::io("{}: no such file", file);
  if (H5Fis_hdf5(file.c_str()) <= 0) return Status::invalidArgument("{}: not an HDF5 file", file);
  Handle f(H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!f.valid()) return Status::io("{}: cannot open: {}", file, hdf5Error());

  std::vector<std::string> names;
  auto visit = [](hid_t loc, const char* name, const H5L_info_t* info, void* data) -> herr_t {
    if (info->type != H5L_TYPE_HARD) return 0;
    hid_t obj = H5Oopen(loc, name, H5P_DEFAULT);
    if (obj < 0) return 0;
    if (H5Iget_type(obj) == H5I_DATASET) static_cast<std::vector<std::string>*>(data)->push_back(name);
    H5Oclose(obj);
    return 0;
  };
  if (H5Lvisit(f.get(), H5_INDEX_NAME, H5_ITER_INC, visit, &names) < 0)
    return Status::invalidArgument("{}: cannot list datasets: {}", file, hdf5Error());

  NamedTensorList out;
  for (const std::string& name : names) {
    std::string where = file + ": dataset \"" + name + "\"";
    Handle ds(H5Dopen2(f.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!ds.valid()) return Status::invalidArgument("{}: cannot open: {}", where, hdf5Error());
    Handle ftype(H5Dget_type(ds.get()), H5Tclose);
    NPU_ASSIGN_OR_RETURN(DType dtype, dtypeOf(ftype.get(), where));
    Handle space(H5Dget_space(ds.get()), H5Sclose);
    int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0) return Status::invalidArgument("{}: cannot read its shape", where);
    std::vector<hsize_t> hd(static_cast<size_t>(rank));
    if (H5Sget_simple_extent_type(space.get()) == H5S_NULL)
      return Status::unsupported("{}: datasets without a dataspace are not supported", where);
    H5Sget_simple_extent_dims(space.get(), hd.data(), nullptr);
    std::vector<int64_t> dims(hd.begin(), hd.end());
    auto buf = std::make_shared<AlignedBuffer>(static_cast<size_t>(elementCount(dims)) * dtypeSize(dtype));
    if (buf->size() > 0) {
      // Bools are read as stored (h5py's enum or a bitfield): one byte of 0 or 1 each.
      Handle mtype = dtype == DType::Bool ? Handle(H5Tcopy(ftype.get()), H5Tclose) : Handle();
      if (dtype != DType::Bool) {
        NPU_ASSIGN_OR_RETURN(mtype, typeFor(dtype));
      }
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
    auto type = typeFor(t->dtype());
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
  NPU_ASSIGN_OR_RETURN(auto out, AtomicFile::create(path));
  NPU_TRY(out->write(image.data(), image.size()));
  return out->commit();
}

}  // namespace npuconv
