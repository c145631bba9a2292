// tests/support/RandomGraph.h - random valid graphs for differential testing of backends.
//
// randomGraph(seed) draws a small graph: a few inputs and parameters of
// random shapes, then a random sequence of ops (elementwise with numpy or
// explicit broadcasting, reductions, layout, matmul, conv2d, pooling,
// softmax, select/cmp), each applied to values already built and of fitting
// shapes. With `backward`, the sum of the unused values becomes the loss and
// autodiff appends the gradients of every parameter as further outputs, so the
// backward ops (conv and pool gradients, broadcast reductions, masks) are
// exercised too. Same seed, same graph, so a failure is reproducible from the
// seed printed beside the graph's text.
#ifndef KILN_TESTS_SUPPORT_RANDOMGRAPH_H
#define KILN_TESTS_SUPPORT_RANDOMGRAPH_H

#include "ir/Graph.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

namespace kiln::test {

struct RandomGraphOptions {
  int minOps = 3, maxOps = 8; ///< ops drawn (not counting helpers and autodiff)
  bool backward = true;       ///< append the gradients of the parameters
};

/// A verified random graph reproducible from `seed`.
std::unique_ptr<Graph> randomGraph(uint32_t seed, const RandomGraphOptions &opt = {});

/// How many random graphs a test runs: KILN_RANDOM_GRAPHS, else `fallback`.
int randomGraphCount(int fallback);

/// Random graph `seed` on `backend` against the interpreter (relative `tol`).
/// Even seeds are fused first for the backend (the `fuse` pipeline, or
/// KILN_RANDOM_FUSE); a graph that fusion rejects is tested unfused, with a
/// note on stderr. A failure shows the seed and the graph's text.
::testing::AssertionResult randomGraphMatchesInterpreter(uint32_t seed, const std::string &backend, double tol);

} // namespace kiln::test

#endif // KILN_TESTS_SUPPORT_RANDOMGRAPH_H
