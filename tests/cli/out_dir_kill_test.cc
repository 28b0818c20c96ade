// `npuconv convert -o OUTDIR` killed with SIGKILL in the middle of its work, with real processes
// (issue 12 §2): before publication (NPUCONV_TEST_PAUSE_BEFORE_PUBLISH=1) OUTDIR keeps the
// previous complete set byte for byte; during publication, after the first file was renamed into
// place (NPUCONV_TEST_PAUSE_MID_PUBLISH=1), no stamp claims the mixed files and the next run
// removes them first. Either way the flock dies with the process, the next run does not wait,
// cleans the staging folder and converts a complete set identical to a clean run's.
// Children are fork/exec'ed; every wait has a deadline (poll on their stderr, waitpid WNOHANG),
// and a child still alive at a deadline is killed: this test never hangs the suite.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/cli/two_layer_model.h"
#include "tests/support/test_util.h"

namespace npuconv {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

Clock::time_point deadlineIn(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

/// A running npuconv with its stderr on a pipe.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    std::vector<std::string> all{test::npuconvBinary()};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    // The environment is built before fork: the child only calls async-signal-safe functions.
    std::vector<std::string> extra = env;
    std::vector<char*> envp;
    for (char** e = environ; *e; ++e) envp.push_back(*e);
    for (std::string& e : extra) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 2);
      int devnull = ::open("/dev/null", O_WRONLY);
      if (devnull >= 0) ::dup2(devnull, 1);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    err_ = fds[0];
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (err_ >= 0) ::close(err_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool started() const { return pid_ > 0 && err_ >= 0; }
  pid_t pid() const { return pid_; }
  const std::string& stderrText() const { return text_; }

  /// Reads stderr until it holds `needle` (true), EOF or the deadline (false).
  bool waitFor(const std::string& needle, double seconds) {
    const auto deadline = deadlineIn(seconds);
    while (text_.find(needle) == std::string::npos) {
      if (!readSome(deadline)) return text_.find(needle) != std::string::npos;
    }
    return true;
  }

  /// Kills it with SIGKILL and reaps it.
  void kill9() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    killedBySignal_ = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  }
  bool killedBySignal() const { return killedBySignal_; }

  /// Reads stderr to EOF and waits for the exit; -1 (after killing it) at the deadline.
  int finish(double seconds) {
    const auto deadline = deadlineIn(seconds);
    while (readSome(deadline)) {
    }
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      if (Clock::now() >= deadline) {
        kill9();
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

 private:
  /// One poll + read; false at EOF, on error or at the deadline.
  bool readSome(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0 || err_ < 0) return false;
    pollfd p{err_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (r < 0) return errno == EINTR;
    if (r == 0) return Clock::now() < deadline;
    char buf[4096];
    ssize_t n = ::read(err_, buf, sizeof buf);
    if (n <= 0) return false;
    text_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int err_ = -1;
  bool reaped_ = false, killedBySignal_ = false;
  std::string text_;
};

constexpr double kDeadline = 300;  // seconds: a conversion of the tiny model takes well under one

/// Every file of OUTDIR but the lock, by name, with its bytes (stage folders listed by name).
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> m;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name == ".npuconv.lock") continue;
    m[name] = e.is_regular_file() ? test::slurp(e.path()) : "<folder>";
  }
  return m;
}

bool lockIsFree(const fs::path& dir) {
  int fd = ::open((dir / ".npuconv.lock").c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  const bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);
  return free;
}

bool hasStage(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(".npuconv-stage-", 0) == 0) return true;
  return false;
}

/// OUTDIR holds one complete set: the stamp names every output with its size, no journal and no
/// staging folder remain, and model.onnx / model.npub are byte-identical to `reference`'s.
void expectCompleteSet(const fs::path& out, const fs::path& reference) {
  ASSERT_TRUE(fs::exists(out / "npuconv.key.json"));
  auto stamp = nlohmann::json::parse(test::slurp(out / "npuconv.key.json"));
  ASSERT_EQ(stamp["outputs"].size(), 3u) << stamp.dump();
  for (const auto& o : stamp["outputs"])
    EXPECT_EQ(fs::file_size(out / o["file"].get<std::string>()), o["size"].get<uint64_t>()) << o.dump();
  // Nothing else: no journal, no staging folder, no temporary or stale file.
  std::set<std::string> expected{"npuconv.key.json"}, present;
  for (const auto& o : stamp["outputs"]) expected.insert(o["file"].get<std::string>());
  for (const auto& [name, bytes] : snapshot(out)) present.insert(name);
  EXPECT_EQ(present, expected);
  for (const char* f : {"model.onnx", "model.npub"})
    EXPECT_EQ(test::slurp(out / f), test::slurp(reference / f)) << f << ": not one run's set";
  auto report = nlohmann::json::parse(test::slurp(out / "report.json"));
  EXPECT_EQ(report["output"]["model_bytes"].get<uint64_t>(), fs::file_size(out / "model.onnx")) << "report of another run";
}

