// runtime/Backends.h - the entry point each backend defines, for compile()'s dispatch.
//
// Each backend folder (runtime/cpu/, runtime/cuda/) defines its function; a
// build without that backend links the stub in runtime/stubs/ instead, which
// throws a RuntimeError saying why the backend is missing.
#ifndef KILN_RUNTIME_BACKENDS_H
#define KILN_RUNTIME_BACKENDS_H

#include "runtime/Executable.h"

namespace kiln {

/// The reference interpreter as an Executable (runtime/InterpExecutable.cpp).
std::unique_ptr<Executable> makeInterpExecutable(const Graph &g, const CompileOptions &opt);
/// The LLVM CPU backend (runtime/cpu/), or a stub that throws.
std::unique_ptr<Executable> makeCpuExecutable(const Graph &g, const CompileOptions &opt);
/// The CUDA backend (runtime/cuda/), or a stub that throws.
std::unique_ptr<Executable> makeCudaExecutable(const Graph &g, const CompileOptions &opt);
/// Whether this build has the CPU / CUDA backend compiled in.
bool hasCpuBackend();
bool hasCudaBackend();

/// Wraps a compiled backend's executable so that each run() checks for NaN and
/// infinity and names the op producing one (CompileOptions::checkNumerics;
/// runtime/CheckNumerics.cpp).
std::unique_ptr<Executable> withNumericsCheck(std::unique_ptr<Executable> exe);

/// Runs `defaultPipeline(backend)` on a copy of `g` (when opt.runPasses) and returns it.
std::unique_ptr<Graph> prepareGraph(const Graph &g, const CompileOptions &opt);

} // namespace kiln

#endif // KILN_RUNTIME_BACKENDS_H
