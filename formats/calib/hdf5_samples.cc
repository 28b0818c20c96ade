// hdf5_samples.cc - calibration samples from an HDF5 file: one dataset per input name, read
// a sample at a time through hyperslab selections.
#include "formats/calib/array_samples.h"
#include "formats/calib/calib_sources.h"
#include "formats/hdf5/hdf5_reader.h"

namespace npuconv {

namespace {

class Hdf5Rows final : public ArrayReader {
 public:
  Hdf5Rows(std::shared_ptr<Hdf5Reader> file, std::string name) : file_(std::move(file)), name_(std::move(name)) {}
  Status readRows(int64_t first, int64_t count, size_t, void* out) override {
    return file_->readRows(name_, first, count, out);
  }

 private:
  std::shared_ptr<Hdf5Reader> file_;
  std::string name_;
};

}  // namespace

Expected<std::unique_ptr<SampleStream>> openHdf5Samples(const std::filesystem::path& path, const CalibDataOptions& opt,
                                                        const std::vector<ModelInputSpec>& inputs) {
  std::string file = path.string();
  NPU_ASSIGN_OR_RETURN(std::shared_ptr<Hdf5Reader> h5, Hdf5Reader::open(path));
  std::vector<ArrayInput> arrays;
  for (const ModelInputSpec& in : inputs) {
    // h5py writes names as given; a leading '/' in an input name would be the same dataset.
    std::string name = in.name;
    while (!name.empty() && name[0] == '/') name.erase(0, 1);
    if (!h5->has(name)) {
      std::string have;
      for (const std::string& x : h5->datasetNames()) have += (have.empty() ? "\"" : ", \"") + x + "\"";
      return Status::invalidArgument("{}: input \"{}\": no dataset \"{}\" in the file (it has {})", file, in.name, name,
                                     have.empty() ? "none" : have);
    }
    NPU_ASSIGN_OR_RETURN(Hdf5DatasetInfo info, h5->info(name));
    ArrayInput ai;
    ai.input = in;
    ai.dtype = info.dtype;
    ai.dims = info.dims;
    ai.reader = std::make_unique<Hdf5Rows>(h5, name);
    ai.where = file + ": dataset \"" + name + "\"";
    arrays.push_back(std::move(ai));
  }
  return openArraySamples(file, std::move(arrays), opt);
}

}  // namespace npuconv
