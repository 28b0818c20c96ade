// validate.cc - see validate.h.
#include "pipeline/validate.h"

#include <cmath>

#include "converter/support/progress_bar.h"
#include "formats/calib/calib_data.h"
#include "pipeline/calib_stage.h"
#include "pipeline/model_runner.h"
#include "quant/error_stats.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

/// One input set (or the reference outputs for one): a file for openCalibData, or .npy files by
/// tensor name.
struct ArraySet {
  std::string name;
  fs::path file;
  NamedNpyFiles npys;
};

bool isArchive(const fs::path& p) {
  const std::string e = p.extension().string();
  return e == ".npz" || e == ".h5" || e == ".hdf5";
}

Expected<std::vector<ArraySet>> inputSets(const std::vector<std::string>& args) {
  if (args.empty()) return Status::invalidArgument("validate: give the inputs: --inputs DIR | FILE | NAME=FILE.npy ...");
  std::error_code ec;
  bool named = false;
  for (const std::string& a : args) named = named || (a.find('=') != std::string::npos && !fs::exists(a, ec));
  if (named) {
    ArraySet s{"inputs", {}, {}};
    for (const std::string& a : args) {
      size_t eq = a.find('=');
      if (eq == std::string::npos || eq == 0)
        return Status::invalidArgument("--inputs {}: with NAME=FILE.npy arguments every one needs a NAME=", a);
      fs::path p = a.substr(eq + 1);
      if (!fs::is_regular_file(p, ec)) return Status::io("--inputs {}: {}: no such file", a, p.string());
      s.npys.emplace_back(a.substr(0, eq), p);
    }
    return std::vector<ArraySet>{std::move(s)};
  }
  if (args.size() != 1)
    return Status::invalidArgument("--inputs: give one folder or file, or NAME=FILE.npy arguments (got {} paths)", args.size());
  fs::path p = args[0];
  if (!fs::exists(p, ec)) return Status::io("--inputs {}: no such file or folder", p.string());
  if (!fs::is_directory(p, ec)) return std::vector<ArraySet>{{p.stem().string(), p, {}}};
  NPU_ASSIGN_OR_RETURN(NamedNpyFiles top, npyFilesIn(p));
  if (!top.empty()) return std::vector<ArraySet>{{p.filename().string(), {}, std::move(top)}};
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(p, ec))
    if (e.is_directory() || (e.is_regular_file() && isArchive(e.path()))) entries.push_back(e.path());
  if (ec) return Status::io("--inputs {}: cannot list the folder: {}", p.string(), ec.message());
  std::sort(entries.begin(), entries.end());
  std::vector<ArraySet> sets;
  for (const fs::path& e : entries) {
    if (!fs::is_directory(e)) {
      sets.push_back({e.stem().string(), e, {}});
      continue;
    }
    NPU_ASSIGN_OR_RETURN(NamedNpyFiles npys, npyFilesIn(e));
    if (!npys.empty()) sets.push_back({e.filename().string(), {}, std::move(npys)});
  }
  if (sets.empty())
    return Status::invalidArgument("--inputs {}: no input set in the folder (NAME.npy files, or sub-folders of them, or "
                                   ".npz/.h5 files)", p.string());
  return sets;
}

/// Where the reference outputs of input set `set` are (see validate.h).
Expected<ArraySet> referenceSet(const fs::path& ref, const ArraySet& set, size_t setCount) {
  std::error_code ec;
  if (!fs::is_directory(ref, ec)) {
    if (setCount > 1)
      return Status::invalidArgument("--reference-outputs {}: one file for {} input sets; give a folder with one entry "
                                     "per set (SET/ of OUTPUT.npy, or SET.npz|.h5)", ref.string(), setCount);
    return ArraySet{set.name, ref, {}};
  }
  if (setCount == 1) {
    NPU_ASSIGN_OR_RETURN(NamedNpyFiles top, npyFilesIn(ref));
    if (!top.empty()) return ArraySet{set.name, {}, std::move(top)};
  }
  if (fs::is_directory(ref / set.name, ec)) {
    NPU_ASSIGN_OR_RETURN(NamedNpyFiles npys, npyFilesIn(ref / set.name));
    return ArraySet{set.name, {}, std::move(npys)};
  }
  for (const char* ext : {".npz", ".h5", ".hdf5"})
    if (fs::is_regular_file(ref / (set.name + ext), ec)) return ArraySet{set.name, ref / (set.name + ext), {}};
  return Status::invalidArgument("--reference-outputs {}: nothing for input set \"{}\" (expected {}/OUTPUT.npy or "
                                 "{}.npz|.h5 in it)", ref.string(), set.name, set.name, set.name);
}

