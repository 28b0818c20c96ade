// nn_nhwc.cc - kernels of the "ai.npuconv.nhwc" domain (passes/layout/nhwc.h): NHWC twins of
// Conv, the pools, BatchNormalization, InstanceNormalization, LRN, Resize, DepthToSpace and
// SpaceToDepth. Input 0 and output 0 are NHWC; Conv's weight is OHWI.
//
// Each kernel transposes input 0 to NCHW (and Conv's weight back to OIHW), calls the default-
// domain kernel of the same op through the KernelRegistry, and transposes output 0 to NHWC.
// The arithmetic is the NCHW kernel's, in the same order, so a model converted by
// convert-layout-nhwc computes bit-identical results. The transposes are pure data movement.
#include <array>

#include "converter/exec/kernel.h"
#include "converter/exec/kernels/kernels.h"
#include "converter/exec/kernels/shape_copy.h"

namespace npuconv {
namespace {

constexpr std::string_view kDomain = "ai.npuconv.nhwc";
constexpr std::array<int64_t, 4> kToNchw = {0, 3, 1, 2};
constexpr std::array<int64_t, 4> kToNhwc = {0, 2, 3, 1};

Tensor permute4(const Tensor& x, const std::array<int64_t, 4>& perm, ThreadPool& pool) {
  std::vector<int64_t> st = shapeops::stridesOf(x.dims()), dims(4), strides(4);
  for (size_t i = 0; i < 4; ++i) {
    dims[i] = x.dims()[static_cast<size_t>(perm[i])];
    strides[i] = st[static_cast<size_t>(perm[i])];
  }
  Tensor out(x.dtype(), dims);
  shapeops::stridedCopy(shapeops::mutableBytesOf(out), shapeops::bytesOf(x), dims, strides, 0, dtypeSize(x.dtype()),
                        &pool);
  return out;
}

Status nhwcKernel(KernelContext& ctx) {
  const Node& node = ctx.node();
  KernelFn inner = KernelRegistry::global().find("", node.opType());
  if (!inner) return ctx.unsupported("no NCHW kernel for {}", node.opType());
  const Tensor* x = ctx.input(0);
  if (!x) return ctx.fail("missing input 0");
  if (x->rank() != 4) return ctx.fail("NHWC input must have rank 4, has {}", x->describe());
  if (x->dtype() == DType::String) return ctx.unsupported("string input");
  std::vector<Tensor> owned;
  owned.reserve(2);
  std::vector<const Tensor*> inputs(ctx.numInputs());
  for (size_t i = 0; i < inputs.size(); ++i) inputs[i] = ctx.input(i);
  owned.push_back(permute4(*x, kToNchw, ctx.pool()));
  inputs[0] = &owned.back();
  if (node.opType() == "Conv") {
    const Tensor* w = ctx.input(1);
    if (!w) return ctx.fail("missing weight");
    if (w->rank() != 4) return ctx.fail("OHWI weight must have rank 4, has {}", w->describe());
    owned.push_back(permute4(*w, kToNchw, ctx.pool()));
    inputs[1] = &owned.back();
  }
  std::vector<Tensor> outputs(ctx.numOutputs());
  KernelContext innerCtx(node, std::move(inputs), outputs, ctx.pool(), ctx.opset(), ctx.subgraphRunner());
  NPU_TRY(inner(innerCtx));
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].defined()) continue;
    if (i == 0) {
      if (outputs[0].rank() != 4) return ctx.fail("NCHW result has rank {}", outputs[0].rank());
      ctx.setOutput(0, permute4(outputs[0], kToNhwc, ctx.pool()));
    } else {
      ctx.setOutput(i, std::move(outputs[i]));
    }
  }
  return Status::ok();
}

}  // namespace

void registerNhwcKernels(KernelRegistry& r) {
  for (std::string_view op : {"AveragePool", "BatchNormalization", "Conv", "DepthToSpace", "GlobalAveragePool",
                              "GlobalMaxPool", "InstanceNormalization", "LRN", "MaxPool", "Resize", "SpaceToDepth"})
    r.add(kDomain, op, nhwcKernel);
}

}  // namespace npuconv
