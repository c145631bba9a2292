// runtime/cpu/Jit.h - the JIT: one ORC LLJIT session linking compiled kernel objects.
//
// A small class owning the session (like Kaleidoscope's JIT): objects from
// codegen/llvm (compiled now or loaded from the kernel cache) are added, then
// kernel entry points are looked up by symbol. Vector math calls resolve
// against glibc's libmvec, everything else against the process. No LLVM types
// appear here.
#ifndef KILN_RUNTIME_CPU_JIT_H
#define KILN_RUNTIME_CPU_JIT_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln::cpu {

/// A kernel entry point: `void symbol(void **buffers, int64_t begin, int64_t end)`.
using KernelFn = void (*)(void **buffers, int64_t begin, int64_t end);

class Jit {
public:
  Jit();
  ~Jit();
  Jit(const Jit &) = delete;
  Jit &operator=(const Jit &) = delete;

  /// Adds a relocatable object (copied); `name` is used in error messages.
  void addObject(const std::vector<char> &object, const std::string &name);
  /// The address of `symbol`; RuntimeError with the linker's message when absent.
  KernelFn lookup(const std::string &symbol);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace kiln::cpu

#endif // KILN_RUNTIME_CPU_JIT_H
