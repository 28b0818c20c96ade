#include <cstdlib>
#include "tests/support/test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/onnx/onnx_reader.h"

namespace npuconv::test {

std::filesystem::path sourceDir() { return NPUCONV_SOURCE_DIR; }
std::filesystem::path testdata(const std::string& relative) { return sourceDir() / "testdata" / relative; }

std::filesystem::path tempDir(const std::string& name) {
  auto base = std::filesystem::temp_directory_path() / ("npuconv-test-" + std::to_string(::getpid()));
  auto dir = base / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  static const struct Cleanup {
    std::filesystem::path p;
    ~Cleanup() {
      if (std::getenv("NPUCONV_KEEP_TEST_DIRS")) return;  // to rerun a failing command by hand
      std::error_code ec;
      std::filesystem::remove_all(p, ec);
    }
  } cleanup{base};
  return dir;
}

Model parseModel(const std::string& text) {
  auto m = parseOnnxText(text);
  EXPECT_TRUE(m.hasValue()) << m.status().toString() << "\n" << text;
  if (!m) return Model{};
  return std::move(m).value();
}

NamedTensors TextModelRunner::run(const NamedTensors& feeds) {
  if (!exec) return {};
  auto out = exec->run(feeds);
  EXPECT_TRUE(out.hasValue()) << out.status().toString();
  if (!out) return {};
  return std::move(out).value();
}

std::unique_ptr<TextModelRunner> runnerFor(const std::string& text, int threads) {
  auto r = std::make_unique<TextModelRunner>();
  r->model = parseModel(text);
  if (!r->model.graph) return r;
  auto exec = Executor::create(r->model, ExecOptions{threads});
  EXPECT_TRUE(exec.hasValue()) << exec.status().toString();
  if (exec) r->exec = std::move(exec).value();
  return r;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int runCommand(const std::string& cmd, std::string* out, std::string* err) {
  auto dir = tempDir("cmd");
  auto o = dir / "stdout", e = dir / "stderr";
  std::string full = cmd + " >" + o.string() + " 2>" + e.string();
  int rc = std::system(full.c_str());
  if (out) *out = slurp(o);
  if (err) *err = slurp(e);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

void expectMatchesReportSchema(const std::filesystem::path& doc, const std::string& definition) {
  const std::string cmd = "NODE_PATH=/usr/share/nodejs node '" + (sourceDir() / "tests/support/check_json_schema.js").string() +
                          "' '" + (sourceDir() / "docs/report.schema.json").string() + "' " +
                          (definition.empty() ? "" : "--definition " + definition + " ") + "'" + doc.string() + "'";
  std::string out, err;
  const int rc = runCommand(cmd, &out, &err);
  EXPECT_EQ(rc, 0) << doc << " does not match docs/report.schema.json" << (definition.empty() ? "" : " #" + definition)
                   << ":\n" << out << err;
}

std::string npuconvBinary() { return NPUCONV_BINARY; }

int runNpuconv(const std::string& args, std::string* out, std::string* err, const std::string& env) {
  return runCommand(fmt::format("{}'{}' {}", env.empty() ? "" : "env " + env + " ", npuconvBinary(), args), out, err);
}

NamedTensors runText(const std::string& text, const NamedTensors& feeds, int threads) {
  auto runner = runnerFor(text, threads);
  return runner ? runner->run(feeds) : NamedTensors{};
}

Tensor f32Tensor(std::vector<int64_t> dims, const std::vector<float>& values) {
  return Tensor::fromValues<float>(DType::F32, std::move(dims), std::span<const float>(values));
}

void putLe(std::string& s, size_t offset, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) s[offset + static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

uint64_t getLe(const std::string& s, size_t offset, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t(uint8_t(s[offset + static_cast<size_t>(i)])) << (8 * i);
  return v;
}

std::filesystem::path onnxTestdataRoot() {
  std::filesystem::path p = "/usr/share/libonnx-testdata/data";
  return std::filesystem::exists(p) ? p : std::filesystem::path();
}

Expected<NamedTensors> runOrt(const std::filesystem::path& model, const std::filesystem::path& inputsDir,
                              const std::filesystem::path& outDir) {
  std::string cmd = fmt::format("node '{}' --model '{}' --inputs '{}' --outdir '{}' --threads 2",
                                (sourceDir() / "tests/oracle/ort_run.js").string(), model.string(),
                                (inputsDir / "inputs.json").string(), outDir.string());
  std::string out, err;
  if (runCommand(cmd, &out, &err) != 0) return Status::internal("{}: {}", cmd, err);
  auto manifest = nlohmann::json::parse(slurp(outDir / "manifest.json"), nullptr, false);
  if (manifest.is_discarded()) return Status::internal("{}: bad ORT manifest", (outDir / "manifest.json").string());
  NamedTensors result;
  for (const auto& o : manifest["outputs"]) {
    auto dtype = dtypeFromName(o["dtype"].get<std::string>());
    if (!dtype) return Status::internal("ORT output dtype {}", o["dtype"].dump());
    Tensor t(*dtype, o["dims"].get<std::vector<int64_t>>());
    std::string bytes = slurp(outDir / o["file"].get<std::string>());
    if (bytes.size() != t.byteSize()) return Status::internal("ORT output {}: size", o["name"].dump());
    std::memcpy(t.mutableRaw(), bytes.data(), bytes.size());
    result.emplace(o["name"].get<std::string>(), std::move(t));
  }
  return result;
}

}  // namespace npuconv::test
