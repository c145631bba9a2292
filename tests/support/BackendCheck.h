// tests/support/BackendCheck.h - runs a graph on a backend and on the interpreter, compares.
//
// The interpreter is the oracle: every output and every parameter/state after
// the step must agree within a relative tolerance. Integer inputs (labels,
// keys) are drawn from [0, intHigh].
#ifndef KILN_TESTS_SUPPORT_BACKENDCHECK_H
#define KILN_TESTS_SUPPORT_BACKENDCHECK_H

#include "ir/Graph.h"
#include "ir/Interpreter.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace kiln::test {

/// Runs the `fuse` pipeline on g as `backend` sees it (its fusion capabilities).
void fuseFor(Graph &g, const std::string &backend);

/// Random values for every input, parameter and state of `g` (floats uniform
/// in [-1, 1), integers in [0, intHigh]), reproducible from `seed`.
TensorMap randomEnvironment(const Graph &g, uint32_t seed, int64_t intHigh = 9);

/// Compiles `g` for `backend` (without the default passes unless `passes`),
/// runs one step on `env` (random when empty) and compares with the
/// interpreter. The failure message names the output or parameter. `threads`
/// is the backend's thread count (0: one per core), which shapes how kernels
/// split their work; `vectorBytes` the CPU kernels' vector width (0: the host's).
::testing::AssertionResult sameAsInterpreter(const Graph &g, const std::string &backend, double tol = 1e-5,
                                             TensorMap env = {}, bool passes = false, uint32_t seed = 1,
                                             int threads = 0, int vectorBytes = 0);

} // namespace kiln::test

#endif // KILN_TESTS_SUPPORT_BACKENDCHECK_H
