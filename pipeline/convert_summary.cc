// convert_summary.cc - see convert_summary.h.
#include "pipeline/convert_summary.h"

#include <algorithm>
#include <map>
#include <vector>

#include <fmt/format.h>

#include "pipeline/html_text.h"

namespace npuconv {
namespace {

template <typename T>
T get(const nlohmann::ordered_json& j, const char* key, T fallback) {
  return j.is_object() && j.contains(key) && !j[key].is_null() ? j[key].get<T>() : fallback;
}

}  // namespace

std::string formatConvertSummary(const nlohmann::ordered_json& r) {
  std::string s;
  const auto in = r.value("input", nlohmann::ordered_json::object());
  const auto out = r.value("output", nlohmann::ordered_json::object());
  s += fmt::format("npuconv: {} -> {} ({})\n", get<std::string>(in, "model", "?"), get<std::string>(out, "model", "?"),
                   get<std::string>(r, "precision", "?"));
  const double before = get<double>(in, "model_bytes", 0);
  const double after = get<double>(out, "model_bytes", 0) + get<double>(out, "external_bytes", 0);
  if (before > 0 && after > 0)
    s += fmt::format("  size: {} -> {} ({:.2f}x)\n", bytesText(before), bytesText(after), after / before);
  if (r.contains("passes") && r["passes"].is_array() && !r["passes"].empty()) {
    const auto& first = r["passes"].front();
    const auto& last = r["passes"].back();
    if (first.contains("nodes_before") && last.contains("nodes_after"))
      s += fmt::format("  nodes: {} -> {} after {} passes\n", first["nodes_before"].get<int64_t>(),
                       last["nodes_after"].get<int64_t>(), r["passes"].size());
  }
  if (r.contains("precisions") && r["precisions"].contains("layers")) {
    // Per op type: how many layers in each precision ("MatMul 12 int8, Gemm 1 int8 1 fp32").
    std::map<std::string, std::map<std::string, int>> byOp;
    for (const auto& l : r["precisions"]["layers"]) ++byOp[l["op"].get<std::string>()][l["precision"].get<std::string>()];
    std::string kinds;
    for (const auto& [op, counts] : byOp) {
      kinds += kinds.empty() ? "" : ", ";
      kinds += op;
      for (const auto& [p, n] : counts) kinds += fmt::format(" {} {}", n, p);
    }
    s += fmt::format("  layers: {}; int8 weights {:.1f}%\n", kinds,
                     100 * get<double>(r["precisions"], "int8_weight_share", 0));
  }
  if (r.contains("device_blob") && get<bool>(r["device_blob"], "written", false)) {
    const auto& b = r["device_blob"];
    const auto ops = b.value("ops", nlohmann::ordered_json::object());
    const auto mem = b.value("memory_plan", nlohmann::ordered_json::object());
    s += fmt::format("  blob: {} ({}), ops NPU {} / CPU {}, arena {}\n", get<std::string>(b, "file", "model.npub"),
                     bytesText(get<double>(b, "bytes", 0)), get<int64_t>(ops, "npu", 0), get<int64_t>(ops, "cpu_fallback", 0),
                     bytesText(get<double>(mem, "arena_bytes", 0)));
  }
  if (r.contains("validation")) {
    for (const auto& [artifact, v] : r["validation"].items()) {
      const auto agg = v.value("aggregate", nlohmann::ordered_json::object());
      const auto outputs = agg.value("outputs", nlohmann::ordered_json::object());  // named: items() does not own it
      for (const auto& [name, e] : outputs.items()) {
        std::string verdict = e.contains("passed") ? (e["passed"].get<bool>() ? "  PASS" : "  FAIL") : "";
        s += fmt::format("  validation {} {}: cosine {:.6f}, SQNR {:.2f} dB, max abs {:.3g} over {} samples{}\n", artifact,
                         name, get<double>(e, "cosine", 0), get<double>(e, "sqnr_db", 0), get<double>(e, "max_abs", 0),
                         get<int64_t>(agg, "samples", 0), verdict);
      }
    }
  }
  if (r.contains("timings") && r["timings"].is_object() && !r["timings"].empty()) {
    // The total and the steps that took most of it.
    std::vector<std::pair<double, std::string>> steps;
    double total = 0;
    for (const auto& [step, ms] : r["timings"].items()) {
      steps.emplace_back(ms.get<double>(), step);
      total += ms.get<double>();
    }
    std::sort(steps.rbegin(), steps.rend());
    std::string top;
    for (size_t i = 0; i < steps.size() && i < 3 && steps[i].first >= 0.05 * total; ++i)
      top += fmt::format("{}{} {:.1f} s", top.empty() ? "" : ", ", steps[i].second, steps[i].first / 1000);
    s += fmt::format("  time: {:.1f} s{}\n", total / 1000, top.empty() ? "" : " (" + top + ")");
  }
  if (r.contains("fallback"))
    s += fmt::format("  fallback: {} instead of {}: {}\n", get<std::string>(r["fallback"], "used_precision", "?"),
                     get<std::string>(r["fallback"], "requested_precision", "?"),
                     get<std::string>(r["fallback"], "reason", ""));
  return s;
}

}  // namespace npuconv
