// npuconv run MODEL --input NAME=FILE.npy [--input ...] [--inputs FILE.h5] [--output-dir DIR]
//              [-o FILE.h5] [--threads N] [--repeat N [--warmup W] [--profile [--profile-top K]]] [--json]
//
// Runs a model on the reference executor. Inputs come from .npy files (or serialized ONNX
// TensorProto .pb files) named on the command line, or from the datasets of an HDF5 file.
// Outputs go to DIR/<output name>.npy ('/' and other unsafe characters in names become '_')
// and/or to one HDF5 file with a dataset per output. --repeat N times N runs after W warm-up
// runs (default 1) and reports the median and minimum latency in milliseconds; --profile adds the time per op
// type and the K slowest nodes (default 10, 0: all), as the executor runs them (a fused chain
// such as Conv+Add+Relu is one kernel call and one row): per node the median over the runs.
// A device blob (MODEL.npub) runs on the device interpreter instead (integer kernels where the
// blob says integer; the same bits for any --threads and NPUCONV_INT8_ISA), with the same input,
// output, --threads and --repeat/--warmup options; its --profile rows are the interpreter's op kinds
// (QConv, QAdd, ..., "QConv re-layout": the input rewritten into the kernel's planes, "Float <type>":
// a CPU fallback op, FloatChain: a fused float run) and its nodes the user's ONNX node names.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/commands.h"
#include "converter/device/interpreter.h"
#include "converter/exec/executor.h"
#include "formats/blob/blob_reader.h"
#include "formats/blob/blob_variants.h"
#include "formats/hdf5/hdf5.h"
#include "formats/npy/npy.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/tensor_file.h"

namespace npuconv {

namespace {

namespace fs = std::filesystem;

struct RunOptions {
  std::string model;
  std::vector<std::string> inputs;
  std::string inputsH5;
  std::string outputDir;
  std::string outputH5;
  int threads = 0;
  int repeat = 0;
  int warmup = 1;
  bool json = false;
  bool profile = false;
  int profileTop = 10;
};

/// The file name for an output tensor: no path separators, no leading dot, nothing odd.
std::string sanitizeName(const std::string& name) {
  std::string s;
  for (char c : name) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == ':' ||
              static_cast<unsigned char>(c) >= 0x80;
    s += ok ? c : '_';
  }
  if (s.empty() || s[0] == '.') s = "_" + s;
  return s;
}

Expected<TensorRef> readTensorFile(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".pb") return readTensorProtoFile(path);
  if (ext == ".npy") return readNpy(path);
  return Status::invalidArgument("{}: unknown input file type (expected .npy or .pb; use --inputs for HDF5)",
                                 path.string());
}

/// A Tensor view of a TensorData (no copy).
Expected<Tensor> toTensor(const TensorRef& data, const std::string& where) {
  if (data->dtype() == DType::String) return Status::unsupported("{}: string tensors are not supported", where);
  return Tensor::fromData(data);
}

/// A TensorData sharing the tensor's buffer when it covers the data exactly, else a copy.
TensorRef toData(const Tensor& t) {
  const auto& b = t.buffer();
  if (b && b->data() == t.raw() && b->size() == t.byteSize())
    return std::make_shared<const TensorData>(t.dtype(), t.dims(), b);
  return t.toData();
}

Expected<NamedTensors> loadInputs(const RunOptions& o, const Graph& g) {
  NamedTensors inputs;
  std::map<std::string, std::string> source;  // input -> file it came from
  auto add = [&](const std::string& name, const TensorRef& data, const std::string& file) -> Status {
    const Value* input = nullptr;
    for (const Value* v : g.inputs())
      if (v->name() == name) input = v;
    if (!input) {
      std::string names;
      for (const Value* v : g.inputs())
        if (!v->isInitializer()) names += (names.empty() ? "\"" : ", \"") + v->name() + "\"";
      return Status::invalidArgument("{}: \"{}\" is not an input of the model (its inputs: {})", file, name,
                                     names.empty() ? "none" : names);
    }
    if (inputs.count(name))
      return Status::invalidArgument("input \"{}\" given twice ({} and {})", name, source[name], file);
    NPU_ASSIGN_OR_RETURN(Tensor t, toTensor(data, file));
    Status st = checkInputAgainstType(*input, t);
    if (!st) return std::move(st).in(file);
    inputs[name] = std::move(t);
    source[name] = file;
    return Status::ok();
  };
  for (const std::string& spec : o.inputs) {
    std::string name, file;
    auto eq = spec.find('=');
    if (eq == std::string::npos) {
      // A bare file is fine when the model has exactly one input to feed.
      std::vector<const Value*> feedable;
      for (const Value* v : g.inputs())
        if (!v->isInitializer()) feedable.push_back(v);
      if (feedable.size() != 1)
        return Status::invalidArgument("--input \"{}\": expected NAME=FILE (the model has {} inputs)", spec,
                                       feedable.size());
      name = feedable[0]->name();
      file = spec;
    } else {
      name = spec.substr(0, eq);
      file = spec.substr(eq + 1);
    }
    if (file.empty()) return Status::invalidArgument("--input \"{}\": no file given", spec);
    NPU_ASSIGN_OR_RETURN(TensorRef data, readTensorFile(file));
    NPU_TRY(add(name, data, file));
  }
  if (!o.inputsH5.empty()) {
    NPU_ASSIGN_OR_RETURN(NamedTensorList list, readHdf5(o.inputsH5));
    for (const auto& [name, data] : list) NPU_TRY(add(name, data, o.inputsH5 + ": dataset \"" + name + "\""));
  }
  return inputs;
}

