#include "converter/exec/memory_plan.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

namespace npuconv {

namespace {
// Debug and sanitizer builds (the CI's ASan/UBSan job) hand out uninitialized tensors filled
// with 0xFF bytes, so a kernel that promised to write every element and did not fails tests.
#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
constexpr bool kPoisonUninitialized = true;
#else
constexpr bool kPoisonUninitialized = false;
#endif
}  // namespace

class BufferPool::PooledBuffer final : public Buffer {
 public:
  PooledBuffer(std::shared_ptr<BufferPool> pool, std::byte* block, size_t size, size_t capacity)
      : pool_(std::move(pool)), block_(block), size_(size), capacity_(capacity) {}
  ~PooledBuffer() override { pool_->release(block_, capacity_); }
  const std::byte* data() const override { return block_; }
  size_t size() const override { return size_; }

 private:
  std::shared_ptr<BufferPool> pool_;
  std::byte* block_;
  size_t size_, capacity_;
};

std::shared_ptr<BufferPool> BufferPool::create() { return std::shared_ptr<BufferPool>(new BufferPool()); }

BufferPool::~BufferPool() {
  for (auto& [cap, fb] : free_) std::free(fb.block);
}

std::shared_ptr<const Buffer> BufferPool::allocate(size_t bytes, bool zeroFill) {
  size_t cap = capacityFor(bytes == 0 ? 1 : bytes);
  std::byte* block = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.allocations;
    // Best fit among free blocks no more than twice the request (plus a page for small ones),
    // so a small tensor does not pin a large block.
    auto it = free_.lower_bound(cap);
    if (it != free_.end() && it->first <= 2 * cap + 4096) {
      cap = it->first;
      block = it->second.block;
      free_.erase(it);
      stats_.freeBytes -= cap;
      ++stats_.reused;
    } else {
      ++stats_.heapAllocations;
    }
    stats_.liveBytes += cap;
    stats_.peakLiveBytes = std::max(stats_.peakLiveBytes, stats_.liveBytes);
  }
  const bool fresh = block == nullptr;
  if (fresh) {
    block = static_cast<std::byte*>(std::aligned_alloc(64, cap));
    if (!block) {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.liveBytes -= cap;
      throw std::bad_alloc();
    }
  }
  if (zeroFill)
    std::memset(block, 0, fresh ? cap : bytes);
  else if (kPoisonUninitialized)
    std::memset(block, 0xFF, bytes);  // a kernel that leaves bytes unwritten shows NaN / -1
  return std::make_shared<PooledBuffer>(shared_from_this(), block, bytes, cap);
}

void BufferPool::release(std::byte* block, size_t capacity) {
  std::unique_lock<std::mutex> lock(mu_);
  stats_.liveBytes -= capacity;
  if (stats_.freeBytes + capacity <= kMaxFreeFactor * stats_.peakLiveBytes) {
    free_.emplace(capacity, FreeBlock{block, runs_});
    stats_.freeBytes += capacity;
    return;
  }
  lock.unlock();
  std::free(block);
}

MemoryStats BufferPool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void BufferPool::trim() {
  std::multimap<size_t, FreeBlock> blocks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    blocks.swap(free_);
    stats_.freeBytes = 0;
  }
  for (auto& [cap, fb] : blocks) std::free(fb.block);
}

void BufferPool::beginRun() {
  std::lock_guard<std::mutex> lock(mu_);
  if (activeRuns_++ == 0) ++runs_;
}

void BufferPool::endRun() {
  std::vector<std::byte*> unused;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (--activeRuns_ > 0) return;
    // A block released during this run carries its epoch; one still carrying an older epoch was
    // free through the whole run (blocks taken and given back get the new epoch).
    for (auto it = free_.begin(); it != free_.end();) {
      if (it->second.epoch < runs_) {
        unused.push_back(it->second.block);
        stats_.freeBytes -= it->first;
        it = free_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (std::byte* b : unused) std::free(b);
}

}  // namespace npuconv
