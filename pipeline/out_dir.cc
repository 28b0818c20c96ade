// out_dir.cc - see out_dir.h.
#include "pipeline/out_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "formats/support/content_key.h"
#include "formats/support/json_file.h"
#include "formats/support/mapped_file.h"
#include "pipeline/version.h"
#include "quant/mixed_config.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

constexpr const char* kLockFile = ".npuconv.lock";
constexpr const char* kStagePrefix = ".npuconv-stage-";
constexpr const char* kJournal = ".npuconv-publishing.json";  // names being published; see publish()
constexpr int kStampFormat = 1;

/// An input file as the stamp records it.
struct InputFile {
  std::string role;
  fs::path path;
  uint64_t size = 0, inode = 0;
  int64_t mtimeNs = 0;
  std::string key;
};

Status statInto(InputFile& f) {
  struct stat st {};
  if (::stat(f.path.c_str(), &st) != 0) return Status::io("{}: {}", f.path.string(), std::strerror(errno));
  f.size = static_cast<uint64_t>(st.st_size);
  f.inode = static_cast<uint64_t>(st.st_ino);
  f.mtimeNs = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return Status::ok();
}

/// Regular files directly in `dir`, sorted (image folders are read flat; docs/calibration-data.md).
std::vector<fs::path> filesIn(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

/// The input files the options name (the model's external data comes from the model, and from
/// the stamp when checking). A tokenizer found beside the model counts when text calibrates.
std::vector<std::pair<std::string, fs::path>> declaredInputs(const ConvertOptions& o) {
  std::vector<std::pair<std::string, fs::path>> in;
  std::error_code ec;
  in.emplace_back("model", o.model);
  for (const fs::path& p : o.calib.paths) {
    if (fs::is_directory(p, ec))
      for (const fs::path& f : filesIn(p)) in.emplace_back("calib", f);
    else
      in.emplace_back("calib", p);
  }
  if (!o.calib.textFile.empty()) {
    in.emplace_back("calib_text", o.calib.textFile);
    if (!o.calib.tokenizer.empty()) in.emplace_back("tokenizer", o.calib.tokenizer);
    else
      for (const char* name : {"tokenizer.json", "vocab.txt", "tokenizer_config.json"})
        if (fs::is_regular_file(o.model.parent_path() / name, ec)) in.emplace_back("tokenizer", o.model.parent_path() / name);
  }
  if (!o.mixedConfigPath.empty()) in.emplace_back("mixed_config", o.mixedConfigPath);
  // Validation data: a failed check decides the exit status (and --fallback the outputs).
  auto addTree = [&](const std::string& role, const fs::path& p) {
    if (!fs::is_directory(p, ec)) {
      in.emplace_back(role, p);
      return;
    }
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(p, ec))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) in.emplace_back(role, f);
  };
  for (const std::string& arg : o.validation.inputs) {
    const size_t eq = arg.find('=');
    addTree("validate_inputs", eq != std::string::npos && !fs::exists(arg, ec) ? fs::path(arg.substr(eq + 1)) : fs::path(arg));
  }
  if (!o.validation.referenceOutputs.empty()) addTree("reference_outputs", o.validation.referenceOutputs);
  if (!o.passes.target.file.empty()) in.emplace_back("target_file", o.passes.target.file);
  return in;
}

/// Version and the options that change the output (not --threads: output does not depend on it;
/// not the calibration cache's path: a hit gives the same statistics).
std::string optionsKey(const ConvertOptions& o) {
  nlohmann::ordered_json j = effectiveOptions(o);
  j.erase("threads");
  j.erase("calib_cache");
  ContentHasher h;
  h.addPart(kNpuconvVersion);
  h.addPart(std::to_string(kStampFormat));
  h.addPart(j.dump());
  return h.hex();
}

std::string fullKey(const std::string& optionsKey, const std::vector<InputFile>& inputs) {
  ContentHasher h;
  h.addPart(optionsKey);
  for (const InputFile& f : inputs) {
    h.addPart(f.role);
    h.addPart(f.path.string());
    h.addPart(f.key);
  }
  return h.hex();
}