Status writeOutputs(const RunOptions& o, const Graph& g, const NamedTensors& outputs, nlohmann::json& report) {
  if (!o.outputDir.empty()) {
    std::error_code ec;
    fs::create_directories(o.outputDir, ec);
    if (ec) return Status::io("{}: cannot create the folder: {}", o.outputDir, ec.message());
  }
  std::set<std::string> used;
  NamedTensorList h5;
  for (const Value* v : g.outputs()) {
    const Tensor& t = outputs.at(v->name());
    nlohmann::json entry = {{"name", v->name()}, {"dtype", std::string(dtypeName(t.dtype()))}, {"shape", t.dims()}};
    if (!o.outputDir.empty()) {
      std::string base = sanitizeName(v->name());
      std::string file = base;
      for (int k = 1; used.count(file); ++k) file = base + "_" + std::to_string(k);
      used.insert(file);
      fs::path p = fs::path(o.outputDir) / (file + ".npy");
      Status st = writeNpy(p, *toData(t));
      if (!st) return std::move(st).in(fmt::format("output \"{}\"", v->name()));
      entry["file"] = p.string();
    }
    if (!o.outputH5.empty()) h5.emplace_back(v->name(), toData(t));
    report["outputs"].push_back(entry);
  }
  if (!o.outputH5.empty()) NPU_TRY(writeHdf5(o.outputH5, h5));
  return Status::ok();
}

/// repeat, median_ms, min_ms, max_ms, mean_ms of the timed runs (ONNX models and blobs alike).
void addLatency(nlohmann::json& report, const std::vector<double>& ms) {
  std::vector<double> s = ms;
  std::sort(s.begin(), s.end());
  size_t n = s.size();
  double median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  double mean = 0;
  for (double v : s) mean += v / static_cast<double>(n);
  report["repeat"] = n;
  report["median_ms"] = median;
  report["min_ms"] = s.front();
  report["max_ms"] = s.back();
  report["mean_ms"] = mean;
}

/// --profile: one timed entry of a run, each run's milliseconds in perRun. A node (an ONNX node,
/// or a blob op) may have several entries (a blob Conv: its re-layout and its kernel).
struct ProfileEntry {
  std::string kind;      // the op type row it adds to ("Conv+Add+Relu", "QConv", "QConv re-layout")
  int64_t node = 0;      // entries of one node share this key
  std::string nodeName;  // the user's name for it
  std::string nodeOp;    // the node's op in the slowest-nodes list
  int64_t calls = 0;     // over all runs
  double thisRun = 0;
  std::vector<double> perRun;
};

