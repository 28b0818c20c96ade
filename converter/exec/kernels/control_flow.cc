// control_flow.cc - kernels of the control_flow family (see kernels.h): If, Loop, Scan.
//
// Bodies run through the executor's SubgraphRunner, which also gives them the enclosing
// scopes' values. Loop/Scan scan outputs are stacked along a new axis once all iterations ran.
#include <algorithm>
#include <cstring>
#include <limits>

#include "converter/exec/kernel.h"
#include "converter/exec/kernels/kernels.h"
#include "converter/exec/kernels/shape_copy.h"

namespace npuconv {
namespace {

using shapeops::putAlongAxis;
using shapeops::takeAlongAxis;

Expected<const SubgraphRunner*> runnerOf(const KernelContext& ctx) {
  if (!ctx.subgraphRunner()) return ctx.unsupported("no subgraph runner available");
  return ctx.subgraphRunner();
}

Expected<const Graph*> bodyOf(const KernelContext& ctx, std::string_view name) {
  auto g = ctx.attrs().get<GraphPtr>(name);
  if (!g || !*g) return ctx.fail("attribute {} (a graph) is required", name);
  return g->get();
}

Expected<bool> truthOf(const KernelContext& ctx, const Tensor& t, std::string_view what) {
  if (t.numElements() != 1) return ctx.fail("{} must hold one value, got {}", what, t.describe());
  if (t.dtype() != DType::Bool && !isInteger(t.dtype()) && !isFloat(t.dtype()))
    return ctx.fail("{} must be bool, got {}", what, dtypeName(t.dtype()));
  return t.toDoubles()[0] != 0;
}

/// Stacks equally shaped slices along a new axis `axis` (in reverse order when `reverse`).
/// With no slices, the shape comes from the body output's declared type.
Expected<Tensor> stack(const KernelContext& ctx, const std::vector<Tensor>& slices, int64_t axis, bool reverse,
                       const Value& bodyOut) {
  if (slices.empty()) {
    const TensorType& ty = bodyOut.type();
    if (ty.dtype == DType::Undefined || dtypeSize(ty.dtype) == 0)
      return ctx.unsupported("zero iterations and scan output \"{}\" has no known dtype", bodyOut.name());
    std::vector<int64_t> dims;
    if (ty.shape && isStaticShape(*ty.shape)) dims = staticDims(*ty.shape);
    int64_t r = int64_t(dims.size()) + 1;
    if (axis < 0) axis += r;
    if (axis < 0 || axis >= r) axis = 0;
    dims.insert(dims.begin() + axis, 0);
    return Tensor(ty.dtype, dims);
  }
  const Tensor& first = slices[0];
  for (const Tensor& s : slices)
    if (s.dtype() != first.dtype() || s.dims() != first.dims())
      return ctx.fail("scan output \"{}\" changes from {} to {} between iterations", bodyOut.name(),
                      first.describe(), s.describe());
  const int64_t r = first.rank() + 1;
  if (axis < -r || axis >= r) return ctx.fail("scan output axis {} out of range for rank {}", axis, r);
  if (axis < 0) axis += r;
  std::vector<int64_t> dims = first.dims();
  const int64_t n = int64_t(slices.size());
  dims.insert(dims.begin() + axis, n);
  Tensor out(first.dtype(), dims);
  for (int64_t i = 0; i < n; ++i) putAlongAxis(out, axis, reverse ? n - 1 - i : i, slices[size_t(i)]);
  return out;
}

Status ifKernel(KernelContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.fail("input cond is required");
  NPU_ASSIGN_OR_RETURN(bool cond, truthOf(ctx, *ctx.input(0), "cond"));
  NPU_ASSIGN_OR_RETURN(const Graph* body, bodyOf(ctx, cond ? "then_branch" : "else_branch"));
  NPU_ASSIGN_OR_RETURN(const SubgraphRunner* run, runnerOf(ctx));
  NPU_ASSIGN_OR_RETURN(std::vector<Tensor> outs, (*run)(*body, {}));
  if (outs.size() != ctx.numOutputs())
    return ctx.fail("branch \"{}\" gives {} outputs for {}", body->name(), outs.size(), ctx.numOutputs());
  for (size_t i = 0; i < outs.size(); ++i) {
    if (!outs[i].defined()) return ctx.unsupported("branch output {} is not a tensor", i);
    ctx.setOutput(i, std::move(outs[i]));
  }
  return Status::ok();
}

Status loopKernel(KernelContext& ctx) {
  NPU_ASSIGN_OR_RETURN(const Graph* body, bodyOf(ctx, "body"));
  NPU_ASSIGN_OR_RETURN(const SubgraphRunner* run, runnerOf(ctx));
  if (ctx.numInputs() < 2) return ctx.fail("Loop takes at least 2 inputs (M, cond)");
  const size_t N = ctx.numInputs() - 2;
  if (body->inputs().size() != N + 2)
    return ctx.fail("body takes {} inputs for {} loop-carried values", body->inputs().size(), N);
  if (body->outputs().size() < N + 1)
    return ctx.fail("body gives {} outputs for {} loop-carried values", body->outputs().size(), N);
  const size_t K = body->outputs().size() - 1 - N;
  if (ctx.numOutputs() != N + K) return ctx.fail("{} outputs, the body makes {}", ctx.numOutputs(), N + K);
  int64_t maxTrip = std::numeric_limits<int64_t>::max();
  if (ctx.hasInput(0)) {
    const Tensor& m = *ctx.input(0);
    if (m.numElements() != 1 || !isInteger(m.dtype())) return ctx.fail("M must be an integer scalar");
    maxTrip = m.toInt64s()[0];
  }
  bool cond = true;
  const bool useCond = ctx.hasInput(1);
  if (useCond) {
    NPU_ASSIGN_OR_RETURN(cond, truthOf(ctx, *ctx.input(1), "cond"));
  }
  std::vector<Tensor> carried;
  for (size_t i = 0; i < N; ++i) {
    if (!ctx.hasInput(2 + i)) return ctx.unsupported("absent loop-carried input {}", i);
    carried.push_back(*ctx.input(2 + i));
  }
  std::vector<std::vector<Tensor>> scans(K);
  for (int64_t it = 0; it < maxTrip && cond; ++it) {
    std::vector<Tensor> in;
    in.reserve(N + 2);
    Tensor iter(DType::I64, {});
    iter.mutableData<int64_t>()[0] = it;
    Tensor c(DType::Bool, {});
    c.mutableData<uint8_t>()[0] = 1;
    in.push_back(std::move(iter));
    in.push_back(std::move(c));
    for (Tensor& t : carried) in.push_back(t);
    NPU_ASSIGN_OR_RETURN(std::vector<Tensor> outs, (*run)(*body, in));
    if (outs.size() != N + K + 1) return ctx.fail("body gave {} outputs", outs.size());
    for (size_t i = 0; i < outs.size(); ++i)
      if (!outs[i].defined()) return ctx.unsupported("body output {} is not a tensor", i);
    if (useCond) {
      NPU_ASSIGN_OR_RETURN(cond, truthOf(ctx, outs[0], "body condition"));
    }
    for (size_t i = 0; i < N; ++i) carried[i] = std::move(outs[1 + i]);
    for (size_t k = 0; k < K; ++k) scans[k].push_back(std::move(outs[1 + N + k]));
  }
  for (size_t i = 0; i < N; ++i) ctx.setOutput(i, std::move(carried[i]));
  for (size_t k = 0; k < K; ++k) {
    NPU_ASSIGN_OR_RETURN(Tensor s, stack(ctx, scans[k], 0, false, *body->outputs()[1 + N + k]));
    ctx.setOutput(N + k, std::move(s));
  }
  return Status::ok();
}

struct ScanSpec {
  std::vector<int64_t> inAxes, inDirs, outAxes, outDirs;
};

/// One scan over `states` and `scanIns` (iteration count `len`); returns the final states and
/// the stacked scan outputs. Scan outputs are padded with zeros to `padTo` steps (opset 8).
Expected<std::vector<Tensor>> runScan(const KernelContext& ctx, const SubgraphRunner& run, const Graph& body,
                                      std::vector<Tensor> states, const std::vector<Tensor>& scanIns,
                                      const ScanSpec& spec, int64_t len, int64_t padTo) {
  const size_t N = states.size(), M = scanIns.size();
  if (body.inputs().size() != N + M)
    return ctx.fail("body takes {} inputs, {} given", body.inputs().size(), N + M);
  if (body.outputs().size() < N) return ctx.fail("body gives {} outputs for {} states", body.outputs().size(), N);
  const size_t K = body.outputs().size() - N;
  std::vector<std::vector<Tensor>> scans(K);
  for (int64_t t = 0; t < len; ++t) {
    std::vector<Tensor> in = states;
    for (size_t j = 0; j < M; ++j) {
      int64_t idx = spec.inDirs[j] ? len - 1 - t : t;
      in.push_back(takeAlongAxis(scanIns[j], spec.inAxes[j], idx));
    }
    NPU_ASSIGN_OR_RETURN(std::vector<Tensor> outs, run(body, in));
    if (outs.size() != N + K) return ctx.fail("body gave {} outputs", outs.size());
    for (size_t i = 0; i < outs.size(); ++i)
      if (!outs[i].defined()) return ctx.unsupported("body output {} is not a tensor", i);
    for (size_t i = 0; i < N; ++i) states[i] = std::move(outs[i]);
    for (size_t k = 0; k < K; ++k) scans[k].push_back(std::move(outs[N + k]));
  }
  std::vector<Tensor> result = std::move(states);
  for (size_t k = 0; k < K; ++k) {
    bool reverse = spec.outDirs[k] != 0;
    if (padTo > len && !scans[k].empty()) {
      // Reversed outputs are filled from the end of the valid range, then padded.
      std::vector<Tensor> padded = scans[k];
      if (reverse) std::reverse(padded.begin(), padded.end());
      while (int64_t(padded.size()) < padTo) padded.push_back(Tensor(padded[0].dtype(), padded[0].dims()));
      scans[k] = std::move(padded);
      reverse = false;
    }
    NPU_ASSIGN_OR_RETURN(Tensor s, stack(ctx, scans[k], spec.outAxes[k], reverse, *body.outputs()[N + k]));
    result.push_back(std::move(s));
  }
  return result;
}

Status scanKernel(KernelContext& ctx) {
  NPU_ASSIGN_OR_RETURN(const Graph* body, bodyOf(ctx, "body"));
  NPU_ASSIGN_OR_RETURN(const SubgraphRunner* run, runnerOf(ctx));
  auto mAttr = ctx.attrs().get<int64_t>("num_scan_inputs");
  if (!mAttr || *mAttr < 1) return ctx.fail("attribute num_scan_inputs is required");
  const size_t M = size_t(*mAttr);
  const bool v8 = ctx.opset() < 9;
  const size_t first = v8 ? 1 : 0;
  if (ctx.numInputs() < first + M) return ctx.fail("{} inputs for {} scan inputs", ctx.numInputs(), M);
  const size_t N = ctx.numInputs() - first - M;
  if (body->outputs().size() < N) return ctx.fail("body gives too few outputs");
  const size_t K = body->outputs().size() - N;
  if (ctx.numOutputs() != N + K) return ctx.fail("{} outputs, the body makes {}", ctx.numOutputs(), N + K);
  for (size_t i = first; i < ctx.numInputs(); ++i)
    if (!ctx.hasInput(i)) return ctx.fail("input {} is required", i);

  ScanSpec spec;
  auto list = [&](std::string_view name, size_t n) -> Expected<std::vector<int64_t>> {
    std::vector<int64_t> v = ctx.attrs().getInts(name);
    if (v.empty()) v.assign(n, 0);
    if (v.size() != n) return ctx.fail("attribute {} has {} entries, expected {}", name, v.size(), n);
    return v;
  };
  if (v8) {
    NPU_ASSIGN_OR_RETURN(spec.inDirs, list("directions", M));
    spec.inAxes.assign(M, 0);
    spec.outAxes.assign(K, 0);
    spec.outDirs.assign(K, 0);
  } else {
    NPU_ASSIGN_OR_RETURN(spec.inAxes, list("scan_input_axes", M));
    NPU_ASSIGN_OR_RETURN(spec.inDirs, list("scan_input_directions", M));
    NPU_ASSIGN_OR_RETURN(spec.outAxes, list("scan_output_axes", K));
    NPU_ASSIGN_OR_RETURN(spec.outDirs, list("scan_output_directions", K));
  }

  if (!v8) {
    std::vector<Tensor> states, scans;
    for (size_t i = 0; i < N; ++i) states.push_back(*ctx.input(i));
    int64_t len = -1;
    for (size_t j = 0; j < M; ++j) {
      const Tensor& s = *ctx.input(N + j);
      int64_t ax = spec.inAxes[j];
      if (ax < -s.rank() || ax >= s.rank()) return ctx.fail("scan_input_axes[{}] = {} out of range", j, ax);
      if (ax < 0) ax += s.rank();
      spec.inAxes[j] = ax;
      if (len >= 0 && s.dims()[size_t(ax)] != len) return ctx.fail("scan inputs differ in sequence length");
      len = s.dims()[size_t(ax)];
      scans.push_back(s);
    }
    NPU_ASSIGN_OR_RETURN(std::vector<Tensor> outs, runScan(ctx, *run, *body, states, scans, spec, len, len));
    for (size_t i = 0; i < outs.size(); ++i) ctx.setOutput(i, std::move(outs[i]));
    return Status::ok();
  }

  // Opset 8: every state and scan input has a leading batch dim; scan inputs are [batch, seq, ...].
  const Tensor* lensT = ctx.input(0);
  int64_t batch = -1, seq = -1;
  for (size_t i = 1; i < ctx.numInputs(); ++i) {
    const Tensor& t = *ctx.input(i);
    if (t.rank() < (i > N ? 2 : 1)) return ctx.fail("input {} lacks the batch/sequence dims", i);
    if (batch >= 0 && t.dim(0) != batch) return ctx.fail("inputs differ in batch size");
    batch = t.dim(0);
    if (i > N) {
      if (seq >= 0 && t.dim(1) != seq) return ctx.fail("scan inputs differ in sequence length");
      seq = t.dim(1);
    }
  }
  std::vector<int64_t> lens(size_t(batch), seq);
  if (lensT) {
    if (!isInteger(lensT->dtype()) || lensT->numElements() != batch)
      return ctx.fail("sequence_lens must hold {} integers", batch);
    lens = lensT->toInt64s();
  }
  std::vector<std::vector<Tensor>> perOut(N + K);
  for (int64_t b = 0; b < batch; ++b) {
    if (lens[size_t(b)] < 0 || lens[size_t(b)] > seq) return ctx.fail("sequence length {} out of range", lens[size_t(b)]);
    std::vector<Tensor> states, scans;
    for (size_t i = 0; i < N; ++i) states.push_back(takeAlongAxis(*ctx.input(1 + i), 0, b));
    for (size_t j = 0; j < M; ++j) {
      Tensor s = takeAlongAxis(*ctx.input(1 + N + j), 0, b);
      // Only the first lens[b] steps take part: the reverse direction starts at lens[b] - 1.
      if (lens[size_t(b)] < seq) {
        std::vector<int64_t> d = s.dims();
        d[0] = lens[size_t(b)];
        Tensor cut(s.dtype(), d);
        if (cut.byteSize()) std::memcpy(cut.mutableRaw(), s.raw(), cut.byteSize());
        s = std::move(cut);
      }
      scans.push_back(std::move(s));
    }
    NPU_ASSIGN_OR_RETURN(std::vector<Tensor> outs,
                         runScan(ctx, *run, *body, states, scans, spec, lens[size_t(b)], seq));
    for (size_t i = 0; i < outs.size(); ++i) perOut[i].push_back(std::move(outs[i]));
  }
  for (size_t i = 0; i < N + K; ++i) {
    NPU_ASSIGN_OR_RETURN(Tensor s, stack(ctx, perOut[i], 0, false, *body->outputs()[i]));
    ctx.setOutput(i, std::move(s));
  }
  return Status::ok();
}

}  // namespace

void registerControlFlowKernels(KernelRegistry& r) {
  r.add("", "If", ifKernel);
  r.add("", "Loop", loopKernel);
  r.add("", "Scan", scanKernel);
}

}  // namespace npuconv