struct Stamp {
  std::string key, optionsKey, accuracyFailure, fallbackUsed;
  std::vector<InputFile> inputs;
  std::vector<std::pair<std::string, uint64_t>> outputs;  // file name in OUTDIR, size
};

nlohmann::ordered_json stampJson(const Stamp& s) {
  nlohmann::ordered_json j;
  j["format"] = kStampFormat;
  j["what"] = "npuconv convert's record of the output set in this folder (pipeline/out_dir.h); written last";
  j["npuconv_version"] = kNpuconvVersion;
  j["key"] = s.key;
  j["options_key"] = s.optionsKey;
  j["inputs"] = nlohmann::ordered_json::array();
  for (const InputFile& f : s.inputs)
    j["inputs"].push_back({{"role", f.role}, {"path", f.path.string()}, {"size", f.size}, {"mtime_ns", f.mtimeNs},
                           {"inode", f.inode}, {"key", f.key}});
  j["outputs"] = nlohmann::ordered_json::array();
  for (const auto& [name, size] : s.outputs) j["outputs"].push_back({{"file", name}, {"size", size}});
  j["accuracy_failure"] = s.accuracyFailure;
  j["fallback_used"] = s.fallbackUsed;
  return j;
}

/// The stamp, or nullopt when it is missing or unreadable (then the set is rebuilt).
std::optional<Stamp> readStamp(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  auto j = readJsonFile<nlohmann::json>(path);
  if (!j) return std::nullopt;
  try {
    if (j->at("format").get<int>() != kStampFormat) return std::nullopt;
    Stamp s;
    s.key = j->at("key").get<std::string>();
    s.optionsKey = j->at("options_key").get<std::string>();
    s.accuracyFailure = j->at("accuracy_failure").get<std::string>();
    s.fallbackUsed = j->value("fallback_used", std::string());
    for (const auto& f : j->at("inputs"))
      s.inputs.push_back({f.at("role").get<std::string>(), fs::path(f.at("path").get<std::string>()),
                          f.at("size").get<uint64_t>(), f.at("inode").get<uint64_t>(), f.at("mtime_ns").get<int64_t>(),
                          f.at("key").get<std::string>()});
    for (const auto& f : j->at("outputs")) s.outputs.emplace_back(f.at("file").get<std::string>(), f.at("size").get<uint64_t>());
    return s;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

/// Why the stamp does not describe what these options would build now; empty when it does.
/// Inputs whose size, mtime and inode are unchanged are trusted; others are rehashed
/// (`refreshed`: the stamp should be rewritten with their new stat).
std::string stampMismatch(Stamp& s, const ConvertOptions& o, const fs::path& outDir, bool& refreshed) {
  refreshed = false;
  if (s.optionsKey != optionsKey(o)) return "the options or npuconv's version changed";
  std::vector<std::pair<std::string, fs::path>> declared = declaredInputs(o);
  std::vector<std::pair<std::string, fs::path>> recorded;
  for (const InputFile& f : s.inputs)
    if (f.role != "external") recorded.emplace_back(f.role, f.path);
  if (declared != recorded) return "the set of input files changed";
  for (InputFile& f : s.inputs) {
    InputFile now = f;
    if (!statInto(now).isOk()) return f.path.string() + " is gone";  // rebuild (and fail naming it)
    if (now.size == f.size && now.mtimeNs == f.mtimeNs && now.inode == f.inode) continue;
    auto key = fileContentKey(f.path);
    if (!key || *key != f.key) return f.path.string() + " changed";
    f = now;
    refreshed = true;
  }
  std::error_code ec;
  for (const auto& [name, size] : s.outputs)
    if (fs::file_size(outDir / name, ec) != size || ec) return (outDir / name).string() + " is missing or was modified";
  return "";
}

Status fsyncDir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::io("{}: cannot open the folder: {}", dir.string(), std::strerror(errno));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Status::io("{}: cannot flush the folder: {}", dir.string(), std::strerror(errno));
  return Status::ok();
}

Status writeStamp(const fs::path& path, const Stamp& s) {
  return writeFileAtomically(path, stampJson(s).dump(2) + "\n");
}

/// flock on OUTDIR/.npuconv.lock; released by close() or by the process's death.
class DirLock {
 public:
  static Expected<std::unique_ptr<DirLock>> acquire(const fs::path& dir, double waitSeconds, std::FILE* log, bool& waited) {
    fs::path path = dir / kLockFile;
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return Status::io("{}: cannot open the lock file: {}", path.string(), std::strerror(errno));
    auto lock = std::unique_ptr<DirLock>(new DirLock(fd));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(waitSeconds);
    waited = false;
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR)
        return Status::io("{}: cannot lock: {}", path.string(), std::strerror(errno));
      if (!waited && log)
        std::fprintf(log, "npuconv: %s: another npuconv is converting into this folder; waiting (--wait-timeout %g s)\n",
                     dir.string().c_str(), waitSeconds);
      waited = true;
      if (std::chrono::steady_clock::now() >= deadline)
        return Status::io("{}: another npuconv still holds the lock after {} s (--wait-timeout)", dir.string(), waitSeconds);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return lock;
  }
  ~DirLock() { ::close(fd_); }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_;
};