/// Prints (or puts into report as "profile" and "slowest_nodes") per kind the sum of its entries'
/// medians over the runs, and the slowest nodes by the median of their per-run total (an entry
/// that ran in only some runs counts 0 in the others): on a shared machine one descheduled run
/// would otherwise dominate a mean.
void reportProfile(std::vector<ProfileEntry>& entries, const RunOptions& o, nlohmann::json& report) {
  const size_t runs = static_cast<size_t>(o.repeat);
  auto median = [runs](std::vector<double> v) {
    v.resize(runs, 0.0);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(runs / 2), v.end());
    return v[runs / 2];
  };
  std::map<std::string, std::pair<double, int64_t>> perKind;
  struct NodeSum {
    std::string name, op;
    std::vector<double> perRun;
  };
  std::map<int64_t, NodeSum> perNode;
  for (ProfileEntry& e : entries) {
    perKind[e.kind].first += median(e.perRun);
    perKind[e.kind].second += e.calls;
    NodeSum& n = perNode[e.node];
    if (n.op.empty() || !e.kind.ends_with(" re-layout")) n.name = e.nodeName, n.op = e.nodeOp;  // the kernel's entry names the node
    n.perRun.resize(runs, 0.0);
    for (size_t r = 0; r < e.perRun.size() && r < runs; ++r) n.perRun[r] += e.perRun[r];
  }
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& [kind, e] : perKind) rows.push_back({e.first, kind});
  std::sort(rows.rbegin(), rows.rend());
  nlohmann::json prof = nlohmann::json::object();
  for (const auto& [t, kind] : rows) {
    prof[kind] = {{"ms_per_run", t}, {"nodes", perKind[kind].second / o.repeat}};
    if (!o.json)
      std::printf("%-32s %9.3f ms/run  %5lld nodes\n", kind.c_str(), t, static_cast<long long>(perKind[kind].second / o.repeat));
  }
  report["profile"] = prof;
  // The slowest nodes.
  std::vector<std::tuple<double, std::string, std::string>> nodes;
  for (const auto& [key, n] : perNode) nodes.emplace_back(median(n.perRun), n.name, n.op);
  std::sort(nodes.begin(), nodes.end(), [](const auto& a, const auto& b) {
    return std::get<0>(a) != std::get<0>(b) ? std::get<0>(a) > std::get<0>(b) : std::get<1>(a) < std::get<1>(b);
  });
  if (o.profileTop > 0) nodes.resize(std::min<size_t>(nodes.size(), size_t(o.profileTop)));
  nlohmann::json slowest = nlohmann::json::array();
  if (!o.json && !nodes.empty()) std::printf("slowest nodes:\n");
  for (const auto& [t, name, op] : nodes) {
    slowest.push_back({{"node", name}, {"op", op}, {"ms_per_run", t}});
    if (!o.json) std::printf("  %-40s %-24s %9.3f ms/run\n", name.c_str(), op.c_str(), t);
  }
  report["slowest_nodes"] = slowest;
}

/// Closes a timed run of the profile entries: each entry's time of this run to its perRun.
void endProfiledRun(std::vector<ProfileEntry>& entries) {
  for (ProfileEntry& e : entries) {
    e.perRun.push_back(e.thisRun);
    e.thisRun = 0;
  }
}

