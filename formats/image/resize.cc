// resize.cc - bilinear resize with cv2.resize INTER_LINEAR's sampling grid (see image.h).
#include <algorithm>
#include <cmath>

#include "formats/image/image.h"

namespace npuconv {

namespace {

/// For each output coordinate: the left/top source pixel and the weight of the next one.
struct Tap {
  int i0, i1;
  double w;
};

std::vector<Tap> taps(int src, int dst) {
  // OpenCV's scale: the inverse of dst/src, both in double.
  double scale = 1.0 / (static_cast<double>(dst) / src);
  std::vector<Tap> out(static_cast<size_t>(dst));
  for (int d = 0; d < dst; ++d) {
    double f = (d + 0.5) * scale - 0.5;
    int i = static_cast<int>(std::floor(f));
    f -= i;
    if (i < 0) i = 0, f = 0;
    if (i >= src - 1) i = src - 1, f = 0;
    out[static_cast<size_t>(d)] = Tap{i, std::min(i + 1, src - 1), f};
  }
  return out;
}

}  // namespace

std::vector<float> resizeBilinear(const Image& src, int dstH, int dstW) {
  const int c = src.channels;
  std::vector<Tap> xs = taps(src.width, dstW), ys = taps(src.height, dstH);
  std::vector<float> out(static_cast<size_t>(dstH) * static_cast<size_t>(dstW) * static_cast<size_t>(c));
  auto px = [&](int y, int x, int k) {
    return static_cast<double>(src.pixels[(static_cast<size_t>(y) * static_cast<size_t>(src.width) + static_cast<size_t>(x)) * static_cast<size_t>(c) + static_cast<size_t>(k)]);
  };
  size_t o = 0;
  for (const Tap& ty : ys)
    for (const Tap& tx : xs)
      for (int k = 0; k < c; ++k) {
        double top = px(ty.i0, tx.i0, k) * (1 - tx.w) + px(ty.i0, tx.i1, k) * tx.w;
        double bottom = px(ty.i1, tx.i0, k) * (1 - tx.w) + px(ty.i1, tx.i1, k) * tx.w;
        out[o++] = static_cast<float>(top * (1 - ty.w) + bottom * ty.w);
      }
  return out;
}

}  // namespace npuconv
