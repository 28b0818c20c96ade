// png_decode.cc - PNG decoding through libpng's transformations (see image.h for the rules).
#include <png.h>

#include <csetjmp>
#include <cstring>

#include "formats/image/image.h"

namespace npuconv {

namespace {

struct PngReadState {
  std::string_view bytes;
  size_t pos = 0;
  std::string error;
  std::jmp_buf jump;
};

void pngError(png_structp png, png_const_charp msg) {
  auto* s = static_cast<PngReadState*>(png_get_error_ptr(png));
  s->error = msg;
  std::longjmp(s->jump, 1);
}
void pngWarning(png_structp, png_const_charp) {}

void pngRead(png_structp png, png_bytep out, size_t n) {
  auto* s = static_cast<PngReadState*>(png_get_io_ptr(png));
  if (n > s->bytes.size() - s->pos) png_error(png, "the file is truncated");
  std::memcpy(out, s->bytes.data() + s->pos, n);
  s->pos += n;
}

}  // namespace

Expected<Image> decodePng(std::string_view bytes, const std::string& name) {
  PngReadState state;
  state.bytes = bytes;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, pngError, pngWarning);
  if (!png) return Status::internal("{}: cannot start libpng", name);
  png_infop info = png_create_info_struct(png);
  // Everything libpng allocates is released here, on success and on longjmp alike; the
  // Image is declared before setjmp and only resized after it, so the jump leaks nothing.
  Image img;
  std::vector<png_bytep> rows;
  if (!info || setjmp(state.jump)) {
    png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
    return Status::invalidArgument("{}: unreadable PNG: {}", name, state.error.empty() ? "libpng error" : state.error);
  }
  png_set_read_fn(png, &state, pngRead);
  png_read_info(png, info);
  int colorType = png_get_color_type(png, info);
  if (colorType == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (colorType == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) png_set_expand_gray_1_2_4_to_8(png);
  png_set_scale_16(png);
  png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  img.width = static_cast<int>(png_get_image_width(png, info));
  img.height = static_cast<int>(png_get_image_height(png, info));
  img.channels = png_get_channels(png, info);
  if (img.channels != 1 && img.channels != 3) png_error(png, "unexpected channel count after conversion");
  size_t rowBytes = png_get_rowbytes(png, info);
  if (rowBytes != static_cast<size_t>(img.width) * static_cast<size_t>(img.channels)) png_error(png, "unexpected row size");
  img.pixels.resize(rowBytes * static_cast<size_t>(img.height));
  rows.resize(static_cast<size_t>(img.height));
  for (size_t y = 0; y < rows.size(); ++y) rows[y] = img.pixels.data() + y * rowBytes;
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return img;
}

}  // namespace npuconv
