// blob_layers: where a device blob departs from its QDQ model, op by op. Runs the QDQ model.onnx
// on the reference executor (every value observed) and model.npub on the device interpreter, and
// for each blob op whose output tensor has a same-named, same-typed value in the QDQ model prints
// the difference: for a quantized output the largest gap in steps and the share of elements that
// differ, for every output the SQNR of the real values against the QDQ model's.
//
//   blob_layers model.npub model.onnx x.npy [--isolated]
//
// --isolated overwrites each matched op output with the QDQ model's value after measuring it, so
// every op reads the QDQ model's inputs and its row is its own error (issue 11: an integer op
// must agree with the QDQ op within one step); without it the rows are accumulated errors.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "converter/device/interpreter.h"
#include "converter/exec/executor.h"
#include "formats/blob/blob_reader.h"
#include "formats/npy/npy.h"
#include "formats/onnx/onnx_reader.h"

namespace {

struct BlobLayersValue {
  npuconv::DType dtype;
  std::vector<int64_t> dims;
  std::vector<std::byte> bytes;
};

/// Real value of element i of a device tensor (its quantization applied; per-axis on dim `axis`).
double blobLayersReal(const npuconv::device::Program& p, const npuconv::device::Tensor& t, const std::byte* d, int64_t i) {
  double q = 0;
  switch (t.dtype) {
    case npuconv::DType::U8: q = reinterpret_cast<const uint8_t*>(d)[i]; break;
    case npuconv::DType::I8: q = reinterpret_cast<const int8_t*>(d)[i]; break;
    case npuconv::DType::I16: q = reinterpret_cast<const int16_t*>(d)[i]; break;
    case npuconv::DType::U16: q = reinterpret_cast<const uint16_t*>(d)[i]; break;
    case npuconv::DType::I32: q = reinterpret_cast<const int32_t*>(d)[i]; break;
    case npuconv::DType::F32: return reinterpret_cast<const float*>(d)[i];
    default: return 0;
  }
  if (t.quant < 0) return q;
  const npuconv::device::QuantParams& qp = p.quant[static_cast<size_t>(t.quant)];
  size_t c = 0;
  if (qp.perAxis()) {
    int64_t inner = 1;
    for (size_t k = static_cast<size_t>(qp.axis) + 1; k < t.dims.size(); ++k) inner *= t.dims[k];
    c = static_cast<size_t>((i / inner) % t.dims[static_cast<size_t>(qp.axis)]);
  }
  return qp.scales[c] * (q - qp.zeroPoints[c]);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace npuconv;
  if (argc < 4) {
    std::fprintf(stderr, "usage: blob_layers model.npub model.onnx x.npy [--isolated]\n");
    return 2;
  }
  const bool isolated = argc > 4 && std::string(argv[4]) == "--isolated";
  auto blob = readBlob(argv[1]);
  if (!blob) return std::fprintf(stderr, "%s\n", blob.status().toString().c_str()), 1;
  auto model = readOnnx(argv[2]);
  if (!model) return std::fprintf(stderr, "%s\n", model.status().toString().c_str()), 1;
  auto x = readNpy(argv[3]);
  if (!x) return std::fprintf(stderr, "%s\n", x.status().toString().c_str()), 1;
  const Tensor input = Tensor::fromData(*x);

  std::map<std::string, BlobLayersValue> qdq;
  auto exec = Executor::create(*model);
  if (!exec) return std::fprintf(stderr, "%s\n", exec.status().toString().c_str()), 1;
  (*exec)->setObserver([&](const Node& n, size_t r, const Tensor& t) {
    const Value* v = n.result(r);
    if (!v) return;
    BlobLayersValue& s = qdq[v->name()];
    s.dtype = t.dtype();
    s.dims = t.dims();
    s.bytes.assign(static_cast<const std::byte*>(t.raw()), static_cast<const std::byte*>(t.raw()) + t.byteSize());
  });
  NamedTensors in;
  in.emplace(model->graph->inputs()[0]->name(), input);
  auto ref = (*exec)->run(in);
  if (!ref) return std::fprintf(stderr, "%s\n", ref.status().toString().c_str()), 1;

  const device::Program& p = blob->program;
  device::InterpreterOptions opts;
  std::printf("op\ttype\tplacement\ttensor\tdtype\tmax_steps\tdiffering\tsqnr_db\toriginal\n");
  opts.observer = [&](size_t op, int32_t ti, void* data) {
    const device::Tensor& t = p.tensors[static_cast<size_t>(ti)];
    auto it = qdq.find(t.name);
    if (it == qdq.end() || it->second.dtype != t.dtype || it->second.bytes.size() != t.byteSize()) return;
    const auto* b = static_cast<const std::byte*>(data);
    const std::byte* a = it->second.bytes.data();
    const int64_t n = static_cast<int64_t>(t.byteSize() / dtypeSize(t.dtype));
    double maxSteps = 0, sig = 0, err = 0, worst = 0;
    int64_t differing = 0, worstAt = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double ra = blobLayersReal(p, t, a, i), rb = blobLayersReal(p, t, b, i);
      if (std::abs(ra - rb) > worst) worst = std::abs(ra - rb), worstAt = i;
      sig += ra * ra;
      err += (ra - rb) * (ra - rb);
      if (t.dtype == DType::F32) {
        if (ra != rb) ++differing;
      } else {
        device::Tensor raw = t;
        raw.quant = -1;
        const double d = std::abs(blobLayersReal(p, raw, a, i) - blobLayersReal(p, raw, b, i));
        maxSteps = std::max(maxSteps, d);
        if (d != 0) ++differing;
      }
    }
    const device::Op& o = p.ops[op];
    std::string orig;
    for (const std::string& s : o.provenance) orig += (orig.empty() ? "" : ",") + s;
    const int64_t hw = t.dims.size() == 4 ? t.dims[2] * t.dims[3] : 1;
    std::printf("%zu\t%s\t%s\t%s\t%s\t%g\t%.4f%%\t%.2f\t%s\tworst: element %lld (channel %lld) qdq %g blob %g\n", op,
                o.type.c_str(), o.cpuFallback() ? "cpu" : "npu", t.name.c_str(), std::string(dtypeShortName(t.dtype)).c_str(),
                maxSteps, 100.0 * differing / n, err > 0 ? 10 * std::log10(sig / err) : 999.0, orig.c_str(),
                static_cast<long long>(worstAt), static_cast<long long>(worstAt / hw % (t.dims.size() > 1 ? t.dims[1] : 1)),
                blobLayersReal(p, t, a, worstAt), blobLayersReal(p, t, b, worstAt));
    if (isolated) std::memcpy(data, a, t.byteSize());
  };
  auto interp = device::Interpreter::create(p, opts);
  if (!interp) return std::fprintf(stderr, "%s\n", interp.status().toString().c_str()), 1;
  auto out = (*interp)->run({input});
  if (!out) return std::fprintf(stderr, "%s\n", out.status().toString().c_str()), 1;
  return 0;
}
