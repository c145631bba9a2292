// tests/runtime/CpuRandomGraphTest.cpp - random graphs, forward and backward, cpu vs interpreter.
//
// 200 graphs per run (seeds 1..200; KILN_RANDOM_GRAPHS=N changes the count),
// every other one fused first (the `fuse` pipeline) so regions and epilogues
// are covered. On a mismatch the seed and the graph's text are printed.
#include "runtime/Backends.h"
#include "tests/support/RandomGraph.h"

#include <gtest/gtest.h>

namespace kiln::test {
namespace {

TEST(CpuRandomGraphs, MatchInterpreterForwardAndBackward) {
  if (!hasCpuBackend())
    GTEST_SKIP() << "built without LLVM: no cpu backend";
  int count = randomGraphCount(200);
  for (uint32_t seed = 1; seed <= static_cast<uint32_t>(count); ++seed)
    EXPECT_TRUE(randomGraphMatchesInterpreter(seed, "cpu", 2e-5));
}

} // namespace
} // namespace kiln::test
