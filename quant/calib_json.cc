// calib_json.cc - the calibration cache's JSON form: versioned, lossless and byte-stable.
//
// {"dataKey": ..., "format": "npuconv-calibration", "histogram": {"mantissaBits": 7},
//  "modelKey": ..., "observed": [names] | "all", "samples": N,
//  "shards": {"count": n, "indices": [...]},
//  "tensors": {NAME: {"count", "max", "min", "nan", "negHist", "negInf", "posHist", "posInf",
//                     "samples", "zeros"}}, "version": 1}
// Keys are written sorted. min/max are hex-float strings ("0x1.8p+1"): exact. A histogram run
// is {"origin": u, "counts": [...]}, where a negative entry -k stands for k empty buckets.
#include <charconv>
#include <cmath>
#include <cstring>

#include "quant/calibration.h"
#include "quant/observe/float_histogram.h"

namespace npuconv {

namespace {

constexpr const char* kFormat = "npuconv-calibration";
constexpr int kVersion = 1;

std::string hexFloat(double v) {
  char buf[64];
  bool neg = std::signbit(v);
  auto r = std::to_chars(buf, buf + sizeof buf, std::fabs(v), std::chars_format::hex);
  return std::string(neg ? "-0x" : "0x") + std::string(buf, r.ptr);
}

Expected<double> parseHexFloat(const nlohmann::json& j, const std::string& where) {
  if (!j.is_string()) return Status::invalidArgument("{}: expected a hex-float string", where);
  std::string s = j.get<std::string>();
  bool neg = !s.empty() && s[0] == '-';
  std::string_view body(s);
  if (neg) body.remove_prefix(1);
  if (body.substr(0, 2) != "0x") return Status::invalidArgument("{}: \"{}\" is not a hex float", where, s);
  body.remove_prefix(2);
  double v = 0;
  auto r = std::from_chars(body.data(), body.data() + body.size(), v, std::chars_format::hex);
  if (r.ec != std::errc() || r.ptr != body.data() + body.size())
    return Status::invalidArgument("{}: \"{}\" is not a hex float", where, s);
  return neg ? -v : v;
}

nlohmann::ordered_json runToJson(const std::vector<int64_t>& run, int64_t origin) {
  nlohmann::ordered_json counts = nlohmann::ordered_json::array();
  int64_t zeros = 0;
  for (int64_t c : run) {
    if (c == 0) {
      ++zeros;
      continue;
    }
    if (zeros) counts.push_back(-zeros);
    zeros = 0;
    counts.push_back(c);
  }
  nlohmann::ordered_json j;
  j["counts"] = std::move(counts);
  j["origin"] = run.empty() ? 0 : origin;
  return j;
}

Expected<int64_t> getInt(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer())
    return Status::invalidArgument("{}: \"{}\" missing or not an integer", where, key);
  return it->get<int64_t>();
}

Status runFromJson(const nlohmann::json& j, const std::string& where, std::vector<int64_t>& run, int64_t& origin) {
  if (!j.is_object() || !j.contains("counts") || !j["counts"].is_array())
    return Status::invalidArgument("{}: expected {{\"counts\": [...], \"origin\": u}}", where);
  NPU_ASSIGN_OR_RETURN(origin, getInt(j, "origin", where));
  run.clear();
  // A run never spans more than the buckets there are: a count of empty buckets past that is
  // refused before it is allocated (-2^62 would ask for 2^65 bytes).
  const int64_t maxLen = calib::kMaxBucket;
  for (const auto& c : j["counts"]) {
    if (!c.is_number_integer()) return Status::invalidArgument("{}: counts must be integers", where);
    if (c.is_number_unsigned() && c.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      return Status::invalidArgument("{}: count {} is too large", where, c.get<uint64_t>());
    int64_t v = c.get<int64_t>();
    if (v < -maxLen || (v < 0 && static_cast<int64_t>(run.size()) > maxLen + v))
      return Status::invalidArgument("{}: histogram run longer than the {} buckets", where, maxLen);
    if (v < 0) run.insert(run.end(), static_cast<size_t>(-v), 0);
    else run.push_back(v);
    if (static_cast<int64_t>(run.size()) > maxLen)
      return Status::invalidArgument("{}: histogram run longer than the {} buckets", where, maxLen);
  }
  if (!run.empty() && (run.front() == 0 || run.back() == 0 || origin < 1 ||
                       origin > calib::kMaxBucket - static_cast<int64_t>(run.size()) + 1))
    return Status::invalidArgument("{}: histogram run out of range or not trimmed", where);
  if (run.empty()) origin = 0;
  return Status::ok();
}

}  // namespace

nlohmann::ordered_json calibStatsToJson(const CalibrationStats& stats) {
  nlohmann::ordered_json j;
  j["dataKey"] = stats.dataKey;
  j["format"] = kFormat;
  j["histogram"] = {{"mantissaBits", calib::kMantissaBits}};
  j["modelKey"] = stats.modelKey;
  if (stats.observed.empty()) j["observed"] = "all";
  else j["observed"] = stats.observed;
  j["samples"] = stats.samples;
  j["shards"] = {{"count", stats.shardCount}, {"indices", stats.shards}};
  nlohmann::ordered_json tensors = nlohmann::ordered_json::object();
  for (const auto& [name, t] : stats.tensors) {  // std::map: sorted by name
    nlohmann::ordered_json e;
    e["count"] = t.count;
    e["max"] = hexFloat(t.max);
    e["min"] = hexFloat(t.min);
    e["nan"] = t.nans;
    e["negHist"] = runToJson(t.negHist, t.negHistOrigin);
    e["negInf"] = t.negInfs;
    e["posHist"] = runToJson(t.hist, t.histOrigin);
    e["posInf"] = t.posInfs;
    e["samples"] = t.samples;
    e["zeros"] = t.zeros;
    tensors[name] = std::move(e);
  }
  j["tensors"] = std::move(tensors);
  j["version"] = kVersion;
  return j;
}

Expected<CalibrationStats> calibStatsFromJson(const nlohmann::json& j) {
  // json::value() throws on a value of another type: every field's type is checked first.
  if (!j.is_object() || !j.contains("format") || j["format"] != kFormat)
    return Status::invalidArgument("not a calibration file (expected \"format\": \"{}\")", kFormat);
  NPU_ASSIGN_OR_RETURN(int64_t version, getInt(j, "version", "calibration"));
  if (version != kVersion)
    return Status::unsupported("calibration file version {} (this npuconv reads version {})", version, kVersion);
  if (!j.contains("histogram") || !j["histogram"].is_object() || !j["histogram"].contains("mantissaBits") ||
      j["histogram"]["mantissaBits"] != calib::kMantissaBits)
    return Status::unsupported("calibration histogram with other buckets (this npuconv uses {} mantissa bits)",
                               calib::kMantissaBits);
  CalibrationStats s;
  if (!j.contains("modelKey") || !j["modelKey"].is_string() || !j.contains("dataKey") || !j["dataKey"].is_string())
    return Status::invalidArgument("calibration: \"modelKey\" and \"dataKey\" must be strings");
  s.modelKey = j["modelKey"].get<std::string>();
  s.dataKey = j["dataKey"].get<std::string>();
  const auto& obs = j.contains("observed") ? j["observed"] : nlohmann::json();
  if (obs.is_array()) {
    for (const auto& n : obs) {
      if (!n.is_string()) return Status::invalidArgument("calibration: \"observed\" must list names");
      s.observed.push_back(n.get<std::string>());
    }
  } else if (obs != "all") {
    return Status::invalidArgument("calibration: \"observed\" must be \"all\" or a list of names");
  }
  NPU_ASSIGN_OR_RETURN(s.samples, getInt(j, "samples", "calibration"));
  if (s.samples < 0) return Status::invalidArgument("calibration: \"samples\" is negative");
  if (!j.contains("shards") || !j["shards"].is_object())
    return Status::invalidArgument("calibration: \"shards\" missing");
  NPU_ASSIGN_OR_RETURN(s.shardCount, getInt(j["shards"], "count", "calibration: shards"));
  if (s.shardCount < 1) return Status::invalidArgument("calibration: shards: count {} is not positive", s.shardCount);
  s.shards.clear();
  if (j["shards"].contains("indices") && !j["shards"]["indices"].is_array())
    return Status::invalidArgument("calibration: shards: \"indices\" must be a list");
  for (const auto& i : j["shards"].value("indices", nlohmann::json::array())) {
    if (!i.is_number_integer() || i.get<int64_t>() < 0 || i.get<int64_t>() >= s.shardCount ||
        (!s.shards.empty() && i.get<int64_t>() <= s.shards.back()))
      return Status::invalidArgument("calibration: shard indices must be ascending, in [0, {})", s.shardCount);
    s.shards.push_back(i.get<int64_t>());
  }
  if (s.shards.empty()) return Status::invalidArgument("calibration: no shard indices");
  if (!j.contains("tensors") || !j["tensors"].is_object())
    return Status::invalidArgument("calibration: \"tensors\" missing");
  for (const auto& [name, e] : j["tensors"].items()) {
    std::string where = "calibration: tensor \"" + name + "\"";
    if (!e.is_object()) return Status::invalidArgument("{}: expected an object", where);
    TensorStats t;
    NPU_ASSIGN_OR_RETURN(t.count, getInt(e, "count", where));
    NPU_ASSIGN_OR_RETURN(t.samples, getInt(e, "samples", where));
    NPU_ASSIGN_OR_RETURN(t.zeros, getInt(e, "zeros", where));
    NPU_ASSIGN_OR_RETURN(t.nans, getInt(e, "nan", where));
    NPU_ASSIGN_OR_RETURN(t.posInfs, getInt(e, "posInf", where));
    NPU_ASSIGN_OR_RETURN(t.negInfs, getInt(e, "negInf", where));
    NPU_ASSIGN_OR_RETURN(t.min, parseHexFloat(e.value("min", nlohmann::json()), where + ": min"));
    NPU_ASSIGN_OR_RETURN(t.max, parseHexFloat(e.value("max", nlohmann::json()), where + ": max"));
    NPU_TRY(runFromJson(e.value("posHist", nlohmann::json()), where + ": posHist", t.hist, t.histOrigin));
    NPU_TRY(runFromJson(e.value("negHist", nlohmann::json()), where + ": negHist", t.negHist, t.negHistOrigin));
    // Counts are never negative, and sums of them must not overflow (they are added up here,
    // and again when shards merge): each is at most 2^46 and a run has under 2^15 of them.
    constexpr int64_t kMaxCount = int64_t(1) << 46;
    for (int64_t c : {t.count, t.samples, t.zeros, t.nans, t.posInfs, t.negInfs})
      if (c < 0 || c > kMaxCount)
        return Status::invalidArgument("{}: a count is negative or above 2^46 ({})", where, c);
    for (const auto* run : {&t.hist, &t.negHist})
      for (int64_t c : *run)
        if (c < 0 || c > kMaxCount)
          return Status::invalidArgument("{}: a histogram count is negative or above 2^46 ({})", where, c);
    int64_t inHist = t.zeros;
    for (int64_t c : t.hist) inHist += c;
    for (int64_t c : t.negHist) inHist += c;
    if (!std::isfinite(t.min) || !std::isfinite(t.max))
      return Status::invalidArgument("{}: min and max must be finite", where);
    if (inHist != t.finiteCount() || t.min > t.max)
      return Status::invalidArgument("{}: counts do not add up (histogram {}, finite values {})", where, inHist,
                                     t.finiteCount());
    s.tensors[name] = std::move(t);
  }
  return s;
}

}  // namespace npuconv
