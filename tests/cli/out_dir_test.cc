// `npuconv convert -o OUTDIR` for container start-up, with real processes: a re-run with nothing
// changed converts nothing (same files), a touched input with the same bytes does not rebuild, a
// changed input and --force do; 4 processes at once: exactly one converts. Runs killed with -9
// before and during publication: tests/cli/out_dir_kill_test.cc.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/cli/two_layer_model.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;

uint64_t inode(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? st.st_ino : 0;
}

TEST(OutDirCli, UpToDateForceChangedInputConcurrentAndKilled) {
  fs::path dir = test::tempDir("out_dir_cli");
  fs::path model = test::writeTwoLayerModel(dir), x = test::writeTwoLayerInputs(dir);
  fs::path out = dir / "out";
  const std::string cmd = fmt::format("convert '{}' -o '{}' --precision int8 --calib '{}' --layer-error-samples 0",
                                      model.string(), out.string(), x.string());
  std::string err;
  ASSERT_EQ(test::runNpuconv(cmd, nullptr, &err), 0) << err;
  ASSERT_TRUE(fs::exists(out / "npuconv.key.json"));
  auto stamp = nlohmann::json::parse(test::slurp(out / "npuconv.key.json"));
  EXPECT_EQ(stamp["outputs"].size(), 3u) << stamp.dump();  // model.npub, model.onnx, report.json: the blob is published with the set
  auto report = nlohmann::json::parse(test::slurp(out / "report.json"));
  EXPECT_EQ(report["output"]["model"], (out / "model.onnx").string()) << "the report names the published path";
  const uint64_t first = inode(out / "model.onnx");

  // Nothing changed: nothing converted, the same file stays.
  ASSERT_EQ(test::runNpuconv(cmd, nullptr, &err), 0) << err;
  EXPECT_NE(err.find("is up to date"), std::string::npos) << err;
  EXPECT_EQ(inode(out / "model.onnx"), first);
  // --threads does not change the output: still up to date.
  ASSERT_EQ(test::runNpuconv(cmd + " --threads 1", nullptr, &err), 0) << err;
  EXPECT_NE(err.find("is up to date"), std::string::npos) << err;
  // The same bytes under a new mtime and inode (a copy): rehashed, not rebuilt.
  fs::copy_file(x, dir / "x2.npy");
  fs::rename(dir / "x2.npy", x);
  ASSERT_EQ(test::runNpuconv(cmd, nullptr, &err), 0) << err;
  EXPECT_NE(err.find("is up to date"), std::string::npos) << err;
  EXPECT_EQ(inode(out / "model.onnx"), first);
  // --force rebuilds; a changed option rebuilds; a changed input rebuilds.
  ASSERT_EQ(test::runNpuconv(cmd + " --force", nullptr, &err), 0) << err;
  EXPECT_EQ(err.find("is up to date"), std::string::npos) << err;
  const uint64_t forced = inode(out / "model.onnx");
  EXPECT_NE(forced, first);
  ASSERT_EQ(test::runNpuconv(cmd + " --calib-samples 6", nullptr, &err), 0) << err;
  EXPECT_EQ(err.find("is up to date"), std::string::npos) << err;
  ASSERT_EQ(test::runNpuconv(cmd, nullptr, &err), 0) << err;
  EXPECT_EQ(err.find("is up to date"), std::string::npos) << err;
  fs::create_directories(dir / "m2");
  test::writeTwoLayerModel(dir / "m2");
  fs::rename(dir / "m2/model.onnx", model);  // same bytes: up to date
  ASSERT_EQ(test::runNpuconv(cmd, nullptr, &err), 0) << err;
  EXPECT_NE(err.find("is up to date"), std::string::npos) << err;

  // Four processes into a fresh OUTDIR at once: exactly one converts, the others reuse its set.
  fs::path shared = dir / "shared";
  const std::string one = fmt::format("'{}' convert '{}' -o '{}' --precision int8 --calib '{}' --layer-error-samples 0",
                                      test::npuconvBinary(), model.string(), shared.string(), x.string());
  std::string script;
  for (int i = 0; i < 4; ++i) script += fmt::format("{} 2> '{}' & ", one, (dir / fmt::format("p{}.err", i)).string());
  ASSERT_EQ(test::runCommand("sh -c \"" + script + "wait\""), 0);
  int converted = 0;
  for (int i = 0; i < 4; ++i) {
    std::string e = test::slurp(dir / fmt::format("p{}.err", i));
    converted += e.find("is up to date") == std::string::npos;
  }
  EXPECT_EQ(converted, 1);
  EXPECT_TRUE(fs::exists(shared / "npuconv.key.json"));
}

}  // namespace
}  // namespace npuconv
