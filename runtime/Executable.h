// runtime/Executable.h - a compiled step (train or eval), backend-neutral.
//
// compile() turns a graph into an Executable for one backend. Inputs are
// written before each run(); parameters and state persist between runs and
// are updated in place by the graph's `assign` nodes; outputs are read after
// run(). Backends: "interp" (the reference interpreter, always present),
// "cpu" (LLVM JIT, when built with LLVM), "cuda" (NVRTC, when a GPU exists).
// A backend plugs in by defining its entry point of runtime/Backends.h
// (makeCpuExecutable + hasCpuBackend in runtime/cpu/, makeCudaExecutable +
// hasCudaBackend in runtime/cuda/); runtime/CMakeLists.txt then drops the stub.
#ifndef KILN_RUNTIME_EXECUTABLE_H
#define KILN_RUNTIME_EXECUTABLE_H

#include "ir/Graph.h"
#include "ir/HostTensor.h"

#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace kiln {

/// How to compile.
struct CompileOptions {
  std::string backend = "cpu"; ///< "interp", "cpu" or "cuda"
  int threads = 0;             ///< CPU worker threads (0: one per core)
  bool verbose = false;        ///< report compile time and kernel counts on `log`
  bool runPasses = true;       ///< run the backend's default pass pipeline first
  bool tf32 = false;           ///< CUDA: allow TF32 tensor-core math
  /// CUDA: target architecture ("sm_90") when compiling without a GPU; empty:
  /// the device's own (sm_90 when there is no device).
  std::string cudaArch;
  /// Compile (and dump) only: no device state is created, so the result cannot
  /// run. Lets `kiln compile --backend cuda` work on a machine without a GPU.
  bool compileOnly = false;
  std::ostream *log = nullptr; ///< verbose output (null: std::cerr)
  /// Verify after every run() that no NaN or infinity appeared; the error
  /// names the first op producing one (`--check-numerics`). The interpreter
  /// checks every node; compiled backends check outputs, parameters and state
  /// and, on a finding, replay the step on the interpreter to name the op.
  bool checkNumerics = false;
  /// When non-empty, each kernel's kernel IR, LLVM IR and assembly (or CUDA
  /// source) are written into this directory (`kiln compile --dump DIR`).
  std::string dumpDir;
  /// CPU: the vector width in bytes kernels are shaped for (0: the host's; 16
  /// or 32 give the kernels an SSE or AVX2 machine gets, to test them here).
  int cpuVectorBytes = 0;
};

/// A compiled graph with its own parameter, state and input storage.
class Executable {
public:
  virtual ~Executable() = default;

  /// The graph as compiled (after the backend's passes).
  virtual const Graph &graph() const = 0;
  /// Copies `t` into the input, parameter or state called `name` (types must match).
  virtual void set(const std::string &name, const HostTensor &t) = 0;
  /// The current value of an input, parameter or state.
  virtual HostTensor get(const std::string &name) const = 0;
  /// Host memory of input `name` for writing a batch in place before run(), or
  /// null when the backend's inputs are not host memory (then use set()).
  virtual void *inputData(const std::string &name) { (void)name; return nullptr; }
  /// Runs one step: computes the outputs and applies the assigns.
  virtual void run() = 0;
  /// Output i of the last run().
  virtual HostTensor output(size_t i) const = 0;
  /// Seconds spent compiling (passes, codegen, JIT).
  virtual double compileSeconds() const { return 0; }
  /// Backend name.
  virtual std::string backend() const = 0;
};

/// Compiles `g` for `opt.backend`. Throws UserError for an unknown backend and
/// RuntimeError when the backend is not available here (no LLVM, no GPU).
std::unique_ptr<Executable> compile(const Graph &g, const CompileOptions &opt = {});

/// Backends compiled into this build ("interp" always first).
std::vector<std::string> availableBackends();

} // namespace kiln

#endif // KILN_RUNTIME_EXECUTABLE_H
