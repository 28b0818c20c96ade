// variant_decisions.cc - see variant_decisions.h.
#include "pipeline/variant_decisions.h"

namespace npuconv {

Status equalizeLikeFirstVariant(Model& m, const FirstVariantDecisions& d, std::string& modelKey) {
  if (d.equalized.empty()) return Status::ok();
  NPU_TRY(applyDepthwiseScales(m, d.equalized));
  modelKey += "+equalized-depthwise-inputs";
  return Status::ok();
}

Status correctBiasLikeFirstVariant(Model& quantized, const Model& floatModel, const FirstVariantDecisions& d,
                                   QuantizeReport& report) {
  return applyBiasShifts(quantized, floatModel, d.biasShifts, report);
}

nlohmann::ordered_json takenFromFirstVariant(const FirstVariantDecisions& d) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (d.mixedSearched) {
    int higher = 0;
    for (const auto& [name, p] : d.mixed.nodes) higher += p != LayerPrecision::Int8;
    // Counted in the config's own terms: original ONNX node names (a layer is several).
    j["mixed_config"] = fmt::format("--auto-mixed config of the first variant: {} node{} above int8", higher,
                                    higher == 1 ? "" : "s");
  }
  j["bias_correction"] = d.biasShifts.empty()
                             ? std::string("none")
                             : fmt::format("the first variant's shifts on {} layer{}", d.biasShifts.size(),
                                           d.biasShifts.size() == 1 ? "" : "s");
  j["equalization"] = d.equalized.empty()
                          ? std::string("none")
                          : fmt::format("the first variant's scales on {} depthwise pair{}", d.equalized.size(),
                                        d.equalized.size() == 1 ? "" : "s");
  return j;
}

}  // namespace npuconv
