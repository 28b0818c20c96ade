#include "formats/calib/image_sample.h"

#include <cmath>

#include "formats/calib/sample_binding.h"
#include "formats/image/image.h"
#include "formats/support/mapped_file.h"

namespace npuconv {

Expected<ImageInputLayout> imageInputLayout(const ModelInputSpec& in, const CalibDataOptions& opt,
                                            const std::string& what) {
  const auto& d = in.dims;
  auto bad = [&](std::string_view why) {
    return Status::invalidArgument("{}: input \"{}\" is {}: images fill [N,3,H,W], [N,H,W,3] (or 1 channel, grey): {}", what,
                                   in.name, describeArray(in.dtype, d), why);
  };
  if (d.size() != 3 && d.size() != 4) return bad("not rank 3 or 4");
  size_t b = d.size() == 4 ? 1 : 0;  // first non-batch axis
  if (b == 1 && d[0] != 1 && d[0] != -1) return bad("the batch must be 1");
  auto isChannels = [](int64_t v) { return v == 1 || v == 3; };
  ImageInputLayout l;
  // ONNX models are NCHW unless the last axis is the only one that can hold the channels.
  if (isChannels(d[b])) {
    l.nchw = true;
  } else if (isChannels(d[b + 2])) {
    l.nchw = false;
  } else {
    return bad("no axis of 1 or 3 channels next to H and W");
  }
  int64_t c = l.nchw ? d[b] : d[b + 2], h = l.nchw ? d[b + 1] : d[b], w = l.nchw ? d[b + 2] : d[b + 1];
  if (h < 0 || w < 0)
    return Status::invalidArgument("{}: input \"{}\" is {}: images are resized to the input's height and width, which are "
                                   "dynamic; freeze them with --input-shape {}=...",
                                   what, in.name, describeArray(in.dtype, d), in.name);
  l.channels = static_cast<int>(c);
  l.height = static_cast<int>(h);
  l.width = static_cast<int>(w);
  l.dims = d;
  if (b == 1) l.dims[0] = 1;
  if (in.dtype != DType::F32 && in.dtype != DType::U8)
    return Status::invalidArgument("{}: input \"{}\" is {}: images fill float32 or uint8 inputs", what, in.name,
                                   dtypeName(in.dtype));
  for (const auto* v : {&opt.mean, &opt.std}) {
    if (!v->empty() && v->size() != 1 && v->size() != static_cast<size_t>(c))
      return Status::invalidArgument("{}: input \"{}\": {} {} values for {} channels (give 1 or {})", what, in.name,
                                     v->size(), v == &opt.mean ? "--mean" : "--std", c, c);
  }
  for (float s : opt.std)
    if (!(s != 0.0f) || !std::isfinite(s)) return Status::invalidArgument("{}: --std {} is not a usable divisor", what, s);
  bool normalizes = false;
  for (float m : opt.mean) normalizes |= m != 0.0f;
  for (float s : opt.std) normalizes |= s != 1.0f;
  if (in.dtype == DType::U8 && normalizes)
    return Status::invalidArgument("{}: input \"{}\" is uint8: it takes the raw 0..255 pixels, so --mean and --std "
                                   "cannot apply (the model normalizes itself)",
                                   what, in.name);
  return l;
}

Expected<Tensor> loadImageSample(const std::filesystem::path& path, const ModelInputSpec& in,
                                 const ImageInputLayout& l, const CalibDataOptions& opt) {
  NPU_ASSIGN_OR_RETURN(std::string bytes, readFile(path));
  NPU_ASSIGN_OR_RETURN(Image img, decodeImage(bytes, l.channels, fmt::format("{}: input \"{}\"", path.string(), in.name)));
  if (img.width <= 0 || img.height <= 0) return Status::invalidArgument("{}: input \"{}\": empty image", path.string(), in.name);
  std::vector<float> px = resizeBilinear(img, l.height, l.width);
  const int c = l.channels;
  const size_t plane = static_cast<size_t>(l.height) * static_cast<size_t>(l.width);
  auto at = [&](size_t pixel, int ch) {
    int src = opt.bgr && c == 3 ? 2 - ch : ch;  // the model's channel ch reads the image's
    return px[pixel * static_cast<size_t>(c) + static_cast<size_t>(src)];
  };
  auto index = [&](size_t pixel, int ch) {
    return l.nchw ? static_cast<size_t>(ch) * plane + pixel : pixel * static_cast<size_t>(c) + static_cast<size_t>(ch);
  };
  Tensor t(in.dtype, l.dims);
  if (in.dtype == DType::U8) {
    uint8_t* out = t.mutableData<uint8_t>();
    for (size_t p = 0; p < plane; ++p)
      for (int ch = 0; ch < c; ++ch) out[index(p, ch)] = static_cast<uint8_t>(std::floor(at(p, ch) + 0.5f));
    return t;
  }
  float* out = t.mutableData<float>();
  for (int ch = 0; ch < c; ++ch) {
    double mean = opt.mean.empty() ? 0.0 : opt.mean[opt.mean.size() == 1 ? 0 : static_cast<size_t>(ch)];
    double sd = opt.std.empty() ? 1.0 : opt.std[opt.std.size() == 1 ? 0 : static_cast<size_t>(ch)];
    for (size_t p = 0; p < plane; ++p) out[index(p, ch)] = static_cast<float>((at(p, ch) - mean) / sd);
  }
  return t;
}

}  // namespace npuconv
