// hdf5_types.cc - see hdf5_types.h.
#include "formats/hdf5/hdf5_types.h"

#include <climits>

#include "converter/ir/tensor.h"
#include "converter/ir/type.h"

namespace npuconv {

void silenceHdf5() {
  static const bool once = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)once;
}

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

namespace {

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

}  // namespace

Expected<Handle> hdf5TypeFor(DType d) {
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

Expected<DType> dtypeOfHdf5Type(hid_t t, const std::string& where) {
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

Expected<Handle> hdf5MemoryType(DType dtype, hid_t fileType) {
  // Bools are read as stored (h5py's enum or a bitfield): one byte of 0 or 1 each.
  if (dtype == DType::Bool) return Handle(H5Tcopy(fileType), H5Tclose);
  return hdf5TypeFor(dtype);
}

Expected<std::vector<std::string>> hdf5DatasetNames(hid_t f, const std::string& fileName) {
  std::vector<std::string> names;
  auto visit = [](hid_t loc, const char* name, const H5L_info_t* info, void* data) -> herr_t {
    if (info->type != H5L_TYPE_HARD) return 0;
    hid_t obj = H5Oopen(loc, name, H5P_DEFAULT);
    if (obj < 0) return 0;
    if (H5Iget_type(obj) == H5I_DATASET) static_cast<std::vector<std::string>*>(data)->push_back(name);
    H5Oclose(obj);
    return 0;
  };
  if (H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, visit, &names) < 0)
    return Status::invalidArgument("{}: cannot list datasets: {}", fileName, hdf5Error());
  return names;
}

Expected<std::vector<int64_t>> hdf5DatasetDims(hid_t ds, DType dtype, const std::string& where) {
  Handle space(H5Dget_space(ds), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) return Status::invalidArgument("{}: cannot read its shape", where);
  if (H5Sget_simple_extent_type(space.get()) == H5S_NULL)
    return Status::unsupported("{}: datasets without a dataspace are not supported", where);
  std::vector<hsize_t> hd(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), hd.data(), nullptr);
  // hsize_t is unsigned 64-bit: a dim past 2^63 would turn negative, and a product past it wrap,
  // under-allocating the buffer H5Dread then fills.
  std::vector<int64_t> dims;
  for (hsize_t d : hd) {
    if (d > static_cast<hsize_t>(INT64_MAX))
      return Status::invalidArgument("{}: dim {} is larger than 2^63", where, static_cast<unsigned long long>(d));
    dims.push_back(static_cast<int64_t>(d));
  }
  if (!checkedByteSize(dims, dtype))
    return Status::invalidArgument("{}: {} {} has more than 2^63 bytes", where, dtypeName(dtype),
                                   shapeToString(shapeOf(dims)));
  return dims;
}

}  // namespace npuconv
