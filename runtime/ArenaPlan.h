// runtime/ArenaPlan.h - where each buffer of a lowered program lives in a backend's one arena.
//
// Inputs, parameters and state get fixed places at the start; temporaries
// share memory when their live ranges (first to last launch that touches
// them) do not overlap, placed greedily, largest first; views share their
// target's place; outputs, assigned values and label-status buffers live to
// the end of the step. (passes/MemoryPlan.h plans graph values; the lowered
// program also holds region intermediates, split-K partials and status
// buffers, so the arena plan is made over program buffers.) The CPU and CUDA
// backends both use it, each with its own alignment.
#ifndef KILN_RUNTIME_ARENAPLAN_H
#define KILN_RUNTIME_ARENAPLAN_H

#include "codegen/Lower.h"

#include <cstddef>
#include <vector>

namespace kiln {

/// Byte offsets of every program buffer in one arena.
struct ArenaPlan {
  size_t alignment = 64;      ///< every offset is a multiple of it
  std::vector<size_t> offset; ///< byte offset of each program buffer
  size_t bytes = 0;           ///< arena size
};

/// Plans the arena of `p` with buffers aligned to `alignment` bytes (a power of two).
/// Temporaries in `persistent` (assigned values that a backend swaps with their
/// parameter after the step instead of copying them) share memory with nothing.
/// `launchTime[i]` is when launch i runs (default: i); launches with the same
/// time run at once (a CUDA launch group), so their buffers never share memory.
ArenaPlan planArena(const Program &p, size_t alignment, const std::vector<int> &persistent = {},
                    const std::vector<int64_t> &launchTime = {});

} // namespace kiln

#endif // KILN_RUNTIME_ARENAPLAN_H
