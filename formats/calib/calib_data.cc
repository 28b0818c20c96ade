// calib_data.cc - openCalibData: picks the source for the paths given (by extension, or a
// folder of images) and hands over to it; text goes to formats/text.
#include "formats/calib/calib_data.h"

#include <algorithm>
#include <cctype>

#include "formats/calib/calib_sources.h"
#include "formats/image/image.h"
#include "formats/text/text_samples.h"

namespace npuconv {

namespace {

std::string lowerExtension(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

}  // namespace

Expected<std::unique_ptr<SampleStream>> openCalibData(const CalibDataOptions& opt,
                                                      const std::vector<ModelInputSpec>& inputs) {
  if (inputs.empty()) return Status::invalidArgument("calibration data: the model has no inputs to feed");
  if (!opt.textFile.empty()) {
    if (!opt.paths.empty())
      return Status::invalidArgument("{}: give --calib or --calib-text, not both", opt.textFile.string());
    return openTextSamples(opt, inputs);
  }
  if (opt.paths.empty()) return Status::invalidArgument("calibration data: no --calib path given");
  for (const auto& p : opt.paths) {
    std::error_code ec;
    if (!std::filesystem::exists(p, ec)) return Status::io("{}: no such file or folder", p.string());
  }
  if (opt.paths.size() > 1) {
    for (const auto& p : opt.paths) {
      std::error_code ec;
      if (!isImagePath(p) && !std::filesystem::is_directory(p, ec))
        return Status::invalidArgument("{}: several --calib paths must all be images or image folders (a .npy, .npz, "
                                       "HDF5 file or dataset list comes alone)",
                                       p.string());
    }
    return openImageSamples(opt.paths, opt, inputs);
  }
  const auto& p = opt.paths[0];
  std::error_code ec;
  if (std::filesystem::is_directory(p, ec)) return openImageSamples(opt.paths, opt, inputs);
  std::string ext = lowerExtension(p);
  if (ext == ".npy") return openNpySamples(p, opt, inputs);
  if (ext == ".npz") return openNpzSamples(p, opt, inputs);
  if (ext == ".h5" || ext == ".hdf5") return openHdf5Samples(p, opt, inputs);
  if (ext == ".txt") return openListSamples(p, opt, inputs);
  if (isImagePath(p)) return openImageSamples(opt.paths, opt, inputs);
  return Status::invalidArgument("{}: unknown calibration data extension \"{}\" (.npy, .npz, .h5/.hdf5, a .txt dataset "
                                 "list, .png/.jpg/.jpeg images or a folder of them)",
                                 p.string(), p.extension().string());
}

}  // namespace npuconv
