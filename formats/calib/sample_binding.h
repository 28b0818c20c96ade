// sample_binding.h - the rules every tensor source of calibration data shares: how an array
// splits into samples for a model input (the stacking rules), which dtypes are converted, and
// which samples --calib-samples and the skip count select.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "converter/exec/tensor.h"
#include "formats/calib/calib_data.h"

namespace npuconv {

/// Where the samples of one input lie in an array: sample k is rows [k * rowsPerSample,
/// (k + 1) * rowsPerSample) along axis 0 (a rank-0 array has one row).
struct SampleSplit {
  int64_t count = 0;
  int64_t rowsPerSample = 1;
  std::vector<int64_t> sampleDims;
};

/// The stacking rules, for an array of `arrayDims` feeding input `in` (model rank r):
///  - rank r + 1 with dims[1:] matching the input: a stack of samples on axis 0;
///  - rank r, the model wants batch 1, the array has batch > 1 and the rest matches: a stack
///    of batch-1 samples along the batch axis;
///  - rank r matching the input: one sample.
/// A dynamic model dim (-1) matches any size. `file` names the data in errors.
Expected<SampleSplit> splitSamples(const std::vector<int64_t>& arrayDims, DType arrayDtype, const ModelInputSpec& in,
                                   const std::string& file);

/// Whether data of `from` may feed an input of `to`: the same dtype, float64 -> float32, or
/// int32 <-> int64; anything else is an error naming the file and input.
Status checkConvertible(DType from, const ModelInputSpec& in, const std::string& file);
/// Converts `count` elements (see checkConvertible); float64 values outside float32's range
/// and int64 values outside int32's are errors.
Status convertElements(DType from, const void* src, DType to, void* dst, int64_t count, const std::string& where);

/// The samples to yield out of `total`: [first, first + count) after opt.skipSamples, at most
/// opt.maxSamples; no sample left is an error naming `what`.
struct SampleRange {
  int64_t first = 0, count = 0;
};
Expected<SampleRange> selectSamples(int64_t total, const CalibDataOptions& opt, const std::string& what);

/// "[1,3,?,?]" (dynamic dims as '?').
std::string describeDims(const std::vector<int64_t>& dims);
/// "f32[1,3,224,224]".
std::string describeArray(DType dtype, const std::vector<int64_t>& dims);

}  // namespace npuconv
