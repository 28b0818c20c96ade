// npuconv targets [NAME] [--json] [--target-file F]: the built-in NPU profiles.
#include <cstdio>

#include <fmt/format.h>

#include "cli/commands.h"
#include "formats/target/target_json.h"

namespace npuconv {
namespace {

struct TargetsOptions {
  std::string name, file;
  bool json = false;
};

std::string quantText(const QuantizationSupport& q) {
  std::string s;
  auto add = [&](bool on, const char* what) {
    if (on) s += (s.empty() ? "" : ",") + std::string(what);
  };
  add(q.int8Symmetric, "int8-sym");
  add(q.int8Asymmetric, "int8-asym");
  add(q.perChannelWeights, "per-channel");
  add(q.int16Activations, "int16");
  add(q.fp16, "fp16");
  add(q.fp32Compute, "fp32");
  return s;
}

std::string limitsText(const OpConstraints& c) {
  std::vector<std::string> parts;
  auto dims = [](const std::vector<int64_t>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
    return s;
  };
  if (!c.kernelSizes.empty()) parts.push_back("kernel {" + dims(c.kernelSizes) + "}");
  if (c.maxKernel) parts.push_back(fmt::format("kernel<={}", *c.maxKernel));
  if (c.maxStride) parts.push_back(fmt::format("stride<={}", *c.maxStride));
  if (!c.dilationAllowed) parts.push_back("no dilation");
  if (c.maxDilation) parts.push_back(fmt::format("dilation<={}", *c.maxDilation));
  if (c.maxPad) parts.push_back(fmt::format("pad<={}", *c.maxPad));
  if (c.groups != GroupSupport::Any) parts.push_back(fmt::format("groups={}", groupSupportName(c.groups)));
  if (c.maxDepthMultiplier) parts.push_back(fmt::format("depth-multiplier<={}", *c.maxDepthMultiplier));
  if (c.maxChannels) parts.push_back(fmt::format("channels<={}", *c.maxChannels));
  if (c.maxRank) parts.push_back(fmt::format("rank<={}", *c.maxRank));
  if (c.maxBatch) parts.push_back(fmt::format("batch<={}", *c.maxBatch));
  if (c.broadcast != BroadcastSupport::Full) parts.push_back(fmt::format("broadcast={}", broadcastSupportName(c.broadcast)));
  if (c.constantWeights) parts.push_back("constant weights");
  for (const auto& [a, v] : c.attrValues) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? "|" : "") + v[i];
    parts.push_back(a + "=" + s);
  }
  std::string s;
  for (size_t i = 0; i < parts.size(); ++i) s += (i ? ", " : "") + parts[i];
  if (!c.note.empty()) s += (s.empty() ? "" : "; ") + c.note;
  return s;
}

void printProfile(const TargetProfile& p) {
  std::printf("name                 %s\n", p.name.c_str());
  std::printf("description          %s\n", p.description.c_str());
  std::printf("static shapes        %s\n", p.requiresStaticShapes ? "required" : "not required");
  std::printf("layout               %s\n", p.preferredLayout.c_str());
  std::printf("channel alignment    %lld\n", static_cast<long long>(p.channelAlignment));
  if (p.maxRank) std::printf("max rank             %lld\n", static_cast<long long>(*p.maxRank));
  if (p.maxInnermostDims)
    std::printf("innermost dims       only the %lld innermost dims may exceed 1\n", static_cast<long long>(*p.maxInnermostDims));
  if (p.singleNpuSegment) std::printf("segments             one NPU segment: ops after the first CPU op run on the CPU\n");
  std::printf("quantization         %s\n", quantText(p.quantization).c_str());
  for (const std::string& s : p.sources) std::printf("source               %s\n", s.c_str());
  std::printf("ops (%zu)\n", p.ops.size());
  for (const OpConstraints& c : p.ops) {
    std::string op = c.domain.empty() ? c.opType : c.domain + ":" + c.opType;
    std::printf("  %-24s %s\n", op.c_str(), limitsText(c).c_str());
  }
}

int runTargets(const TargetsOptions& o) {
  if (!o.file.empty() || !o.name.empty()) {
    auto p = o.file.empty() ? builtinTarget(o.name) : loadTargetProfile(o.file);
    if (!p) return reportError(p.status());
    if (o.json) std::printf("%s\n", targetProfileToJson(*p).dump(2).c_str());
    else printProfile(*p);
    return 0;
  }
  std::vector<TargetProfile> all;
  for (const std::string& n : builtinTargetNames()) {
    auto p = builtinTarget(n);
    if (!p) return reportError(p.status());
    all.push_back(std::move(*p));
  }
  if (o.json) {
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const TargetProfile& p : all) j.push_back(targetProfileToJson(p));
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%-14s %-7s %-6s %-44s %s\n", "target", "static", "layout", "quantization", "description");
  for (const TargetProfile& p : all)
    std::printf("%-14s %-7s %-6s %-44s %s\n", p.name.c_str(), p.requiresStaticShapes ? "yes" : "no",
                p.preferredLayout.c_str(), quantText(p.quantization).c_str(), p.description.c_str());
  std::printf("\ndefault: %.*s; details: npuconv targets NAME [--json]\n", int(kDefaultTarget.size()), kDefaultTarget.data());
  return 0;
}

}  // namespace

void addTargetsCommand(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("targets", "List the built-in NPU target profiles, or print one");
  auto o = std::make_shared<TargetsOptions>();
  cmd->add_option("name", o->name, "A built-in profile to print");
  cmd->add_option("--target-file", o->file, "Validate and print a profile from a JSON file");
  cmd->add_flag("--json", o->json, "Print JSON (the profile schema of docs/targets.md)");
  cmd->callback([&action, o] { action = [o] { return runTargets(*o); }; });
}

}  // namespace npuconv
