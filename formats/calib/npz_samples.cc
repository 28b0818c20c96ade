// npz_samples.cc - calibration samples from an .npz archive: one array per input name, read
// a sample at a time (deflated members are inflated as they are read).
#include "formats/calib/array_samples.h"
#include "formats/calib/calib_sources.h"
#include "formats/npz/npz.h"

namespace npuconv {

namespace {

class NpzRows final : public ArrayReader {
 public:
  explicit NpzRows(std::unique_ptr<NpzArrayReader> r) : r_(std::move(r)) {}
  Status readRows(int64_t first, int64_t count, size_t rowBytes, void* out) override {
    return r_->read(static_cast<uint64_t>(first) * rowBytes, static_cast<size_t>(count) * rowBytes, out);
  }

 private:
  std::unique_ptr<NpzArrayReader> r_;
};

}  // namespace

Expected<std::unique_ptr<SampleStream>> openNpzSamples(const std::filesystem::path& path, const CalibDataOptions& opt,
                                                       const std::vector<ModelInputSpec>& inputs) {
  std::string file = path.string();
  NPU_ASSIGN_OR_RETURN(std::shared_ptr<NpzArchive> npz, NpzArchive::open(path));
  std::vector<ArrayInput> arrays;
  for (const ModelInputSpec& in : inputs) {
    const NpzArray* a = npz->find(in.name);
    if (!a) {
      std::string have;
      for (const NpzArray& x : npz->arrays()) have += (have.empty() ? "\"" : ", \"") + x.name + "\"";
      return Status::invalidArgument("{}: input \"{}\": no array \"{}\" in the archive (it has {})", file, in.name, in.name,
                                     have.empty() ? "none" : have);
    }
    ArrayInput ai;
    ai.input = in;
    ai.dtype = a->header.dtype;
    ai.dims = a->header.dims;
    ai.reader = std::make_unique<NpzRows>(npz->openArray(*a));
    ai.where = file + ": " + a->member.name;
    arrays.push_back(std::move(ai));
  }
  return openArraySamples(file, std::move(arrays), opt);
}

}  // namespace npuconv
