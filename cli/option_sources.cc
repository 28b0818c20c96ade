// option_sources.cc - see option_sources.h.
#include "cli/option_sources.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>

#include "formats/support/json_file.h"

namespace npuconv {
namespace {

std::string optionName(const CLI::Option& opt) {
  return opt.get_lnames().empty() ? opt.get_name(true, false) : opt.get_lnames().front();
}

std::string normalizedKey(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return key;
}

bool isFlag(const CLI::Option& opt) { return opt.get_expected_min() == 0; }
bool isRepeatable(const CLI::Option& opt) { return opt.get_items_expected_max() > 1; }

// The program's own name, not argv[0]'s path: errors read the same however npuconv was started.
std::string commandName(const CLI::App& cmd) { return "npuconv " + cmd.get_name(); }

/// "1", "true", "yes", "on" (any case) -> "true"; their opposites -> "false"; else nullopt.
std::optional<std::string> flagWord(std::string v) {
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (v == "1" || v == "true" || v == "yes" || v == "on") return "true";
  if (v == "0" || v == "false" || v == "no" || v == "off") return "false";
  return std::nullopt;
}

Expected<std::vector<std::string>> envValues(const CLI::Option& opt, const std::string& var, const std::string& value) {
  if (isFlag(opt)) {
    auto w = flagWord(value);
    if (!w) return Status::invalidArgument("{}={}: a flag takes 1/0, true/false, yes/no or on/off", var, value);
    return std::vector<std::string>{*w};
  }
  if (!isRepeatable(opt)) return std::vector<std::string>{value};
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= value.size()) {
    size_t end = value.find(';', start);
    if (end == std::string::npos) end = value.size();
    if (end > start) out.push_back(value.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Expected<std::string> scalarText(const nlohmann::ordered_json& v, const std::string& where) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  return Status::invalidArgument("{}: expected a string or a number, got {}", where, v.type_name());
}

Expected<std::vector<std::string>> configValues(const CLI::Option& opt, const nlohmann::ordered_json& v,
                                                const std::string& where) {
  if (isFlag(opt)) {
    if (!v.is_boolean()) return Status::invalidArgument("{}: a flag takes true or false, got {}", where, v.dump());
    return std::vector<std::string>{v.get<bool>() ? "true" : "false"};
  }
  if (!v.is_array()) {
    NPU_ASSIGN_OR_RETURN(std::string s, scalarText(v, where));
    return std::vector<std::string>{s};
  }
  // An array: one value per element, for repeatable options and comma lists (--mean [a, b, c]).
  if (!isRepeatable(opt) && opt.get_delimiter() == '\0')
    return Status::invalidArgument("{}: takes one value, not an array", where);
  std::vector<std::string> out;
  for (const auto& e : v) {
    NPU_ASSIGN_OR_RETURN(std::string s, scalarText(e, where));
    out.push_back(std::move(s));
  }
  if (!isRepeatable(opt)) {  // a comma list given as an array: the option's own delimiter joins it
    std::string joined;
    for (const std::string& s : out) joined += (joined.empty() ? "" : std::string(1, opt.get_delimiter())) + s;
    out = {joined};
  }
  return out;
}

Status addResults(CLI::Option& opt, const std::vector<std::string>& values, const std::string& source) {
  try {
    opt.add_result(values);
    opt.run_callback();
  } catch (const CLI::Error& e) {
    return Status::invalidArgument("{}: {}", source, e.what());
  }
  return Status::ok();
}

bool isSkipped(const CLI::App& cmd, const CLI::Option* opt, const CLI::Option* config) {
  return opt == config || opt == cmd.get_help_ptr() || opt == cmd.get_help_all_ptr();
}

}  // namespace

std::string optionEnvName(const CLI::Option& opt) {
  std::string name = "NPUCONV_" + optionName(opt);
  for (char& c : name) c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

CLI::Option* addConfigOption(CLI::App& cmd, std::string& configPath) {
  return cmd
      .add_option("--config", configPath,
                  "JSON file of option values (keys: option names); the command line and NPUCONV_* variables override it")
      ->envname("NPUCONV_CONFIG");
}

Expected<nlohmann::ordered_json> applyOptionSources(CLI::App& cmd, const std::string& configPath,
                                                    const std::vector<const CLI::Option*>& required) {
  const CLI::Option* configOpt = cmd.get_option_no_throw("--config");
  std::vector<CLI::Option*> options;
  for (CLI::Option* opt : cmd.get_options())
    if (!isSkipped(cmd, opt, configOpt)) options.push_back(opt);

  nlohmann::ordered_json sources = nlohmann::ordered_json::object();
  for (CLI::Option* opt : options)
    if (opt->count() > 0) sources[optionName(*opt)] = "command line";
  if (!configPath.empty()) sources["config"] = configPath;

  // The config file: every key must name an option (a typo must not be ignored silently).
  std::map<std::string, std::pair<std::string, const nlohmann::ordered_json*>> config;  // normalized -> key, value
  nlohmann::ordered_json configJson;
  if (!configPath.empty()) {
    NPU_ASSIGN_OR_RETURN(configJson, readJsonFile<nlohmann::ordered_json>(configPath));
    if (!configJson.is_object())
      return Status::invalidArgument("{}: a config file is a JSON object of option values", configPath);
    for (const auto& [key, value] : configJson.items()) {
      std::string k = normalizedKey(key);
      auto known = std::find_if(options.begin(), options.end(), [&](const CLI::Option* o) { return optionName(*o) == k; });
      if (known == options.end())
        return Status::invalidArgument("{}: \"{}\" is not an option of {}", configPath, key, commandName(cmd));
      if (!config.emplace(k, std::make_pair(key, &value)).second)
        return Status::invalidArgument("{}: option \"{}\" given twice", configPath, key);
    }
  }

  for (CLI::Option* opt : options) {
    if (opt->count() > 0) continue;  // the command line wins
    const std::string name = optionName(*opt);
    const std::string var = optionEnvName(*opt);
    if (const char* env = std::getenv(var.c_str()); env && *env) {
      NPU_ASSIGN_OR_RETURN(auto values, envValues(*opt, var, env));
      if (values.empty()) continue;
      NPU_TRY(addResults(*opt, values, var));
      sources[name] = var;
      continue;
    }
    auto it = config.find(name);
    if (it == config.end()) continue;
    const std::string where = fmt::format("{}: \"{}\"", configPath, it->second.first);
    NPU_ASSIGN_OR_RETURN(auto values, configValues(*opt, *it->second.second, where));
    if (values.empty()) continue;
    NPU_TRY(addResults(*opt, values, where));
    sources[name] = "config " + configPath;
  }

  auto sourceOf = [&](const CLI::Option* opt) {
    const std::string name = optionName(*opt);
    return sources.contains(name) ? sources[name].get<std::string>() : std::string("command line");
  };
  for (const CLI::Option* opt : required)
    if (opt->count() == 0)
      return Status::invalidArgument("{}: {} is required (on the command line, as {}, or as \"{}\" in --config)",
                                     commandName(cmd), opt->get_name(), optionEnvName(*opt), optionName(*opt));
  for (const CLI::Option* opt : options) {
    if (opt->count() == 0) continue;
    for (const CLI::Option* other : opt->get_excludes())
      if (other->count() > 0 && optionName(*opt) < optionName(*other))
        return Status::invalidArgument("{} ({}) and {} ({}) exclude each other", opt->get_name(), sourceOf(opt),
                                       other->get_name(), sourceOf(other));
  }
  return sources;
}

}  // namespace npuconv