Expected<std::unique_ptr<SampleStream>> openSet(const ArraySet& s, const std::vector<ModelInputSpec>& specs,
                                                const std::string& what) {
  if (!s.npys.empty()) return openNamedNpySamples(s.npys, CalibDataOptions{}, specs, what);
  CalibDataOptions d;
  d.paths = {s.file};
  return openCalibData(d, specs);
}

/// The figures of one output over a set (or all of them).
struct OutputFigures {
  ErrorStats stats;
  int64_t elements = 0, outside = 0;  // elements outside atol + rtol * |ref|
  double worstExcess = 0;             // max of |got - ref| - (atol + rtol * |ref|)

  void add(std::span<const float> ref, std::span<const float> got, const ValidateThresholds& t) {
    stats.add(ref, got);
    if (!t.atol && !t.rtol) return;
    const double atol = t.atol.value_or(0), rtol = t.rtol.value_or(0);
    for (size_t i = 0; i < ref.size(); ++i) {
      double excess = std::abs(double(got[i]) - double(ref[i])) - (atol + rtol * std::abs(double(ref[i])));
      if (!(excess <= 0)) {  // NaN counts as outside
        ++outside;
        worstExcess = std::isnan(excess) ? INFINITY : std::max(worstExcess, excess);
      }
    }
    elements += static_cast<int64_t>(ref.size());
  }
};

/// The figures and the verdict of one output; the first failure (naming `where`) into `failure`.
nlohmann::ordered_json checkOutput(const std::string& where, const std::string& name, const OutputFigures& f,
                                   const ValidateThresholds& t, bool& passed, std::string& failure) {
  nlohmann::ordered_json j = f.stats.toJson();
  nlohmann::ordered_json checks = nlohmann::ordered_json::object();
  auto fail = [&](std::string why) {
    if (passed) failure = fmt::format("{}output \"{}\": {}", where, name, why);
    passed = false;
  };
  bool ok = true;
  auto check = [&](const char* key, double value, double limit, bool holds, std::string why) {
    checks[key] = {{"value", value}, {"threshold", limit}, {"passed", holds}};
    if (!holds) ok = false, fail(std::move(why));
  };
  if (t.atol || t.rtol) {
    j["allclose"] = {{"atol", t.atol.value_or(0)}, {"rtol", t.rtol.value_or(0)}, {"elements", f.elements},
                     {"outside", f.outside}, {"worst_excess", std::isinf(f.worstExcess) ? 1e300 : f.worstExcess}};
    checks["allclose"] = {{"outside", f.outside}, {"passed", f.outside == 0}};
    if (f.outside) {
      ok = false;
      fail(fmt::format("{} of {} elements outside atol {} + rtol {} * |ref| (max abs error {:.4g})", f.outside,
                       f.elements, t.atol.value_or(0), t.rtol.value_or(0), f.stats.maxAbs()));
    }
  }
  if (t.minCosine)
    check("min_cosine", f.stats.cosine(), *t.minCosine, f.stats.cosine() >= *t.minCosine,
          fmt::format("cosine {:.6f} is below --min-cosine {}", f.stats.cosine(), *t.minCosine));
  if (t.minSqnrDb)
    check("min_sqnr_db", f.stats.sqnrDb(), *t.minSqnrDb, f.stats.sqnrDb() >= *t.minSqnrDb,
          fmt::format("SQNR {:.2f} dB is below --min-sqnr {}", f.stats.sqnrDb(), *t.minSqnrDb));
  if (!checks.empty()) {
    j["checks"] = std::move(checks);
    j["passed"] = ok;
  }
  return j;
}

