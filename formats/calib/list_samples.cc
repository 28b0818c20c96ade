// list_samples.cc - calibration samples named file by file: RKNN-style dataset lists (one
// sample per line, one .npy or image per input) and image folders or lists. Each sample is
// read when it is asked for; only the paths are held.
#include <optional>

#include "formats/calib/calib_sources.h"
#include "formats/calib/dataset_list.h"
#include "formats/calib/image_sample.h"
#include "formats/calib/sample_binding.h"
#include "formats/image/image.h"
#include "formats/npy/npy.h"

namespace npuconv {

namespace {

struct ListSample {
  std::string label;  // "dataset.txt:3" for errors; empty for images named directly
  std::vector<std::filesystem::path> paths;
};

class ListSampleStream final : public SampleStream {
 public:
  ListSampleStream(std::string what, std::vector<ModelInputSpec> inputs, std::vector<std::optional<ImageInputLayout>> layouts,
                   std::vector<ListSample> samples, SampleRange range, CalibDataOptions opt)
      : what_(std::move(what)), inputs_(std::move(inputs)), layouts_(std::move(layouts)), samples_(std::move(samples)),
        range_(range), opt_(std::move(opt)) {}

  Expected<std::optional<NamedTensors>> next() override {
    if (pos_ >= range_.count) return std::optional<NamedTensors>();
    const ListSample& s = samples_[static_cast<size_t>(range_.first + pos_)];
    NamedTensors sample;
    for (size_t i = 0; i < inputs_.size(); ++i) {
      const auto& path = s.paths[i];
      const ModelInputSpec& in = inputs_[i];
      if (isImagePath(path)) {
        auto t = loadImageSample(path, in, *layouts_[i], opt_);
        if (!t) return s.label.empty() ? std::move(t).status() : std::move(t).status().in(s.label);
        sample.emplace(in.name, std::move(*t));
        continue;
      }
      auto t = npyTensor(path, in);
      if (!t) return s.label.empty() ? std::move(t).status() : std::move(t).status().in(s.label);
      sample.emplace(in.name, std::move(*t));
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
    std::string s = fmt::format("{} ({} input{}, {} samples", what_, inputs_.size(), inputs_.size() == 1 ? "" : "s",
                                range_.count);
    if (range_.count != static_cast<int64_t>(samples_.size())) s += fmt::format(" of {}", samples_.size());
    return s + ")";
  }

 private:
  /// One sample from a .npy: the file must hold exactly one sample for the input.
  static Expected<Tensor> npyTensor(const std::filesystem::path& path, const ModelInputSpec& in) {
    std::string file = path.string();
    NPU_ASSIGN_OR_RETURN(TensorRef a, readNpy(path));
    NPU_ASSIGN_OR_RETURN(SampleSplit split, splitSamples(a->dims(), a->dtype(), in, file));
    if (split.count != 1)
      return Status::invalidArgument("{}: input \"{}\": {} holds {} samples; a dataset list names one sample per input "
                                     "and line",
                                     file, in.name, describeArray(a->dtype(), a->dims()), split.count);
    Tensor t(in.dtype, split.sampleDims);
    NPU_TRY(convertElements(a->dtype(), a->bytes(), in.dtype, t.mutableRaw(), t.numElements(),
                            fmt::format("{}: input \"{}\"", file, in.name)));
    return t;
  }

  std::string what_;
  std::vector<ModelInputSpec> inputs_;
  std::vector<std::optional<ImageInputLayout>> layouts_;
  std::vector<ListSample> samples_;
  SampleRange range_;
  CalibDataOptions opt_;
  int64_t pos_ = 0;
};

/// Checks every named file up front (exists, a known kind) and works out the image layout of
/// each input fed images, so bad data fails before calibration starts.
Expected<std::unique_ptr<SampleStream>> openChecked(std::string what, std::vector<ListSample> samples,
                                                    const CalibDataOptions& opt, const std::vector<ModelInputSpec>& inputs) {
  std::vector<std::optional<ImageInputLayout>> layouts(inputs.size());
  for (const ListSample& s : samples) {
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto& p = s.paths[i];
      std::error_code ec;
      std::string where = s.label.empty() ? p.string() : s.label;
      if (!std::filesystem::is_regular_file(p, ec)) {
        if (s.label.empty()) return Status::io("{}: input \"{}\": no such file", where, inputs[i].name);
        return Status::io("{}: input \"{}\": {}: no such file", where, inputs[i].name, p.string());
      }
      if (isImagePath(p)) {
        if (!layouts[i]) {
          NPU_ASSIGN_OR_RETURN(layouts[i], imageInputLayout(inputs[i], opt, where));
        }
      } else if (p.extension() != ".npy") {
        return Status::invalidArgument("{}: input \"{}\": {}: unknown extension \"{}\" (a list names .npy files or "
                                       ".png/.jpg/.jpeg images)",
                                       where, inputs[i].name, p.string(), p.extension().string());
      }
    }
  }
  NPU_ASSIGN_OR_RETURN(SampleRange range, selectSamples(static_cast<int64_t>(samples.size()), opt, what));
  return std::unique_ptr<SampleStream>(
      new ListSampleStream(std::move(what), inputs, std::move(layouts), std::move(samples), range, opt));
}

}  // namespace

Expected<std::unique_ptr<SampleStream>> openListSamples(const std::filesystem::path& path, const CalibDataOptions& opt,
                                                        const std::vector<ModelInputSpec>& inputs) {
  std::string file = path.string();
  NPU_ASSIGN_OR_RETURN(std::vector<DatasetListLine> lines, readDatasetList(path));
  std::vector<ListSample> samples;
  for (DatasetListLine& l : lines) {
    std::string label = fmt::format("{}:{}", file, l.line);
    if (l.paths.size() != inputs.size()) {
      std::string names;
      for (const auto& in : inputs) names += (names.empty() ? "" : " ") + in.name;
      return Status::invalidArgument("{}: {} path{} for {} model input{} (one per input, in order: {})", label,
                                     l.paths.size(), l.paths.size() == 1 ? "" : "s", inputs.size(),
                                     inputs.size() == 1 ? "" : "s", names);
    }
    samples.push_back(ListSample{std::move(label), std::move(l.paths)});
  }
  return openChecked(file, std::move(samples), opt, inputs);
}

Expected<std::unique_ptr<SampleStream>> openImageSamples(const std::vector<std::filesystem::path>& paths,
                                                         const CalibDataOptions& opt,
                                                         const std::vector<ModelInputSpec>& inputs) {
  std::string what = paths.size() == 1 ? paths[0].string() : fmt::format("{} images", paths.size());
  if (inputs.size() != 1)
    return Status::invalidArgument("{}: images feed a single-input model; this model has {} inputs (use a dataset list "
                                   "with one path per input)",
                                   what, inputs.size());
  std::vector<ListSample> samples;
  for (const auto& p : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      NPU_ASSIGN_OR_RETURN(auto files, imagesInFolder(p));
      if (files.empty())
        return Status::invalidArgument("{}: input \"{}\": no .png/.jpg/.jpeg images in the folder", p.string(),
                                       inputs[0].name);
      for (auto& f : files) samples.push_back(ListSample{"", {f}});
    } else {
      samples.push_back(ListSample{"", {p}});
    }
  }
  return openChecked(std::move(what), std::move(samples), opt, inputs);
}

}  // namespace npuconv
