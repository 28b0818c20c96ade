// memory_plan.h - the executor's buffer pool. The executor plans tensor lifetimes (a tensor is
// released right after its last use); the pool makes the freed memory reusable: a later
// allocation takes a free block of fitting size (at least the request, at most about twice it)
// instead of calling malloc, and gets it zero-filled like a fresh one (unless the kernel asked for
// an uninitialized tensor). Blocks go back to the
// pool when the last Tensor referencing them goes away, on any thread, even after the executor
// is gone (each block keeps the pool alive). The pool never keeps more free bytes than the
// peak of live bytes it has seen, so memory stays bounded by the model's working set.
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

  /// Block capacity for a request: rounded up to 64 bytes.
  static size_t capacityFor(size_t bytes) { return (bytes + 63) / 64 * 64; }

 private:
  BufferPool() = default;
  class PooledBuffer;
  void release(std::byte* block, size_t capacity);
  mutable std::mutex mu_;
  std::multimap<size_t, std::byte*> free_;  // capacity -> block
  MemoryStats stats_;
};

}  // namespace npuconv
