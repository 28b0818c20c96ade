// hdf5_types.h - the HDF5 C API pieces the reader and the writers share: handles that close
// themselves, error text, and the mapping between our dtypes and HDF5 types.
#pragma once

#include <hdf5.h>

#include <string>
#include <vector>

#include "converter/ir/dtype.h"
#include "converter/support/status.h"

namespace npuconv {

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
void silenceHdf5();
/// The innermost message of HDF5's error stack, for our error text (clears the stack).
std::string hdf5Error();
/// The HDF5 type for a dtype, for both the file and memory (x86 is little-endian).
Expected<Handle> hdf5TypeFor(DType d);
/// Our dtype for a dataset's file type; `where` names the dataset in errors.
Expected<DType> dtypeOfHdf5Type(hid_t t, const std::string& where);
/// The memory type to read a dataset of `dtype` stored as `fileType` into our layout.
Expected<Handle> hdf5MemoryType(DType dtype, hid_t fileType);
/// Every dataset in the file `f`, by full name without the leading '/' ("a/b/c"), sorted.
Expected<std::vector<std::string>> hdf5DatasetNames(hid_t f, const std::string& fileName);
/// The dims of dataset `ds` (empty for a scalar) holding `dtype` elements, checked so that their
/// byte size fits int64; `where` names it in errors.
Expected<std::vector<int64_t>> hdf5DatasetDims(hid_t ds, DType dtype, const std::string& where);

}  // namespace npuconv
