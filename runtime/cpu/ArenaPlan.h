// runtime/cpu/ArenaPlan.h - where each buffer of a lowered program lives in one arena.
//
// A simple liveness plan: inputs, parameters and state get fixed places;
// temporaries share memory when their live ranges (first to last launch that
// touches them) do not overlap, placed greedily, largest first; views share
// their target's place. Outputs, assigned values and status buffers live to
// the end of the step. The interface is one function so a better planner
// (passes/MemoryPlan.h) can replace it.
#ifndef KILN_RUNTIME_CPU_ARENAPLAN_H
#define KILN_RUNTIME_CPU_ARENAPLAN_H

#include "codegen/Lower.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kiln::cpu {

struct ArenaPlan {
  static constexpr size_t kAlignment = 64;
  std::vector<size_t> offset; ///< byte offset of each program buffer
  size_t bytes = 0;           ///< arena size
};

/// Plans the arena of `p`.
ArenaPlan planArena(const Program &p);

} // namespace kiln::cpu

#endif // KILN_RUNTIME_CPU_ARENAPLAN_H
