// image.h - PNG (libpng) and JPEG (libjpeg-turbo) decoding to 8-bit RGB or grey, and the
// bilinear resize calibration images go through.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "converter/support/status.h"

namespace npuconv {

/// 8-bit pixels, rows top to bottom, channels interleaved (RGB or grey).
struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;
};

/// Whether the file name ends in .png, .jpg or .jpeg (any case).
bool isImagePath(const std::filesystem::path& path);

/// Decodes a PNG or JPEG file (told apart by their magic bytes) to `channels` 1 (grey) or 3
/// (RGB), the conversions PIL's Image.convert makes: grey replicated to RGB, RGB to grey as
/// L = (19595 R + 38470 G + 7471 B + 32768) >> 16, alpha dropped (not composited), palettes
/// expanded, 16-bit samples scaled to 8 bits with rounding (v * 255 / 65535), 1/2/4-bit grey
/// expanded to 0..255. CMYK JPEGs are refused.
Expected<Image> readImage(const std::filesystem::path& path, int channels);
/// The same on the bytes of a file; `name` is used in errors.
Expected<Image> decodeImage(std::string_view bytes, int channels, const std::string& name);

// The decoders, each on a file's bytes, giving grey or RGB as the file holds it.
Expected<Image> decodePng(std::string_view bytes, const std::string& name);
Expected<Image> decodeJpeg(std::string_view bytes, const std::string& name);

/// Resizes to dstH x dstW with OpenCV's cv2.resize INTER_LINEAR geometry: half-pixel centres,
/// src = (dst + 0.5) * (srcSize / dstSize) - 0.5, a coordinate below 0 clamped to pixel 0 and
/// one at or past the last pixel clamped to it; no antialiasing when shrinking (as OpenCV).
/// The arithmetic is double precision on the 8-bit values, not OpenCV's 11-bit fixed point
/// (which rounds its uint8 result), so results are the exact interpolants in 0..255, within
/// half a grey level of cv2's uint8 output. Output: float, HWC interleaved.
std::vector<float> resizeBilinear(const Image& src, int dstH, int dstW);

}  // namespace npuconv
