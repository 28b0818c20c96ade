// exec_bench - times npuconv's reference Executor on one model: loads it, builds seeded inputs
// (tests/support/zoo.h), runs `--warmup` untimed then `--repeat` timed runs, prints one JSON line
// {"model", "threads", "runs", "median_ms", "min_ms", "mean_ms"}. With --dump DIR it also writes
// the inputs as raw files + inputs.json (and the model's path in model_path.txt, written before the
// executor is created, so ORT can run even when npuconv cannot) so bench/ort_bench.js can time ONNX Runtime on the very
// same inputs. bench/exec_bench.sh drives both.
//
//   exec_bench (--zoo NAME | --model FILE) --input NAME=1x3x224x224 ... [--threads N]
//              [--warmup W] [--repeat R] [--dump DIR [--dump-only]]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "converter/exec/executor.h"
#include "formats/onnx/onnx_reader.h"
#include "tests/support/zoo.h"

using namespace npuconv;

namespace {

int usage(const char* msg) {
  std::fprintf(stderr,
               "exec_bench: %s\nusage: exec_bench (--zoo NAME | --model FILE) --input NAME=D0xD1x... "
               "[--threads N] [--warmup W] [--repeat R] [--dump DIR [--dump-only]]\n",
               msg);
  return 2;
}

bool parseDims(const std::string& s, std::vector<int64_t>& dims) {
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t x = s.find('x', pos);
    std::string part = s.substr(pos, x == std::string::npos ? std::string::npos : x - pos);
    if (part.empty()) return false;
    char* end = nullptr;
    long long v = std::strtoll(part.c_str(), &end, 10);
    if (*end != '\0' || v < 0) return false;
    dims.push_back(v);
    if (x == std::string::npos) break;
    pos = x + 1;
  }
  return !dims.empty();
}

}  // namespace

int main(int argc, char** argv) {
  std::string zoo, modelFile, dump;
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  int threads = 1, warmup = 2, repeat = 10;
  bool dumpOnly = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) return {};
      return argv[++i];
    };
    if (a == "--zoo") zoo = next();
    else if (a == "--model") modelFile = next();
    else if (a == "--dump") dump = next();
    else if (a == "--dump-only") dumpOnly = true;
    else if (a == "--threads") threads = std::atoi(next().c_str());
    else if (a == "--warmup") warmup = std::atoi(next().c_str());
    else if (a == "--repeat") repeat = std::atoi(next().c_str());
    else if (a == "--input") {
      std::string spec = next();
      size_t eq = spec.find('=');
      std::vector<int64_t> dims;
      if (eq == std::string::npos || !parseDims(spec.substr(eq + 1), dims)) return usage(("bad --input " + spec).c_str());
      shapes.emplace_back(spec.substr(0, eq), dims);
    } else {
      return usage(("unknown argument " + a).c_str());
    }
  }
  if (zoo.empty() == modelFile.empty()) return usage("give exactly one of --zoo / --model");
  if (repeat < 1 || threads < 1 || warmup < 0) return usage("bad --threads / --warmup / --repeat");

  std::filesystem::path path = modelFile;
  if (!zoo.empty()) {
    auto p = test::materializeZooModelOr(zoo);
    if (!p) {
      std::fprintf(stderr, "exec_bench: %s\n", p.status().toString().c_str());
      return 1;
    }
    path = *p;
  }
  auto model = readOnnx(path);
  if (!model) {
    std::fprintf(stderr, "exec_bench: %s\n", model.status().toString().c_str());
    return 1;
  }
  NamedTensors inputs;
  for (const auto& [name, dims] : shapes) {
    const Value* v = model->graph->findValue(name);
    if (!v || !v->isGraphInput()) {
      std::fprintf(stderr, "exec_bench: %s: no graph input \"%s\"\n", path.c_str(), name.c_str());
      return 1;
    }
    auto t = test::makeSeededInput(name, v->dtype(), dims, 1234);
    if (!t) {
      std::fprintf(stderr, "exec_bench: %s\n", t.status().toString().c_str());
      return 1;
    }
    inputs.emplace(name, std::move(*t));
  }
  if (!dump.empty()) {
    std::filesystem::create_directories(dump);
    Status s = test::writeRawInputs(inputs, dump);
    if (s) {
      std::FILE* f = std::fopen((std::filesystem::path(dump) / "model_path.txt").c_str(), "w");
      if (f) {
        std::fprintf(f, "%s\n", std::filesystem::absolute(path).c_str());
        std::fclose(f);
      }
    }
    if (!s) {
      std::fprintf(stderr, "exec_bench: %s\n", s.toString().c_str());
      return 1;
    }
  }
  if (dumpOnly) return 0;
  auto exec = Executor::create(*model, ExecOptions{.threads = threads});
  if (!exec) {
    std::fprintf(stderr, "exec_bench: %s\n", exec.status().toString().c_str());
    return 1;
  }
  std::vector<double> ms;
  for (int i = 0; i < warmup + repeat; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto out = (*exec)->run(inputs);
    double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!out) {
      std::fprintf(stderr, "exec_bench: %s\n", out.status().toString().c_str());
      return 1;
    }
    if (i >= warmup) ms.push_back(dt);
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  size_t n = sorted.size();
  double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(n);
  std::printf("{\"model\": \"%s\", \"path\": \"%s\", \"threads\": %d, \"runs\": %zu, \"median_ms\": %.3f, \"min_ms\": %.3f, "
              "\"mean_ms\": %.3f}\n",
              path.filename().c_str(), path.c_str(), threads, n, median, sorted.front(), mean);
  return 0;
}
