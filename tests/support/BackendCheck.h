// tests/support/BackendCheck.h - runs a graph on a backend and on the interpreter, compares.
//
// The interpreter is the oracle: every output and every parameter/state after
// the step must agree within a relative tolerance. Integer inputs (labels,
// keys) are drawn from [0, intHigh].
#ifndef KILN_TESTS_SUPPORT_BACKENDCHECK_H
#define KILN_TESTS_SUPPORT_BACKENDCHECK_H

#include "codegen/Lower.h"
#include "ir/Graph.h"
#include "ir/Interpreter.h"
#include "runtime/Executable.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

namespace kiln::test {

/// A test over backend names ("interp", "cpu", "cuda") that skips, saying
/// why, where the backend is missing from this build or machine.
class EveryBackend : public ::testing::TestWithParam<std::string> {
protected:
  void SetUp() override;
  /// Compiles `g` for the test's backend with `opt` (its backend replaced).
  std::unique_ptr<Executable> compileFor(const Graph &g, CompileOptions opt = {}) const;
};

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

/// Steps `g` three times on `backend` (after its fusion when the graph is
/// fused already) and on the interpreter from the same random environment:
/// every output and every parameter and state agree within `tol` after each
/// step, so assigns and updates in place hold across steps.
void expectSameSteps(const Graph &g, const std::string &backend, double tol = 1e-6);

/// An optimizer-like step for the update-in-place tests: input x [4,3],
/// parameter w and state s (both [4,3]); y = x w^T, s' = 0.9 s + x,
/// w' = w - 0.1 s', both assigned. With `lateRead`, exp of a view of w is an
/// output too, read after the update (so w cannot be updated in place).
void buildUpdateStep(Graph &g, bool lateRead);

/// A parameter's gradient and an optimizer step on it: velocity v' = 0.9 v +
/// grad, second moment s' = 0.9 s + 0.1 grad^2 and w' = w - 0.1 v' /
/// sqrt(s'^2 + 1) (w' reads both new states, which are updated in place
/// too). The gradient: "matmul" (a dense kernel's, 40 x 24), "splitk" (a
/// 12 x 8 product over K = 4096: one tile split over K, whose slices the
/// GPU sums in a kernel of their own),
/// "filter" (conv2d_filter_grad), "bias" (reduce_sum over a batch) or "chunks"
/// (reduce_sum of 16,384 values into each of 4 channels: several blocks each).
void buildGradUpdate(Graph &g, const std::string &kind);

/// The last workspace buffer of `p` (a split-K GEMM's tile counters, a
/// chunked reduction's counters), or -1 when it has none.
int lastWorkspaceBuffer(const Program &p);

} // namespace kiln::test

#endif // KILN_TESTS_SUPPORT_BACKENDCHECK_H
