// memory_plan.h - the executor's buffer pool. The executor plans tensor lifetimes (a tensor is
// released right after its last use); the pool makes the freed memory reusable: a later
// allocation takes a free block of fitting size (at least the request, at most about twice it)
// instead of calling malloc, and gets it zero-filled like a fresh one (unless the kernel asked for
// an uninitialized tensor). Blocks go back to the
// pool when the last Tensor referencing them goes away, on any thread, even after the executor
// is gone (each block keeps the pool alive).
//
// What it keeps: the blocks the last run used. Within a run (beginRun/endRun, the executor's
// top-level run) a released block always stays in the pool, and endRun frees the blocks that sat
// unused through the whole run (left from other shapes, say). A run repeated with the same
// shapes (calibration, validation, `run --repeat`) therefore settles after a run or two on a set
// of blocks that serves all its allocations: it calls malloc for none and touches no fresh page.
// Page faults on fresh memory cost 11-20 % of the time of conv nets before (each run's misses
// came back as fresh mmaps). Capping the free bytes at the peak of live bytes instead (the
// earlier rule) missed on most allocations of nets with many tensor sizes, since blocks of one
// size class cannot serve another. Bound: free bytes never exceed kMaxFreeFactor times the peak
// of live bytes (the blocks' size classes need 1-2.3x on the suite's models).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "converter/exec/tensor.h"

namespace npuconv {

struct MemoryStats {
  uint64_t allocations = 0;      // buffers handed out
  uint64_t reused = 0;           // ... of which came from a freed block
  uint64_t heapAllocations = 0;  // ... of which needed a new block from the heap
  size_t liveBytes = 0;          // bytes of blocks in use now
  size_t peakLiveBytes = 0;      // the most ever in use at once
  size_t freeBytes = 0;          // bytes of blocks kept for reuse
};

class BufferPool final : public TensorAllocator, public std::enable_shared_from_this<BufferPool> {
 public:
  static std::shared_ptr<BufferPool> create();
  ~BufferPool() override;
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  std::shared_ptr<const Buffer> allocate(size_t bytes, bool zeroFill) override;
  MemoryStats stats() const;
  /// Frees every block kept for reuse.
  void trim();
  /// Marks the start and end of a run (nested or concurrent runs count as one while any is on):
  /// endRun frees the free blocks no allocation or release touched since the matching beginRun.
  void beginRun();
  void endRun();

  /// Free bytes kept at most, as a multiple of the peak of live bytes.
  static constexpr size_t kMaxFreeFactor = 4;

  /// Block capacity for a request: rounded up to 64 bytes.
  static size_t capacityFor(size_t bytes) { return (bytes + 63) / 64 * 64; }

 private:
  BufferPool() = default;
  class PooledBuffer;
  void release(std::byte* block, size_t capacity);
  mutable std::mutex mu_;
  struct FreeBlock {
    std::byte* block;
    uint64_t epoch;  // runs_ when it was last released
  };
  std::multimap<size_t, FreeBlock> free_;  // capacity -> block
  MemoryStats stats_;
  uint64_t runs_ = 0;   // beginRun calls that started a run
  int activeRuns_ = 0;
};

}  // namespace npuconv