/// `run` of a .npub: a stand-in graph carries the blob's I/O names and types, so inputs are
/// loaded and outputs written exactly as for an ONNX model.
int runBlob(const RunOptions& o) {
  auto blob = readBlob(o.model);
  if (!blob) return reportError(blob.status());
  // Several frozen shapes (format 1.2): a dim that differs between variants is left symbolic
  // here, and the inputs' own dims pick the variant below.
  Graph io("blob_io");
  for (size_t i = 0; i < blob->program.inputs.size(); ++i) {
    const device::Tensor& t = blob->program.tensors[static_cast<size_t>(blob->program.inputs[i].tensor)];
    Shape shape = shapeOf(t.dims);
    for (size_t v = 1; v < blob->variantCount(); ++v) {
      const device::Program& q = blob->variant(v);
      const std::vector<int64_t>& d = q.tensors[static_cast<size_t>(q.inputs[i].tensor)].dims;
      for (size_t k = 0; k < shape.size() && k < d.size(); ++k)
        if (shape[k].isStatic() && shape[k].value() != d[k]) shape[k] = Dim::symbol(fmt::format("variant_dim{}", k));
    }
    io.addInput(blob->program.inputs[i].name, TensorType{t.dtype, shape, {}, {}});
  }
  auto inputs = loadInputs(o, io);
  if (!inputs) return reportError(inputs.status());
  std::map<std::string, std::vector<int64_t>> given;
  for (const auto& [name, t] : *inputs) given[name] = t.dims();
  Expected<size_t> variant = selectBlobVariant(*blob, given);
  if (!variant) return reportError(variant.status().in(o.model));
  const device::Program& p = blob->variant(*variant);
  Graph outs("blob_outputs");
  for (const device::IoBinding& b : p.outputs) {
    const device::Tensor& t = p.tensors[static_cast<size_t>(b.tensor)];
    outs.addOutput(outs.addInput(b.name, TensorType{t.dtype, shapeOf(t.dims), {}, {}}));
  }
  device::InterpreterOptions opts;
  opts.threads = o.threads;
  // --profile: an entry per (op, kind), named by the user's ONNX nodes the op came from (the
  // blob's debug names), timed during the timed runs only.
  std::vector<ProfileEntry> prof;
  std::map<std::pair<size_t, std::string>, size_t> profIndex;
  bool profiling = false;
  if (o.profile && o.repeat > 0)
    opts.stepTimer = [&](size_t op, std::string_view kind, double t) {
      if (!profiling) return;
      auto [it, fresh] = profIndex.try_emplace({op, std::string(kind)}, prof.size());
      if (fresh) {
        const device::Op& d = p.ops[op];
        ProfileEntry e;
        e.kind = std::string(kind);
        e.node = static_cast<int64_t>(op);
        const std::string n = d.provenance.empty() ? d.name : fmt::format("{}", fmt::join(d.provenance, "+"));
        e.nodeName = n.empty() ? fmt::format("op {}", op) : n;
        e.nodeOp = device::opProfileKind(d);
        e.perRun.resize(prof.empty() ? 0 : prof.front().perRun.size(), 0.0);
        prof.push_back(std::move(e));
      }
      prof[it->second].calls += 1;
      prof[it->second].thisRun += t;
    };
  auto interp = device::Interpreter::create(p, opts);
  if (!interp) return reportError(interp.status().in(o.model));
  std::vector<Tensor> ordered;
  for (const device::IoBinding& b : p.inputs) {
    auto it = inputs->find(b.name);
    if (it == inputs->end()) return reportError(Status::invalidArgument("input \"{}\" of the blob is not given", b.name));
    ordered.push_back(it->second);
  }
  auto result = (*interp)->run(ordered);  // the first warm-up run when timing
  if (!result) return reportError(result.status().in(o.model));
  std::vector<double> ms;
  for (int i = 1; i < o.warmup && o.repeat > 0; ++i)
    if (!(result = (*interp)->run(ordered))) return reportError(result.status().in(o.model));
  profiling = true;
  for (int i = 0; i < o.repeat; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    result = (*interp)->run(ordered);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (!result) return reportError(result.status().in(o.model));
    endProfiledRun(prof);
  }
  NamedTensors named;
  for (size_t i = 0; i < p.outputs.size(); ++i) named[p.outputs[i].name] = (*result)[i];
  nlohmann::json report = {{"model", o.model},
                           {"threads", (*interp)->threads()},
                           {"int8_isa", std::string(device::int8IsaName((*interp)->isa()))},
                           {"outputs", nlohmann::json::array()}};
  if (blob->variantCount() > 1) report["variant"] = {{"index", *variant}, {"of", blob->variantCount()}};
  Status st = writeOutputs(o, outs, named, report);
  if (!st) return reportError(st);
  if (!ms.empty()) addLatency(report, ms);
  if (o.profile && o.repeat > 0) reportProfile(prof, o, report);
  if (o.json) {
    std::printf("%s\n", report.dump().c_str());
    return 0;
  }
  for (const auto& e : report["outputs"])
    std::printf("%s: %s%s%s\n", e["name"].get<std::string>().c_str(),
                std::string(dtypeShortName(named.at(e["name"].get<std::string>()).dtype())).c_str(),
                shapeToString(shapeOf(e["shape"].get<std::vector<int64_t>>())).c_str(),
                e.contains("file") ? (" -> " + e["file"].get<std::string>()).c_str() : "");
  if (!ms.empty())
    std::printf("latency over %d runs (%d threads, int8 %s): median %.3f ms, min %.3f ms, mean %.3f ms, max %.3f ms\n",
                o.repeat, (*interp)->threads(), report["int8_isa"].get<std::string>().c_str(), report["median_ms"].get<double>(),
                report["min_ms"].get<double>(), report["mean_ms"].get<double>(), report["max_ms"].get<double>());
  return 0;
}

