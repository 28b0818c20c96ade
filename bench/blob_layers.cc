// blob_layers: where a device blob departs from its QDQ model, op by op. Runs the QDQ model.onnx
// on the reference executor (every value observed) and model.npub on the device interpreter, and
// for each blob op whose output tensor has a same-named, same-typed value in the QDQ model prints
// the difference: for a quantized output the largest gap in steps and the share of elements that
// differ, for every output the SQNR of the real values against the QDQ model's.
//
//   blob_layers model.npub model.onnx x.npy [--isolated | --force TYPE,TYPE...] [--exact-conv] [--quiet]
//
// --isolated overwrites each matched op output with the QDQ model's value after measuring it, so
// every op reads the QDQ model's inputs and its row is its own error (issue 11: an integer op
// must agree with the QDQ op within one step); without it the rows are accumulated errors.
// --force QConv,QGlobalAveragePool does that for ops of those types only: how much of the final
// output's error comes from them (read with care: forcing the type of the last quantized op
// before a float tail makes the whole output exact, whatever the other ops did). The last line is the output's SQNR and cosine against the QDQ
// model's; --quiet prints only it. --exact-conv replaces each 8-bit Conv output by the exact
// result rounded once (double; the fixed-point requantization rounds twice): what that costs.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

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

/// A Conv with an 8-bit quantized output computed exactly (double) from its quantized inputs as
/// they are now in the arena: the real-number result, rounded half to even. -1 where not a Conv
/// with such an output. Tells whether the blob or the QDQ model's float Conv sits on the exact side.
std::vector<int32_t> blobLayersExactConv(const npuconv::device::Program& p, const npuconv::device::Op& op,
                                         const std::function<const std::byte*(int32_t)>& data) {
  using namespace npuconv;
  const device::Tensor& x = p.tensors[static_cast<size_t>(op.inputs[0])];
  const device::Tensor& w = p.tensors[static_cast<size_t>(op.inputs[1])];
  const device::Tensor& y = p.tensors[static_cast<size_t>(op.outputs[0])];
  if (op.code != device::OpCode::Conv || y.quant < 0 || y.dtype != DType::U8 || x.dtype != DType::U8) return {};
  const auto st = op.attrInts("strides"), pd = op.attrInts("pads"), dl = op.attrInts("dilations");
  const int64_t g = op.attrInt("group", 1), C = x.dims[1], H = x.dims[2], W = x.dims[3];
  const int64_t O = y.dims[1], OH = y.dims[2], OW = y.dims[3], KH = w.dims[2], KW = w.dims[3], cpg = C / g, opg = O / g;
  const device::QuantParams& xq = p.quant[static_cast<size_t>(x.quant)];
  const device::QuantParams& wq = p.quant[static_cast<size_t>(w.quant)];
  const device::QuantParams& yq = p.quant[static_cast<size_t>(y.quant)];
  const auto* xd = reinterpret_cast<const uint8_t*>(data(op.inputs[0]));
  const auto* wd = reinterpret_cast<const int8_t*>(w.weight->bytes());
  const auto* bd = reinterpret_cast<const int32_t*>(p.tensors[static_cast<size_t>(op.inputs[2])].weight->bytes());
  std::vector<int32_t> out(static_cast<size_t>(O * OH * OW));
  for (int64_t o = 0; o < O; ++o) {
    const size_t oc = wq.perAxis() ? static_cast<size_t>(o) : 0;
    const double scale = double(xq.scales[0]) * double(wq.scales[oc]) / double(yq.scales[0]);
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        int64_t acc = bd[o];
        for (int64_t ci = 0; ci < cpg; ++ci)
          for (int64_t ky = 0; ky < KH; ++ky)
            for (int64_t kx = 0; kx < KW; ++kx) {
              const int64_t iy = oy * st[0] - pd[0] + ky * dl[0], ix = ox * st[1] - pd[1] + kx * dl[1];
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              const int64_t c = (o / opg) * cpg + ci;
              acc += (int64_t(xd[(c * H + iy) * W + ix]) - xq.zeroPoints[0]) *
                     (int64_t(wd[((o * cpg + ci) * KH + ky) * KW + kx]) - wq.zeroPoints[oc]);
            }
        const double v = std::nearbyint(double(acc) * scale) + yq.zeroPoints[0];
        out[static_cast<size_t>((o * OH + oy) * OW + ox)] = static_cast<int32_t>(std::clamp(v, 0.0, 255.0));
      }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace npuconv;
  if (argc < 4) {
    std::fprintf(stderr, "usage: blob_layers model.npub model.onnx x.npy [--isolated]\n");
    return 2;
  }
  bool isolated = false, quiet = false, exactConv = false;
  std::vector<std::string> forced;
  for (int i = 4; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--isolated") isolated = true;
    else if (a == "--quiet") quiet = true;
    else if (a == "--exact-conv") exactConv = true;
    else if (a == "--force" && i + 1 < argc)
      for (std::string l = argv[++i], t; !l.empty(); l = l.find(',') == std::string::npos ? "" : l.substr(l.find(',') + 1))
        forced.push_back(l.substr(0, l.find(',')));
  }
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
  if (!quiet) std::printf("op\ttype\tplacement\ttensor\tdtype\tmax_steps\tdiffering\tsqnr_db\toriginal\n");
  std::map<int32_t, const void*> where;  // arena address of each tensor an op wrote: its inputs are live when it runs
  auto interpView = [&](int32_t k) { return where.at(k); };
  opts.observer = [&](size_t op, int32_t ti, void* data) {
    where[ti] = data;
    if (exactConv) {
      // What one rounding (exact real result, half to even) instead of the fixed-point
      // multiply's two would give: overwrite every 8-bit Conv output before measuring it.
      const std::vector<int32_t> ex =
          blobLayersExactConv(p, p.ops[op], [&](int32_t k) { return reinterpret_cast<const std::byte*>(interpView(k)); });
      for (size_t i = 0; i < ex.size(); ++i) static_cast<uint8_t*>(data)[i] = static_cast<uint8_t>(ex[i]);
    }
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
    // Isolated, a Conv reads the QDQ model's input: which side agrees with the exact result.
    std::string exact;
    if (isolated) {
      const std::vector<int32_t> ex =
          blobLayersExactConv(p, o, [&](int32_t k) { return reinterpret_cast<const std::byte*>(interpView(k)); });
      if (!ex.empty() && ex.size() == static_cast<size_t>(n)) {
        int64_t offBlob = 0, offQdq = 0;
        for (int64_t i = 0; i < n; ++i) {
          offBlob += ex[static_cast<size_t>(i)] != int32_t(reinterpret_cast<const uint8_t*>(b)[i]);
          offQdq += ex[static_cast<size_t>(i)] != int32_t(reinterpret_cast<const uint8_t*>(a)[i]);
        }
        exact = fmt::format("\texact: blob off {} qdq off {}", offBlob, offQdq);
      }
    }
    std::string orig;
    for (const std::string& s : o.provenance) orig += (orig.empty() ? "" : ",") + s;
    const int64_t hw = t.dims.size() == 4 ? t.dims[2] * t.dims[3] : 1;
    if (!quiet) std::printf("%zu\t%s\t%s\t%s\t%s\t%g\t%.4f%%\t%.2f\t%s\tworst: element %lld (channel %lld) qdq %g blob %g\n", op,
                o.type.c_str(), o.cpuFallback() ? "cpu" : "npu", t.name.c_str(), std::string(dtypeShortName(t.dtype)).c_str(),
                maxSteps, 100.0 * differing / n, err > 0 ? 10 * std::log10(sig / err) : 999.0, orig.c_str(),
                static_cast<long long>(worstAt), static_cast<long long>(worstAt / hw % (t.dims.size() > 1 ? t.dims[1] : 1)),
                blobLayersReal(p, t, a, worstAt), blobLayersReal(p, t, b, worstAt));
    if (!quiet && !exact.empty()) std::printf("%s\n", exact.c_str() + 1);
    if (isolated || std::find(forced.begin(), forced.end(), o.type) != forced.end()) std::memcpy(data, a, t.byteSize());
  };
  auto interp = device::Interpreter::create(p, opts);
  if (!interp) return std::fprintf(stderr, "%s\n", interp.status().toString().c_str()), 1;
  auto out = (*interp)->run({input});
  if (!out) return std::fprintf(stderr, "%s\n", out.status().toString().c_str()), 1;
  const auto ya = (*ref).at(p.outputs[0].name).span<float>(), yb = (*out)[0].span<float>();
  double sig = 0, err = 0, dot = 0, nb = 0;
  for (size_t i = 0; i < ya.size() && i < yb.size(); ++i) {
    sig += double(ya[i]) * ya[i], nb += double(yb[i]) * yb[i], dot += double(ya[i]) * yb[i];
    err += (double(ya[i]) - yb[i]) * (double(ya[i]) - yb[i]);
  }
  std::printf("output %s vs QDQ: SQNR %.2f dB, cosine %.6f\n", p.outputs[0].name.c_str(), err > 0 ? 10 * std::log10(sig / err) : 999.0,
              dot / std::sqrt(sig * nb));
  return 0;
}
