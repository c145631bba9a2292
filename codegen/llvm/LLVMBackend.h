// codegen/llvm/LLVMBackend.h - kernel IR to optimized host object code (no LLVM types here).
//
// The LLVM emitter (EmitLLVM.cpp) writes a kernel as LLVM IR with IRBuilder;
// Compile.cpp runs the new pass manager's O3 pipeline for the host
// TargetMachine (AVX-512 with "prefer-vector-width"="512" where the CPU has it,
// glibc libmvec for vector exp/log) and emits an ELF object. The runtime
// (runtime/cpu/) links objects into its JIT and caches them on disk; this
// header keeps every LLVM include inside codegen/llvm/.
#ifndef KILN_CODEGEN_LLVM_LLVMBACKEND_H
#define KILN_CODEGEN_LLVM_LLVMBACKEND_H

#include "codegen/KernelIR.h"

#include <string>
#include <vector>

namespace kiln::llvmgen {

/// The host CPU as LLVM describes it.
struct HostTarget {
  std::string triple;
  std::string cpu;      ///< e.g. "znver4"
  std::string features; ///< "+avx512f,+fma,..."
  bool avx512 = false;
  /// Widest vector the kernels should use, in bytes (64 with AVX-512, else 32 or 16).
  int vectorBytes = 32;
};

/// Detected once per process.
const HostTarget &hostTarget();

/// The compiled form of one kernel.
struct ObjectCode {
  std::vector<char> object; ///< ELF relocatable object defining `symbol`
  std::string llvmIR;       ///< optimized LLVM IR (when texts were asked for)
  std::string assembly;     ///< host assembly (when texts were asked for)
};

/// Emits kernel `k` as `void symbol(void **buffers, int64_t begin, int64_t end)`,
/// optimizes it at O3 for the host and compiles it to an object. Thread-safe
/// (each call uses its own LLVM context). InternalError on invalid kernel IR.
ObjectCode compileKernel(const kir::Kernel &k, const std::string &symbol, bool wantText);

} // namespace kiln::llvmgen

#endif // KILN_CODEGEN_LLVM_LLVMBACKEND_H
