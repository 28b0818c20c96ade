// maxpool2x2_f32.h - float32 MaxPool with a 2x2 window, stride 2 and no padding (the pooling of
// a CNN's Conv+Relu+MaxPool blocks) over many planes at once, AVX-512: per output row one
// vector max of the two input rows and one even/odd lane compaction per 16 outputs. The general
// maxPoolPlaneF32 (nn_common.h) spends most of its time in per-row set-up on the small maps of
// a batched CNN (16, 8 columns). Internal to converter/exec/kernels; not a public API.
#pragma once

#include <cstdint>

#include "converter/exec/kernels/nn_common.h"

namespace npuconv::nn {

/// Whether maxPool2x2PlanesF32 handles this pooling geometry (2-D, kernel 2x2, stride 2, no
/// padding, no dilation, at least one output) with the active microkernel ISA (AVX-512 only).
bool maxPool2x2Applies(const Geo3& g);

/// y[p] = MaxPool(x[p]) for `planes` consecutive planes (x: g.in, y: g.out, floor mode). Bit for
/// bit what maxPoolPlaneF32 computes, NaN and signed zeros included (the same max_ps operand
/// order: the two rows first, from `lowest`, then the even column, then the odd one).
void maxPool2x2PlanesF32(const float* x, float* y, int64_t planes, const Geo3& g);

}  // namespace npuconv::nn
