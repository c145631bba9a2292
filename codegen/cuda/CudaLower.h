// codegen/cuda/CudaLower.h - lowering of a graph to CUDA kernels, all shapes constant.
//
// lowerCuda walks the graph like the CPU lowering (codegen/Lower.h): every
// body node or fused region becomes kernels over program buffers, with fused
// elementwise producers inlined and elementwise chains after a heavy op
// applied as its store epilogue. The kernels differ where the GPU wants
// another shape of loop:
//   * matmul and the three convolutions are one shared-memory tiled GEMM
//     (64x64 tiles, 16-deep K slices, 4x4 outputs per thread); convolutions
//     are implicit GEMMs whose operand accessors compute the im2col address
//     (zero in the padding), so no column buffer exists. A GEMM with too few
//     tiles for the device splits K over blocks into a partial buffer and a
//     second kernel sums the slices in a fixed order (no atomics, so results
//     are bitwise reproducible) and applies the epilogue;
//   * reductions give each output element one warp and combine with
//     warp shuffles;
//   * pooling gradients gather (one thread per input element) instead of
//     scattering;
//   * everything else is the CPU lowering's kernel IR, rendered with its
//     Parallel loop nest mapped to threads (codegen/cuda/CudaRender.h).
#ifndef KILN_CODEGEN_CUDA_CUDALOWER_H
#define KILN_CODEGEN_CUDA_CUDALOWER_H

#include "codegen/Lower.h"
#include "codegen/cuda/CudaSource.h"
#include "ir/Graph.h"

#include <map>
#include <vector>

namespace kiln::cuda {

/// Options of the CUDA lowering.
struct CudaLowerOptions {
  int smCount = 132; ///< multiprocessors of the target (split-K aims at two blocks per SM)
  bool tf32 = false; ///< f32 GEMMs on tensor cores with TF32 inputs (mma.sync m16n8k8)
  /// GEMMs load their next K slice into registers while they multiply the
  /// current one (KILN_CUDA_PREFETCH=0: load, then multiply; the same results)
  bool prefetch = true;
};

/// A lowered graph: the program (buffers, launches, outputs, assigns, label
/// checks), the CUDA kernel of each of its kernels, and what the GPU launches.
struct CudaProgram {
  Program program;
  /// kernels[i] implements program.kernels[i]; kernels past those are launch groups.
  std::vector<CudaKernel> kernels;
  /// The GPU's launches in order: program.launches, except that each run of
  /// consecutive generic kernels that touch no storage another of them writes
  /// is one launch of a group kernel, which gives each member its own range
  /// of blocks (fewer launches in the step's graph: an optimizer's updates
  /// are one). Args are the members' args, in order.
  std::vector<Launch> launches;
  /// For each launch group kernel (by index into kernels), its members' kernel indices.
  std::map<int, std::vector<int>> groups;

  /// For each of program.launches, the index of the GPU launch that runs it:
  /// a group's members share one, as they run at once (the arena plan's times).
  std::vector<int64_t> launchTimes() const;
};

/// Lowers `g` (verified, possibly holding `fused` regions). Throws UserError
/// for an op the CUDA backend cannot run, naming the op.
CudaProgram lowerCuda(const Graph &g, const CudaLowerOptions &opt = {});

/// Reorders program.launches, keeping every dependence (a launch reading,
/// writing or overwriting storage an earlier one writes or reads stays after
/// it): in rounds, every launch whose inputs are ready goes next (one that
/// cannot join a group alone, first), so independent ones become neighbours
/// that groupLaunches merges. A launch nothing waits for that would not share
/// its round's launch (on a GPU of `smCount` SMs) waits for a later round.
void scheduleLaunches(CudaProgram &p, int smCount);

/// Forms CudaProgram::launches (and its group kernels) from program.launches,
/// for a GPU of `smCount` multiprocessors.
void groupLaunches(CudaProgram &p, int smCount);

} // namespace kiln::cuda

#endif // KILN_CODEGEN_CUDA_CUDALOWER_H
