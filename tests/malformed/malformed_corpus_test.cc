// The malformed-input corpus (issue 13 section 3): every case in cases.txt runs the npuconv
// binary on a committed broken input and must end in its documented exit code with one line on
// stderr, `npuconv: error: ...` containing the expected text, no crash, and nothing written.
// The binary inputs come from gen_cases.cc (run by hand; outputs committed). Cases that need
// a symlink make it at run time (below).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

struct CorpusCase {
  std::string name, args, expect;
  int exitCode = 0;
};
void PrintTo(const CorpusCase& c, std::ostream* os) { *os << c.name; }

std::string trim(std::string s) {
  s.erase(0, s.find_first_not_of(" \t"));
  s.erase(s.find_last_not_of(" \t\r") + 1);
  return s;
}

// cases.txt: `name | npuconv arguments | exit code | expected error text`, '#' comments.
std::vector<CorpusCase> loadCases() {
  std::vector<CorpusCase> out;
  std::ifstream in(test::sourceDir() / "tests/malformed/cases.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (trim(line).empty() || trim(line)[0] == '#') continue;
    std::vector<std::string> parts;
    size_t start = 0;
    for (int i = 0; i < 3; ++i) {
      size_t bar = line.find(" | ", start);
      if (bar == std::string::npos) break;
      parts.push_back(trim(line.substr(start, bar - start)));
      start = bar + 3;
    }
    parts.push_back(trim(line.substr(start)));
    if (parts.size() != 4) {
      ADD_FAILURE() << "cases.txt: malformed line: " << line;
      continue;
    }
    out.push_back({parts[0], parts[1], parts[3], std::stoi(parts[2])});
  }
  return out;
}

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

// Runs `npuconv ARGS` in a fresh folder; {cases} is the committed corpus, {out} an output path
// in the fresh folder, which must stay empty.
void expectCleanFailure(const std::string& name, std::string args, int exitCode, const std::string& expect) {
  fs::path dir = test::tempDir("malformed_" + name);
  fs::path out = dir / "out";
  args = replaceAll(args, "{cases}", (test::sourceDir() / "tests/malformed/cases").string());
  args = replaceAll(args, "{out}", out.string());
  args = replaceAll(args, "{dir}", dir.string());
  std::vector<fs::path> before;
  for (const auto& e : fs::recursive_directory_iterator(dir)) before.push_back(e.path());
  std::string err;
  int rc = test::runCommand("cd '" + dir.string() + "' && " + test::npuconvBinary() + " " + args, nullptr, &err);
  SCOPED_TRACE("npuconv " + args);
  EXPECT_EQ(rc, exitCode) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "not one line: " << err;
  EXPECT_EQ(err.rfind("npuconv: error: ", 0), 0u) << err;
  EXPECT_NE(err.find(expect), std::string::npos) << "expected \"" << expect << "\" in: " << err;
  // convert's OUTDIR lock (pipeline/out_dir.h) may stay: it is not an output, and removing a lock
  // file that another process may be waiting on would break the mutual exclusion.
  auto isLock = [&](const fs::path& p) { return p == out || p == out / ".npuconv.lock"; };
  EXPECT_FALSE(fs::exists(out / "model.onnx") || fs::exists(out / "report.json")) << "output left behind";
  std::vector<fs::path> after;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (!isLock(e.path())) after.push_back(e.path());
  EXPECT_EQ(after, before) << "files left behind in " << dir;
}

class MalformedCorpus : public ::testing::TestWithParam<CorpusCase> {};

TEST_P(MalformedCorpus, FailsCleanly) {
  const CorpusCase& c = GetParam();
  expectCleanFailure(c.name, c.args, c.exitCode, c.expect);
}

INSTANTIATE_TEST_SUITE_P(Cases, MalformedCorpus, ::testing::ValuesIn(loadCases()),
                         [](const ::testing::TestParamInfo<CorpusCase>& info) {
                           std::string n = info.param.name;
                           std::replace_if(n.begin(), n.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
                           return n;
                         });

TEST(MalformedCorpusFile, HasTheCasesOfIssue13) {
  std::vector<std::string> names;
  for (const CorpusCase& c : loadCases()) names.push_back(c.name);
  for (const char* n : {"truncated", "bitflip_length", "cycle", "dangling_input", "wrong_attr_type", "negative_dim",
                        "huge_dims", "bomb_1tb", "opset_too_new", "bad_utf8_node_name", "external_dotdot",
                        "calib_wrong_shape", "calib_wrong_dtype", "vocab_duplicates", "calib_text_empty_line"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
}

// External data through a symlink that leads out of the model's folder: a file link, and a
// folder link. Made here, at run time (git would store the link, not the escape).
class ExternalSymlink : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test::tempDir("malformed_symlink");
    model_ = root_ / "model";
    fs::create_directories(model_);
    fs::create_directories(root_ / "outside");
    std::ofstream(root_ / "outside" / "weights.bin", std::ios::binary) << std::string(48, '\1');
  }
  fs::path root_, model_;
};

TEST_F(ExternalSymlink, FileLinkOutOfTheFolderIsRefused) {
  fs::copy_file(test::sourceDir() / "tests/malformed/cases/external_symlink.onnx", model_ / "m.onnx");
  fs::create_symlink(root_ / "outside" / "weights.bin", model_ / "weights.bin");
  expectCleanFailure("symlink_file", "optimize '" + (model_ / "m.onnx").string() + "' -o {out}", 3,
                     "resolves outside the model's folder");
}

TEST_F(ExternalSymlink, FolderLinkOutOfTheFolderIsRefused) {
  fs::copy_file(test::sourceDir() / "tests/malformed/cases/external_symlink_dir.onnx", model_ / "m.onnx");
  fs::create_directory_symlink(root_ / "outside", model_ / "sub");
  expectCleanFailure("symlink_dir", "optimize '" + (model_ / "m.onnx").string() + "' -o {out}", 3,
                     "resolves outside the model's folder");
}

TEST_F(ExternalSymlink, LinkInsideTheFolderIsFine) {
  fs::copy_file(test::sourceDir() / "tests/malformed/cases/external_symlink.onnx", model_ / "m.onnx");
  std::ofstream(model_ / "real.bin", std::ios::binary) << std::string(48, '\1');
  fs::create_symlink("real.bin", model_ / "weights.bin");
  std::string err;
  int rc = test::runCommand(test::npuconvBinary() + " inspect '" + (model_ / "m.onnx").string() + "'", nullptr, &err);
  EXPECT_EQ(rc, 0) << err;
}

}  // namespace
}  // namespace npuconv
