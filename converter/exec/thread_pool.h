// thread_pool.h - intra-op parallelism for kernels. parallelFor splits [0, n) into contiguous
// chunks whose bounds depend only on n, grain and the thread count, so results are
// deterministic for a given thread count. A parallelFor called from inside a chunk (a kernel
// of a Loop body run by a parallel Scan, say) runs inline; callers on different threads take
// turns.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace npuconv {

class ThreadPool {
 public:
  /// `threads` <= 0 means all hardware threads.
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  /// Calls fn(begin, end) over chunks of [0, n); runs inline when n < 2 * grain or one thread.
  void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);
  /// Whether the calling thread is running a parallelFor chunk.
  static bool inParallelRegion();

 private:
  void workerLoop(int index);
  std::vector<std::thread> workers_;
  std::mutex callerMu_;  // one parallelFor at a time
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t jobN_ = 0, chunk_ = 0;
  int64_t nextChunk_ = 0, chunksLeft_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  // Lock-free mirrors for short spin-waits before blocking on the condition variables (a kernel
  // issues parallelFor calls microseconds apart; a futex sleep/wake costs more than that).
  std::atomic<uint64_t> generationA_{0};
  std::atomic<int64_t> chunksLeftA_{0};
  std::atomic<bool> stopA_{false};
};

}  // namespace npuconv
