// runtime/stubs/NoCpu.cpp - stands in for the CPU backend in builds without LLVM.
#include "ir/Error.h"
#include "runtime/Backends.h"

namespace kiln {

bool hasCpuBackend() { return false; }

std::unique_ptr<Executable> makeCpuExecutable(const Graph &, const CompileOptions &) {
  KILN_RUNTIME_ERROR() << "backend 'cpu' is not available: kiln was built without LLVM (KILN_WITH_LLVM=OFF)";
  return nullptr;
}

} // namespace kiln
