// freeze_shapes.cc - freeze-shapes: fix the input shapes and give every tensor a static shape.
//
// Before: input_ids: i64[batch,sequence]   %s = Shape(%x)   %y = Reshape(%x, %t)   (types unknown)
// After:  input_ids: i64[1,256]            every value typed with its static shape, so
//         fold-constants turns each Shape/Size into a constant and the shape arithmetic after it
//         folds away.
// Options (PassContext): "freeze.input-shapes" = "input_ids=1x256;mask=1x256" (--input-shape),
// "freeze.dims" = "batch=1;sequence=256" (--dim), "target.static-shapes" = "1" when the target
// cannot run dynamic shapes: then an input left dynamic, or a tensor whose shape depends on
// input values, is an error naming the tensor and the node that makes it dynamic.
// Preconditions: shape inference runs the graph once on zeros (static_shapes.h), so every op
// needs a kernel; without it (or with inputs still dynamic) only the given dims are bound.
#include "passes/passes.h"
#include "passes/shape/static_shapes.h"

namespace npuconv {
namespace {

class FreezeShapesPass final : public Pass {
 public:
  std::string_view name() const override { return "freeze-shapes"; }

  Status run(Model& model, PassContext& ctx) override {
    NPU_ASSIGN_OR_RETURN(auto inputShapes, shapes::parseInputShapes(ctx.option("freeze.input-shapes")));
    NPU_ASSIGN_OR_RETURN(auto dims, shapes::parseDims(ctx.option("freeze.dims")));
    NPU_TRY(shapes::bindShapes(model, inputShapes, dims).status());
    bool requireStatic = ctx.option("target.static-shapes") == "1";
    std::string target = ctx.option("target", "the target");
    if (const Value* in = shapes::firstDynamicInput(*model.graph)) {
      if (requireStatic)
        return Status::invalidArgument(
            "input \"{}\" has the dynamic shape {} and {} needs static shapes: give --input-shape {}=... or --dim "
            "NAME=SIZE for its symbolic dims",
            in->name(), in->type().toString(), target, in->name());
      ++ctx.stat("freeze-shapes.inputs-still-dynamic");  // dims bound, nothing inferred
      return Status::ok();
    }
    auto dynamic = shapes::dynamicShapes(*model.graph);
    if (requireStatic && !dynamic.empty()) {
      // Report the first cause in graph order: the one the user should fix first.
      for (const Node* n : model.graph->nodes())
        for (const Value* r : n->results())
          if (auto it = dynamic.find(r); r && it != dynamic.end())
            return Status::unsupported("{}; {} needs static shapes", shapes::describeDynamic(it->second), target);
    }
    NPU_ASSIGN_OR_RETURN(size_t typed, shapes::inferShapesByEvaluation(model, dynamic));
    ctx.stat("freeze-shapes.typed") += static_cast<int64_t>(typed);
    ctx.stat("freeze-shapes.dynamic") += static_cast<int64_t>(dynamic.size());
    return Status::ok();
  }
};

}  // namespace

std::unique_ptr<Pass> createFreezeShapesPass() { return std::make_unique<FreezeShapesPass>(); }

}  // namespace npuconv
