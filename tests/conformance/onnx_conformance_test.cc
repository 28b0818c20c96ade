// Runs every case of ONNX's own conformance suite (Debian's libonnx-testdata) whose ops the
// executor supports and compares with the expected outputs at the suite's tolerances
// (rtol 1e-3, atol 1e-7). A case is skipped when an op has no kernel, when a kernel reports
// the case's variant as unsupported, or when it is listed in testdata/conformance_skips.txt
// with a reason. Everything else must pass.
//
// NPUCONV_CONFORMANCE_FILTER=substring restricts the run to matching case names.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "converter/exec/executor.h"
#include "converter/ir/printer.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/tensor_file.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

std::map<std::string, std::string> loadSkips() {
  std::map<std::string, std::string> skips;
  std::ifstream in(test::testdata("conformance_skips.txt"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.find_first_of(" \t");
    skips[line.substr(0, sp)] = sp == std::string::npos ? "listed" : line.substr(line.find_first_not_of(" \t", sp));
  }
  return skips;
}

// The cases that pass today (testdata/conformance_passing.txt, "suite/case" per line): a kernel
// that starts answering "unsupported" turns a pass into a skip, which must fail the test rather
// than lower a count nobody reads.
std::set<std::string> loadPassing() {
  std::set<std::string> passing;
  std::ifstream in(test::testdata("conformance_passing.txt"));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#') passing.insert(line);
  return passing;
}

void collectOps(const Graph& g, std::set<std::pair<std::string, std::string>>& ops) {
  for (const Node* n : g.nodes()) {
    ops.insert({n->domain() == "ai.onnx" ? "" : n->domain(), n->opType()});
    for (const Graph* s : n->subgraphs()) collectOps(*s, ops);
  }
}

/// Empty when equal within tolerance, else a description of the worst element.
std::string compare(const Tensor& got, const TensorData& want) {
  if (got.dtype() != want.dtype())
    return fmt::format("dtype {} != expected {}", dtypeName(got.dtype()), dtypeName(want.dtype()));
  if (got.dims() != want.dims())
    return fmt::format("shape {} != expected {}", got.describe(), tensorSummary(want, 0));
  if (want.numElements() == 0) return {};
  std::vector<double> g = got.toDoubles();
  bool exact = !isFloat(want.dtype());
  for (int64_t i = 0; i < want.numElements(); ++i) {
    double e = want.elementAsDouble(i), a = g[size_t(i)];
    if (std::isnan(e) && std::isnan(a)) continue;
    if (std::isinf(e) && a == e) continue;
    double tol = exact ? 0.0 : 1e-7 + 1e-3 * std::fabs(e);
    if (!(std::fabs(a - e) <= tol)) return fmt::format("element {}: got {} expected {}", i, a, e);
  }
  return {};
}

enum class Outcome { Pass, Fail, Skip };

Outcome runCase(const fs::path& dir, std::string& why) {
  auto model = readOnnx(dir / "model.onnx");
  if (!model) {
    why = "import: " + model.status().message();
    return model.status().code() == StatusCode::Unsupported ? Outcome::Skip : Outcome::Fail;
  }
  std::set<std::pair<std::string, std::string>> ops;
  collectOps(*model->graph, ops);
  for (const auto& [domain, op] : ops)
    if (!KernelRegistry::global().supports(domain, op)) {
      why = "no kernel for " + (domain.empty() ? "" : domain + ".") + op;
      return Outcome::Skip;
    }
  auto exec = Executor::create(*model, ExecOptions{2});
  if (!exec) {
    why = exec.status().message();
    return exec.status().code() == StatusCode::Unsupported ? Outcome::Skip : Outcome::Fail;
  }
  std::vector<const Value*> feeds;
  for (const Value* v : model->graph->inputs())
    if (!v->isInitializer()) feeds.push_back(v);
  int sets = 0;
  for (int s = 0;; ++s) {
    fs::path set = dir / ("test_data_set_" + std::to_string(s));
    if (!fs::exists(set)) break;
    ++sets;
    NamedTensors inputs;
    for (size_t i = 0; fs::exists(set / ("input_" + std::to_string(i) + ".pb")); ++i) {
      auto t = readTensorProtoFile(set / ("input_" + std::to_string(i) + ".pb"));
      if (!t) {
        why = "input is not a tensor (sequence/optional)";
        return Outcome::Skip;
      }
      if (i >= feeds.size()) {
        why = "more inputs than the graph takes";
        return Outcome::Fail;
      }
      inputs[feeds[i]->name()] = Tensor::fromData(*t);
    }
    auto outs = (*exec)->run(inputs);
    if (!outs) {
      why = outs.status().message();
      return outs.status().code() == StatusCode::Unsupported ? Outcome::Skip : Outcome::Fail;
    }
    const auto& graphOuts = model->graph->outputs();
    for (size_t i = 0; i < graphOuts.size(); ++i) {
      fs::path f = set / ("output_" + std::to_string(i) + ".pb");
      auto want = readTensorProtoFile(f);
      if (!want) {
        why = "expected output is not a tensor";
        return Outcome::Skip;
      }
      std::string diff = compare(outs->at(graphOuts[i]->name()), **want);
      if (!diff.empty()) {
        why = fmt::format("set {} output \"{}\": {}", s, graphOuts[i]->name(), diff);
        return Outcome::Fail;
      }
    }
  }
  if (sets == 0) {
    why = "no test data";
    return Outcome::Skip;
  }
  return Outcome::Pass;
}

TEST(OnnxConformance, SupportedCasesMatchExpectedOutputs) {
  fs::path root = test::onnxTestdataRoot();
  if (root.empty()) GTEST_SKIP() << "libonnx-testdata is not installed";
  const char* filterEnv = std::getenv("NPUCONV_CONFORMANCE_FILTER");
  std::string filter = filterEnv ? filterEnv : "";
  auto skips = loadSkips();
  int passed = 0, failed = 0, skipped = 0;
  std::map<std::string, int> skipReasons;
  std::map<std::string, std::string> notPassing;  // "suite/case" -> why
  std::set<std::string> passedKeys;
  std::ofstream log(test::tempDir("conformance").parent_path() / "conformance.log");
  for (const char* suite : {"node", "pytorch-converted", "pytorch-operator", "simple"}) {
    std::vector<fs::path> cases;
    for (const auto& e : fs::directory_iterator(root / suite))
      if (fs::exists(e.path() / "model.onnx")) cases.push_back(e.path());
    std::sort(cases.begin(), cases.end());
    for (const fs::path& c : cases) {
      std::string name = c.filename().string();
      if (!filter.empty() && name.find(filter) == std::string::npos) continue;
      std::string why;
      Outcome o;
      if (auto it = skips.find(name); it != skips.end()) {
        o = Outcome::Skip;
        why = it->second;
      } else {
        o = runCase(c, why);
      }
      const std::string key = std::string(suite) + "/" + name;
      if (o != Outcome::Pass) notPassing[key] = why;
      if (o == Outcome::Pass) {
        ++passed;
        passedKeys.insert(key);
      } else if (o == Outcome::Skip) {
        ++skipped;
        ++skipReasons[why.substr(0, why.find(':'))];
        if (std::getenv("NPUCONV_CONFORMANCE_VERBOSE")) std::printf("SKIP %s/%s: %s\n", suite, name.c_str(), why.c_str());
      } else {
        ++failed;
        ADD_FAILURE() << suite << "/" << name << ": " << why;
      }
    }
  }
  if (std::getenv("NPUCONV_CONFORMANCE_VERBOSE"))
    for (const auto& [r, n] : skipReasons) std::printf("  skipped %4d  %s\n", n, r.c_str());
  std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (!filter.empty()) return;
  if (const char* out = std::getenv("NPUCONV_CONFORMANCE_WRITE_PASSING")) {
    std::ofstream f(out);
    f << "# ONNX conformance cases (libonnx-testdata) that npuconv's executor passes; checked by\n"
         "# tests/conformance/onnx_conformance_test.cc. Regenerate: NPUCONV_CONFORMANCE_WRITE_PASSING=FILE.\n";
    for (const auto& k : passedKeys) f << k << "\n";
  }
  const std::set<std::string> expected = loadPassing();
  ASSERT_FALSE(expected.empty()) << "testdata/conformance_passing.txt is missing";
  for (const auto& k : expected)
    if (!passedKeys.count(k)) ADD_FAILURE() << k << " passed before and now does not: " << notPassing[k];
  for (const auto& k : passedKeys)
    if (!expected.count(k)) ADD_FAILURE() << k << " passes now: add it to testdata/conformance_passing.txt";
  EXPECT_EQ(passed, static_cast<int>(expected.size()));
}

}  // namespace
}  // namespace npuconv
