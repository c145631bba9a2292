// ir/Interpreter.h - the reference interpreter: runs any graph on the host.
//
// Simple, obviously correct loops (each op's EvalFn or its scalar formula),
// in float32 or float64. It is the oracle every backend and pass is tested
// against; speed is not a goal.
#ifndef KILN_IR_INTERPRETER_H
#define KILN_IR_INTERPRETER_H

#include "ir/Graph.h"
#include "ir/HostTensor.h"

#include <map>
#include <string>
#include <vector>

namespace kiln {

/// Named tensors: inputs, parameters and state, by signature name.
using TensorMap = std::map<std::string, HostTensor>;

struct InterpretOptions {
  /// Compute every float value in float64 (f32 inputs and state are widened;
  /// results come back as f64).
  bool f64 = false;
  /// After every node (also inside fused regions), verify that no float
  /// result holds a NaN or an infinity; the first one found throws
  /// RuntimeError "check-numerics: %5 = exp(%4) produced inf at element 12
  /// (first non-finite value)". Inputs, parameters and state are checked too.
  bool checkNumerics = false;
};

/// Runs `g` once. `env` must hold every input, parameter and state by name;
/// `assign` nodes overwrite the parameter/state entries of `env` after the run
/// (all reads see the old values). Returns the graph outputs in order.
/// Throws UserError when an input is missing or has the wrong type.
std::vector<HostTensor> interpret(const Graph &g, TensorMap &env, const InterpretOptions &opt = {});

/// The row-major index of the first NaN or infinity in `t`, or -1 when every
/// element is finite (always -1 for integer and bool tensors).
int64_t firstNonFinite(const HostTensor &t);

/// A copy of `g` whose f32 values are all f64 (for float64 reference runs).
std::unique_ptr<Graph> widenToF64(const Graph &g);

} // namespace kiln

#endif // KILN_IR_INTERPRETER_H