nlohmann::ordered_json thresholdsJson(const ValidateThresholds& t) {
  auto opt = [](const std::optional<double>& v) { return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(); };
  return {{"atol", opt(t.atol)}, {"rtol", opt(t.rtol)}, {"min_cosine", opt(t.minCosine)}, {"min_sqnr_db", opt(t.minSqnrDb)}};
}

Status checkFloat(const Tensor& t, const std::string& name, const std::string& from) {
  if (t.dtype() != DType::F32)
    return Status::invalidArgument("{}: output \"{}\" is {}: validate compares float32 outputs", from, name, t.describe());
  return Status::ok();
}

}  // namespace

ValidateThresholds ValidateThresholds::over(const ValidateThresholds& fallback) const {
  ValidateThresholds t = *this;
  if (!t.atol) t.atol = fallback.atol;
  if (!t.rtol) t.rtol = fallback.rtol;
  if (!t.minCosine) t.minCosine = fallback.minCosine;
  if (!t.minSqnrDb) t.minSqnrDb = fallback.minSqnrDb;
  return t;
}

Status parsePerOutputThreshold(const std::string& spec, std::map<std::string, ValidateThresholds>& into) {
  size_t colon = spec.rfind(':'), eq = spec.find('=', colon == std::string::npos ? 0 : colon);
  if (colon == std::string::npos || colon == 0 || eq == std::string::npos)
    return Status::invalidArgument("--per-output {}: expected NAME:KEY=VALUE (KEY: atol, rtol, min-cosine, min-sqnr)", spec);
  std::string name = spec.substr(0, colon), key = spec.substr(colon + 1, eq - colon - 1), text = spec.substr(eq + 1);
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v) || v < 0)
    return Status::invalidArgument("--per-output {}: \"{}\" is not a number of 0 or more", spec, text);
  ValidateThresholds& t = into[name];
  if (key == "atol") t.atol = v;
  else if (key == "rtol") t.rtol = v;
  else if (key == "min-cosine") t.minCosine = v;
  else if (key == "min-sqnr") t.minSqnrDb = v;
  else return Status::invalidArgument("--per-output {}: unknown key \"{}\" (atol, rtol, min-cosine, min-sqnr)", spec, key);
  return Status::ok();
}

