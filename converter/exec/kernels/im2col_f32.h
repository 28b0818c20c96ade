// im2col_f32.h - the im2col matrix of a float32 convolution as the GEMM's B operand, packed
// straight from the input (the matrix is never stored).
// Internal to converter/exec/kernels; not a public API.
#pragma once

#include <cstdint>

#include "converter/exec/kernels/gemm_f32.h"
#include "converter/exec/kernels/nn_common.h"

namespace npuconv {
class ThreadPool;
namespace nn {

/// Rows (c, kd, kh, kw) x columns (output positions) of one (image, group). When the Conv pads,
/// the constructor first copies the input into a zero-padded image (on the pool; the copy is
/// reused until the next Im2colF32 on this thread). A panel of NR output positions then has fixed
/// offsets into the (padded) image, and row (c, kd, kh, kw) of the panel reads them plus the
/// tap's offset, with no bounds checks: as one or two contiguous (or stride-2) copies when the
/// panel covers at most two output lines, else as gathers (any stride and dilation).
/// With images > 1 the columns are (image, output position): `images` images of `channels`
/// channels each, stored one after the other at x (a batch with one group), so one GEMM covers a
/// batch of small images instead of one tiny GEMM per image.
class Im2colF32 {
 public:
  Im2colF32(ThreadPool& pool, const float* x, int64_t channels, const Geo3& g, int64_t images = 1);
  /// Whether the images are small enough for 32-bit gather offsets.
  static bool fits(int64_t channels, const Geo3& g, int64_t images = 1);
  gemm::BPacker packer() const { return {&Im2colF32::pack, this}; }

 private:
  static void pack(const void* self, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int NR, float* dst);
  const float* img_;     // the (padded) image
  const float* end_;     // one past its last value
  int64_t dims_[3];      // its spatial dims
  int64_t imageStride_;  // floats from one (padded) image to the next
  const Geo3* g_;
};

}  // namespace nn
}  // namespace npuconv
