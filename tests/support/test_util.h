// test_util.h - shared helpers for the tests.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "converter/exec/executor.h"
#include "converter/ir/model.h"

namespace npuconv::test {

std::filesystem::path sourceDir();
std::filesystem::path testdata(const std::string& relative);
/// A fresh empty folder under the test temp dir, removed at exit.
std::filesystem::path tempDir(const std::string& name);
/// Parses ONNX text syntax; fails the test on error.
Model parseModel(const std::string& text);
/// A model in ONNX text syntax with an executor for it (the executor needs the model alive).
struct TextModelRunner {
  Model model;
  std::unique_ptr<Executor> exec;
  /// Runs it; fails the test (and returns no tensors) when the run fails.
  NamedTensors run(const NamedTensors& feeds);
};
/// Parses `text` and prepares an executor with `threads` threads; fails the test (exec null) on
/// error.
std::unique_ptr<TextModelRunner> runnerFor(const std::string& text, int threads);
/// Parses `text` and runs it once on `feeds`; fails the test (no tensors) on error.
NamedTensors runText(const std::string& text, const NamedTensors& feeds, int threads = 2);
/// A float32 tensor of `dims` holding `values`.
Tensor f32Tensor(std::vector<int64_t> dims, const std::vector<float>& values);
/// Writes the low `n` bytes of `v` little-endian into `s` at `offset` (crafting corrupt files).
void putLe(std::string& s, size_t offset, uint64_t v, int n);
/// The n-byte little-endian value at offset (putLe's inverse).
uint64_t getLe(const std::string& s, size_t offset, int n);

/// The bytes of a file (empty when it cannot be read).
std::string slurp(const std::filesystem::path& p);
/// Runs a shell command; returns its exit code and fills stdout/stderr when given.
int runCommand(const std::string& cmd, std::string* out = nullptr, std::string* err = nullptr);
/// The npuconv binary under test.
std::string npuconvBinary();
/// Runs the npuconv binary with `args` (shell words, quoted by the caller), under `env`
/// ("VAR=value ...") when given; returns its exit code.
int runNpuconv(const std::string& args, std::string* out = nullptr, std::string* err = nullptr,
               const std::string& env = "");
/// Fails the test unless the JSON file at `doc` matches docs/report.schema.json (or one of its
/// definitions, e.g. "validation"); checked by Debian's node-ajv (scripts/setup.sh installs it).
void expectMatchesReportSchema(const std::filesystem::path& doc, const std::string& definition = "");
/// Debian's ONNX conformance data, or empty when not installed.
std::filesystem::path onnxTestdataRoot();

/// ONNX Runtime's outputs for `model` (tests/oracle/ort_run.js, 2 threads) on the inputs that
/// test::writeRawInputs (tests/support/zoo.h) wrote in `inputsDir`, written to and read back
/// from `outDir`.
Expected<NamedTensors> runOrt(const std::filesystem::path& model, const std::filesystem::path& inputsDir,
                              const std::filesystem::path& outDir);

}  // namespace npuconv::test