/// Staging folders of runs that died, and the temporary files of a stamp or journal they were
/// writing (only the lock holder writes these, so none is in use).
void removeStaleStages(const fs::path& dir) {
  std::error_code ec;
  const std::string stampTemp = fmt::format(".{}.tmp.", kOutDirStamp), journalTemp = fmt::format(".{}.tmp.", kJournal);
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(kStagePrefix, 0) == 0 || name.rfind(stampTemp, 0) == 0 || name.rfind(journalTemp, 0) == 0)
      fs::remove_all(e.path(), ec);
  }
}

/// Test hooks (tests/cli/out_dir_kill_test.cc): NPUCONV_TEST_PAUSE_BEFORE_PUBLISH=1 stops after
/// staging, NPUCONV_TEST_PAUSE_MID_PUBLISH=1 after the first file is renamed into OUTDIR; the
/// process says so on stderr and sleeps until a test kills it (-9).
void pauseForTests(const char* variable, const char* where) {
  if (const char* v = std::getenv(variable); v && v[0] == '1' && v[1] == 0) {
    std::fprintf(stderr, "npuconv: test: paused %s\n", where);
    std::fflush(stderr);
    for (;;) ::pause();
  }
}

/// A run killed during publish() left OUTDIR without a stamp and with the journal naming every
/// file it was replacing or adding: some of the old set, some of the new. Those files go, so
/// OUTDIR holds no mixed set (the stamp was already gone: no reader trusted them).
Status removeInterruptedPublication(const fs::path& outDir, std::FILE* log) {
  const fs::path journal = outDir / kJournal;
  std::error_code ec;
  if (!fs::exists(journal, ec)) return Status::ok();
  std::vector<std::string> names;
  if (auto j = readJsonFile<nlohmann::json>(journal); j && j->is_object() && j->contains("files") && (*j)["files"].is_array())
    for (const auto& n : (*j)["files"])
      if (n.is_string()) names.push_back(n.get<std::string>());
  for (const std::string& name : names) {
    // Plain names only: a journal edited by hand must not reach outside OUTDIR.
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos || name == kLockFile) continue;
    fs::remove(outDir / name, ec);
  }
  fs::remove(outDir / kOutDirStamp, ec);
  NPU_TRY(fsyncDir(outDir));
  fs::remove(journal, ec);
  if (ec) return Status::io("{}: cannot remove: {}", journal.string(), ec.message());
  if (log)
    std::fprintf(log, "npuconv: %s: removed the partial output set of a run killed while publishing\n", outDir.string().c_str());
  return fsyncDir(outDir);
}