Expected<ValidateResult> runValidate(const ValidateOptions& o) {
  if (o.referenceModel.empty() == o.referenceOutputs.empty())
    return Status::invalidArgument("validate: give one reference: --reference-model REF.onnx or --reference-outputs "
                                   "DIR|FILE.npz|FILE.h5");
  std::error_code ec;
  if (!o.referenceOutputs.empty() && !fs::exists(o.referenceOutputs, ec))
    return Status::io("--reference-outputs {}: no such file or folder", o.referenceOutputs.string());
  NPU_ASSIGN_OR_RETURN(std::vector<ArraySet> sets, inputSets(o.inputs));
  NPU_ASSIGN_OR_RETURN(std::unique_ptr<ModelRunner> candidate, openModelRunner(o.candidate, o.threads));
  std::unique_ptr<ModelRunner> reference;
  if (!o.referenceModel.empty()) {
    NPU_ASSIGN_OR_RETURN(reference, openModelRunner(o.referenceModel, o.threads));
  }
  // The candidate's shapes, the reference's element types: an fp16 candidate gets the float32
  // data cast down (ModelRunner::run), the float32 reference gets it exact.
  std::vector<ModelInputSpec> specs = candidate->inputSpecs();
  if (reference)
    for (ModelInputSpec& s : specs)
      for (const ModelInputSpec& r : reference->inputSpecs())
        if (r.name == s.name) s.dtype = r.dtype;
  const std::vector<std::string>& outputs = candidate->outputNames();
  for (const auto& [name, t] : o.perOutput)
    if (std::find(outputs.begin(), outputs.end(), name) == outputs.end())
      return Status::invalidArgument("--per-output {}: {} has no output \"{}\"", name, o.candidate.string(), name);
  std::map<std::string, ValidateThresholds> thresholds;
  for (const std::string& name : outputs) {
    auto it = o.perOutput.find(name);
    thresholds[name] = it == o.perOutput.end() ? o.thresholds : it->second.over(o.thresholds);
  }
  const std::string refName = reference ? o.referenceModel.string() : o.referenceOutputs.string();

  ValidateResult res;
  nlohmann::ordered_json& r = res.report;
  r["candidate"] = o.candidate.string();
  r["candidate_kind"] = candidate->kind();
  r["reference"] = reference ? nlohmann::ordered_json{{"model", refName}} : nlohmann::ordered_json{{"outputs", refName}};
  r["thresholds"] = thresholdsJson(o.thresholds);
  if (!o.perOutput.empty()) {
    nlohmann::ordered_json per = nlohmann::ordered_json::object();
    for (const auto& [name, t] : thresholds) per[name] = thresholdsJson(t);
    r["per_output_thresholds"] = std::move(per);
  }
  std::map<std::string, OutputFigures> total;
  int64_t totalSamples = 0;
  nlohmann::ordered_json setsJson = nlohmann::ordered_json::array();
  ProgressBar bar(o.progress, 0, "validating " + o.candidate.filename().string(), "samples");
  size_t progressDone = 0, progressTotal = 0;
  for (const ArraySet& set : sets) {
    const std::string what = set.file.empty() ? "input set " + set.name : set.file.string();
    NPU_ASSIGN_OR_RETURN(std::unique_ptr<SampleStream> in, openSet(set, specs, what));
    progressTotal += in->size();
    bar.setTotal(progressTotal);
    std::unique_ptr<SampleStream> refOut;  // opened at the first sample: its shapes come from the candidate's
    std::optional<ArraySet> refSet;
    if (!reference) {
      NPU_ASSIGN_OR_RETURN(refSet, referenceSet(o.referenceOutputs, set, sets.size()));
    }
    std::map<std::string, OutputFigures> figs;
    int64_t samples = 0;
    for (;;) {
      NPU_ASSIGN_OR_RETURN(std::optional<NamedTensors> sample, in->next());
      if (!sample) break;
      ++samples;
      bar.update(++progressDone);
      NPU_ASSIGN_OR_RETURN(NamedTensors got, candidate->run(*sample));
      NamedTensors want;
      if (reference) {
        NPU_ASSIGN_OR_RETURN(want, reference->run(*sample));
      } else {
        if (!refOut) {
          std::vector<ModelInputSpec> outSpecs;
          for (const std::string& name : outputs) outSpecs.push_back({name, DType::F32, got.at(name).dims()});
          const std::string refWhat = refSet->file.empty() ? "reference outputs for " + what : refSet->file.string();
          NPU_ASSIGN_OR_RETURN(refOut, openSet(*refSet, outSpecs, refWhat));
        }
        NPU_ASSIGN_OR_RETURN(std::optional<NamedTensors> w, refOut->next());
        if (!w)
          return Status::invalidArgument("{}: fewer reference samples than the {} input samples of {}", refOut->describe(),
                                         in->describe(), what);
        want = std::move(*w);
      }
      for (const std::string& name : outputs) {
        const Tensor& g = got.at(name);
        auto wi = want.find(name);
        if (wi == want.end()) return Status::invalidArgument("{}: has no output \"{}\" (of {})", refName, name, o.candidate.string());
        NPU_TRY(checkFloat(g, name, o.candidate.string()));
        NPU_TRY(checkFloat(wi->second, name, refName));
        if (g.dims() != wi->second.dims())
          return Status::invalidArgument("output \"{}\", {} sample {}: {} from {} vs {} from {}", name, what, samples,
                                         g.describe(), o.candidate.string(), wi->second.describe(), refName);
        figs[name].add(wi->second.span<float>(), g.span<float>(), thresholds[name]);
        total[name].add(wi->second.span<float>(), g.span<float>(), thresholds[name]);
      }
    }
    if (samples == 0) return Status::invalidArgument("{}: holds no sample", what);
    if (refOut) {
      NPU_ASSIGN_OR_RETURN(std::optional<NamedTensors> extra, refOut->next());
      if (extra)
        return Status::invalidArgument("{}: more reference samples than the {} input samples of {}", refOut->describe(),
                                       samples, what);
    }
    totalSamples += samples;
    nlohmann::ordered_json s;
    s["name"] = set.name;
    s["inputs"] = in->describe();
    if (refOut) s["reference_outputs"] = refOut->describe();
    s["samples"] = samples;
    bool setPassed = true;
    nlohmann::ordered_json outs = nlohmann::ordered_json::object();
    const std::string where = sets.size() > 1 ? fmt::format("input set \"{}\": ", set.name) : "";
    std::string setFailure;
    for (const std::string& name : outputs)
      outs[name] = checkOutput(where, name, figs[name], thresholds[name], setPassed, setFailure);
    s["outputs"] = std::move(outs);
    s["passed"] = setPassed;
    if (!setPassed && res.passed) res.passed = false, res.failure = setFailure;
    setsJson.push_back(std::move(s));
  }
  r["sets"] = std::move(setsJson);
  nlohmann::ordered_json agg;
  agg["sets"] = sets.size();
  agg["samples"] = totalSamples;
  bool aggPassed = true;
  std::string aggFailure;
  nlohmann::ordered_json outs = nlohmann::ordered_json::object();
  for (const std::string& name : outputs)
    outs[name] = checkOutput(sets.size() > 1 ? "all sets: " : "", name, total[name], thresholds[name], aggPassed, aggFailure);
  agg["outputs"] = std::move(outs);
  agg["passed"] = aggPassed;
  r["aggregate"] = std::move(agg);
  if (!aggPassed && res.passed) res.passed = false, res.failure = aggFailure;
  r["passed"] = res.passed;
  if (!res.passed) r["failure"] = res.failure;
  return res;
}

