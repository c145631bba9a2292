// runtime/stubs/NoCuda.cpp - stands in for the CUDA backend in builds without it.
#include "ir/Error.h"
#include "runtime/Backends.h"

namespace kiln {

bool hasCudaBackend() { return false; }

std::unique_ptr<Executable> makeCudaExecutable(const Graph &, const CompileOptions &) {
  KILN_RUNTIME_ERROR() << "backend 'cuda' is not available: kiln was built without the CUDA backend";
  return nullptr;
}

} // namespace kiln
