// The buffer pool's retention across runs: a repeated run allocates nothing from the heap once
// the pool has settled, even when its tensors fall in size classes that cannot serve each other,
// and blocks a run leaves unused are freed at its end.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "converter/exec/memory_plan.h"

namespace npuconv {
namespace {

constexpr size_t kBig = 4 << 20, kSmall = 1 << 20;

/// One "run": a big tensor, released, then a small one while nothing else is live (the big
/// block is more than twice the small request, so it cannot serve it).
void bigThenSmall(BufferPool& pool) {
  pool.beginRun();
  {
    auto big = pool.allocate(kBig, false);
    std::memset(const_cast<std::byte*>(big->data()), 1, kBig);
  }
  {
    auto small = pool.allocate(kSmall, true);
    EXPECT_EQ(small->data()[kSmall - 1], std::byte{0}) << "a reused block must come zero-filled";
    std::memset(const_cast<std::byte*>(small->data()), 2, kSmall);
  }
  pool.endRun();
}

TEST(BufferPool, RepeatedRunsReuseEveryBlockAcrossSizeClasses) {
  auto pool = BufferPool::create();
  bigThenSmall(*pool);
  EXPECT_EQ(pool->stats().heapAllocations, 2u);
  // Capping free bytes at the live peak (4 MiB) used to free the small block each run and
  // allocate it again in the next: one fresh allocation (and its page faults) per run.
  for (int run = 0; run < 3; ++run) bigThenSmall(*pool);
  MemoryStats s = pool->stats();
  EXPECT_EQ(s.allocations, 8u);
  EXPECT_EQ(s.heapAllocations, 2u);
  EXPECT_EQ(s.reused, 6u);
  EXPECT_EQ(s.freeBytes, BufferPool::capacityFor(kBig) + BufferPool::capacityFor(kSmall));
}

TEST(BufferPool, EndOfRunFreesBlocksTheRunDidNotUse) {
  auto pool = BufferPool::create();
  bigThenSmall(*pool);
  // A run of another shape that needs only the small block: the big one goes back to the heap.
  pool->beginRun();
  { auto small = pool->allocate(kSmall, false); }
  pool->endRun();
  MemoryStats s = pool->stats();
  EXPECT_EQ(s.heapAllocations, 2u);
  EXPECT_EQ(s.freeBytes, BufferPool::capacityFor(kSmall));
}

TEST(BufferPool, BlocksReleasedBetweenRunsStayForTheNextRun) {
  // The caller holds a run's outputs while the next run runs (run --repeat, calibration): they
  // come back after that run ended and must still be there for the one after.
  auto pool = BufferPool::create();
  pool->beginRun();
  auto out1 = pool->allocate(kSmall, false);
  pool->endRun();
  pool->beginRun();
  auto out2 = pool->allocate(kSmall, false);
  pool->endRun();
  out1.reset();
  pool->beginRun();
  auto out3 = pool->allocate(kSmall, false);
  pool->endRun();
  out2.reset();
  MemoryStats s = pool->stats();
  EXPECT_EQ(s.heapAllocations, 2u);
  EXPECT_EQ(s.reused, 1u);
}

TEST(BufferPool, NestedRunsCountAsOne) {
  auto pool = BufferPool::create();
  pool->beginRun();
  { auto a = pool->allocate(kBig, false); }
  pool->beginRun();  // a subgraph's run inside the top-level one
  pool->endRun();
  EXPECT_EQ(pool->stats().freeBytes, BufferPool::capacityFor(kBig)) << "the inner end must not trim";
  pool->endRun();
  EXPECT_EQ(pool->stats().freeBytes, BufferPool::capacityFor(kBig));
}

TEST(BufferPool, FreeBytesStayBounded) {
  auto pool = BufferPool::create();
  pool->beginRun();
  // Peak live is one 1 MiB block at a time; distinct growing sizes would each need a new block.
  for (size_t k = 0; k < 64; ++k) {
    auto b = pool->allocate(kSmall / 2 + k * (kSmall / 8) * 3, false);
  }
  pool->endRun();
  MemoryStats s = pool->stats();
  EXPECT_LE(s.freeBytes, BufferPool::kMaxFreeFactor * s.peakLiveBytes);
}

}  // namespace
}  // namespace npuconv