/// Moves the staged set into OUTDIR: stamp out, files in, folder flushed, stamp written last.
Status publish(const fs::path& stage, const fs::path& outDir, Stamp& stamp, const std::optional<Stamp>& old) {
  const fs::path stampPath = outDir / kOutDirStamp;
  std::error_code ec;
  fs::remove(stampPath, ec);
  if (ec) return Status::io("{}: cannot remove the old stamp: {}", stampPath.string(), ec.message());
  NPU_TRY(fsyncDir(outDir));
  std::vector<fs::path> staged = filesIn(stage);
  // The journal names every file the renames below may leave mixed (new ones, and the old set's):
  // a run killed among them has them removed by the next (removeInterruptedPublication).
  nlohmann::json journal{{"what", "npuconv convert is publishing these files (pipeline/out_dir.h)"},
                         {"files", nlohmann::json::array()}};
  for (const fs::path& f : staged) journal["files"].push_back(f.filename().string());
  if (old)
    for (const auto& [name, size] : old->outputs) journal["files"].push_back(name);
  {
    std::string text = journal.dump(2) + "\n";
    NPU_ASSIGN_OR_RETURN(auto jf, AtomicFile::create(outDir / kJournal));
    NPU_TRY(jf->write(text.data(), text.size()));
    NPU_TRY(jf->commit());
    NPU_TRY(fsyncDir(outDir));
  }
  for (const fs::path& f : staged) {
    stamp.outputs.emplace_back(f.filename().string(), fs::file_size(f, ec));
    fs::rename(f, outDir / f.filename(), ec);
    if (ec) return Status::io("{}: cannot move into {}: {}", f.string(), outDir.string(), ec.message());
    if (stamp.outputs.size() == 1) pauseForTests("NPUCONV_TEST_PAUSE_MID_PUBLISH", "while publishing");
  }
  // Outputs of the previous set this run did not produce (an old mixed_config.json) go.
  if (old)
    for (const auto& output : old->outputs) {
      const std::string& name = output.first;
      if (std::none_of(stamp.outputs.begin(), stamp.outputs.end(), [&](const auto& o) { return o.first == name; }))
        fs::remove(outDir / name, ec);
    }
  NPU_TRY(fsyncDir(outDir));
  NPU_TRY(writeStamp(stampPath, stamp));
  NPU_TRY(fsyncDir(outDir));
  fs::remove(outDir / kJournal, ec);  // the set is complete: nothing to undo
  fs::remove_all(stage, ec);
  return Status::ok();
}

}  // namespace

