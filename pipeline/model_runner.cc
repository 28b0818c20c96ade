// model_runner.cc - see model_runner.h.
#include "pipeline/model_runner.h"

#include <map>

#include "converter/device/interpreter.h"
#include "converter/exec/executor.h"
#include "formats/blob/blob_reader.h"
#include "formats/blob/blob_variants.h"
#include "formats/onnx/onnx_reader.h"
#include "pipeline/calib_stage.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

bool isF32OrF16(DType t) { return t == DType::F32 || t == DType::F16; }

/// float32 <-> float16 (round to nearest even, as numpy's astype).
Tensor castFloat(const Tensor& t, DType to) {
  Tensor out(to, t.dims());
  const int64_t n = t.numElements();
  if (to == DType::F16) {
    const float* s = t.data<float>();
    uint16_t* d = out.mutableData<uint16_t>();
    for (int64_t i = 0; i < n; ++i) d[i] = floatToHalf(s[i]);
  } else {
    const uint16_t* s = t.data<uint16_t>();
    float* d = out.mutableData<float>();
    for (int64_t i = 0; i < n; ++i) d[i] = halfToFloat(s[i]);
  }
  return out;
}

class OnnxRunner final : public ModelRunner {
 public:
  static Expected<std::unique_ptr<ModelRunner>> open(const fs::path& p, int threads) {
    auto r = std::unique_ptr<OnnxRunner>(new OnnxRunner);
    NPU_ASSIGN_OR_RETURN(Model m, readOnnx(p));
    r->model_ = std::make_unique<Model>(std::move(m));
    NPU_ASSIGN_OR_RETURN(r->exec_, Executor::create(*r->model_, ExecOptions{.threads = threads}));
    r->specs_ = modelInputSpecs(*r->model_);
    for (const Value* v : r->model_->graph->outputs()) r->outputs_.push_back(v->name());
    return std::unique_ptr<ModelRunner>(std::move(r));
  }
  const std::vector<ModelInputSpec>& inputSpecs() const override { return specs_; }
  const std::vector<std::string>& outputNames() const override { return outputs_; }
  Expected<NamedTensors> runExact(const NamedTensors& inputs) override { return exec_->run(inputs); }
  const char* kind() const override { return "ONNX model"; }

 private:
  OnnxRunner() = default;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Executor> exec_;
  std::vector<ModelInputSpec> specs_;
  std::vector<std::string> outputs_;
};

class BlobRunner final : public ModelRunner {
 public:
  static Expected<std::unique_ptr<ModelRunner>> open(const fs::path& p) {
    auto r = std::unique_ptr<BlobRunner>(new BlobRunner);
    NPU_ASSIGN_OR_RETURN(LoadedBlob blob, readBlob(p));
    r->blob_ = std::make_unique<LoadedBlob>(std::move(blob));
    const device::Program& prog = r->blob_->program;
    r->interps_.resize(r->blob_->variantCount());
    for (size_t v = 0; v < r->blob_->variantCount(); ++v) {  // the spec's op checks, on every variant up front
      auto interp = device::Interpreter::create(r->blob_->variant(v));
      if (!interp) return std::move(interp).status().in(p.string());
      r->interps_[v] = std::move(*interp);
    }
    for (const device::IoBinding& b : prog.inputs) {
      const device::Tensor& t = prog.tensors[static_cast<size_t>(b.tensor)];
      r->specs_.push_back({b.name, t.dtype, t.dims});
    }
    // Several frozen shapes: a dim the variants disagree on is dynamic (-1) to the caller.
    for (size_t v = 1; v < r->blob_->variantCount(); ++v) {
      const device::Program& q = r->blob_->variant(v);
      for (size_t i = 0; i < r->specs_.size() && i < q.inputs.size(); ++i) {
        const std::vector<int64_t>& d = q.tensors[static_cast<size_t>(q.inputs[i].tensor)].dims;
        for (size_t k = 0; k < r->specs_[i].dims.size() && k < d.size(); ++k)
          if (r->specs_[i].dims[k] != d[k]) r->specs_[i].dims[k] = -1;
      }
    }
    for (const device::IoBinding& b : prog.outputs) r->outputs_.push_back(b.name);
    r->path_ = p.string();
    return std::unique_ptr<ModelRunner>(std::move(r));
  }
  const std::vector<ModelInputSpec>& inputSpecs() const override { return specs_; }
  const std::vector<std::string>& outputNames() const override { return outputs_; }
  Expected<NamedTensors> runExact(const NamedTensors& inputs) override {
    std::vector<Tensor> ordered;
    std::map<std::string, std::vector<int64_t>> dims;
    for (const ModelInputSpec& s : specs_) {
      auto it = inputs.find(s.name);
      if (it == inputs.end()) return Status::invalidArgument("{}: input \"{}\" of the blob is not given", path_, s.name);
      ordered.push_back(it->second);
      dims[s.name] = it->second.dims();
    }
    size_t variant = 0;
    if (interps_.size() > 1) {
      Expected<size_t> v = selectBlobVariant(*blob_, dims);
      if (!v) return std::move(v).status().in(path_);
      variant = *v;
    }
    auto out = interps_[variant]->run(ordered);
    if (!out) return std::move(out).status().in(path_);
    NamedTensors named;
    for (size_t i = 0; i < outputs_.size(); ++i) named[outputs_[i]] = std::move((*out)[i]);
    return named;
  }
  const char* kind() const override { return "device blob"; }

 private:
  BlobRunner() = default;
  std::unique_ptr<LoadedBlob> blob_;  // the interpreter views its weights
  std::vector<std::unique_ptr<device::Interpreter>> interps_;  // one per shape variant
  std::vector<ModelInputSpec> specs_;
  std::vector<std::string> outputs_;
  std::string path_;
};

}  // namespace

Expected<NamedTensors> ModelRunner::run(const NamedTensors& inputs) {
  const NamedTensors* feed = &inputs;
  NamedTensors cast;
  for (const ModelInputSpec& s : inputSpecs()) {
    auto it = inputs.find(s.name);
    if (it == inputs.end() || it->second.dtype() == s.dtype || !isF32OrF16(s.dtype) || !isF32OrF16(it->second.dtype())) continue;
    if (cast.empty()) cast = inputs;
    cast[s.name] = castFloat(it->second, s.dtype);
    feed = &cast;
  }
  NPU_ASSIGN_OR_RETURN(NamedTensors out, runExact(*feed));
  for (auto& [name, t] : out)
    if (t.dtype() == DType::F16) t = castFloat(t, DType::F32);
  return out;
}

Expected<std::unique_ptr<ModelRunner>> openModelRunner(const fs::path& path, int threads) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return Status::io("{}: no such file", path.string());
  if (path.extension() == ".npub") return BlobRunner::open(path);
  return OnnxRunner::open(path, threads);
}

}  // namespace npuconv