int runModel(const RunOptions& o) {
  if (fs::path(o.model).extension() == ".npub") return runBlob(o);
  auto model = readOnnx(o.model);
  if (!model) return reportError(model.status());
  const Graph& g = *model->graph;
  auto inputs = loadInputs(o, g);
  if (!inputs) return reportError(inputs.status());
  ExecOptions eo;
  eo.threads = o.threads;
  auto exec = Executor::create(*model, eo);
  if (!exec) return reportError(exec.status().in(o.model));

  using Clock = std::chrono::steady_clock;
  auto outputs = (*exec)->run(*inputs);  // the first warm-up run when timing
  if (!outputs) return reportError(outputs.status());
  for (int i = 1; i < o.warmup && o.repeat > 0; ++i) {
    outputs = (*exec)->run(*inputs);
    if (!outputs) return reportError(outputs.status());
  }
  std::vector<double> ms;
  // --profile: each node's kernel time per run (a fused chain as "Conv+Add+Relu"; a node in a
  // loop body summed over its calls).
  std::vector<ProfileEntry> prof;
  std::map<const Node*, size_t> profIndex;
  if (o.profile) {
    (*exec)->setStepTimer([&](const Node& node, const std::vector<const Node*>& fused, double t) {
      auto [it, fresh] = profIndex.try_emplace(&node, prof.size());
      if (fresh) {
        ProfileEntry e;
        e.kind = node.opType();
        for (const Node* f : fused) e.kind += "+" + f->opType();
        e.node = static_cast<int64_t>(prof.size());
        e.nodeName = node.name();
        e.nodeOp = e.kind;
        e.perRun.resize(prof.empty() ? 0 : prof.front().perRun.size(), 0.0);
        prof.push_back(std::move(e));
      }
      prof[it->second].calls += 1;
      prof[it->second].thisRun += t;
    });
  }
  for (int i = 0; i < o.repeat; ++i) {
    auto t0 = Clock::now();
    outputs = (*exec)->run(*inputs);
    auto t1 = Clock::now();
    if (!outputs) return reportError(outputs.status());
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    endProfiledRun(prof);
  }

  nlohmann::json report = {{"model", o.model}, {"threads", (*exec)->pool().size()}, {"outputs", nlohmann::json::array()}};
  Status st = writeOutputs(o, g, *outputs, report);
  if (!st) return reportError(st);
  if (!ms.empty()) addLatency(report, ms);
  if (o.profile && o.repeat > 0) reportProfile(prof, o, report);
  if (o.json) {
    std::printf("%s\n", report.dump().c_str());
    return 0;
  }
  for (const auto& e : report["outputs"]) {
    std::string line = fmt::format("{}: {}{}", e["name"].get<std::string>(),
                                   dtypeShortName(outputs->at(e["name"].get<std::string>()).dtype()),
                                   shapeToString(shapeOf(e["shape"].get<std::vector<int64_t>>())));
    if (e.contains("file")) line += " -> " + e["file"].get<std::string>();
    std::printf("%s\n", line.c_str());
  }
  if (!o.outputH5.empty()) std::printf("outputs written to %s\n", o.outputH5.c_str());
  if (!ms.empty())
    std::printf("latency over %d runs (%d threads): median %.3f ms, min %.3f ms, mean %.3f ms, max %.3f ms\n",
                o.repeat, (*exec)->pool().size(), report["median_ms"].get<double>(), report["min_ms"].get<double>(),
                report["mean_ms"].get<double>(), report["max_ms"].get<double>());
  return 0;
}

}  // namespace

void addRunCommand(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("run", "Run a model on the reference executor and save its outputs");
  auto o = std::make_shared<RunOptions>();
  cmd->add_option("model", o->model, "ONNX model or device blob (.npub)")->required();
  cmd->add_option("--input", o->inputs, "Input tensor NAME=FILE (.npy or TensorProto .pb); repeatable")
      ->type_name("NAME=FILE");
  cmd->add_option("--inputs", o->inputsH5, "HDF5 file with one dataset per input name")->type_name("FILE.h5");
  cmd->add_option("--output-dir", o->outputDir, "Write each output as DIR/<output name>.npy")->type_name("DIR");
  cmd->add_option("-o,--output", o->outputH5, "Write the outputs to one HDF5 file, a dataset per output")
      ->type_name("FILE.h5");
  cmd->add_option("--threads", o->threads, "Executor threads (0: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--repeat", o->repeat, "Time N runs after the warm-up runs; report median/min latency")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--warmup", o->warmup, "With --repeat: untimed runs before the timed ones (default 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--profile", o->profile,
                "With --repeat: print the time per op type and of the slowest nodes (median ms per run; a fused "
                "chain such as Conv+Add+Relu is one entry)");
  cmd->add_option("--profile-top", o->profileTop, "With --profile: how many of the slowest nodes to list (0: all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", o->json, "Print one JSON line (outputs, latency) instead of text");
  cmd->callback([&action, o] { action = [o]() -> int { return runModel(*o); }; });
}

}  // namespace npuconv
