// pass_pipeline.cc - see pass_pipeline.h.
#include "pipeline/pass_pipeline.h"

#include "converter/ir/verifier.h"
#include "passes/registry.h"

namespace npuconv {
namespace {

std::string joinEntries(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ";") + s;
  return out;
}

/// The emit stage's placement entry: an analysis (the model is not changed) whose result goes
/// to the report.
class PlaceOnTargetPass final : public Pass {
 public:
  PlaceOnTargetPass(const TargetProfile& profile, const std::string& reportPath, bool printSummary,
                    nlohmann::ordered_json& out)
      : profile_(profile), reportPath_(reportPath), printSummary_(printSummary), out_(out) {}
  std::string_view name() const override { return "place-on-target"; }
  Status run(Model& m, PassContext&) override {
    out_ = placeAndSummarize(profile_, m, reportPath_, printSummary_);
    return Status::ok();
  }

 private:
  const TargetProfile& profile_;
  const std::string& reportPath_;
  bool printSummary_;
  nlohmann::ordered_json& out_;
};

}  // namespace

Expected<std::unique_ptr<PassPipeline>> PassPipeline::create(const PassOptions& o) {
  std::unique_ptr<PassPipeline> p(new PassPipeline());
  p->opt_ = o;
  bool freeze = !o.inputShapes.empty() || !o.dims.empty();
  NPU_ASSIGN_OR_RETURN(p->pm_, buildPassManager(o.pipeline, o.passes, o.disabled, freeze ? "freeze-shapes" : ""));
  // After the pipeline: regions form around the fused, folded convs (npu has it built in).
  if (o.layout == "nhwc" && o.pipeline != "npu")
    for (const char* n : {"convert-layout-nhwc", "eliminate-dead-code"})
      if (std::find(o.disabled.begin(), o.disabled.end(), n) == o.disabled.end()) p->pm_.add(createPass(n));
  NPU_TRY(appendEmitStage(p->pm_, EmitPhase::StandardOps, o.disabled));
  p->pm_.setVerifyEach(o.verifyEach);
  if (!o.printIrAfter.empty() && o.irStream) p->pm_.setPrintIrAfter(o.printIrAfter, o.irStream);

  NPU_ASSIGN_OR_RETURN(p->target_, resolveTarget(o.target));
  PassContext& ctx = p->ctx_;
  setTargetPassOptions(p->target_, ctx);  // before the options below: --pass-option may override
  // Compiling for a target: the npu pipeline or an explicit profile. Otherwise (O2 on a model
  // with a batch dim, say) the default profile's needs are not the user's: no static-shape demand.
  p->forTarget_ = o.pipeline == "npu" || o.target.given();
  if (!p->forTarget_) ctx.options["target.static-shapes"] = "0";
  if (o.opset > 0) ctx.options["opset"] = std::to_string(o.opset);
  if (!o.inputShapes.empty()) ctx.options["freeze.input-shapes"] = joinEntries(o.inputShapes);
  if (!o.dims.empty()) ctx.options["freeze.dims"] = joinEntries(o.dims);
  for (const std::string& kv : o.passOptions) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return Status::invalidArgument("--pass-option \"{}\": expected KEY=VALUE", kv);
    ctx.options[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (!o.layout.empty()) ctx.options["layout"] = o.layout;
  if (!o.ioLayout.empty()) ctx.options["io-layout"] = o.ioLayout;
  return p;
}

Status PassPipeline::runToStandardOps(Model& m, const std::string& where) {
  NPU_TRY(std::move(pm_.run(m, ctx_)).in(where));
  return std::move(verifyModel(m)).in("after optimization");
}

Status PassPipeline::runFinal(Model& m, const std::string& where) {
  std::map<std::string, PassFactory, std::less<>> hooks = {
      {"place-on-target", [this] {
         return std::make_unique<PlaceOnTargetPass>(target_, opt_.reportPath, forTarget_, placement_);
       }}};
  NPU_TRY(appendEmitStage(pm_, EmitPhase::Final, opt_.disabled, hooks));
  NPU_TRY(std::move(pm_.run(m, ctx_)).in(where));
  return std::move(verifyModel(m)).in("after emission");
}

}  // namespace npuconv
