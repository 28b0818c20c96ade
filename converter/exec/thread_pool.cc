#include "converter/exec/thread_pool.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>

namespace npuconv {

namespace {
thread_local bool tlsInJob = false;

struct InJob {
  bool previous = tlsInJob;
  InJob() { tlsInJob = true; }
  ~InJob() { tlsInJob = previous; }
};
}  // namespace

bool ThreadPool::inParallelRegion() { return tlsInJob; }

namespace {
/// Spins (with pause) until done() or about `micros` microseconds passed; returns done().
template <typename F>
bool spinUntil(F&& done, int micros) {
  auto start = std::chrono::steady_clock::now();
  for (int i = 0;; ++i) {
    if (done()) return true;
    _mm_pause();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() - start > std::chrono::microseconds(micros)) return done();
  }
}
constexpr int kSpinMicros = 1000;
}  // namespace

ThreadPool::ThreadPool(int threads) {
  int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < n; ++i) workers_.emplace_back([this, i] { workerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    stopA_.store(true);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t maxChunks = std::min<int64_t>(size(), (n + grain - 1) / grain);
  if (maxChunks <= 1 || workers_.empty() || tlsInJob) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> callerLock(callerMu_);
  InJob inJob;
  int64_t chunk = (n + maxChunks - 1) / maxChunks;
  int64_t chunks = (n + chunk - 1) / chunk;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    jobN_ = n;
    chunk_ = chunk;
    nextChunk_ = 0;
    chunksLeft_ = chunks;
    chunksLeftA_.store(chunks);
    ++generation_;
    generationA_.store(generation_, std::memory_order_release);
  }
  wake_.notify_all();
  // The caller works too.
  for (;;) {
    int64_t c;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (nextChunk_ >= chunks) break;
      c = nextChunk_++;
    }
    fn(c * chunk, std::min(n, (c + 1) * chunk));
    std::lock_guard<std::mutex> lock(mu_);
    chunksLeftA_.fetch_sub(1);
    if (--chunksLeft_ == 0) done_.notify_all();
  }
  spinUntil([&] { return chunksLeftA_.load(std::memory_order_acquire) == 0; }, kSpinMicros);
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return chunksLeft_ == 0; });
  job_ = nullptr;
}

void ThreadPool::workerLoop(int) {
  uint64_t seen = 0;
  for (;;) {
    spinUntil([&] { return stopA_.load(std::memory_order_relaxed) || generationA_.load(std::memory_order_acquire) != seen; },
              kSpinMicros);
    std::unique_lock<std::mutex> lock(mu_);
    // A new generation whose chunks are all taken already just updates `seen` below.
    wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    while (job_ && nextChunk_ * chunk_ < jobN_) {
      int64_t c = nextChunk_++;
      const auto* fn = job_;
      int64_t n = jobN_, chunk = chunk_;
      lock.unlock();
      {
        InJob inJob;
        (*fn)(c * chunk, std::min(n, (c + 1) * chunk));
      }
      lock.lock();
      chunksLeftA_.fetch_sub(1);
      if (--chunksLeft_ == 0) done_.notify_all();
    }
    seen = generation_;
  }
}

}  // namespace npuconv
