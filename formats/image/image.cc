// image.cc - format dispatch and channel conversion for decoded images.
#include "formats/image/image.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "formats/support/mapped_file.h"

namespace npuconv {

bool isImagePath(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

Expected<Image> decodeImage(std::string_view bytes, int channels, const std::string& name) {
  Image img;
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), "\x89PNG\r\n\x1a\n", 8) == 0) {
    NPU_ASSIGN_OR_RETURN(img, decodePng(bytes, name));
  } else if (bytes.size() >= 3 && std::memcmp(bytes.data(), "\xff\xd8\xff", 3) == 0) {
    NPU_ASSIGN_OR_RETURN(img, decodeJpeg(bytes, name));
  } else {
    return Status::invalidArgument("{}: not a PNG or JPEG image", name);
  }
  if (img.channels == channels) return img;
  Image out;
  out.width = img.width;
  out.height = img.height;
  out.channels = channels;
  size_t n = static_cast<size_t>(img.width) * static_cast<size_t>(img.height);
  out.pixels.resize(n * static_cast<size_t>(channels));
  if (channels == 3) {  // grey -> RGB
    for (size_t i = 0; i < n; ++i) out.pixels[3 * i] = out.pixels[3 * i + 1] = out.pixels[3 * i + 2] = img.pixels[i];
  } else {  // RGB -> grey, ITU-R 601-2 luma in PIL's fixed point
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* p = &img.pixels[3 * i];
      out.pixels[i] = static_cast<uint8_t>((19595u * p[0] + 38470u * p[1] + 7471u * p[2] + 0x8000u) >> 16);
    }
  }
  return out;
}

Expected<Image> readImage(const std::filesystem::path& path, int channels) {
  NPU_ASSIGN_OR_RETURN(std::string bytes, readFile(path));
  return decodeImage(bytes, channels, path.string());
}

}  // namespace npuconv
