// model_runner.h - runs "a model" by file name, whatever it is: an ONNX model on the reference
// executor, or a device blob (.npub) on the bit-exact device interpreter. `validate` and
// `convert`'s validation check both artifacts the same way through it.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "converter/exec/tensor.h"
#include "converter/support/status.h"
#include "formats/calib/calib_data.h"

namespace npuconv {

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  /// The inputs as the sample readers want them (name, dtype, dims; -1 for a dynamic dim).
  virtual const std::vector<ModelInputSpec>& inputSpecs() const = 0;
  virtual const std::vector<std::string>& outputNames() const = 0;
  /// Runs the model. Float inputs are cast to the model's float type (an fp16 model is fed the
  /// framework's float32 data) and float16 outputs come back float32, so that one set of inputs
  /// and one comparison serve every precision.
  Expected<NamedTensors> run(const NamedTensors& inputs);
  /// "ONNX model" or "device blob", for reports.
  virtual const char* kind() const = 0;

 protected:
  virtual Expected<NamedTensors> runExact(const NamedTensors& inputs) = 0;
};

/// Opens `path` by its extension: .npub is a device blob, anything else ONNX. Missing files are
/// Io errors naming the path.
Expected<std::unique_ptr<ModelRunner>> openModelRunner(const std::filesystem::path& path, int threads);

}  // namespace npuconv