Expected<OutDirResult> convertIntoOutDir(const ConvertOptions& o, const OutDirOptions& d) {
  NPU_TRY(checkConvertOptions(o));  // before OUTDIR is created: a bad command line leaves nothing
  std::error_code ec;
  fs::create_directories(o.outDir, ec);
  if (ec || !fs::is_directory(o.outDir))
    return Status::io("{}: cannot create the output folder: {}", o.outDir.string(), ec ? ec.message() : "not a folder");
  OutDirResult res;
  res.stampPath = o.outDir / kOutDirStamp;
  NPU_ASSIGN_OR_RETURN(auto lock, DirLock::acquire(o.outDir, d.waitTimeoutSeconds, o.diagnostics, res.waited));
  removeStaleStages(o.outDir);
  NPU_TRY(removeInterruptedPublication(o.outDir, o.diagnostics));

  std::optional<Stamp> old = readStamp(res.stampPath);
  if (old && !d.force) {
    bool refreshed = false;
    if (stampMismatch(*old, o, o.outDir, refreshed).empty()) {
      if (refreshed) NPU_TRY(writeStamp(res.stampPath, *old));  // new stat, same bytes: fast next time
      res.upToDate = true;
      res.key = old->key;
      res.accuracyFailure = old->accuracyFailure;
      res.fallbackUsed = old->fallbackUsed;
      return res;
    }
  }

  // Inputs are stat'ed before they are read: a file changed during the run then has a newer
  // mtime than recorded and is rehashed next time.
  Stamp stamp;
  stamp.optionsKey = optionsKey(o);
  for (auto& [role, path] : declaredInputs(o)) {
    InputFile f;
    f.role = role;
    f.path = path;
    if (statInto(f).isOk()) stamp.inputs.push_back(std::move(f));
  }
  const fs::path stage = o.outDir / fmt::format("{}{}", kStagePrefix, ::getpid());
  fs::create_directories(stage, ec);
  if (ec) return Status::io("{}: cannot create the staging folder: {}", stage.string(), ec.message());
  struct RemoveStage {  // on any error: OUTDIR keeps its previous set untouched
    fs::path p;
    ~RemoveStage() {
      std::error_code e;
      fs::remove_all(p, e);
    }
  } cleanup{stage};
  ConvertOptions staged = o;
  staged.outDir = stage;
  staged.publishedDir = o.outDir;
  if (!o.report.empty() && o.report.parent_path() == o.outDir) staged.report = stage / o.report.filename();
  NPU_ASSIGN_OR_RETURN(ConvertResult r, runConvert(staged));
  for (const fs::path& p : r.externalFiles) {
    InputFile f;
    f.role = "external";
    f.path = p;
    if (statInto(f).isOk()) stamp.inputs.push_back(std::move(f));
  }
  for (InputFile& f : stamp.inputs) {
    NPU_ASSIGN_OR_RETURN(f.key, fileContentKey(f.path));
  }
  stamp.key = fullKey(stamp.optionsKey, stamp.inputs);
  stamp.accuracyFailure = r.accuracyFailure;
  stamp.fallbackUsed = r.fallbackUsed;
  pauseForTests("NPUCONV_TEST_PAUSE_BEFORE_PUBLISH", "before publishing");
  NPU_TRY(publish(stage, o.outDir, stamp, old));
  res.key = stamp.key;
  res.accuracyFailure = r.accuracyFailure;
  res.fallbackUsed = r.fallbackUsed;
  return res;
}

Expected<nlohmann::ordered_json> planConvertIntoOutDir(const ConvertOptions& o, const OutDirOptions& d) {
  NPU_TRY(checkConvertOptions(o));
  NPU_ASSIGN_OR_RETURN(auto pipeline, PassPipeline::create(o.passes));
  nlohmann::ordered_json plan;
  plan["dry_run"] = true;
  plan["model"] = o.model.string();
  plan["out_dir"] = o.outDir.string();
  std::string reason = d.force ? "--force" : "";
  std::optional<Stamp> old = readStamp(o.outDir / kOutDirStamp);
  if (!old) reason = "no complete output set in the folder yet";
  bool refreshed = false;
  if (reason.empty()) reason = stampMismatch(*old, o, o.outDir, refreshed);
  plan["up_to_date"] = reason.empty();
  if (reason.empty()) plan["key"] = old->key;
  else plan["would_convert_because"] = reason;
  plan["precision"] = precisionName(o.precision);
  plan["pipeline"] = o.passes.passes.empty() ? o.passes.pipeline : "passes " + o.passes.passes;
  plan["passes"] = pipeline->passNames();
  plan["target"] = pipeline->forTarget() ? pipeline->target().name : "";
  if (!o.quant.mixed.empty()) plan["mixed_config"] = mixedConfigToJson(o.quant.mixed);
  plan["inputs"] = nlohmann::ordered_json::array();
  for (const auto& [role, path] : declaredInputs(o)) plan["inputs"].push_back({{"role", role}, {"path", path.string()}});
  std::vector<fs::path> outputs{o.outDir / "model.onnx"};
  if (o.precision == Precision::Int8 || o.precision == Precision::Fp16) outputs.push_back(o.outDir / "model.npub");
  if (o.autoMixed.enabled) outputs.push_back(o.outDir / "mixed_config.json");
  outputs.push_back(o.report.empty() ? o.outDir / "report.json" : o.report);
  outputs.push_back(o.outDir / kOutDirStamp);
  plan["outputs"] = nlohmann::ordered_json::array();
  for (const fs::path& p : outputs) plan["outputs"].push_back(p.string());
  plan["options"] = effectiveOptions(o);
  return plan;
}

}  // namespace npuconv
