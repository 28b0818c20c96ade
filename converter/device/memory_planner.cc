// memory_planner.cc - see memory_planner.h.
#include "converter/device/memory_planner.h"

#include <algorithm>
#include <numeric>

namespace npuconv::device {
namespace {

uint64_t alignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

struct Interval {
  int64_t first = -1, last = -1;  // op steps; -1: unused
};

}  // namespace

void planMemory(Program& p) {
  const auto steps = static_cast<int64_t>(p.ops.size());
  std::vector<Interval> life(p.tensors.size());
  auto touch = [&](int32_t t, int64_t step) {
    if (t < 0 || p.tensors[static_cast<size_t>(t)].storage != Storage::Activation) return;
    Interval& i = life[static_cast<size_t>(t)];
    if (i.first < 0 || step < i.first) i.first = step;
    i.last = std::max(i.last, step);
  };
  for (const IoBinding& b : p.inputs) touch(b.tensor, 0);
  for (int64_t s = 0; s < steps; ++s) {
    for (int32_t t : p.ops[static_cast<size_t>(s)].inputs) touch(t, s);
    for (int32_t t : p.ops[static_cast<size_t>(s)].outputs) touch(t, s);
  }
  for (const IoBinding& b : p.outputs) touch(b.tensor, std::max<int64_t>(steps - 1, 0));

  std::vector<size_t> order;
  for (size_t i = 0; i < p.tensors.size(); ++i)
    if (life[i].first >= 0) order.push_back(i);
  // Largest first; ties by first use then index, so the plan is deterministic.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const uint64_t sa = alignUp(p.tensors[a].byteSize(), kArenaAlignment);
    const uint64_t sb = alignUp(p.tensors[b].byteSize(), kArenaAlignment);
    if (sa != sb) return sa > sb;
    return life[a].first < life[b].first;
  });
  std::vector<size_t> placed;
  MemoryPlanSummary m;
  for (size_t t : order) {
    const uint64_t size = alignUp(p.tensors[t].byteSize(), kArenaAlignment);
    std::vector<std::pair<uint64_t, uint64_t>> busy;  // [offset, end) of overlapping tensors
    for (size_t o : placed)
      if (life[o].first <= life[t].last && life[t].first <= life[o].last)
        busy.emplace_back(p.tensors[o].arenaOffset,
                          p.tensors[o].arenaOffset + alignUp(p.tensors[o].byteSize(), kArenaAlignment));
    std::sort(busy.begin(), busy.end());
    uint64_t offset = 0;
    for (const auto& [b, e] : busy) {
      if (offset + size <= b) break;
      offset = std::max(offset, e);
    }
    p.tensors[t].arenaOffset = offset;
    placed.push_back(t);
    m.arenaBytes = std::max(m.arenaBytes, offset + size);
    m.activationBytes += size;
  }
  for (int64_t s = 0; s < std::max<int64_t>(steps, 1); ++s) {
    uint64_t live = 0;
    for (size_t t : placed)
      if (life[t].first <= s && s <= life[t].last) live += alignUp(p.tensors[t].byteSize(), kArenaAlignment);
    m.maxLiveBytes = std::max(m.maxLiveBytes, live);
  }
  p.memory = m;
}

}  // namespace npuconv::device
