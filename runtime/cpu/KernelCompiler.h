// runtime/cpu/KernelCompiler.h - compiled kernels of a program, through the disk cache.
//
// For each distinct kernel (by text), the cache key is the hash of its kernel
// IR with a neutral name, the host CPU and features, and the kiln version; the
// symbol is derived from the key, so equal kernels share one compiled copy.
// Misses are compiled in parallel (one LLVM context per thread) and stored.
// With a dump directory, each kernel's .kir, .ll and .s are written there.
#ifndef KILN_RUNTIME_CPU_KERNELCOMPILER_H
#define KILN_RUNTIME_CPU_KERNELCOMPILER_H

#include "codegen/Lower.h"
#include "runtime/KernelCache.h"
#include "runtime/cpu/Jit.h"

#include <string>
#include <vector>

namespace kiln::cpu {

struct KernelCompileStats {
  int unique = 0;    ///< distinct kernels
  int cacheHits = 0; ///< loaded from the disk cache
  int compiled = 0;  ///< compiled now
};

/// Compiles (or loads) every kernel of `p` into `jit`; returns one entry point
/// per kernel of p.kernels. `threads` bounds parallel compilation.
std::vector<KernelFn> compileKernels(const Program &p, Jit &jit, const KernelCache &cache, const std::string &dumpDir,
                                     int threads, KernelCompileStats &stats);

} // namespace kiln::cpu

#endif // KILN_RUNTIME_CPU_KERNELCOMPILER_H
