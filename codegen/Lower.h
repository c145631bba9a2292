// codegen/Lower.h - lowering of a graph to a program of kernels.
//
// lowerGraph turns every body node (or fused region) of a graph into kernel
// IR kernels with all shapes constant, and describes how to run them: which
// buffers exist (inputs, parameters, state, temporaries), which kernel runs on
// which buffers in which order, which buffers hold the outputs, and which
// parameter/state buffers `assign` overwrites after the step. It knows nothing
// of LLVM or of memory addresses; runtime/ plans memory and runs it.
#ifndef KILN_CODEGEN_LOWER_H
#define KILN_CODEGEN_LOWER_H

#include "codegen/KernelIR.h"
#include "ir/Graph.h"

#include <string>
#include <vector>

namespace kiln {

/// What a program buffer holds.
enum class BufferRole : uint8_t {
  Input,  ///< fed by the caller before each step
  Param,  ///< persists between steps; trainable
  State,  ///< persists between steps
  Temp,   ///< produced and consumed within a step (outputs included)
  /// Persists between steps, private to the kernels: zero before the first
  /// step, and zero again after each launch that uses it (a GPU GEMM's
  /// counters of the K slices stored per tile). Not part of the signature.
  Workspace,
};

/// One tensor-sized buffer of a program.
struct ProgramBuffer {
  std::string name;
  TensorType type;
  BufferRole role = BufferRole::Temp;
  /// Temps only: another buffer this one is a view of (reshape), or -1.
  int aliasOf = -1;
};

/// One kernel call: kernel parameter i is program buffer args[i].
struct Launch {
  int kernel = 0;
  std::vector<int> args;
};

/// A status buffer (i64[2], zeroed before each step) a kernel sets to
/// {row + 1, label} when it meets a label outside [0, classes).
struct LabelCheck {
  int buffer = -1;
  std::string op;
  int64_t classes = 0;
};

/// A lowered graph.
struct Program {
  std::vector<ProgramBuffer> buffers;
  std::vector<kir::Kernel> kernels;
  std::vector<Launch> launches; ///< in execution order
  std::vector<int> outputs;     ///< buffer of each graph output
  /// After all launches: buffer `first` (param/state) takes the contents of `second`.
  std::vector<std::pair<int, int>> assigns;
  std::vector<LabelCheck> checks; ///< verified by the runtime after each step

  /// The buffer of the signature value `name`, or -1.
  int findBuffer(const std::string &name) const;
  /// The buffer that really holds `b` (follows aliasOf).
  int storageOf(int b) const;
};

/// Options of lowering.
struct LowerOptions {
  /// Use packed register-blocked micro-kernels for matmul and conv (else simple loops).
  bool blockedKernels = true;
  /// Vector width in bytes the micro-kernels aim at (64 for AVX-512).
  int vectorBytes = 64;
  /// Threads the kernels will run on (0: unknown). GEMMs with few blocks are
  /// split into at least this many (4 when unknown), and no further.
  int threads = 0;
};

/// Lowers `g` (verified, possibly holding `fused` regions) to kernels. Throws
/// UserError for ops the CPU backend cannot run, naming the op.
Program lowerGraph(const Graph &g, const LowerOptions &opt = {});

/// Text of a whole program: buffers, then each launch with its kernel.
std::string printProgram(const Program &p);

} // namespace kiln

#endif // KILN_CODEGEN_LOWER_H
