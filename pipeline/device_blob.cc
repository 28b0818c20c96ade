// device_blob.cc - see device_blob.h.
#include "pipeline/device_blob.h"

#include <algorithm>
#include <map>

#include "converter/device/interpreter.h"
#include "formats/blob/blob_variants.h"
#include "formats/blob/blob_writer.h"
#include "formats/support/sha256.h"
#include "pipeline/lower_to_device.h"
#include "pipeline/version.h"

namespace npuconv {

Expected<nlohmann::ordered_json> writeDeviceBlob(Model& m, const DeviceBlobRequest& r, std::FILE* diagnostics,
                                                 const std::vector<Model*>& moreVariants) {
  std::vector<device::KeyValue> prov = {{"npuconv_version", kNpuconvVersion},
                                        {"source_model", std::filesystem::path(r.sourceModel).filename().string()},
                                        {"source_model_key", r.sourceKey},
                                        {"source_model_sha256", r.sourceSha256}};
  if (!r.sourceExternalSha256.empty()) {
    // sha256sum's own lines (docs/blob-format.md, PROV): `sha256sum -c` in the model's folder
    // checks them as they stand.
    std::string lines;
    for (const auto& [location, hex] : r.sourceExternalSha256)
      lines += (lines.empty() ? "" : "\n") + sha256sumLine(hex, location);
    prov.push_back({"source_external_data_sha256", std::move(lines)});
  }
  prov.push_back({"pipeline", r.pipeline});
  prov.push_back({"target", r.target});
  prov.push_back({"precision", r.precision});
  if (!r.calibrationMethod.empty()) {
    prov.push_back({"calibration_method", r.calibrationMethod});
    prov.push_back({"calibration_samples", std::to_string(r.calibrationSamples)});
  }
  nlohmann::ordered_json j;
  auto noBlob = [&](const std::string& reason) {
    j["written"] = false;
    j["reason"] = reason;
    if (diagnostics) std::fprintf(diagnostics, "npuconv: warning: no device blob: %s\n", reason.c_str());
    return j;
  };
  std::vector<device::Program> programs;
  // Several variants: a layer whose bias passes the accumulator widens its weight scales at its
  // input scale, which each variant calibrated at its own shape has its own; widened at the
  // smallest of them (lowerToDevice's widenInputScale), every variant requantizes those weights
  // alike and WGHT keeps one copy. A first lowering finds the input scales.
  std::map<std::string, double> widenAt;
  for (int pass = moreVariants.empty() ? 1 : 0; pass < 2; ++pass) {
    programs.clear();
    for (size_t v = 0; v <= moreVariants.size(); ++v) {
      const std::string which = moreVariants.empty() ? "" : fmt::format("shape variant {}: ", v + 1);
      Expected<device::Program> p = lowerToDevice(v == 0 ? m : *moreVariants[v - 1], prov, pass ? &widenAt : nullptr);
      if (!p) {
        if (p.status().code() == StatusCode::Io) return p.status();
        return noBlob(which + p.status().message());
      }
      // The interpreter's op checks are the spec's: a program they reject is a lowering bug, and
      // no blob is better than one no conforming runtime accepts.
      if (Expected<std::unique_ptr<device::Interpreter>> check = device::Interpreter::create(*p); !check)
        return noBlob(which + "internal: the lowered program fails the spec's checks: " + check.status().message());
      programs.push_back(std::move(*p));
    }
    if (pass == 0)
      for (const device::Program& x : programs)
        for (const device::Op& op : x.ops) {
          if (op.code != device::OpCode::Conv && op.code != device::OpCode::Gemm) continue;
          const device::Tensor& in = x.tensors[static_cast<size_t>(op.inputs[0])];
          if (in.quant < 0) continue;
          const double s = x.quant[static_cast<size_t>(in.quant)].scales[0];
          // The op's first original name (an unnamed node's is its first output's): names may be empty.
          auto [it, fresh] = widenAt.emplace(op.provenance.empty() ? op.name : op.provenance.front(), s);
          if (!fresh) it->second = std::min(it->second, s);
        }
  }
  std::vector<const device::Program*> ptrs;
  for (const device::Program& x : programs) ptrs.push_back(&x);
  const device::Program* p = ptrs[0];
  NPU_ASSIGN_OR_RETURN(uint64_t bytes, writeBlob(ptrs, r.path));
  j["written"] = true;
  j["file"] = r.path.string();
  j["bytes"] = bytes;
  j["memory_plan"] = {{"arena_bytes", p->memory.arenaBytes},
                      {"activation_bytes", p->memory.activationBytes},
                      {"max_live_bytes", p->memory.maxLiveBytes},
                      {"arena_over_bound", p->memory.maxLiveBytes ? double(p->memory.arenaBytes) / double(p->memory.maxLiveBytes) : 1.0}};
  j["ops"] = {{"total", p->ops.size()}, {"npu", p->npuOps()}, {"cpu_fallback", p->cpuOps()}};
  nlohmann::ordered_json cpu = nlohmann::ordered_json::array();
  for (const device::Op& op : p->ops)
    if (op.cpuFallback()) cpu.push_back({{"op", op.type}, {"name", op.name}, {"original", op.provenance}});
  j["cpu_fallback_ops"] = cpu;
  if (programs.size() > 1) {
    nlohmann::ordered_json vs = nlohmann::ordered_json::array();
    for (const device::Program& x : programs)
      vs.push_back({{"input_shapes", variantInputShapes(x)}, {"arena_bytes", x.memory.arenaBytes}, {"ops", x.ops.size()}});
    j["variants"] = std::move(vs);
  }
  return j;
}

}  // namespace npuconv
