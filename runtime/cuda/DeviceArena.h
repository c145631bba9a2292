// runtime/cuda/DeviceArena.h - where each buffer of a lowered program lives in the one device arena.
//
// Inputs, parameters and state get fixed places at the start; temporaries
// share memory when their live ranges (first to last launch that touches
// them) do not overlap, placed greedily, largest first; views share their
// target's place; outputs, assigned values and label-status buffers live to
// the end of the step. (passes/MemoryPlan.h plans graph values; the lowered
// program also holds region intermediates, split-K partials and status
// buffers, so the device plan is made over program buffers.)
#ifndef KILN_RUNTIME_CUDA_DEVICEARENA_H
#define KILN_RUNTIME_CUDA_DEVICEARENA_H

#include "codegen/Lower.h"

#include <cstddef>
#include <vector>

namespace kiln::cuda {

struct ArenaLayout {
  static constexpr size_t kAlignment = 256;
  std::vector<size_t> offset; ///< byte offset of each program buffer
  size_t bytes = 0;           ///< arena size
};

/// Plans the arena of `p`.
ArenaLayout layoutArena(const Program &p);

} // namespace kiln::cuda

#endif // KILN_RUNTIME_CUDA_DEVICEARENA_H
