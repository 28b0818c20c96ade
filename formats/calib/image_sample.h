// image_sample.h - one image as a model input tensor: decoded, resized to the frozen input
// size, channel order, normalization and layout (see docs/calibration-data.md).
#pragma once

#include <filesystem>
#include <string>

#include "converter/exec/tensor.h"
#include "formats/calib/calib_data.h"

namespace npuconv {

/// How an image fills an input: [N,C,H,W] (NCHW) or [N,H,W,C] (NHWC), C 1 (grey) or 3, N 1
/// or dynamic (then 1); also [C,H,W] / [H,W,C] without a batch axis.
struct ImageInputLayout {
  bool nchw = true;
  int channels = 3, height = 0, width = 0;
  std::vector<int64_t> dims;  // the tensor's, batch 1
};

/// The layout of `in`, and a check of the options against it (mean/std counts, uint8
/// inputs without normalization); `what` names the data in errors.
Expected<ImageInputLayout> imageInputLayout(const ModelInputSpec& in, const CalibDataOptions& opt,
                                            const std::string& what);
/// Decodes `path` and fills a tensor for `in` laid out as `layout`.
Expected<Tensor> loadImageSample(const std::filesystem::path& path, const ModelInputSpec& in,
                                 const ImageInputLayout& layout, const CalibDataOptions& opt);

}  // namespace npuconv
