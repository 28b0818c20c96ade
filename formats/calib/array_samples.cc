#include "formats/calib/array_samples.h"

namespace npuconv {

namespace {

struct BoundArray {
  ArrayInput a;
  SampleSplit split;
  size_t rowBytes = 0;
  std::vector<std::byte> scratch;  // one sample in the array's dtype, when it is converted
};

class ArraySampleStream final : public SampleStream {
 public:
  ArraySampleStream(std::string file, std::vector<BoundArray> arrays, int64_t total, SampleRange range)
      : file_(std::move(file)), arrays_(std::move(arrays)), total_(total), range_(range) {}

  Expected<std::optional<NamedTensors>> next() override {
    if (pos_ >= range_.count) return std::optional<NamedTensors>();
    int64_t k = range_.first + pos_;
    NamedTensors sample;
    for (BoundArray& b : arrays_) {
      Tensor t(b.a.input.dtype, b.split.sampleDims);
      int64_t first = k * b.split.rowsPerSample;
      if (b.a.dtype == b.a.input.dtype) {
        NPU_TRY(b.a.reader->readRows(first, b.split.rowsPerSample, b.rowBytes, t.mutableRaw()));
      } else {
        b.scratch.resize(static_cast<size_t>(t.numElements()) * dtypeSize(b.a.dtype));
        NPU_TRY(b.a.reader->readRows(first, b.split.rowsPerSample, b.rowBytes, b.scratch.data()));
        NPU_TRY(convertElements(b.a.dtype, b.scratch.data(), b.a.input.dtype, t.mutableRaw(), t.numElements(),
                                fmt::format("{}: input \"{}\": sample {}", b.a.where, b.a.input.name, k)));
      }
      sample.emplace(b.a.input.name, std::move(t));
    }
    ++pos_;
    return std::optional<NamedTensors>(std::move(sample));
  }
  size_t size() const override { return static_cast<size_t>(range_.count); }
  Status rewind() override {
    pos_ = 0;
    return Status::ok();
  }
  std::string describe() const override {
    std::string s = fmt::format("{} ({} input{}, {} samples", file_, arrays_.size(), arrays_.size() == 1 ? "" : "s",
                                range_.count);
    if (range_.count != total_) s += fmt::format(" of {}", total_);
    return s + ")";
  }

 private:
  std::string file_;
  std::vector<BoundArray> arrays_;
  int64_t total_;
  SampleRange range_;
  int64_t pos_ = 0;
};

}  // namespace

Expected<std::unique_ptr<SampleStream>> openArraySamples(std::string file, std::vector<ArrayInput> arrays,
                                                         const CalibDataOptions& opt) {
  std::vector<BoundArray> bound;
  int64_t total = -1;
  std::string firstName;
  for (ArrayInput& a : arrays) {
    BoundArray b;
    NPU_ASSIGN_OR_RETURN(b.split, splitSamples(a.dims, a.dtype, a.input, a.where));
    int64_t rows = a.dims.empty() ? 1 : a.dims[0];
    b.rowBytes = rows == 0 ? 0 : static_cast<size_t>(elementCount(a.dims) / rows) * dtypeSize(a.dtype);
    if (total >= 0 && b.split.count != total)
      return Status::invalidArgument("{}: the inputs disagree on the sample count: \"{}\" has {}, \"{}\" has {}", file,
                                     firstName, total, a.input.name, b.split.count);
    if (total < 0) total = b.split.count, firstName = a.input.name;
    b.a = std::move(a);
    bound.push_back(std::move(b));
  }
  NPU_ASSIGN_OR_RETURN(SampleRange range, selectSamples(total, opt, file));
  return std::unique_ptr<SampleStream>(new ArraySampleStream(std::move(file), std::move(bound), total, range));
}

}  // namespace npuconv
