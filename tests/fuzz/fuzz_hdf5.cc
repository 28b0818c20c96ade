// fuzz_hdf5.cc - the HDF5 reader (formats/hdf5): the dataset walk, each dataset's type and
// dataspace, then rows read one at a time and the whole file through readHdf5, for
// datasets up to 4 MiB (a chunked dataset with no chunks written is a legitimate small file
// holding a large tensor of fill values).
#include <cstdint>
#include <vector>

#include "converter/ir/tensor.h"
#include "formats/hdf5/hdf5.h"
#include "formats/hdf5/hdf5_reader.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace npuconv;
  using namespace npuconv::fuzz;
  constexpr int64_t kMaxBytes = 4 << 20;
  MemFile file(data, size, "fuzz.h5");
  auto r = Hdf5Reader::open(file.path());
  if (!r) {
    checkError(r.status());
    return 0;
  }
  bool allSmall = true;
  for (const std::string& name : (*r)->datasetNames()) {
    if (!(*r)->has(name)) fail("Hdf5Reader::has misses a dataset it lists");
    auto info = (*r)->info(name);
    if (!info) {
      checkError(info.status());
      allSmall = false;
      continue;
    }
    auto bytes = checkedByteSize(info->dims, info->dtype);
    if (!bytes || *bytes > kMaxBytes) {
      allSmall = false;
      continue;
    }
    int64_t rows = info->dims.empty() ? 1 : info->dims[0];
    int64_t rowBytes = rows == 0 ? 0 : *bytes / rows;
    std::vector<char> buf(static_cast<size_t>(std::max<int64_t>(rowBytes, 1)));
    // The first rows one at a time, then the last (a long dataset would take too long row by row).
    for (int64_t i = 0; i < rows; i = i + 1 < 16 || i + 1 == rows ? i + 1 : rows - 1) {
      Status s = (*r)->readRows(name, i, 1, buf.data());
      checkError(s);
      if (!s) break;
    }
  }
  if (allSmall) {
    auto all = readHdf5(file.path());
    checkError(all.status());
  }
  return 0;
}
