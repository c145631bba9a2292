// runtime/cuda/Nvrtc.h - NVRTC: CUDA C++ to PTX or CUBIN, with errors that point at the source.
//
// Works without a GPU or driver (NVRTC is a library of the toolkit). A failed
// compile throws a RuntimeError naming the kernel that holds the first error,
// the target, the options, NVRTC's log, and the offending generated lines
// with their numbers.
#ifndef KILN_RUNTIME_CUDA_NVRTC_H
#define KILN_RUNTIME_CUDA_NVRTC_H

#include "codegen/cuda/CudaSource.h"

#include <string>
#include <vector>

namespace kiln::cuda {

/// What NVRTC produced.
struct NvrtcOutput {
  std::string ptx;         ///< when the target is compute_XY
  std::vector<char> cubin; ///< when the target is sm_XY
  std::string log;         ///< warnings, if any
};

/// Compiles `tu` for `arch`: "compute_90" gives PTX, "sm_90" gives CUBIN.
/// `unit` names the program in messages (the graph's name, say).
NvrtcOutput nvrtcCompile(const CudaTranslationUnit &tu, const std::string &arch, const std::string &unit);

/// The options kiln passes to NVRTC besides the architecture (part of cache keys).
const std::vector<std::string> &nvrtcOptions();

/// NVRTC's version as "major.minor".
std::string nvrtcVersionString();

/// "sm_90" -> "compute_90" (and a compute_ name unchanged); UserError for anything else.
std::string virtualArch(const std::string &arch);

/// Whether `arch` names a virtual architecture ("compute_90", compiled to PTX)
/// rather than a GPU ("sm_90", compiled to a CUBIN); UserError for a bad name.
bool isVirtualArch(const std::string &arch);

/// The compute capability of "sm_XY" or "compute_XY[a]" as the number XY (90 for
/// sm_90a); UserError for anything else.
int archNumber(const std::string &arch);

} // namespace kiln::cuda

#endif // KILN_RUNTIME_CUDA_NVRTC_H
