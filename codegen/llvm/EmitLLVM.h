// codegen/llvm/EmitLLVM.h - kernel IR to an LLVM module (IRBuilder), internal to codegen/llvm/.
#ifndef KILN_CODEGEN_LLVM_EMITLLVM_H
#define KILN_CODEGEN_LLVM_EMITLLVM_H

#include "codegen/KernelIR.h"
#include "codegen/llvm/LLVMBackend.h"

#include <memory>
#include <string>

namespace llvm {
class LLVMContext;
class Module;
} // namespace llvm

namespace kiln::llvmgen {

/// Writes kernel `k` as a module holding `void symbol(ptr buffers, i64 begin,
/// i64 end)`, which loads the buffer pointers and calls an internal body with
/// noalias, aligned, dereferenceable parameters. The body's top-level Parallel
/// loop runs [begin, end); a kernel without one ignores both.
std::unique_ptr<llvm::Module> emitKernelModule(const kir::Kernel &k, const std::string &symbol,
                                               llvm::LLVMContext &ctx, const HostTarget &target);

} // namespace kiln::llvmgen

#endif // KILN_CODEGEN_LLVM_EMITLLVM_H
