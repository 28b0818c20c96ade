// check_static_shapes.cc - check-static-shapes: the last step of the `npu` pipeline.
//
// Re-infers the shapes of values that the passes after freeze-shapes created (fusions, layout
// changes), then, when the target needs static shapes ("target.static-shapes" = "1", the
// default of this pass), fails on the first value of the main graph without a static shape or
// on a Shape/Size node that survived folding; the error names the tensor and the node that
// makes it dynamic. Changes no node; may only fill in types.
#include "passes/passes.h"
#include "passes/shape/static_shapes.h"

namespace npuconv {
namespace {

class CheckStaticShapesPass final : public Pass {
 public:
  std::string_view name() const override { return "check-static-shapes"; }

  Status run(Model& model, PassContext& ctx) override {
    Graph& g = *model.graph;
    bool requireStatic = ctx.option("target.static-shapes", "1") == "1";
    std::string target = ctx.option("target", "the target");
    auto dynamic = shapes::dynamicShapes(g);
    if (!shapes::firstDynamicInput(g)) {
      bool untyped = false;
      for (const Node* n : g.nodes())
        for (const Value* r : n->results())
          if (r && !dynamic.count(r) && !r->type().hasStaticShape()) untyped = true;
      if (untyped) NPU_TRY(shapes::inferShapesByEvaluation(model, dynamic).status());
    }
    if (!requireStatic) return Status::ok();
    if (const Value* in = shapes::firstDynamicInput(g))
      return Status::invalidArgument(
          "input \"{}\" has the dynamic shape {} and {} needs static shapes: give --input-shape {}=... or --dim "
          "NAME=SIZE",
          in->name(), in->type().toString(), target, in->name());
    for (const Node* n : g.nodes()) {
      for (const Value* r : n->results()) {
        if (!r) continue;
        if (auto it = dynamic.find(r); it != dynamic.end())
          return Status::unsupported("{}; {} needs static shapes", shapes::describeDynamic(it->second), target);
        if (!r->type().hasStaticShape())
          return Status::unsupported("tensor \"{}\" of node {} has no static shape ({}); {} needs static shapes",
                                     r->name(), n->describe(), r->type().toString(), target);
      }
      if (n->is("Shape") || n->is("Size"))
        return Status::unsupported("{} survived shape folding; {} needs static shapes", n->describe(), target);
    }
    return Status::ok();
  }
};

}  // namespace

std::unique_ptr<Pass> createCheckStaticShapesPass() { return std::make_unique<CheckStaticShapesPass>(); }

}  // namespace npuconv
