// runtime/cuda/CudaCompile.h - a lowered program's arena plan, its CUDA through NVRTC and the disk cache; dumps.
//
// A program's kernels form one translation unit, compiled once to CUBIN for
// the device's architecture and cached on disk (runtime/KernelCache.h) under
// hash(source, architecture, NVRTC options and version, kiln version), so a
// second run compiles nothing. No driver is needed for any of this.
#ifndef KILN_RUNTIME_CUDA_CUDACOMPILE_H
#define KILN_RUNTIME_CUDA_CUDACOMPILE_H

#include "codegen/cuda/CudaLower.h"
#include "runtime/ArenaPlan.h"
#include "runtime/KernelCache.h"

#include <string>
#include <vector>

namespace kiln::cuda {

/// Where each buffer of `p` lives in the device arena (256-byte aligned): the
/// members of a launch group run at once, so they are one point in time and
/// share no bytes (checked with groupOverlap: an internal error otherwise).
ArenaPlan planCudaArena(const CudaProgram &p);

/// The first place where a member of a launch group of `p` writes arena bytes
/// (as `plan` places them) that another member of the same launch touches,
/// described; "" when there is none.
std::string groupOverlap(const CudaProgram &p, const ArenaPlan &plan);

/// The module image of `tu` for `arch`, from `cache` when present there
/// (*fromCache tells which): a CUBIN for a GPU ("sm_90"), or for a virtual
/// architecture ("compute_90") its PTX, NUL-terminated, which the driver
/// compiles for the GPU when it loads the module.
std::vector<char> compileModule(const CudaTranslationUnit &tu, const std::string &arch, const std::string &unit,
                                const KernelCache &cache, bool *fromCache);

/// Writes into `dir`: program.txt (buffers and launches), program.cu (the
/// translation unit), and per kernel NAME.kir (kernel IR), NAME.cu (prelude +
/// kernel, compilable alone) and NAME.ptx (its PTX for the virtual arch of `arch`).
void dumpCudaProgram(const CudaProgram &p, const CudaTranslationUnit &tu, const std::string &arch,
                     const std::string &dir);

} // namespace kiln::cuda

#endif // KILN_RUNTIME_CUDA_CUDACOMPILE_H
