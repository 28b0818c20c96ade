// calib_methods.h - the range each calibration method derives from one tensor's histogram
// (docs/calibration.md gives the formulas), and the histogram queries the health checks share.
#pragma once

#include <vector>

#include "quant/calibration.h"

namespace npuconv::calib {

/// [min, max].
TensorRange minMaxRange(const TensorStats& s);
/// Per sign: hi is the p-th percentile of the values >= 0, lo minus the p-th percentile of the
/// magnitudes of the values <= 0 (linear within a bucket); a sign with no values keeps min/max.
TensorRange percentileRange(const TensorStats& s, double p);
/// TensorRT's entropy calibration: the threshold T minimizing KL(P || Q) over a 2048-bin
/// histogram of the nonzero |x| on [0, absmax]; [max(min, -T), min(max, T)]. A histogram with
/// fewer occupied bins than quantization levels (128 two-sided, 256 one-sided) gets mseRange.
TensorRange entropyRange(const TensorStats& s);
/// The threshold minimizing the expected 8-bit quantization plus clipping error.
TensorRange mseRange(const TensorStats& s);
TensorRange rangeFor(const TensorStats& s, const CalibrateOptions& opt);

/// Finite values outside [lo, hi] (widened to include 0), with values in a bucket the bound
/// cuts assumed uniform within it.
double valuesOutside(const TensorStats& s, TensorRange r);

/// The 2048-bin linear histogram of the nonzero |x| over [0, absmax] (entropy calibration).
std::vector<double> linearAbsHistogram(const TensorStats& s, int bins);

}  // namespace npuconv::calib
