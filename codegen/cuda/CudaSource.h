// codegen/cuda/CudaSource.h - CUDA C++ of a lowered program: kernels, launch shapes, one translation unit.
//
// The CUDA backend turns every launch of a lowered program (codegen/Lower.h)
// into one `extern "C" __global__` function with all shapes constant. A
// CudaKernel is that function's source and how to launch it; a
// CudaTranslationUnit concatenates a shared prelude (dtype helpers, the
// counter-based RNG of ir/Formula.h) and every distinct kernel, and remembers
// where each kernel starts so compiler errors can name the kernel. Nothing
// here talks to NVRTC or the driver (runtime/cuda/ does).
#ifndef KILN_CODEGEN_CUDA_CUDASOURCE_H
#define KILN_CODEGEN_CUDA_CUDASOURCE_H

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kiln::cuda {

/// One __global__ function and its launch configuration.
struct CudaKernel {
  std::string name;      ///< symbol (extern "C"), unique within a program
  std::string source;    ///< the function's definition (without the prelude)
  int64_t grid[3] = {1, 1, 1};
  int block[3] = {1, 1, 1};
  int sharedBytes = 0;   ///< dynamic shared memory (static shared memory is in the source)
  int staticSharedBytes = 0; ///< the static shared memory the source declares (a launch group's: its members')
  /// The source defines `name_body(params..., const long long block)`, the
  /// work of one block, which a launch group can call for a range of its blocks.
  bool callableBody = false;
  std::string kind;      ///< "generic", "gemm", "reduce", "pool_grad", ... (for dumps and stats)
};

/// The prelude every kernel source relies on (types, kiln_random, dtype helpers).
const std::string &cudaPrelude();

/// The row gathers of Executable::selectRows, which the runtime launches
/// itself: out[i] = table[rows[i / width] * width + i % width] for the first
/// count * width of `total` units, zeros after them. One moves 4-byte words
/// (rows of a multiple of 4 bytes), one bytes. Parameters: table, row numbers
/// (long long), out, count, total, width (the last three long long).
const std::vector<CudaKernel> &rowGatherKernels();

/// A whole program's kernels as one compilable text.
struct CudaTranslationUnit {
  std::string text;
  /// (first line, kernel name), ascending; lines before the first kernel are the prelude.
  std::vector<std::pair<int, std::string>> kernelLines;

  /// The kernel whose source holds 1-based line `line` ("prelude" before the first).
  std::string kernelAt(int line) const;
};

/// The prelude followed by each kernel of `kernels` (skipping repeated names).
CudaTranslationUnit makeTranslationUnit(const std::vector<CudaKernel> &kernels);

} // namespace kiln::cuda

#endif // KILN_CODEGEN_CUDA_CUDASOURCE_H