std::string formatValidateReport(const nlohmann::ordered_json& r) {
  std::string s = fmt::format("validate {} against {}\n", r["candidate"].get<std::string>(),
                              r["reference"].begin().value().get<std::string>());
  auto line = [&](const std::string& name, const nlohmann::ordered_json& e) {
    s += fmt::format("    {}: SQNR {:.2f} dB, cosine {:.6f}, max abs {:.4g}, max rel {:.4g}", name, e["sqnr_db"].get<double>(),
                     e["cosine"].get<double>(), e["max_abs"].get<double>(), e["max_rel"].get<double>());
    if (e.contains("allclose")) s += fmt::format(", {} outside tolerance", e["allclose"]["outside"].get<int64_t>());
    if (e.contains("passed")) s += e["passed"].get<bool>() ? "  PASS" : "  FAIL";
    s += "\n";
  };
  for (const auto& set : r["sets"]) {
    s += fmt::format("  set {}: {} samples of {}\n", set["name"].get<std::string>(), set["samples"].get<int64_t>(),
                     set["inputs"].get<std::string>());
    for (const auto& [name, e] : set["outputs"].items()) line(name, e);
  }
  const auto& agg = r["aggregate"];
  if (agg["sets"].get<size_t>() > 1) {
    s += fmt::format("  all {} sets: {} samples\n", agg["sets"].get<size_t>(), agg["samples"].get<int64_t>());
    for (const auto& [name, e] : agg["outputs"].items()) line(name, e);
  }
  s += r["passed"].get<bool>() ? "  passed\n" : fmt::format("  FAILED: {}\n", r["failure"].get<std::string>());
  return s;
}

}  // namespace npuconv
