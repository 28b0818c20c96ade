#include "formats/calib/sample_binding.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>


namespace npuconv {

namespace {

bool matches(const int64_t* a, const int64_t* m, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (m[i] >= 0 && a[i] != m[i]) return false;
  return true;
}

}  // namespace

std::string describeDims(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + (dims[i] < 0 ? std::string("?") : std::to_string(dims[i]));
  return s + "]";
}

std::string describeArray(DType dtype, const std::vector<int64_t>& dims) {
  return std::string(dtypeShortName(dtype)) + describeDims(dims);
}

Status checkConvertible(DType from, const ModelInputSpec& in, const std::string& file) {
  DType to = in.dtype;
  // float32/64 -> float16: an fp16 model is fed the framework's float32 data (validation, run).
  if (from == to || (from == DType::F64 && to == DType::F32) || (from == DType::I32 && to == DType::I64) ||
      (from == DType::I64 && to == DType::I32) || ((from == DType::F32 || from == DType::F64) && to == DType::F16))
    return Status::ok();
  return Status::invalidArgument("{}: input \"{}\": the data is {}, the model input is {} (only float64->float32, "
                                 "float32/64->float16 and int32<->int64 are converted; save the array as {})",
                                 file, in.name, dtypeName(from), dtypeName(to), dtypeName(to));
}

Expected<SampleSplit> splitSamples(const std::vector<int64_t>& a, DType arrayDtype, const ModelInputSpec& in,
                                   const std::string& file) {
  NPU_TRY(checkConvertible(arrayDtype, in, file));
  const std::vector<int64_t>& m = in.dims;
  size_t r = m.size();
  SampleSplit s;
  if (a.size() == r + 1 && matches(a.data() + 1, m.data(), r)) {
    s.count = a[0];
    s.sampleDims.assign(a.begin() + 1, a.end());
    return s;
  }
  if (a.size() == r && r > 0 && m[0] == 1 && a[0] > 1 && matches(a.data() + 1, m.data() + 1, r - 1)) {
    s.count = a[0];
    s.sampleDims = a;
    s.sampleDims[0] = 1;
    return s;
  }
  if (a.size() == r && matches(a.data(), m.data(), r)) {
    s.count = 1;
    s.rowsPerSample = r == 0 ? 1 : a[0];
    s.sampleDims = a;
    return s;
  }
  // The stack axis is written N.
  std::string inner = describeDims(m).substr(1);
  std::string stack = "[N" + (r ? "," + inner : "]");
  std::string expected = fmt::format("{} (one sample) or {} (a stack of samples on axis 0)", describeArray(in.dtype, m), stack);
  if (r > 0 && m[0] == 1) {
    std::string batch = "[N" + inner.substr(inner.find_first_of(",]"));
    expected = fmt::format("{} (one sample), {} (a stack of samples on axis 0) or {} (batch-1 samples along the batch axis)",
                           describeArray(in.dtype, m), stack, batch);
  }
  return Status::invalidArgument("{}: input \"{}\": the data is {}, the model expects {}", file, in.name,
                                 describeArray(arrayDtype, a), expected);
}

Status convertElements(DType from, const void* src, DType to, void* dst, int64_t count, const std::string& where) {
  size_t n = static_cast<size_t>(count);
  if (from == to) {
    if (n) std::memcpy(dst, src, n * dtypeSize(from));
    return Status::ok();
  }
  if (from == DType::F64 && to == DType::F32) {
    const double* s = static_cast<const double*>(src);
    float* d = static_cast<float*>(dst);
    for (size_t i = 0; i < n; ++i) {
      if (std::isfinite(s[i]) && std::fabs(s[i]) > std::numeric_limits<float>::max())
        return Status::invalidArgument("{}: float64 value {} (element {}) is outside float32's range", where, s[i], i);
      d[i] = static_cast<float>(s[i]);
    }
    return Status::ok();
  }
  if ((from == DType::F32 || from == DType::F64) && to == DType::F16) {
    uint16_t* d = static_cast<uint16_t*>(dst);
    for (size_t i = 0; i < n; ++i) {
      const double v = from == DType::F32 ? static_cast<const float*>(src)[i] : static_cast<const double*>(src)[i];
      if (std::isfinite(v) && std::fabs(v) > 65504.0)
        return Status::invalidArgument("{}: {} value {} (element {}) is outside float16's range", where, dtypeName(from), v, i);
      d[i] = floatToHalf(static_cast<float>(v));
    }
    return Status::ok();
  }
  if (from == DType::I32 && to == DType::I64) {
    const int32_t* s = static_cast<const int32_t*>(src);
    int64_t* d = static_cast<int64_t*>(dst);
    for (size_t i = 0; i < n; ++i) d[i] = s[i];
    return Status::ok();
  }
  if (from == DType::I64 && to == DType::I32) {
    const int64_t* s = static_cast<const int64_t*>(src);
    int32_t* d = static_cast<int32_t*>(dst);
    for (size_t i = 0; i < n; ++i) {
      if (s[i] < std::numeric_limits<int32_t>::min() || s[i] > std::numeric_limits<int32_t>::max())
        return Status::invalidArgument("{}: int64 value {} (element {}) does not fit the int32 input", where, s[i], i);
      d[i] = static_cast<int32_t>(s[i]);
    }
    return Status::ok();
  }
  return Status::internal("{}: no conversion from {} to {}", where, dtypeName(from), dtypeName(to));
}

Expected<SampleRange> selectSamples(int64_t total, const CalibDataOptions& opt, const std::string& what) {
  if (opt.maxSamples < 0 || opt.skipSamples < 0)
    return Status::invalidArgument("{}: negative sample count or skip ({}, {})", what, opt.maxSamples, opt.skipSamples);
  SampleRange r;
  r.first = std::min(opt.skipSamples, total);
  r.count = total - r.first;
  if (opt.maxSamples > 0) r.count = std::min(r.count, opt.maxSamples);
  if (r.count <= 0) {
    if (opt.skipSamples > 0)
      return Status::invalidArgument("{}: no calibration samples: {} in all, the first {} skipped", what, total,
                                     opt.skipSamples);
    return Status::invalidArgument("{}: no calibration samples (0 in the data)", what);
  }
  return r;
}

}  // namespace npuconv
