// calib_follows_shape.h - several shapes in one blob (`convert --input-shape NAME=A,B`): whether
// the calibration data can give its samples again at a later variant's input shape, so that
// variant is calibrated at its own shape instead of taking the first variant's ranges.
//
// Text is tokenized at the input's frozen sequence length and images are decoded and resized to
// the input's frozen height and width (formats/calib): the same samples exist at every shape.
// Tensors (.npy, .npz, HDF5, .npy entries of a dataset list) have the one shape they were saved
// with.
#pragma once

#include "converter/support/status.h"
#include "formats/calib/calib_data.h"

namespace npuconv {

/// True for --calib-text, image folders, image paths and dataset lists naming only images;
/// false for any tensor file. Errors: a dataset list that cannot be read.
Expected<bool> calibDataFollowsShape(const CalibDataOptions& d);

}  // namespace npuconv
