// memory_planner.h - the static memory plan: every activation of a device program gets a byte
// offset in one arena, and tensors whose lifetimes do not overlap share bytes (greedy by size,
// as TFLite's arena planner and the NPU compilers do). The executor's BufferPool
// (converter/exec/memory_plan.h) reuses buffers at run time instead; a blob needs fixed offsets.
#pragma once

#include "converter/device/device_program.h"

namespace npuconv::device {

/// Offsets are multiples of this (DMA-friendly; the blob spec's alignment).
inline constexpr uint64_t kArenaAlignment = 64;

/// Sets arenaOffset of every activation and program.memory. A tensor lives from the op that
/// writes it (graph inputs: from the start) to its last reader (graph outputs: to the end).
void planMemory(Program& program);

}  // namespace npuconv::device