TEST(OutDirKill, KilledBeforeAndDuringPublicationLeavesNoMixedSetAndTheNextRunRecovers) {
  fs::path dir = test::tempDir("out_dir_kill");
  fs::path model = test::writeTwoLayerModel(dir), x = test::writeTwoLayerInputs(dir);
  fs::path out = dir / "out";
  auto args = [&](const fs::path& o, int samples) {
    return std::vector<std::string>{"convert", model.string(), "-o", o.string(), "--precision", "int8", "--calib",
                                    x.string(), "--layer-error-samples", "0", "--calib-samples", std::to_string(samples)};
  };
  // Clean conversions to compare with: 12 and 6 calibration samples give different models.
  for (int samples : {12, 6}) {
    Child c(args(dir / fmt::format("ref{}", samples), samples), {});
    ASSERT_TRUE(c.started());
    ASSERT_EQ(c.finish(kDeadline), 0) << c.stderrText();
  }
  ASSERT_NE(test::slurp(dir / "ref12/model.onnx"), test::slurp(dir / "ref6/model.onnx"));
  {
    Child first(args(out, 12), {});
    ASSERT_EQ(first.finish(kDeadline), 0) << first.stderrText();
  }
  expectCompleteSet(out, dir / "ref12");
  const auto before = snapshot(out);

  // 1. Killed after staging, before publication: OUTDIR is exactly as it was.
  {
    Child c(args(out, 6), {"NPUCONV_TEST_PAUSE_BEFORE_PUBLISH=1"});
    ASSERT_TRUE(c.started());
    ASSERT_TRUE(c.waitFor("npuconv: test: paused", kDeadline)) << c.stderrText();
    EXPECT_TRUE(hasStage(out)) << "the run staged its outputs";
    EXPECT_FALSE(lockIsFree(out)) << "the run holds the lock";
    c.kill9();
    EXPECT_TRUE(c.killedBySignal());
  }
  EXPECT_TRUE(lockIsFree(out)) << "the kernel released the dead run's flock";
  auto after = snapshot(out);
  for (auto it = after.begin(); it != after.end();)
    it = it->first.rfind(".npuconv-stage-", 0) == 0 ? after.erase(it) : std::next(it);
  EXPECT_EQ(after, before) << "OUTDIR changed although the run died before publishing";
  // The previous set is still complete and current for its options: up to date, stage removed.
  {
    Child c(args(out, 12), {});
    ASSERT_EQ(c.finish(kDeadline), 0) << c.stderrText();
    EXPECT_NE(c.stderrText().find("is up to date"), std::string::npos) << c.stderrText();
    EXPECT_EQ(c.stderrText().find("waiting"), std::string::npos) << "the lock was free";
  }
  expectCompleteSet(out, dir / "ref12");

  // 2. Killed after the first file was renamed into place: a mixed set on disk, but no stamp
  //    claims it, and the next run removes it before converting.
  {
    Child c(args(out, 6), {"NPUCONV_TEST_PAUSE_MID_PUBLISH=1"});
    ASSERT_TRUE(c.started());
    ASSERT_TRUE(c.waitFor("npuconv: test: paused", kDeadline)) << c.stderrText();
    c.kill9();
    EXPECT_TRUE(c.killedBySignal());
  }
  EXPECT_TRUE(lockIsFree(out));
  EXPECT_FALSE(fs::exists(out / "npuconv.key.json")) << "a stamp would claim a mixed set";
  EXPECT_TRUE(fs::exists(out / ".npuconv-publishing.json")) << "the journal names the files to remove";
  {
    // Readers that follow the protocol (the stamp; convert --dry-run shows it) see no set.
    std::string planOut, planErr;
    ASSERT_EQ(test::runCommand(fmt::format("timeout 120 '{}' convert '{}' -o '{}' --precision int8 --calib '{}' "
                                           "--layer-error-samples 0 --dry-run",
                                           test::npuconvBinary(), model.string(), out.string(), x.string()),
                               &planOut, &planErr),
              0)
        << planErr;
    EXPECT_NE(planOut.find("would convert: no complete output set"), std::string::npos) << planOut;
  }
  // The next run with the first options: recovers, removes the partial set, converts in full.
  {
    Child c(args(out, 12), {});
    ASSERT_EQ(c.finish(kDeadline), 0) << c.stderrText();
    EXPECT_EQ(c.stderrText().find("is up to date"), std::string::npos) << c.stderrText();
    EXPECT_NE(c.stderrText().find("killed while publishing"), std::string::npos) << c.stderrText();
    EXPECT_EQ(c.stderrText().find("waiting"), std::string::npos) << c.stderrText();
  }
  expectCompleteSet(out, dir / "ref12");
  // And with the killed run's options: a complete set of those.
  {
    Child c(args(out, 6), {});
    ASSERT_EQ(c.finish(kDeadline), 0) << c.stderrText();
  }
  expectCompleteSet(out, dir / "ref6");
  EXPECT_TRUE(lockIsFree(out));
}

}  // namespace
}  // namespace npuconv
