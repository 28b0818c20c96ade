// convert_validation.cc - see convert_validation.h.
#include "pipeline/convert_validation.h"

namespace npuconv {

nlohmann::ordered_json ConvertValidation::toJson() const {
  auto opt = [](const std::optional<double>& v) { return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(); };
  nlohmann::ordered_json j;
  j["inputs"] = inputs;
  j["reference_outputs"] = referenceOutputs.string();
  j["atol"] = opt(thresholds.atol);
  j["rtol"] = opt(thresholds.rtol);
  j["min_cosine"] = opt(thresholds.minCosine);
  j["min_sqnr"] = opt(thresholds.minSqnrDb);
  nlohmann::ordered_json per = nlohmann::ordered_json::object();
  for (const auto& [name, t] : perOutput)
    per[name] = {{"atol", opt(t.atol)}, {"rtol", opt(t.rtol)}, {"min_cosine", opt(t.minCosine)}, {"min_sqnr", opt(t.minSqnrDb)}};
  j["per_output"] = std::move(per);
  return j;
}

Expected<ConvertValidationResult> validateConverted(const ConvertValidation& v, const std::filesystem::path& reference,
                                                    const std::vector<std::filesystem::path>& artifacts,
                                                    const std::filesystem::path& shownDir, int threads,
                                                    bool progress) {
  ConvertValidationResult res;
  res.report = nlohmann::ordered_json::object();
  for (const std::filesystem::path& artifact : artifacts) {
    ValidateOptions vo;
    vo.candidate = artifact;
    if (v.referenceOutputs.empty()) vo.referenceModel = reference;
    else vo.referenceOutputs = v.referenceOutputs;
    vo.inputs = v.inputs;
    vo.thresholds = v.thresholds;
    vo.perOutput = v.perOutput;
    vo.threads = threads;
    vo.progress = progress;
    const std::string name = artifact.filename().string();
    auto r = runValidate(vo);
    if (!r) return std::move(r).status().in("--validate-inputs (" + name + ")");
    r->report["candidate"] = (shownDir / name).string();
    if (!r->passed && res.failure.empty()) res.failure = fmt::format("validation of {}: {}", name, r->failure);
    res.report[name] = std::move(r->report);
  }
  return res;
}

}  // namespace npuconv
